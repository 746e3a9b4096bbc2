//! `cargo xtask test`: setup, then every check the project has, in one command (CI runs exactly
//! this). Every check runs even after one fails, so one CI run reports all that is broken; the
//! command then fails naming each failed check.
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::bail;

use crate::{cmd, setup};

/// Kubernetes versions the manifests in deploy/ must be valid for: the oldest release still
/// common on managed clusters, and a recent one.
const KUBERNETES_VERSIONS: &[&str] = &["1.29.0", "1.33.0"];
/// Total time of the short fuzz run in `cargo xtask test`.
const FUZZ_SECONDS: u64 = 30;
/// Kernel series `cargo xtask test` boots in VMs for the suite's CI subset (6.12 is left to
/// `cargo xtask vmtest` runs by hand: the CI budget allows two emulated guests).
const VMTEST_KERNELS: &[&str] = &["5.10", "6.1"];

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Skip `cargo xtask setup` (everything is known to be installed).
    #[arg(long)]
    no_setup: bool,
    /// Skip `cargo clippy --all-targets -- -D warnings` (for a quick local run).
    #[arg(long)]
    no_clippy: bool,
    /// Skip `cargo xtask vmtest` (the root-only tests on kernels 5.10 and 6.1 in VMs).
    #[arg(long)]
    no_vmtest: bool,
}

/// One check: a name for the summary and the command that decides it.
struct Check {
    name: String,
    command: Command,
}

pub fn run(args: &TestArgs) -> anyhow::Result<()> {
    if !args.no_setup {
        setup::run()?;
    }
    let checks = plan(
        !args.no_clippy,
        !args.no_vmtest,
        &cmd::workspace_root().join("deploy"),
    );
    let total = checks.len();
    let mut failed = Vec::new();
    for mut check in checks {
        println!("test: {} ...", check.name);
        let started = Instant::now();
        let result = cmd::run(&mut check.command);
        let took = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => println!("test: {} passed in {took:.1} s", check.name),
            Err(error) => {
                println!("test: {} FAILED in {took:.1} s: {error:#}", check.name);
                failed.push(check.name);
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {total} checks failed: {}",
            failed.len(),
            failed.join("; ")
        );
    }
    println!("test: {total} of {total} checks passed");
    Ok(())
}

fn plan(clippy: bool, vmtest: bool, deploy: &Path) -> Vec<Check> {
    // tracer-ebpf is excluded: it is a no_std bpfel-unknown-none crate that tracer's build.rs
    // compiles (so `cargo test` still builds and checks it); built for the host it cannot link.
    let mut test = cmd::cargo();
    test.args(["test", "--workspace", "--exclude", "tracer-ebpf"]);
    let mut checks = vec![Check {
        name: "cargo test".into(),
        command: test,
    }];
    if clippy {
        let mut lint = cmd::cargo();
        lint.args([
            "clippy",
            "--workspace",
            "--exclude",
            "tracer-ebpf",
            "--all-targets",
        ])
        .args(["--", "-D", "warnings"]);
        checks.push(Check {
            name: "cargo clippy".into(),
            command: lint,
        });
    }
    // deploy/validate.sh knows the manifests' structure (base, kustomize overlay, CRDs that
    // have no schema) and validates each the right way, strictly, for every version.
    let validate = deploy.join("validate.sh");
    if validate.is_file() {
        let mut command = std::process::Command::new("sh");
        command.arg(&validate).args(KUBERNETES_VERSIONS);
        checks.push(Check {
            name: format!(
                "deploy/validate.sh (kubernetes-validate --strict, Kubernetes {})",
                KUBERNETES_VERSIONS.join(", ")
            ),
            command,
        });
    }
    // A short fuzz of every parser of outside input (30 s in all); the long run is
    // `cargo xtask fuzz --minutes 30`.
    let mut fuzz = cmd::cargo();
    fuzz.args(["xtask", "fuzz", "--seconds", &FUZZ_SECONDS.to_string()]);
    checks.push(Check {
        name: format!("fuzz ({FUZZ_SECONDS} s over every target)"),
        command: fuzz,
    });
    // What users install: `cargo install --path tracer` with stable Rust alone (reuses the
    // dependencies `cargo test` compiled), then the static binaries, .deb and image, each
    // checked as a user meets it (one musl build per architecture feeds all three).
    let mut stable_install = cmd::cargo();
    stable_install.args(["xtask", "stable-install"]);
    checks.push(Check {
        name: "stable-only install (no nightly, no bpf-linker)".into(),
        command: stable_install,
    });
    let mut dist = cmd::cargo();
    dist.args(["xtask", "dist", "--no-setup", "--verify"]);
    checks.push(Check {
        name: "dist --verify (tarballs, .deb, OCI image)".into(),
        command: dist,
    });
    // The root-only tests on the users' kernels, each booted in qemu: the suite's CI subset.
    if vmtest {
        let mut command = cmd::cargo();
        command.args(["xtask", "vmtest"]);
        for kernel in VMTEST_KERNELS {
            command.args(["--kernel", kernel]);
        }
        checks.push(Check {
            name: format!("vmtest (kernels {}, CI subset)", VMTEST_KERNELS.join(", ")),
            command,
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn scratch_folder(name: &str) -> PathBuf {
        let folder = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).expect("temp dir is writable");
        folder
    }

    #[test]
    fn no_deploy_folder_means_no_validation() {
        let checks = plan(false, false, Path::new("/nonexistent/deploy"));
        let names: Vec<_> = checks.iter().map(|check| check.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "cargo test",
                "fuzz (30 s over every target)",
                "stable-only install (no nightly, no bpf-linker)",
                "dist --verify (tarballs, .deb, OCI image)"
            ]
        );
    }

    #[test]
    fn the_vmtest_check_boots_the_ci_kernels_last() {
        let checks = plan(false, true, Path::new("/nonexistent/deploy"));
        let last = checks.last().expect("checks");
        assert_eq!(last.name, "vmtest (kernels 5.10, 6.1, CI subset)");
        assert!(
            cmd::display(&last.command).ends_with("xtask vmtest --kernel 5.10 --kernel 6.1"),
            "{}",
            cmd::display(&last.command)
        );
    }

    #[test]
    fn the_deploy_folder_is_validated_by_its_own_script_for_every_version() {
        let deploy = scratch_folder("plan");
        std::fs::write(deploy.join("validate.sh"), "exit 0\n").expect("write");
        let checks = plan(true, false, &deploy);
        let lines: Vec<_> = checks
            .iter()
            .map(|check| cmd::display(&check.command))
            .collect();
        assert!(lines[1].contains("clippy") && lines[1].ends_with("-D warnings"));
        assert!(
            lines[2].contains("validate.sh") && lines[2].ends_with("1.29.0 1.33.0"),
            "{}",
            lines[2]
        );
        std::fs::remove_dir_all(&deploy).expect("cleanup");
    }
}
