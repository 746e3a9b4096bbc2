//! Root-only: recordings running at the same time — two on the same target, one on another —
//! each load their own probes and maps, so none disturbs another's counts.
mod support;

use std::time::Duration;

use support::{calls, require_root, signal, start_recording, start_workload, wait_at_most};
use tracer::run::Run;

#[test]
fn three_recordings_at_once_on_shared_and_separate_targets_each_count_exactly() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let (mut mix, mix_pid) = start_workload(&["mix"]);
    let (mut pong, pong_pid) = start_workload(&["ping-pong", "--count", "50000"]);
    let outputs: Vec<_> = ["a.json", "b.json", "c.json"]
        .iter()
        .map(|name| dir.path().join(name))
        .collect();
    let targets = [mix_pid, mix_pid, pong_pid];
    let recordings: Vec<_> = outputs
        .iter()
        .zip(targets)
        .map(|(out, pid)| {
            start_recording(&[
                "--pid",
                &pid.to_string(),
                "--interval",
                "100ms",
                "-o",
                out.to_str().unwrap(),
            ])
        })
        .collect();
    signal(mix_pid, libc::SIGUSR1);
    signal(pong_pid, libc::SIGUSR1);
    assert!(wait_at_most(&mut mix, Duration::from_mins(1), "mix").success());
    assert!(wait_at_most(&mut pong, Duration::from_mins(2), "ping-pong").success());
    for recording in recordings {
        let (code, stderr) = recording.finish();
        assert_eq!(code, Some(0), "{stderr}");
    }

    let runs: Vec<Run> = outputs.iter().map(|o| Run::read(o).unwrap()).collect();
    for run in &runs {
        assert!(run.losses.is_complete(), "{:?}", run.losses);
    }
    for run in &runs[..2] {
        let process = run.processes.iter().find(|p| p.pid == mix_pid).unwrap();
        assert_eq!(calls(process, "write"), (1060, 100_500, 10));
        assert_eq!(calls(process, "writev"), (200, 200 * 192, 0));
        assert_eq!(calls(process, "sendto"), (300, 300 * 512, 0));
        assert_eq!(calls(process, "recvfrom"), (300, 300 * 512, 0));
        assert_eq!(calls(process, "read"), (50, 500, 0));
        assert!(
            run.processes.iter().all(|p| p.pid != pong_pid),
            "the other recording's target is not in this run"
        );
        // The mix's forked child, with its 100 writes, in both.
        let child_writes: u64 = run
            .processes
            .iter()
            .filter(|p| p.pid != mix_pid)
            .map(|p| calls(p, "write").0)
            .sum();
        assert_eq!(child_writes, 100);
    }
    assert_eq!(
        runs[0].processes.len(),
        runs[1].processes.len(),
        "both recordings of the same target see the same processes"
    );
    let pong_run = &runs[2];
    assert_eq!(pong_run.processes.len(), 1);
    let process = &pong_run.processes[0];
    assert_eq!(process.pid, pong_pid);
    assert_eq!(calls(process, "write"), (50_000, 5_000_000, 0));
    assert_eq!(calls(process, "read"), (50_000, 5_000_000, 0));
}
