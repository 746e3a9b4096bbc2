//! Where and how a report is written: `--format`, `-o FILE` (`-o -`: standard output), the
//! extra `--export-json/--export-markdown/--export-html FILE`, `--color`, `--mode`, shared by
//! `tracer report` and `tracer compare`.
use std::path::{Path, PathBuf};

use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::{
    compare::Comparison,
    error::{ErrorKind, user},
    report::{Format, render},
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    /// Colour when writing text to a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    Always,
    Never,
}

/// What a command that prints one thing (`record`'s summary, `targets`) prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TextOrJson {
    /// For people: aligned lines, coloured on a terminal.
    #[default]
    Text,
    /// For scripts.
    Json,
}

/// How and where a report is written.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Output format: text (aligned columns, coloured on a terminal), markdown (tables for an
    /// issue or a blog post), json (versioned, for scripts) or html (one self-contained page
    /// with charts) [default: from the -o file's extension (.md, .json, .html), else text]
    #[arg(long, value_parser = format_parser())]
    pub format: Option<Format>,
    /// Write to this file (atomically) instead of standard output; `-` is standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write the JSON report to FILE (`-`: standard output, instead of the text).
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,
    /// Also write the Markdown report to FILE (`-`: standard output, instead of the text).
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
    /// Also write the HTML report to FILE (`-`: standard output, instead of the text).
    #[arg(long, value_name = "FILE")]
    pub export_html: Option<PathBuf>,
    /// Colour the text format.
    #[arg(long, value_enum, default_value_t)]
    pub color: Color,
    /// Permission bits of the files written, in octal; only their owner may read them unless
    /// widened.
    #[arg(long, value_name = "OCTAL", default_value = "0600", value_parser = crate::run::parse_mode)]
    pub mode: u32,
}

/// `--format`'s values, from [`Format::ALL`].
fn format_parser() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(Format::ALL.map(Format::name))
        .map(|name| Format::from_name(&name).unwrap_or_default())
}

/// Whether an output path stands for standard output.
fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Where one rendering goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

impl OutputArgs {
    /// `--format`, else what the `-o` file's extension says, else text.
    #[must_use]
    pub fn effective_format(&self) -> Format {
        let by_extension = || Format::from_extension(self.output.as_ref()?.extension()?.to_str()?);
        self.format.or_else(by_extension).unwrap_or_default()
    }

    /// Every rendering asked for and where it goes: `--format`/`-o` (to standard output unless
    /// an `--export-*` takes it and neither `--format` nor `-o` was given), then each
    /// `--export-*`. Two renderings to standard output are refused.
    pub fn destinations(&self) -> anyhow::Result<Vec<(Format, Destination)>> {
        let exports = [
            (Format::Json, &self.export_json),
            (Format::Markdown, &self.export_markdown),
            (Format::Html, &self.export_html),
        ];
        let export_to_stdout = exports
            .iter()
            .any(|(_, path)| path.as_deref().is_some_and(is_stdout));
        let mut outputs = Vec::new();
        match &self.output {
            Some(path) if !is_stdout(path) => {
                outputs.push((self.effective_format(), Destination::File(path.clone())));
            }
            None if export_to_stdout && self.format.is_none() => {}
            _ => outputs.push((self.effective_format(), Destination::Stdout)),
        }
        for (format, path) in exports {
            if let Some(path) = path {
                let destination = if is_stdout(path) {
                    Destination::Stdout
                } else {
                    Destination::File(path.clone())
                };
                outputs.push((format, destination));
            }
        }
        let to_stdout: Vec<&str> = outputs
            .iter()
            .filter(|(_, d)| *d == Destination::Stdout)
            .map(|(format, _)| format.name())
            .collect();
        if to_stdout.len() > 1 {
            return Err(user(
                ErrorKind::Usage,
                format!(
                    "{} reports would go to standard output ({}): give all but one of them a file",
                    to_stdout.len(),
                    to_stdout.join(", ")
                ),
            ));
        }
        Ok(outputs)
    }

