//! The command line: one file per subcommand, each holding its flags (clap), reading its inputs
//! and writing its outputs. The modules they call (`collect`, `compare`, `report`, `targeting`,
//! `agent`) hold only domain code and never see clap: this is the only module that imports it.
pub mod agent;
pub mod compare;
pub mod docs;
mod inputs;
pub mod output;
pub mod record;
pub mod report;
pub mod targets;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{EXIT_CODES_HELP, ErrorKind};

/// What does a service mesh really do to your app's I/O, CPU and latency, and why?
#[derive(Debug, Parser)]
#[command(
    name = "tracer",
    version,
    about,
    propagate_version = true,
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record the I/O syscalls and CPU of processes into a run file.
    #[command(after_help = EXIT_CODES_HELP)]
    Record(record::RecordArgs),
    /// Show one recorded run as text, Markdown, JSON or HTML.
    #[command(after_help = EXIT_CODES_HELP)]
    Report(report::ReportArgs),
    /// Compare runs (e.g. no mesh vs mesh): syscalls, write coalescing, CPU and latency.
    #[command(after_help = EXIT_CODES_HELP)]
    Compare(compare::CompareArgs),
    /// Serve recordings over HTTP on this node (the `DaemonSet` agent), with `/metrics`.
    #[command(after_help = EXIT_CODES_HELP)]
    Agent(agent::AgentArgs),
    /// Show what --pod, --container and --cgroup resolve to on this node (cgroups, PIDs, CPU).
    #[command(after_help = EXIT_CODES_HELP)]
    Targets(targets::TargetsArgs),
    /// Print the completion script for a shell (bash, zsh, fish, elvish, powershell).
    #[command(after_help = EXIT_CODES_HELP)]
    Completions(docs::CompletionsArgs),
    /// Print tracer's man page, or write one page per command into a folder (--dir).
    #[command(after_help = EXIT_CODES_HELP)]
    Man(docs::ManArgs),
}

/// Runs one command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Record(args) => record::record(&args),
        Command::Report(args) => report::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Targets(args) => targets::run(&args),
        Command::Agent(args) => agent::run(&args),
        Command::Completions(args) => docs::completions(&args),
        Command::Man(args) => docs::man(&args),
    }
}

/// The `tracer` binary: parses the command line, runs it, and turns an error into one line on
/// stderr and its exit code. `record -- CMD` ends with CMD's status, so there tracer's own
/// failures take the codes `env` and `timeout` use (125, 126, 127; see [`crate::error`]).
#[must_use]
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            let code = u8::try_from(error.exit_code()).unwrap_or(ErrorKind::Usage.exit_code());
            let runs_command = runs_a_command(std::env::args_os().skip(1));
            return ExitCode::from(if error.use_stderr() && runs_command {
                crate::error::command_mode_code(code)
            } else {
                code
            });
        }
    };
    let runs_command = matches!(&cli.command, Command::Record(args) if !args.command.is_empty());
    if runs_command {
        crate::error::exit_running_command("tracer", run(cli))
    } else {
        crate::error::exit("tracer", run(cli))
    }
}

/// Whether a command line (without the program) is `record ... -- CMD`, as far as one that
/// did not parse can tell.
fn runs_a_command(mut args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    args.next().is_some_and(|first| first == "record") && args.any(|arg| arg == "--")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent_and_every_help_lists_the_exit_codes() {
        let mut cli = Cli::command();
        cli.build();
        cli.clone().debug_assert();
        let mut commands = vec![cli.clone()];
        commands.extend(
            cli.get_subcommands()
                .filter(|c| c.get_name() != "help")
                .cloned(),
        );
        for mut command in commands {
            let help = command.render_help().to_string();
            assert!(
                help.contains("Exit codes:") && help.contains("  10   `compare --fail-if`"),
                "{}: {help}",
                command.get_name()
            );
        }
    }

    #[test]
    fn only_record_with_a_command_is_a_command_line_that_runs_one() {
        let args = |line: &str| {
            line.split(' ')
                .map(std::ffi::OsString::from)
                .collect::<Vec<_>>()
        };
        assert!(runs_a_command(args("record --bad -- true").into_iter()));
        assert!(!runs_a_command(args("record --bad").into_iter()));
        assert!(!runs_a_command(args("compare -- a.json").into_iter()));
    }
}
