//! `tracer targets` driven through the built binary over a fake node (no root needed): what a
//! user on a node sees, including the exit codes of the expected failures.
use std::{fs, path::Path, process::Command};

const UID: &str = "3c2b1a09-8f7e-4d6c-9b5a-493827161504";
const APP_ID: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0";

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A pure cgroup v2 node with one burstable containerd pod under the systemd driver.
fn fake_node() -> (tempfile::TempDir, tempfile::TempDir) {
    let host = tempfile::tempdir().unwrap();
    let cgroups = tempfile::tempdir().unwrap();
    fs::create_dir_all(
        host.path()
            .join(format!("var/log/pods/default_fortio-7d9_{UID}/fortio")),
    )
    .unwrap();
    write(
        &cgroups.path().join("cgroup.controllers"),
        "cpu memory pids\n",
    );
    let pod = cgroups.path().join(format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
        UID.replace('-', "_")
    ));
    write(&pod.join("cgroup.procs"), "");
    write(
        &pod.join("cpu.stat"),
        "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
    );
    write(
        &pod.join(format!("cri-containerd-{APP_ID}.scope/cgroup.procs")),
        "4242\n4243\n",
    );
    (host, cgroups)
}

fn tracer(host: &Path, cgroups: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .arg("targets")
        .args(args)
        .arg("--host-root")
        .arg(host)
        .arg("--cgroup-root")
        .arg(cgroups)
        .env_remove("TRACER_HOST_ROOT")
        .env_remove("TRACER_CGROUP_ROOT")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn pod_resolves_to_its_containers_pids_and_cpu() {
    let (host, cgroups) = fake_node();
    let (code, stdout, stderr) = tracer(
        host.path(),
        cgroups.path(),
        &["--pod", "default/fortio-7d9", "--json"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let shown: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let pod = &shown[0];
    assert_eq!(pod["name"], "default/fortio-7d9");
    assert_eq!(pod["pod"]["uid"], UID);
    assert_eq!(pod["pod"]["qos"], "burstable");
    assert_eq!(pod["pids"], serde_json::json!([4242, 4243]));
    assert_eq!(pod["cpu_usage_ns"], 2_500_000_000_u64);
    assert_eq!(pod["containers"][0]["id"], APP_ID);
    assert_eq!(pod["containers"][0]["runtime"], "containerd");
    assert_eq!(pod["cgroup_ids"].as_array().unwrap().len(), 2);
    // `--format json`, as everywhere in tracer, prints the same; `--json` stays for old scripts.
    let (code, formatted, stderr) = tracer(
        host.path(),
        cgroups.path(),
        &["--pod", "default/fortio-7d9", "--format", "json"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(formatted, stdout);

    let (code, text, _) = tracer(host.path(), cgroups.path(), &["--container", &APP_ID[..12]]);
    assert_eq!(code, Some(0));
    assert!(
        text.starts_with("default/fortio-7d9 container 9f8e7d6c5b4a"),
        "{text}"
    );
    assert!(text.contains("  pids        4242 4243\n"), "{text}");
}

#[test]
fn unknown_pod_exits_3_with_one_sentence() {
    let (host, cgroups) = fake_node();
    let (code, stdout, stderr) = tracer(host.path(), cgroups.path(), &["--pod", "default/fortio"]);
    assert_eq!(code, Some(3));
    assert!(stdout.is_empty());
    let logs = host.path().join("var/log/pods");
    assert_eq!(
        stderr,
        format!(
            "tracer: no pod default/fortio on this node: {} has no default_fortio_* folder; check the name with kubectl get pod -o wide\n",
            logs.display()
        )
    );
}

#[test]
fn malformed_specs_exit_2() {
    let (host, cgroups) = fake_node();
    for args in [
        &["--pod", "fortio-7d9"][..],
        &["--container", "9f8e7d"],
        &[],
    ] {
        let (code, _, stderr) = tracer(host.path(), cgroups.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
