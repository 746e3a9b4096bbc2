//! The recording loop (stub: being written).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RecordArgs {}

pub fn record(_args: RecordArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
