//! Comparing runs: what changed between two or more run files (the first the baseline), per
//! traced process and in total: I/O syscalls (per second, per request), write coalescing
//! (bytes per read, reads per request, the coalescing factor and payload-size histograms side
//! by side), errors, syscall latency, CPU per request and the load generator's request latency.
//!
//! The arithmetic lives in `analyze` and the modules it is made of: `grouping`, `aggregate`,
//! `metrics` and `build` (pure, unit-tested on runs built in code); the words in `verdict`;
//! CI gates on the result (`--fail-if`) in `gate`;
//! rendering is `report`'s job, reading files and writing reports `cmd`'s.
mod aggregate;
pub mod analyze;
mod build;
pub mod gate;
mod grouping;
mod metrics;
pub mod model;
#[cfg(test)]
pub(crate) mod sample;
pub mod verdict;

pub use analyze::{CompareError, Input, Options, compare};
pub use model::Comparison;
