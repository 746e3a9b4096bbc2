//! `cargo xtask test`: setup, then every check the project has, in one command (CI runs exactly
//! this). Every check runs even after one fails, so one CI run reports all that is broken; the
//! command then fails naming each failed check.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::bail;

use crate::{cmd, setup};

/// Kubernetes versions the manifests in deploy/ must be valid for: the oldest release still
/// common on managed clusters, and a recent one.
const KUBERNETES_VERSIONS: &[&str] = &["1.29.0", "1.33.0"];

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Skip `cargo xtask setup` (everything is known to be installed).
    #[arg(long)]
    no_setup: bool,
    /// Also run `cargo clippy --all-targets -- -D warnings` (not yet clean on main).
    #[arg(long)]
    clippy: bool,
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
    let checks = plan(args.clippy, &cmd::workspace_root().join("deploy"))?;
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

fn plan(clippy: bool, deploy: &Path) -> anyhow::Result<Vec<Check>> {
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
    let manifests = manifests(deploy)?;
    if !manifests.is_empty() {
        for version in KUBERNETES_VERSIONS {
            let mut validate = setup::kubernetes_validate_command();
            validate
                .args(["--strict", "--quiet", "--kubernetes-version", version])
                .args(&manifests);
            checks.push(Check {
                name: format!(
                    "kubernetes-validate {version} ({} manifests in deploy/)",
                    manifests.len()
                ),
                command: validate,
            });
        }
    }
    Ok(checks)
}

/// Every Kubernetes manifest under `deploy`, sorted; none when the folder does not exist.
/// Helm charts (a folder with Chart.yaml) and kustomization files are not plain manifests.
fn manifests(deploy: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if deploy.is_dir() {
        collect_manifests(deploy, &mut found)?;
    }
    found.sort();
    Ok(found)
}

fn collect_manifests(folder: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if folder.join("Chart.yaml").exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(folder)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_manifests(&path, found)?;
        } else if is_manifest(&path) {
            found.push(path);
        }
    }
    Ok(())
}

fn is_manifest(path: &Path) -> bool {
    let yaml = path
        .extension()
        .is_some_and(|extension| extension == "yaml" || extension == "yml");
    let kustomization = path
        .file_stem()
        .is_some_and(|stem| stem.eq_ignore_ascii_case("kustomization"));
    yaml && !kustomization
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_folder(name: &str) -> PathBuf {
        let folder = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).expect("temp dir is writable");
        folder
    }

    #[test]
    fn manifests_are_found_recursively_without_charts_or_kustomizations() {
        let deploy = scratch_folder("manifests");
        for file in [
            "agent.yaml",
            "rbac.yml",
            "README.md",
            "kustomization.yaml",
            "overlays/kind/daemonset.yaml",
            "chart/Chart.yaml",
            "chart/templates/daemonset.yaml",
        ] {
            let path = deploy.join(file);
            std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(&path, "kind: ConfigMap\n").expect("write");
        }
        let found: Vec<_> = manifests(&deploy)
            .expect("readable")
            .into_iter()
            .map(|path| path.strip_prefix(&deploy).expect("inside").to_path_buf())
            .collect();
        assert_eq!(
            found,
            [
                PathBuf::from("agent.yaml"),
                "overlays/kind/daemonset.yaml".into(),
                "rbac.yml".into()
            ]
        );
        std::fs::remove_dir_all(&deploy).expect("cleanup");
    }

    #[test]
    fn no_deploy_folder_means_no_validation() {
        let checks = plan(false, Path::new("/nonexistent/deploy")).expect("plan");
        let names: Vec<_> = checks.iter().map(|check| check.name.as_str()).collect();
        assert_eq!(names, ["cargo test"]);
    }

    #[test]
    fn each_kubernetes_version_is_a_check() {
        let deploy = scratch_folder("plan");
        std::fs::write(deploy.join("agent.yaml"), "kind: ConfigMap\n").expect("write");
        let checks = plan(true, &deploy).expect("plan");
        let lines: Vec<_> = checks
            .iter()
            .map(|check| cmd::display(&check.command))
            .collect();
        assert!(lines[1].contains("clippy") && lines[1].ends_with("-D warnings"));
        assert!(lines[2].contains("--strict") && lines[2].contains("--kubernetes-version 1.29.0"));
        assert!(lines[3].contains("--kubernetes-version 1.33.0"));
        assert!(lines[3].ends_with("agent.yaml"));
        std::fs::remove_dir_all(&deploy).expect("cleanup");
    }
}
