//! `tracer compare`: reads two or more run files and says what changed between them, per
//! traced process and in total: I/O syscalls (per second, per request), write coalescing
//! (bytes per read, reads per request, the coalescing factor and payload-size histograms side
//! by side), errors, syscall latency, CPU per request and the load generator's request latency.
//!
//! The arithmetic lives in `analyze` (pure, unit-tested on runs built in code), the words in
//! `verdict`; rendering is `report`'s job.
pub mod analyze;
pub mod model;
#[cfg(test)]
pub(crate) mod sample;
pub mod verdict;

use std::{path::PathBuf, process::ExitCode};

pub use analyze::{CompareError, Input, Options, compare};
pub use model::Comparison;

use crate::{
    error::{ErrorKind, user},
    report::OutputArgs,
    run::Run,
};

/// Compare run files: the first is the baseline (e.g. no mesh), the others are set against it.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Run files written by `tracer record`; the first is the baseline.
    #[arg(required = true, value_name = "RUN.json")]
    pub runs: Vec<PathBuf>,
    /// Group runs by label: runs whose labels differ only by a trailing run number
    /// ("ambient run 1", "ambient-2") form one group, shown as mean and spread; a difference
    /// smaller than the run-to-run spread is called noise.
    #[arg(long)]
    pub group: bool,
    /// Requests each run served, for "per request" values when the runs carry no
    /// load-generator result (overrides the one they carry).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Fortio or oha JSON result to attach to the run files, one per run file in the same
    /// order (replaces a result a run already carries).
    #[arg(long = "load", value_name = "FILE")]
    pub loads: Vec<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Reads the runs (and load results) named on the command line.
pub(crate) fn read_inputs(runs: &[PathBuf], loads: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    if !loads.is_empty() && loads.len() != runs.len() {
        return Err(user(
            ErrorKind::Usage,
            format!(
                "{} --load files for {} run files: give one load-generator result per run file, in the same order",
                loads.len(),
                runs.len()
            ),
        ));
    }
    let mut inputs = Vec::with_capacity(runs.len());
    for (index, path) in runs.iter().enumerate() {
        let mut run = Run::read(path)?;
        if let Some(load) = loads.get(index) {
            run.load = Some(crate::load::import(load)?);
        }
        inputs.push(Input {
            file: path.display().to_string(),
            run,
        });
    }
    Ok(inputs)
}

pub fn run(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let inputs = read_inputs(&args.runs, &args.loads)?;
    let options = Options {
        group_by_label: args.group,
        requests: args.requests,
    };
    let comparison = compare(&inputs, &options).map_err(|error| {
        let kind = if matches!(error, CompareError::NotEnoughRuns) {
            ErrorKind::Usage
        } else {
            ErrorKind::BadInput
        };
        user(kind, error.to_string())
    })?;
    crate::report::emit(&comparison, &args.output)?;
    Ok(ExitCode::SUCCESS)
}
