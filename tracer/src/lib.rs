//! tracer: what does a service mesh really do to an app's I/O, CPU and latency, and why?
//!
//! The data path is the module layout (see DESIGN.md):
//! `probe` (kernel probes, the only module using aya) -> `collect` (the recording loop) ->
//! `run` (the run file) -> `compare` (pure) -> `report` (pure renderers).
//! `cmd` is the command line (the only module using clap): each subcommand's flags, inputs
//! and outputs; `console` the terminal (notes, colour).
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
pub mod cmd;
pub mod collect;
pub mod compare;
pub mod console;
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
