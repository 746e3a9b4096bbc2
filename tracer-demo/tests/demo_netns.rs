//! The demo's emulated nodes are removed on every exit path: after a normal run, and after
//! SIGINT or SIGTERM mid-run. Needs root (network namespaces); CI runs as root.
use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
};

const TRACER_DEMO: &str = env!("CARGO_BIN_EXE_tracer-demo");

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// What of the demo with this PID is still there: its namespaces, and veth ends anywhere.
fn leftovers(pid: u32) -> Vec<String> {
    let namespaces = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let mut found: Vec<String> = String::from_utf8_lossy(&namespaces.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(&format!("tracer-demo-{pid}-")))
        .map(str::to_owned)
        .collect();
    let links = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    found.extend(
        String::from_utf8_lossy(&links.stdout)
            .lines()
            .filter(|line| line.contains(&format!("tdemo{pid}")))
            .map(str::to_owned),
    );
    found
}

fn spawn_demo(duration: &str, out: &std::path::Path) -> Child {
    Command::new(TRACER_DEMO)
        .args([
            "--no-record",
            "--scenario",
            "keepalive",
            "--duration",
            duration,
            "-o",
        ])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_normal_run_leaves_no_namespace_or_veth_behind() {
    assert!(
        is_root(),
        "this test creates network namespaces: run it as root (CI does)"
    );
    let out = tempfile::tempdir().unwrap();
    let child = spawn_demo("1s", out.path());
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("tracer-demo-{pid}-a")),
        "the demo names its nodes: {stdout}"
    );
    for stem in [
        "keepalive-no-mesh-1",
        "keepalive-sidecar-1",
        "keepalive-ambient-1",
    ] {
        assert!(stdout.contains(stem), "every mode ran: {stdout}");
    }
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

/// Starts a long demo, waits until it is inside `phase` (a line of its output), checks the
/// nodes exist, sends `signal`, and checks everything is gone.
/// With `keep_reading`, stdout is drained to the end (a terminal); without, it is closed right
/// after `phase` (a pipe into `head`), so the demo's later prints hit a closed pipe.
fn interrupted_mid_run(signal: libc::c_int, duration: &str, phase: &str, keep_reading: bool) {
    assert!(
        is_root(),
        "this test creates network namespaces: run it as root (CI does)"
    );
    let out = tempfile::tempdir().unwrap();
    let mut child = spawn_demo(duration, out.path());
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let reached = line.contains(phase);
        seen.push(line);
        if reached {
            break;
        }
    }
    let drain = if keep_reading {
        Some(std::thread::spawn(move || lines.count()))
    } else {
        drop(lines);
        None
    };
    // The check below must be able to fail: right now the nodes exist.
    let present = leftovers(pid);
    assert_eq!(
        present.len(),
        2,
        "expected both namespaces mid-run, found {present:?}"
    );
    // SAFETY: kill has no memory-safety preconditions; the PID is our unreaped child.
    unsafe {
        libc::kill(libc::pid_t::try_from(pid).unwrap(), signal);
    }
    let status = child.wait().unwrap();
    if let Some(drain) = drain {
        drain.join().unwrap();
    }
    assert_eq!(status.code(), Some(130), "interrupted demos exit with 130");
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

#[test]
fn sigint_during_the_no_mesh_load_removes_namespaces_and_veth() {
    interrupted_mid_run(libc::SIGINT, "30s", "tracer-demo: connected", true);
}

#[test]
fn sigterm_during_the_ambient_run_removes_namespaces_and_veth() {
    // Each mode runs 3 s: the signal lands while the ambient load is running (its iptables
    // rules live in the namespaces and go with them).
    interrupted_mid_run(libc::SIGTERM, "3s", "== keepalive-ambient-1", false);
}

/// A namespace with the demo's name that the demo did not create is refused and left alone.
#[test]
fn a_namespace_it_did_not_create_is_neither_reused_nor_deleted() {
    assert!(
        is_root(),
        "this test creates network namespaces: run it as root (CI does)"
    );
    // Above PID_MAX_LIMIT (4194304), so no live demo can own these names.
    let fake_pid = 9_000_000 + std::process::id() % 100_000;
    let (a, b, _, _) = tracer_demo::netns::Nodes::names(fake_pid);
    let added = Command::new("ip")
        .args(["netns", "add", &a])
        .status()
        .unwrap();
    assert!(added.success());
    let error = tracer_demo::netns::Nodes::create(fake_pid).unwrap_err();
    let (code, message) = tracer::error::describe(&error);
    let still_there = leftovers(fake_pid);
    let _ = Command::new("ip").args(["netns", "del", &a]).status();
    assert_eq!(
        code,
        tracer::error::ErrorKind::Busy.exit_code(),
        "{message}"
    );
    assert!(message.contains(&format!("ip netns del {a}")), "{message}");
    assert_eq!(
        still_there,
        vec![a],
        "the foreign namespace stays, and {b} was never made"
    );

    // And what it does create, it removes when dropped.
    let nodes = tracer_demo::netns::Nodes::create(fake_pid).unwrap();
    assert_eq!(leftovers(fake_pid).len(), 2);
    drop(nodes);
    assert_eq!(leftovers(fake_pid), Vec::<String>::new());
}

#[test]
fn without_root_the_demo_says_so_and_creates_nothing() {
    assert!(
        is_root(),
        "this test drops root with setpriv: run it as root (CI does)"
    );
    let out = tempfile::tempdir().unwrap();
    let child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            TRACER_DEMO,
            "--duration",
            "1s",
            "-o",
        ])
        .arg(out.path().join("never"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(i32::from(tracer::error::ErrorKind::Permission.exit_code())),
        "{stderr}"
    );
    assert!(stderr.contains("run it as root"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    assert_eq!(leftovers(pid), Vec::<String>::new());
    assert!(
        !out.path().join("never").exists(),
        "no output folder before the checks pass"
    );
}