    /// Renders `comparison` in every format asked for and writes each to its file
    /// (atomically) or standard output.
    pub fn emit(&self, comparison: &Comparison) -> anyhow::Result<()> {
        for (format, destination) in self.destinations()? {
            let color = match self.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    destination == Destination::Stdout && crate::console::stdout_wants_colour()
                }
            };
            write(&render(comparison, format, color), &destination, self.mode)?;
        }
        Ok(())
    }
}

/// Writes `text` to a file (atomically, with permission bits `mode`) or standard output.
pub fn write(text: &str, destination: &Destination, mode: u32) -> anyhow::Result<()> {
    match destination {
        Destination::File(path) => crate::run::write_atomically(path, text.as_bytes(), mode)
            .map_err(|error| {
                user(
                    ErrorKind::Output,
                    format!(
                        "cannot write {}: {error}; choose another path",
                        path.display()
                    ),
                )
            }),
        Destination::Stdout => crate::console::print(text).map_err(|error| {
            user(
                ErrorKind::Output,
                format!("cannot write the report to standard output: {error}"),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_output() -> OutputArgs {
        OutputArgs {
            format: None,
            output: None,
            export_json: None,
            export_markdown: None,
            export_html: None,
            color: Color::Never,
            mode: crate::run::PRIVATE_MODE,
        }
    }

    #[test]
    fn exports_add_files_and_at_most_one_report_goes_to_standard_output() {
        let file = |name: &str| Destination::File(name.into());
        let plain = no_output();
        assert_eq!(
            plain.destinations().unwrap(),
            [(Format::Text, Destination::Stdout)]
        );
        let dash = OutputArgs {
            output: Some("-".into()),
            format: Some(Format::Json),
            ..no_output()
        };
        assert_eq!(
            dash.destinations().unwrap(),
            [(Format::Json, Destination::Stdout)]
        );
        let all = OutputArgs {
            export_json: Some("r.json".into()),
            export_markdown: Some("r.md".into()),
            export_html: Some("r.html".into()),
            ..no_output()
        };
        assert_eq!(
            all.destinations().unwrap(),
            [
                (Format::Text, Destination::Stdout),
                (Format::Json, file("r.json")),
                (Format::Markdown, file("r.md")),
                (Format::Html, file("r.html")),
            ]
        );
        // An export to standard output takes the place of the default text.
        let json_out = OutputArgs {
            export_json: Some("-".into()),
            export_html: Some("r.html".into()),
            ..no_output()
        };
        assert_eq!(
            json_out.destinations().unwrap(),
            [
                (Format::Json, Destination::Stdout),
                (Format::Html, file("r.html"))
            ]
        );
        let two = OutputArgs {
            format: Some(Format::Markdown),
            export_json: Some("-".into()),
            ..no_output()
        };
        let error = two.destinations().unwrap_err();
        assert_eq!(
            crate::error::describe(&error),
            (
                ErrorKind::Usage.exit_code(),
                "2 reports would go to standard output (markdown, json): give all but one of them a file".to_owned()
            )
        );
    }

    #[test]
    fn the_output_extension_picks_the_format_unless_one_is_given() {
        let args = |format, output: &str| OutputArgs {
            format,
            output: (!output.is_empty()).then(|| output.into()),
            ..no_output()
        };
        assert_eq!(args(None, "").effective_format(), Format::Text);
        assert_eq!(
            args(None, "out/report.HTML").effective_format(),
            Format::Html
        );
        assert_eq!(args(None, "report.md").effective_format(), Format::Markdown);
        assert_eq!(args(None, "report.json").effective_format(), Format::Json);
        assert_eq!(args(None, "report.txt").effective_format(), Format::Text);
        assert_eq!(
            args(Some(Format::Text), "report.html").effective_format(),
            Format::Text
        );
    }
}
