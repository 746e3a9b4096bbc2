//! `tracer compare`: two or more run files, the first the baseline.
use std::{path::PathBuf, process::ExitCode};

use super::{inputs::read_inputs, output::OutputArgs};
use crate::{
    compare::{
        CompareError, Options, compare,
        gate::{self, Gate},
    },
    console::note,
    error::{ErrorKind, user},
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
    /// The process the headline verdict speaks about: a process, target or pod name (or a
    /// target as given to `record`, e.g. `pid:1234`). Default: the traced command or load
    /// generator.
    #[arg(long, value_name = "NAME")]
    pub focus: Option<String>,
    /// Fail (exit code 10, after writing the reports) when a compared run's metric passes a
    /// threshold, for CI: METRIC>+5% (change against the baseline), METRIC<-10%,
    /// METRIC>=2000 (a value in the JSON's unit: ns, bytes, counts). Metric names are the
    /// JSON comparison's `metric` keys (`io_calls_per_request`, `cpu_us_per_request`, `p99_ns`,
    /// ...), read in the total over all traced processes, else the load generator's table;
    /// SCOPE:METRIC reads one process or target (or `load`). Repeatable.
    #[arg(long = "fail-if", value_name = "[SCOPE:]METRIC OP THRESHOLD")]
    pub fail_if: Vec<Gate>,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let inputs = read_inputs(&args.runs, &args.loads)?;
    let options = Options {
        group_by_label: args.group,
        requests: args.requests,
        focus: args.focus.clone(),
    };
    let comparison = compare(&inputs, &options).map_err(|error| {
        let kind = if matches!(
            error,
            CompareError::NotEnoughRuns | CompareError::FocusNotFound { .. }
        ) {
            ErrorKind::Usage
        } else {
            ErrorKind::BadInput
        };
        user(kind, error.to_string())
    })?;
    let failures = gate::check(&comparison, &args.fail_if)
        .map_err(|message| user(ErrorKind::Usage, message))?;
    args.output.emit(&comparison)?;
    if failures.is_empty() {
        if !args.fail_if.is_empty() {
            note(&format!(
                "tracer: every --fail-if gate passed ({})",
                args.fail_if.len()
            ));
        }
        return Ok(ExitCode::SUCCESS);
    }
    for failure in &failures {
        note(&format!("tracer: gate failed: {failure}"));
    }
    Ok(ExitCode::from(ErrorKind::GateFailed.exit_code()))
}
