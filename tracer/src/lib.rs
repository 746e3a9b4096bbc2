//! tracer: what does a service mesh really do to an app's I/O, CPU and latency, and why?
//!
//! The data path is the module layout (see DESIGN.md):
//! `probe` (kernel probes, the only module using aya) -> `collect` (the recording loop) ->
//! `run` (the run file) -> `compare` (pure) -> `report` (pure renderers).
//! `target` resolves PIDs, cgroups and pods; `agent` serves recordings over HTTP on a node.
//! The demo and the workloads for tests and benchmarks live in the `tracer-demo` crate, which
//! uses this library: the node binary ships none of them.

/// `eprintln!` that does not panic when stderr is closed (`tracer ... 2>&1 | head -1`): a
/// message nobody can read must not stop cleanup (namespaces, probes, the run file).
macro_rules! note_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod agent;
pub mod cli;
pub mod collect;
pub mod compare;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod hist;
pub mod load;
pub mod probe;
pub mod report;
pub mod run;
pub mod target;

use std::process::ExitCode;

/// Runs one command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        cli::Command::Record(args) => collect::record(&args),
        cli::Command::Report(args) => report::run(&args),
        cli::Command::Compare(args) => compare::run(&args),
        cli::Command::Targets(args) => target::show::run(&args),
        cli::Command::Agent(args) => agent::run(&args),
    }
}
