//! Root-only: more distinct fds than the per-fd map holds (100,000 over 10 processes: the
//! open-file limit may not be raised where `CAP_SYS_RESOURCE` is missing). The per-fd breakdown overflows
//! into one bucket per (process, syscall) with fd -1; the run file and the summary say how
//! many calls went there; per-syscall totals stay exact and nothing is lost.
mod support;

use std::{
    io::{BufRead as _, BufReader, Read as _},
    process::{Command, Stdio},
    time::Duration,
};

use support::{TRACER, calls, require_root, signal, start_workload, wait_at_most};
use tracer::run::{FdKind, Run};

#[test]
fn a_hundred_thousand_fds_overflow_the_per_fd_map_into_exact_totals() {
    const FDS: u64 = 100_000;
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fds.json");
    let (mut workload, pid) = start_workload(&["many-fds", "--fds", &FDS.to_string()]);
    let mut tracer = Command::new(TRACER)
        .args([
            "record",
            "--pid",
            &pid.to_string(),
            "--interval",
            "500ms",
            "-o",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(tracer.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.starts_with("tracer: recording"), "{line}");
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
    });
    signal(pid, libc::SIGUSR1);
    assert!(wait_at_most(&mut workload, Duration::from_mins(2), "many-fds").success());
    let mut summary = String::new();
    tracer
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut summary)
        .unwrap();
    let status = wait_at_most(&mut tracer, Duration::from_mins(3), "tracer record");
    assert!(status.success(), "{status}");

    let run = Run::read(&out).unwrap();
    // The per-fd map's size on this machine (smaller than compiled where there are many CPUs).
    let capacity = u64::from(run.probe.capacities[tracer_common::maps::FD_STATS]);
    assert!(capacity <= u64::from(tracer_common::capacity::FD_STATS) && capacity < FDS);
    let children: Vec<_> = run.processes.iter().filter(|p| p.pid != pid).collect();
    assert_eq!(children.len(), 10, "the fds are spread over 10 children");
    // Totals: every one of the 100,000 writes, with its byte, whether its fd fitted or not.
    let total: u64 = children.iter().map(|p| calls(p, "write").0).sum();
    let bytes: u64 = children.iter().map(|p| calls(p, "write").1).sum();
    assert_eq!((total, bytes), (FDS, FDS));
    assert!(
        children
            .iter()
            .all(|p| calls(p, "write") == (FDS / 10, FDS / 10, 0))
    );
    assert_eq!(run.losses.calls_lost, 0, "{:?}", run.losses);
    assert_eq!(run.losses.in_flight_full, 0, "{:?}", run.losses);
    let fds: Vec<_> = children.iter().flat_map(|p| &p.fds).collect();
    let (overflow, per_fd): (Vec<&tracer::run::FdStats>, Vec<_>) =
        fds.iter().copied().partition(|f| f.fd == -1);
    assert!(overflow.iter().all(|f| f.kind == FdKind::Overflow));
    assert!(per_fd.iter().all(|f| f.calls == 1 && f.syscall == "write"));
    let overflowed: u64 = overflow.iter().map(|f| f.calls).sum();
    // The per-fd map is full (its every key is one of these fds); each call that did not fit
    // is in an overflow bucket and in the loss counter: the three agree exactly.
    assert_eq!(per_fd.len() as u64, capacity, "per-fd entries");
    assert_eq!(overflowed, FDS - capacity);
    assert_eq!(run.losses.fd_keys_overflowed, FDS - capacity);
    eprintln!(
        "{FDS} fds: {} in the per-fd map, {overflowed} overflowed (fd -1), losses {:?}",
        per_fd.len(),
        run.losses
    );
    assert!(
        summary.contains(&format!("calls without fd detail {}", FDS - capacity)),
        "the summary says how many: {summary}"
    );
}
