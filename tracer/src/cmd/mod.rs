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

/// What does a service mesh really do to your app's I/O, CPU and latency, and why?
#[derive(Debug, Parser)]
#[command(name = "tracer", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record the I/O syscalls and CPU of processes into a run file.
    Record(record::RecordArgs),
    /// Show one recorded run as text, Markdown, JSON or HTML.
    Report(report::ReportArgs),
    /// Compare runs (e.g. no mesh vs mesh): syscalls, write coalescing, CPU and latency.
    Compare(compare::CompareArgs),
    /// Serve recordings over HTTP on this node (the `DaemonSet` agent), with `/metrics`.
    Agent(agent::AgentArgs),
    /// Show what --pod, --container and --cgroup resolve to on this node (cgroups, PIDs, CPU).
    Targets(targets::TargetsArgs),
    /// Print the completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print tracer's man page, or write one page per command into a folder (--dir).
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
/// stderr and its exit code.
#[must_use]
pub fn main() -> ExitCode {
    crate::error::exit("tracer", run(Cli::parse()))
}
