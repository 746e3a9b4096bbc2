//! `tracer report`: one recorded run, as text, Markdown, JSON or HTML.
use std::{path::PathBuf, process::ExitCode};

use super::{inputs::read_inputs, output::OutputArgs};
use crate::compare::{Options, analyze};

/// Show one recorded run: per process I/O syscalls, bytes per call, sizes, latency and CPU.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Run file written by `tracer record`.
    #[arg(value_name = "RUN.json")]
    pub run: PathBuf,
    /// Requests the run served, for "per request" values (overrides an attached load result).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Fortio or oha JSON result to show with the run.
    #[arg(long = "load", value_name = "FILE")]
    pub load: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let loads: Vec<PathBuf> = args.load.iter().cloned().collect();
    let inputs = read_inputs(std::slice::from_ref(&args.run), &loads)?;
    let comparison = analyze::summarize(
        &inputs[0],
        &Options {
            group_by_label: false,
            requests: args.requests,
            focus: None,
        },
    );
    args.output.emit(&comparison)?;
    Ok(ExitCode::SUCCESS)
}
