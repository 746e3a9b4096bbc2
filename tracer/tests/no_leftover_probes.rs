//! Root-only: after tracer exits — normally, on bad input, or killed with SIGKILL mid-run — no
//! tracer program stays loaded in the kernel. Its own test binary, so no other test's tracer
//! runs at the same time (cargo runs test binaries one after another).
use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    time::SystemTime,
};

const TRACER: &str = env!("CARGO_BIN_EXE_tracer");

/// Programs named tracer_* loaded since `since` and still loaded.
fn tracer_programs_loaded_since(since: SystemTime) -> Vec<String> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| p.name_as_str().is_some_and(|n| n.starts_with("tracer_")))
        .filter(|p| p.loaded_at().is_some_and(|t| t >= since))
        .map(|p| p.name_as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn no_probe_outlives_tracer_even_after_sigkill() {
    // SAFETY: no preconditions.
    assert!(unsafe { libc::geteuid() } == 0, "run as root (CI does)");
    let since = SystemTime::now() - std::time::Duration::from_secs(1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run.json");

    // Normal end, and a failure after the probes were loaded (forced mechanism missing BTF).
    let status = Command::new(TRACER)
        .args([
            "record",
            "--quiet",
            "-o",
            out.to_str().unwrap(),
            "--",
            "true",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new(TRACER)
        .args([
            "record",
            "--pid",
            "1",
            "--probe",
            "tp-btf",
            "--btf",
            "/no/such",
            "-o",
            out.to_str().unwrap(),
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(5));

    // SIGKILL while recording: the kernel frees the programs with the process's fds.
    let mut tracer = Command::new(TRACER)
        .args(["record", "--pid", "1", "-o", out.to_str().unwrap()])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(tracer.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("tracer: recording"), "{line}");
    assert!(
        !tracer_programs_loaded_since(since).is_empty(),
        "while recording, the probes are loaded"
    );
    tracer.kill().unwrap();
    tracer.wait().unwrap();
    // Program teardown after the last fd closes is deferred (RCU); give it a moment.
    let mut left = tracer_programs_loaded_since(since);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        left = tracer_programs_loaded_since(since);
    }
    assert_eq!(
        left,
        Vec::<String>::new(),
        "tracer programs still loaded after tracer exited"
    );
}
