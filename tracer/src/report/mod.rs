//! Renderers: a [`Comparison`] (of several runs, or of one run for `tracer report`) as text for
//! the terminal, Markdown tables in the blog's shape, versioned JSON, or one self-contained HTML
//! page with inline SVG charts; and [`summary_text`], the summary `tracer record` prints.
//!
//! Renderers are pure (`&Comparison -> String`); only [`emit`] does I/O.
mod charts;
mod grid;
mod html;
mod markdown;
mod summary;
mod text;
pub mod units;

use std::{
    io::{IsTerminal as _, Write as _},
    path::PathBuf,
    process::ExitCode,
};

pub use summary::summary_text;

use crate::{
    compare::{Comparison, Options, analyze},
    error::{ErrorKind, user},
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for the terminal, coloured when it is one.
    #[default]
    Text,
    /// Markdown tables, ready for an issue or a blog post.
    Markdown,
    /// Versioned JSON (`"kind": "tracer-comparison"`), for scripts.
    Json,
    /// One self-contained HTML page with charts (no network fetches).
    Html,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    /// Colour when writing text to a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    Always,
    Never,
}

/// How and where a report is written.
#[derive(Debug, Default, clap::Args)]
pub struct OutputArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Colour the text format.
    #[arg(long, value_enum, default_value_t)]
    pub color: Color,
}

/// Show one recorded run: per process I/O syscalls, bytes per call, sizes, latency and CPU.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Run file written by `tracer record`.
    #[arg(value_name = "RUN.json")]
    pub run: PathBuf,
    /// Requests the run served, for "per request" values (overrides an attached load result).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Fortio or oha JSON result to show with the run.
    #[arg(long = "load", value_name = "FILE")]
    pub load: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let loads: Vec<PathBuf> = args.load.iter().cloned().collect();
    let inputs = crate::compare::read_inputs(std::slice::from_ref(&args.run), &loads)?;
    let comparison = analyze::summarize(&inputs[0], &Options { group_by_label: false, requests: args.requests });
    emit(&comparison, &args.output)?;
    Ok(ExitCode::SUCCESS)
}

/// Renders a comparison in one format; `color` only affects text.
#[must_use]
pub fn render(comparison: &Comparison, format: Format, color: bool) -> String {
    match format {
        Format::Text => text::render(comparison, color),
        Format::Markdown => markdown::render(comparison),
        Format::Json => json(comparison),
        Format::Html => html::render(comparison),
    }
}

fn json(comparison: &Comparison) -> String {
    // Serializing plain structs of numbers and strings cannot fail; keep a readable fallback
    // rather than a panic all the same.
    let mut text = serde_json::to_string_pretty(comparison)
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    text.push('\n');
    text
}

/// Renders and writes to `-o FILE` (atomically) or standard output.
pub fn emit(comparison: &Comparison, output: &OutputArgs) -> anyhow::Result<()> {
    let color = match output.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            output.output.is_none()
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let rendered = render(comparison, output.format, color);
    match &output.output {
        Some(path) => crate::run::write_atomically(path, rendered.as_bytes()).map_err(|error| {
            user(ErrorKind::Output, format!("cannot write {}: {error}; choose another -o path", path.display()))
        }),
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(rendered.as_bytes()).and_then(|()| stdout.flush()) {
                // A closed pipe (`| head`) is the reader's choice, not a failure.
                Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(user(ErrorKind::Output, format!("cannot write the report to standard output: {error}")))
                }
                _ => Ok(()),
            }
        }
    }
}
