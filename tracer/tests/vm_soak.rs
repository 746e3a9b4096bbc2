//! Root-only and long, so ignored by default: one long recording of a busy process with the
//! default options, for the kernel matrix (`cargo xtask vmtest --soak`), which runs it in guests
//! and fails on any oops, warning or hang in the guest's console. It exists because switching
//! the kernel's BPF statistics twice a second (the former default) crashed a 6.12 guest and hung
//! a 6.1 one: the defaults must keep a node's kernel healthy for as long as anyone records.
//!
//! `TRACER_SOAK_SECS` sets the length (default 600 s); `TRACER_SOAK_ARGS` adds `record`
//! options (space separated), e.g. `--cost-sampling 10` to try the former default.
use std::time::Duration;

use tracer::run::Run;

mod support;

use support::{require_root, signal, start_recording, start_workload};

#[test]
#[ignore = "ten minutes long: the kernel matrix runs it in guests (cargo xtask vmtest --soak)"]
fn a_long_recording_with_the_default_options_leaves_the_kernel_healthy() {
    require_root();
    let seconds: u64 = std::env::var("TRACER_SOAK_SECS").map_or(600, |s| {
        s.parse().expect("TRACER_SOAK_SECS is a number of seconds")
    });
    let extra = std::env::var("TRACER_SOAK_ARGS").unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("soak.json");
    // A write+read loop over a socketpair that outlasts the recording.
    let (_workload, pid) = start_workload(&["ping-pong", "--count", "100000000000"]);
    let pid_arg = pid.to_string();
    let duration = format!("{seconds}s");
    let mut args = vec![
        "--pid",
        &pid_arg,
        "--duration",
        &duration,
        "--quiet",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend(extra.split_whitespace());
    let tracer = start_recording(&args);
    signal(pid, libc::SIGUSR1);
    std::thread::sleep(Duration::from_secs(seconds));
    let (code, stderr) = tracer.finish();
    assert_eq!(code, Some(0), "{stderr}");

    let run = Run::read(&out).unwrap();
    assert!(run.losses.is_complete(), "{:?}", run.losses);
    let process = run.processes.iter().find(|p| p.pid == pid).unwrap();
    let (writes, reads) = (
        process.syscall("write").map_or(0, |s| s.calls),
        process.syscall("read").map_or(0, |s| s.calls),
    );
    // Each round is one write then one read: at most the round in flight at either end differs.
    assert!(
        writes > 0 && writes.abs_diff(reads) <= 1,
        "{writes} writes, {reads} reads"
    );
    eprintln!(
        "vmtest: soak {seconds} s with [{extra}]: {writes} writes, {reads} reads, probe {}",
        run.probe.mechanism
    );
}
