//! Known syscall mixes (stub: being written).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct WorkloadArgs {}

pub fn run(_args: &WorkloadArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
