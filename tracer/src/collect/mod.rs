//! The recording loop (stub: being written).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RecordArgs {}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

pub fn record(_args: RecordArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}

pub fn report(_args: &ReportArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
