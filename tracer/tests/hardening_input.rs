//! Bad input everywhere: malformed or unknown `--pid`, `--pod`, `--container`, `--cgroup`,
//! durations, output paths and commands; run files that are missing, empty, truncated, of a
//! newer schema or of the wrong kind. Each gets one clear sentence, the exit code of its kind
//! (tracer/src/error.rs), and never a panic or a backtrace. Runs as any user: every one of
//! these is refused before a probe is loaded (except the unknown command, which needs root).
use std::{path::Path, process::Command};

const TRACER: &str = env!("CARGO_BIN_EXE_tracer");

/// Runs tracer with a backtrace requested, so a panic could not hide; returns (code, stderr).
fn tracer(args: &[&str]) -> (i32, String) {
    let output = Command::new(TRACER)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
        "{args:?} panicked: {stderr}"
    );
    (output.status.code().unwrap_or(-1), stderr)
}

/// tracer's own errors: exactly one line, `tracer: <sentence>`.
fn assert_one_sentence(args: &[&str], code: i32, words: &str) {
    let (got, stderr) = tracer(args);
    assert_eq!(got, code, "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
    assert!(stderr.starts_with("tracer: "), "{args:?}: {stderr}");
    assert!(
        stderr.contains(words),
        "{args:?}: {stderr:?} lacks {words:?}"
    );
}

/// Errors found by the argument parser: its first line says what is wrong (the rest is the
/// usual pointer to --help), exit code 2.
fn assert_usage(args: &[&str], words: &str) {
    let (got, stderr) = tracer(args);
    assert_eq!(got, 2, "{args:?}: {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: "), "{args:?}: {stderr}");
    assert!(first.contains(words), "{args:?}: {first:?} lacks {words:?}");
    assert!(stderr.lines().count() <= 4, "{args:?}: {stderr}");
}

#[test]
fn malformed_and_unknown_pids() {
    for bad in [
        "abc",
        "0",
        "-5",
        "x=",
        "",
        "12abc",
        "99999999999",
        "1.5",
        "name=pid",
    ] {
        assert_one_sentence(
            &["record", &format!("--pid={bad}"), "-o", "/tmp/x.json"],
            2,
            "is not a process ID",
        );
    }
    assert_one_sentence(
        &["record", "--pid", "4194304", "-o", "/tmp/x.json"],
        3,
        "no process with PID 4194304",
    );
}

