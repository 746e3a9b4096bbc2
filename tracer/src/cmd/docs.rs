//! `tracer completions SHELL` and `tracer man`: shell completions and man pages generated from
//! this module's own flag definitions, so they cannot drift from the command line. The release
//! tarballs and the Debian package ship their output (`cargo xtask dist`).
use std::{io::Write as _, path::PathBuf, process::ExitCode};

use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::error::{ErrorKind, user};

/// Man pages are readable by everyone, like any installed documentation.
const PAGE_MODE: u32 = 0o644;

/// `tracer completions SHELL`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for; the script goes to standard output (e.g.
    /// `tracer completions bash > /etc/bash_completion.d/tracer`).
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `tracer man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command into this folder (tracer.1, tracer-record.1, ...) instead of
    /// printing tracer.1 to standard output.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell`.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut super::Cli::command(),
        "tracer",
        &mut script,
    );
    print(&script, "the completion script")
}

/// Prints tracer.1, or writes every page into `--dir`.
pub fn man(args: &ManArgs) -> anyhow::Result<ExitCode> {
    let pages = pages()?;
    let Some(dir) = &args.dir else {
        // `pages` ends with the root command's own page.
        let (_, page) = pages
            .last()
            .ok_or_else(|| anyhow::anyhow!("no man page was rendered"))?;
        return print(page, "the man page");
    };
    for (name, page) in &pages {
        let path = dir.join(name);
        crate::run::write_atomically(&path, page, PAGE_MODE).map_err(|error| {
            user(
                ErrorKind::Output,
                format!(
                    "cannot write {}: {error}; choose another --dir",
                    path.display()
                ),
            )
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Every page as (file name, roff): tracer.1 and one per subcommand, as `man tracer-record`
/// expects. The help subcommand gets none (`tracer help X` is `man tracer-X`'s twin).
fn pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut root = super::Cli::command().disable_help_subcommand(true);
    root.build();
    let mut pages = Vec::new();
    collect(root, &mut pages)?;
    Ok(pages)
}

fn collect(command: clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        collect(sub.clone(), pages)?;
    }
    let man = clap_mangen::Man::new(command);
    let mut page = Vec::new();
    man.render(&mut page)
        .map_err(|error| anyhow::anyhow!("cannot render a man page: {error}"))?;
    pages.push((man.get_filename(), page));
    Ok(())
}

fn print(bytes: &[u8], what: &str) -> anyhow::Result<ExitCode> {
    std::io::stdout().lock().write_all(bytes).map_err(|error| {
        user(
            ErrorKind::Output,
            format!("cannot write {what} to standard output: {error}"),
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_gets_its_own_page() {
        let names: Vec<String> = pages()
            .expect("pages render")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        for name in [
            "tracer.1",
            "tracer-record.1",
            "tracer-report.1",
            "tracer-compare.1",
            "tracer-agent.1",
            "tracer-targets.1",
            "tracer-completions.1",
            "tracer-man.1",
        ] {
            assert!(
                names.iter().any(|page| page == name),
                "{name} missing from {names:?}"
            );
        }
        assert!(
            !names.iter().any(|page| page == "tracer-help.1"),
            "{names:?}"
        );
    }

    #[test]
    fn pages_are_written_where_asked() {
        let dir = std::env::temp_dir().join(format!("tracer-issue-17-man-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        man(&ManArgs {
            dir: Some(dir.clone()),
        })
        .expect("man --dir");
        let page = std::fs::read_to_string(dir.join("tracer-record.1")).expect("record page");
        assert!(
            page.starts_with(".ie \\n(.g .ds Aq"),
            "{}",
            &page[..40.min(page.len())]
        );
        assert!(
            page.contains("\\-\\-duration"),
            "record's flags are on its page"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
