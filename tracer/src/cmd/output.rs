//! Where and how a report is written: `--format`, `-o FILE`, `--color`, `--mode`, shared by
//! `tracer report` and `tracer compare`.
use std::path::PathBuf;

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

/// How and where a report is written.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Output format: text (aligned columns, coloured on a terminal), markdown (tables for an
    /// issue or a blog post), json (versioned, for scripts) or html (one self-contained page
    /// with charts) [default: from the -o file's extension (.md, .json, .html), else text]
    #[arg(long, value_parser = format_parser())]
    pub format: Option<Format>,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Colour the text format.
    #[arg(long, value_enum, default_value_t)]
    pub color: Color,
    /// Permission bits of the -o file, in octal; only its owner may read it unless widened.
    #[arg(long, value_name = "OCTAL", default_value = "0600", value_parser = crate::run::parse_mode)]
    pub mode: u32,
}

/// `--format`'s values, from [`Format::ALL`].
fn format_parser() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(Format::ALL.map(Format::name))
        .map(|name| Format::from_name(&name).unwrap_or_default())
}

impl OutputArgs {
    /// `--format`, else what the `-o` file's extension says, else text.
    #[must_use]
    pub fn effective_format(&self) -> Format {
        let by_extension = || Format::from_extension(self.output.as_ref()?.extension()?.to_str()?);
        self.format.or_else(by_extension).unwrap_or_default()
    }

    /// Renders `comparison` and writes it to `-o FILE` (atomically) or standard output.
    pub fn emit(&self, comparison: &Comparison) -> anyhow::Result<()> {
        let color = match self.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => self.output.is_none() && crate::console::stdout_wants_colour(),
        };
        let rendered = render(comparison, self.effective_format(), color);
        if let Some(path) = &self.output {
            return crate::run::write_atomically(path, rendered.as_bytes(), self.mode).map_err(
                |error| {
                    user(
                        ErrorKind::Output,
                        format!(
                            "cannot write {}: {error}; choose another -o path",
                            path.display()
                        ),
                    )
                },
            );
        }
        crate::console::print(&rendered).map_err(|error| {
            user(
                ErrorKind::Output,
                format!("cannot write the report to standard output: {error}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_extension_picks_the_format_unless_one_is_given() {
        let args = |format, output: &str| OutputArgs {
            format,
            output: (!output.is_empty()).then(|| output.into()),
            color: Color::Never,
            mode: crate::run::PRIVATE_MODE,
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
