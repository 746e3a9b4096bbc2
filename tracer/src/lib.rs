//! tracer: what does a service mesh really do to an app's I/O, CPU and latency, and why?
//!
//! The data path is the module layout (see DESIGN.md):
//! `probe` (kernel probes, the only module using aya) -> `collect` (the recording loop) ->
//! `run` (the run file) -> `compare` (pure) -> `report` (pure renderers).
//! `target` resolves PIDs, cgroups and pods; `agent` serves recordings over HTTP on a node;
//! `demo` stages the mesh write-coalescing experiment on one machine; `workload` makes known
//! syscall mixes for tests and benchmarks.

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
pub mod demo;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod hist;
pub mod load;
pub mod probe;
pub mod report;
pub mod run;
pub mod target;
pub mod workload;

use std::process::ExitCode;

/// Runs one command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        cli::Command::Record(args) => collect::record(&args),
        cli::Command::Report(args) => report::run(&args),
        cli::Command::Compare(args) => compare::run(&args),
        cli::Command::Workload(args) => workload::run(&args),
        cli::Command::Floor => workload::floor(),
        cli::Command::Targets(args) => target::show::run(&args),
        cli::Command::Agent(args) => agent::run(&args),
        cli::Command::Demo(args) => demo::run(*args),
    }
}
