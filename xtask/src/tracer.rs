//! `cargo xtask tracer -- ARGS` and `cargo xtask demo ARGS`: set up, build the release `tracer`
//! (or `tracer-demo`), then become it (exec), so Ctrl-C, signals and the exit code are its own.
use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Command;

use anyhow::Context as _;

use crate::{cmd, setup};

#[derive(Debug, clap::Args)]
pub struct TracerArgs {
    /// Skip `cargo xtask setup` (everything is known to be installed).
    #[arg(long)]
    no_setup: bool,
    /// Arguments for tracer, after `--` (for example `-- record --pid 42 -o run.json`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Skip `cargo xtask setup` (everything is known to be installed).
    #[arg(long)]
    no_setup: bool,
    /// Arguments for `tracer-demo`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

/// The node binary's package (and binary) name.
pub const TRACER: &str = "tracer";
/// The demo's and the workloads' package (and binary) name.
pub const TRACER_DEMO: &str = "tracer-demo";

pub fn tracer(args: &TracerArgs) -> anyhow::Result<()> {
    run(args.no_setup, TRACER, &args.args)
}

pub fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    run(args.no_setup, TRACER_DEMO, &args.args)
}

fn run(no_setup: bool, package: &str, args: &[OsString]) -> anyhow::Result<()> {
    if !no_setup {
        setup::run()?;
    }
    let binary = build(package)?;
    if !cmd::is_root() {
        eprintln!(
            "xtask: you are not root: recording loads eBPF probes, which needs root (or the \
             CAP_BPF and CAP_PERFMON capabilities); if tracer fails to attach, rerun with sudo."
        );
    }
    let mut command = Command::new(&binary);
    command.args(args);
    // exec only returns when it failed to replace this process.
    let error = command.exec();
    Err(error).with_context(|| format!("could not start {}", binary.display()))
}

/// Builds a release binary of the workspace, [`TRACER`] or [`TRACER_DEMO`] (and, through
/// tracer's build.rs, the eBPF probes), and returns its path.
pub fn build(package: &str) -> anyhow::Result<PathBuf> {
    cmd::run(cmd::cargo().args(["build", "--release", "--package", package]))?;
    Ok(cmd::target_dir().join("release").join(package))
}