#[test]
fn malformed_and_unknown_pods_containers_and_cgroups() {
    for bad in [
        "nope",
        "a/b/c",
        "/x",
        "x/",
        "Default/web",
        "ns/UPPER",
        "a b/c",
    ] {
        assert_usage(&["record", &format!("--pod={bad}")], "--pod");
    }
    let host = tempfile::tempdir().unwrap();
    let host = host.path().to_str().unwrap();
    assert_one_sentence(
        &[
            "record",
            "--pod",
            "default/no-such-pod",
            "--host-root",
            host,
            "--cgroup-root",
            "/sys/fs/cgroup",
        ],
        3,
        "default/no-such-pod",
    );
    for bad in ["xyz", "abc123", &"g".repeat(64), &"a".repeat(65)] {
        assert_usage(&["record", &format!("--container={bad}")], "--container");
    }
    let (code, stderr) = tracer(&[
        "record",
        "--container",
        &"ab".repeat(32),
        "--host-root",
        host,
        "--cgroup-root",
        "/sys/fs/cgroup",
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for bad in ["/no/such/cgroup", "relative/nowhere", "../../etc"] {
        let (code, stderr) = tracer(&[
            "record",
            "--cgroup",
            bad,
            "--host-root",
            host,
            "--cgroup-root",
            "/sys/fs/cgroup",
        ]);
        assert!(code == 3 || code == 2, "--cgroup {bad}: {code} {stderr}");
        assert_eq!(stderr.lines().count(), 1, "--cgroup {bad}: {stderr}");
    }
}

#[test]
fn durations_that_are_negative_zero_unitless_nonsense_or_huge() {
    for bad in [
        "-1", "10x", "0", "0ms", "", "s", "nan", "inf", "1e9h", "1..2s", "-0.5s", "32d",
    ] {
        assert_usage(
            &["record", "--pid", "1", &format!("--duration={bad}")],
            "duration",
        );
        assert_usage(
            &["record", "--pid", "1", &format!("--interval={bad}")],
            "interval",
        );
    }
}

#[test]
fn cost_sampling_shares_that_are_not_0_to_100_percent() {
    for bad in ["101", "-1", "abc", "", "10.5", "1000%", "%"] {
        assert_usage(
            &["record", "--pid", "1", &format!("--cost-sampling={bad}")],
            "cost-sampling",
        );
    }
}

#[test]
fn nothing_to_record_unwritable_output_and_a_missing_command() {
    assert_one_sentence(&["record", "-o", "/tmp/x.json"], 2, "nothing to record");
    assert_one_sentence(
        &["record", "--pid", "1", "-o", "/proc/no/such/dir/run.json"],
        6,
        "cannot write the run file",
    );
    let dir = tempfile::tempdir().unwrap();
    assert_one_sentence(
        &["record", "--pid", "1", "-o", dir.path().to_str().unwrap()],
        6,
        "is a folder",
    );
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let out = dir.path().join("cmd.json");
        let (code, stderr) = tracer(&[
            "record",
            "--quiet",
            "-o",
            out.to_str().unwrap(),
            "--",
            "/no/such/program",
        ]);
        // 127 as env and timeout give a command they cannot find (see error.rs).
        assert_eq!(code, 127, "{stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("tracer: cannot run '/no/such/program'"),
            "{stderr}"
        );
        assert!(!out.exists(), "no run file for a command that never ran");
    }
}

/// A real run file's text, from a run of `true` (root), or a minimal valid one written by
/// this test otherwise.
fn a_valid_run_file(dir: &Path) -> String {
    let out = dir.join("valid.json");
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let status = Command::new(TRACER)
            .args([
                "record",
                "--quiet",
                "-o",
                out.to_str().unwrap(),
                "--",
                "true",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    } else {
        return String::new();
    }
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn run_files_missing_empty_truncated_newer_or_of_the_wrong_kind() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let missing = dir.path().join("missing.json");
    assert_one_sentence(
        &["report", missing.to_str().unwrap()],
        7,
        "cannot read run file",
    );
    assert_one_sentence(
        &["report", dir.path().to_str().unwrap()],
        7,
        "cannot read run file",
    );
    assert_one_sentence(&["report", &write("empty.json", b"")], 7, "is empty");
    assert_one_sentence(&["report", &write("blank.json", b" \n\t\n")], 7, "is empty");
    assert_one_sentence(
        &[
            "report",
            &write("binary.json", &[0xff, 0xfe, 0x00, 0x9c, 0x80]),
        ],
        7,
        "cannot read run file",
    );
    for (name, text) in [
        ("array.json", "[1, 2, 3]"),
        ("string.json", "\"tracer-run\""),
        ("null.json", "null"),
        (
            "fortio.json",
            "{\"RunType\": \"HTTP\", \"DurationHistogram\": {}}",
        ),
        (
            "kind.json",
            "{\"kind\": \"tracer-comparison\", \"schema\": 1}",
        ),
        ("kind-number.json", "{\"kind\": 7, \"schema\": 1}"),
    ] {
        assert_one_sentence(
            &["report", &write(name, text.as_bytes())],
            7,
            "is not a tracer run file",
        );
    }
    assert_one_sentence(
        &[
            "report",
            &write("deep.json", "[".repeat(100_000).as_bytes()),
        ],
        7,
        "not valid JSON",
    );
    assert_one_sentence(
        &[
            "report",
            &write("damaged.json", b"{\"kind\": \"tracer-run\", \"schema\": 1}"),
        ],
        7,
        "is damaged",
    );

    let valid = a_valid_run_file(dir.path());
    if valid.is_empty() {
        return;
    }
    let (code, stderr) = tracer(&["report", &write("ok.json", valid.as_bytes())]);
    assert_eq!(code, 0, "the untouched file is fine: {stderr}");
    // Cut anywhere: never accepted, never a panic.
    for cut in [1, 2, 10, valid.len() / 3, valid.len() / 2, valid.len() - 2] {
        let cut = (0..=cut)
            .rev()
            .find(|&i| valid.is_char_boundary(i))
            .unwrap();
        assert_one_sentence(
            &["report", &write("cut.json", &valid.as_bytes()[..cut])],
            7,
            "not valid JSON",
        );
    }
    let mut newer: serde_json::Value = serde_json::from_str(&valid).unwrap();
    newer["schema"] = (tracer::run::SCHEMA + 1).into();
    newer["something_new"] = "from the future".into();
    assert_one_sentence(
        &["report", &write("newer.json", newer.to_string().as_bytes())],
        7,
        "newer than this tracer",
    );
    let mut wrong_type: serde_json::Value = serde_json::from_str(&valid).unwrap();
    wrong_type["duration_ns"] = "soon".into();
    assert_one_sentence(
        &[
            "report",
            &write("type.json", wrong_type.to_string().as_bytes()),
        ],
        7,
        "is damaged",
    );
}

#[test]
fn compare_and_report_with_bad_run_files_and_load_results() {
    let dir = tempfile::tempdir().unwrap();
    let valid = a_valid_run_file(dir.path());
    if valid.is_empty() {
        return;
    }
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let good = write("good.json", valid.as_bytes());
    let mut relabelled: serde_json::Value = serde_json::from_str(&valid).unwrap();
    relabelled["label"] = "other".into();
    let other = write("other.json", relabelled.to_string().as_bytes());
    let (code, stderr) = tracer(&["compare", &good, &other]);
    assert_eq!(code, 0, "two good runs compare: {stderr}");

    assert_one_sentence(&["compare", &good], 2, "at least two run files");
    assert_one_sentence(&["compare", &good, &write("e.json", b"")], 7, "is empty");
    assert_one_sentence(
        &[
            "compare",
            &good,
            &write("t.json", &valid.as_bytes()[..valid.len() / 2]),
        ],
        7,
        "not valid JSON",
    );
    let mut newer = relabelled.clone();
    newer["schema"] = (tracer::run::SCHEMA + 1).into();
    assert_one_sentence(
        &[
            "compare",
            &good,
            &write("n.json", newer.to_string().as_bytes()),
        ],
        7,
        "newer than this tracer",
    );
    assert_one_sentence(
        &[
            "compare",
            &good,
            &write("k.json", b"{\"kind\": \"tracer-comparison\"}"),
        ],
        7,
        "is not a tracer run file",
    );
    let broken = write("broken-load.json", b"{\"DurationHistogram\": ");
    assert_one_sentence(
        &["compare", &good, &other, "--load", &broken],
        2,
        "1 --load files for 2 run files",
    );
    assert_one_sentence(
        &[
            "compare", &good, &other, "--load", &broken, "--load", &broken,
        ],
        7,
        "is not valid JSON",
    );
    assert_one_sentence(
        &["report", &good, "--load", &good],
        7,
        "is neither a Fortio result",
    );
    assert_one_sentence(
        &[
            "report",
            &good,
            "--load",
            &dir.path().join("none.json").to_string_lossy(),
        ],
        7,
        "cannot read load-generator result",
    );
    assert_one_sentence(
        &["report", &good, "-o", "/proc/no/such/report.html"],
        6,
        "cannot write",
    );
    assert_usage(&["compare", &good, &other, "--requests", "0"], "--requests");
}
