//! `cargo xtask fuzz`: runs every cargo-fuzz target in fuzz/ (nightly, address sanitizer) for a
//! share of the given time. `--seconds 30` is the short run `cargo xtask test` makes; the long
//! run is `cargo xtask fuzz --minutes 30`. Each target starts from its seeds (fuzz/seeds/) and
//! the corpus of earlier runs (fuzz/corpus/, not committed). A failing input is left in
//! `fuzz/artifacts/<target>/`: copy it to `fuzz/regressions/<target>/` with the fix, and
//! `cargo test` feeds it to the parser from then on (`tracer/tests/hardening_fuzz_regressions.rs`).
use std::path::Path;
use std::process::Command;

use anyhow::bail;

use crate::cmd;

/// The targets in fuzz/Cargo.toml.
pub const TARGETS: [&str; 6] = [
    "run_file",
    "run_report",
    "load_result",
    "tracefs_format",
    "proc_net",
    "target_names",
];

#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// Total fuzzing time over all targets, in seconds.
    #[arg(long, conflicts_with = "minutes")]
    seconds: Option<u64>,
    /// Total fuzzing time over all targets, in minutes.
    #[arg(long)]
    minutes: Option<u64>,
    /// Only this target.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(TARGETS))]
    target: Option<String>,
}

pub fn run(args: &FuzzArgs) -> anyhow::Result<()> {
    let total_seconds = args.minutes.map(|m| m * 60).or(args.seconds).unwrap_or(20);
    let targets: Vec<&str> = match &args.target {
        Some(target) => vec![target.as_str()],
        None => TARGETS.to_vec(),
    };
    if !cmd::succeeds(nightly_cargo().args(["fuzz", "--version"])) {
        bail!("cargo-fuzz is missing: run `cargo xtask setup` (or `cargo install cargo-fuzz`)");
    }
    let fuzz = cmd::workspace_root().join("fuzz");
    let per_target = (total_seconds / targets.len() as u64).max(1);
    // Every target runs even after one fails, so one run reports all that is broken.
    let mut failed = Vec::new();
    for target in targets {
        println!("fuzz: {target} for {per_target} s");
        std::fs::create_dir_all(fuzz.join("corpus").join(target))?;
        if let Err(error) = cmd::run(&mut fuzz_command(&fuzz, target, per_target)) {
            println!("fuzz: {target} FAILED: {error:#}");
            failed.push(target);
        }
    }
    if !failed.is_empty() {
        bail!(
            "fuzzing found failing inputs for {} (in fuzz/artifacts/<target>/): fix the parser \
             and keep each input in fuzz/regressions/<target>/",
            failed.join(", ")
        );
    }
    Ok(())
}

/// The pinned nightly's cargo (tracer-ebpf/rust-toolchain.toml) through rustup, whatever
/// toolchain runs xtask: the one nightly `cargo xtask setup` installs.
fn nightly_cargo() -> Command {
    let mut command = Command::new("cargo");
    let nightly = crate::toolchain::ebpf_nightly().unwrap_or_else(|_| "nightly".into());
    command.arg(format!("+{nightly}"));
    // Set by the cargo that runs xtask; they would pin the stable toolchain's tools.
    for key in ["CARGO", "RUSTC", "RUSTDOC", "RUSTUP_TOOLCHAIN"] {
        command.env_remove(key);
    }
    command
}

fn fuzz_command(fuzz: &Path, target: &str, seconds: u64) -> Command {
    let corpus = fuzz.join("corpus").join(target);
    let mut command = nightly_cargo();
    command
        .current_dir(fuzz)
        .args(["fuzz", "run", target])
        // New inputs go to the first folder (the corpus), the seeds are only read.
        .arg(&corpus)
        .arg(fuzz.join("seeds").join(target))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        // A fixed seed: the same inputs in the same order on every run, so the short run in
        // `cargo xtask test` is repeatable; what it finds becomes a file in fuzz/regressions/.
        .args(["-seed=1", "-timeout=10", "-rss_limit_mb=2048"]);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_target_runs_for_its_share_from_corpus_and_seeds() {
        let line = cmd::display(&fuzz_command(Path::new("/w/fuzz"), "proc_net", 5));
        assert!(
            line.starts_with("cargo +nightly-2026-05-20 fuzz run proc_net /w/fuzz/corpus/proc_net /w/fuzz/seeds/proc_net -- -max_total_time=5"),
            "{line}"
        );
    }

    #[test]
    fn the_targets_are_the_fuzz_crates_binaries() {
        let manifest =
            std::fs::read_to_string(cmd::workspace_root().join("fuzz/Cargo.toml")).unwrap();
        for target in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target}"
            );
        }
    }
}
