//! The command line: one subcommand per job; each subcommand's arguments live next to the code
//! that runs it and are validated there before any work starts.
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
    Record(crate::collect::RecordArgs),
    /// Show one recorded run as text, Markdown, JSON or HTML.
    Report(crate::report::ReportArgs),
    /// Compare runs (e.g. no mesh vs mesh): syscalls, write coalescing, CPU and latency.
    Compare(crate::compare::CompareArgs),
    /// Serve recordings over HTTP on this node (the `DaemonSet` agent), with `/metrics`.
    Agent(crate::agent::AgentArgs),
    /// Show what --pod, --container and --cgroup resolve to on this node (cgroups, PIDs, CPU).
    Targets(crate::target::show::TargetsArgs),
}
