//! tracer: what does a service mesh really do to an app's I/O, CPU and latency, and why?
//!
//! The data path is the module layout (see DESIGN.md):
//! `probe` (kernel probes, the only module using aya) -> `collect` (the recording loop) ->
//! `run` (the run file) -> `compare` (pure) -> `report` (pure renderers).
//! `cmd` is the command line (the only module using clap): each subcommand's flags, inputs
//! and outputs; `console` the terminal (notes, colour).
//! `targeting` resolves PIDs, cgroups and pods; `agent` serves recordings over HTTP on a node.
//! The demo and the workloads for tests and benchmarks live in the `tracer-demo` crate, which
//! uses this library: the node binary ships none of them.

pub mod agent;
pub mod cmd;
pub mod collect;
pub mod compare;
pub mod console;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod hist;
pub mod load;
pub mod probe;
pub mod report;
pub mod run;
pub mod targeting;
