//! Root-only hardening of targets: processes that exit mid-run, a PID reused by an unrelated
//! process while the recording goes on, a process with 10,000 threads, and a burst of 2,000
//! short-lived children. Counts stay exact for what was traced, exits are recorded, and
//! nothing hangs (every wait has a deadline).
mod support;

use std::{
    io::Read as _,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use support::{
    Guarded, calls, require_root, signal, start_recording, start_workload, tracer_demo,
    wait_at_most,
};
use tracer::run::{EndReason, Process, Run};

/// What `tracer-demo workload mix` writes with its default arguments (see `record_e2e.rs`).
fn assert_mix_counts(process: &Process) {
    assert_eq!(calls(process, "write"), (1060, 100_500, 10), "{process:?}");
    assert_eq!(calls(process, "writev"), (200, 200 * 192, 0));
    assert_eq!(calls(process, "sendto"), (300, 300 * 512, 0));
    assert_eq!(calls(process, "recvfrom"), (300, 300 * 512, 0));
    assert_eq!(calls(process, "read"), (50, 500, 0));
    assert_eq!(calls(process, "sendmsg"), (20, 20 * 64, 0));
    assert_eq!(calls(process, "recvmsg"), (20, 20 * 64, 0));
    assert_eq!(process.syscalls.len(), 7, "{:?}", process.syscalls);
}

#[test]
fn a_target_that_exits_mid_run_keeps_exact_counts_and_its_exit_while_another_goes_on() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exits.json");
    let (mut leaver, leaver_pid) = start_workload(&["mix"]);
    let (mut stayer, stayer_pid) = start_workload(&["burn", "--seconds", "0"]);
    let recording = start_recording(&[
        "--pid",
        &leaver_pid.to_string(),
        "--pid",
        &stayer_pid.to_string(),
        "--interval",
        "100ms",
        "-o",
        out.to_str().unwrap(),
    ]);
    signal(leaver_pid, libc::SIGUSR1);
    assert!(wait_at_most(&mut leaver, Duration::from_mins(1), "workload").success());
    // The recording goes on for the other target past the exit.
    std::thread::sleep(Duration::from_millis(500));
    signal(recording.pid(), libc::SIGINT);
    let (code, stderr) = recording.finish();
    let _ = stayer.kill();
    let _ = stayer.wait();
    assert_eq!(code, Some(0), "{stderr}");

    let run = Run::read(&out).unwrap();
    assert_eq!(run.end_reason, EndReason::Interrupted);
    assert!(run.losses.is_complete(), "{:?}", run.losses);
    let leaver = run.processes.iter().find(|p| p.pid == leaver_pid).unwrap();
    assert_mix_counts(leaver);
    let exited_after = leaver.exited_after_ns.expect("the exit is recorded");
    assert!(exited_after < run.duration_ns);
    let stayer = run.processes.iter().find(|p| p.pid == stayer_pid).unwrap();
    assert_eq!(
        stayer.exited_after_ns, None,
        "the other target is still alive"
    );
    assert!(stayer.syscalls.is_empty(), "{:?}", stayer.syscalls);
}

/// Makes the next process the kernel creates get `pid`, by setting the init namespace's last
/// PID (root only); retries for up to a minute while other processes (builds, the other tests'
/// threads and children) take the number first or still hold it.
fn spawn_with_pid(pid: u32, command: &mut Command) -> Guarded {
    let deadline = std::time::Instant::now() + Duration::from_mins(1);
    while std::time::Instant::now() < deadline {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
        let child = Guarded(command.spawn().unwrap());
        if child.id() == pid {
            return child;
        }
        drop(child);
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("could not start a process with PID {pid} within a minute: the machine forks too often");
}

#[test]
fn a_pid_reused_by_an_unrelated_process_is_not_counted_as_the_exited_target() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reuse.json");
    // The impostor is named so that any trace of it in the run file is easy to find.
    let impostor_file = dir.path().join("IMPOSTOR-FILE");
    let impostor_program = dir.path().join("impostor");
    std::os::unix::fs::symlink(tracer_demo(), &impostor_program).unwrap();

    let (mut target, target_pid) = start_workload(&["mix"]);
    let (mut keeper, keeper_pid) = start_workload(&["burn", "--seconds", "0"]);
    let recording = start_recording(&[
        "--pid",
        &target_pid.to_string(),
        "--pid",
        &keeper_pid.to_string(),
        "--interval",
        "100ms",
        "-o",
        out.to_str().unwrap(),
    ]);
    signal(target_pid, libc::SIGUSR1);
    assert!(wait_at_most(&mut target, Duration::from_mins(1), "workload").success());

    // Same PID, not a child of any target (failed attempts are killed and waited for, and
    // the one that gets the PID truncates the file): it writes to its fd 3 (where the target had
    // /dev/null), then burns 1.5 s of CPU, while the tracer samples every 100 ms.
    let script = format!(
        "exec 3>'{}'; echo impostor-was-here >&3; echo again >&3; exec '{}' workload burn --seconds 1.5",
        impostor_file.display(),
        impostor_program.display()
    );
    let mut impostor = spawn_with_pid(
        target_pid,
        Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::null()),
    );
    assert!(wait_at_most(&mut impostor, Duration::from_mins(1), "impostor").success());
    assert_eq!(
        std::fs::read_to_string(&impostor_file).unwrap(),
        "impostor-was-here\nagain\n",
        "the impostor made its writes"
    );

    signal(recording.pid(), libc::SIGINT);
    let (code, stderr) = recording.finish();
    let _ = keeper.kill();
    let _ = keeper.wait();
    assert_eq!(code, Some(0), "{stderr}");

    let text = std::fs::read_to_string(&out).unwrap();
    let run = Run::from_json(&text, &out).unwrap();
    let reused: Vec<&Process> = run
        .processes
        .iter()
        .filter(|p| p.pid == target_pid)
        .collect();
    assert_eq!(reused.len(), 1);
    let process = reused[0];
    // The kernel dropped the PID from its targets at exit: the impostor's 2 writes on fd 3
    // are not added to the target's (exactly the workload's own).
    assert_mix_counts(process);
    assert!(process.exited_after_ns.is_some());
    // The collector does not mistake the impostor for the target either: not its name,
    // not its CPU, not its open files.
    assert_eq!(process.name, "tracer-demo", "{process:?}");
    // The target's own CPU is exact to its exit (the kernel's figure as it died), which under
    // emulation is a few hundred ms; the impostor burned 1.5 s.
    let cpu_ns = process.cpu.as_ref().map_or(0, |c| c.on_cpu_ns);
    assert!(
        cpu_ns < 1_000_000_000,
        "the target's CPU includes the impostor's burn: {cpu_ns} ns"
    );
    assert!(
        !text.contains("IMPOSTOR-FILE") && !text.contains("impostor"),
        "the run file describes the impostor: {:?}",
        process.fds
    );
}

#[test]
fn ten_thousand_threads_of_one_target_are_counted_exactly() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("threads.json");
    let (mut workload, pid) = start_workload(&["threads", "--threads", "10000", "--writes", "3"]);
    let recording = start_recording(&[
        "--pid",
        &pid.to_string(),
        "--interval",
        "200ms",
        "-o",
        out.to_str().unwrap(),
    ]);
    signal(pid, libc::SIGUSR1);
    let status = wait_at_most(&mut workload, Duration::from_mins(2), "10,000 threads");
    assert!(status.success(), "{status}");
    let (code, stderr) = recording.finish();
    assert_eq!(code, Some(0), "{stderr}");

    let run = Run::read(&out).unwrap();
    assert_eq!(run.end_reason, EndReason::TargetsExited);
    assert!(run.losses.is_complete(), "{:?}", run.losses);
    assert_eq!(
        run.processes.len(),
        1,
        "threads are not processes: {:?}",
        run.processes.iter().map(|p| p.pid).collect::<Vec<_>>()
    );
    let process = &run.processes[0];
    assert_eq!(process.pid, pid);
    assert_eq!(calls(process, "write"), (30_000, 300_000, 0));
    assert_eq!(process.syscalls.len(), 1, "{:?}", process.syscalls);
    assert!(process.exited_after_ns.is_some());
}

#[test]
fn a_burst_of_two_thousand_short_lived_children_is_counted_with_every_exit() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("forks.json");
    let (mut workload, pid) = start_workload(&["fork-bomb", "--children", "2000", "--writes", "3"]);
    let recording = start_recording(&[
        "--pid",
        &pid.to_string(),
        "--interval",
        "100ms",
        "-o",
        out.to_str().unwrap(),
    ]);
    signal(pid, libc::SIGUSR1);
    let status = wait_at_most(&mut workload, Duration::from_mins(2), "fork bomb");
    let mut said = String::new();
    workload
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    assert!(status.success(), "{status}: {said}");
    assert_eq!(said.trim(), "forked 2000 children, 0 failed");
    let (code, stderr) = recording.finish();
    assert_eq!(code, Some(0), "{stderr}");

    let run = Run::read(&out).unwrap();
    assert!(run.losses.is_complete(), "{:?}", run.losses);
    let parent = run.processes.iter().find(|p| p.pid == pid).unwrap();
    // The parent's only I/O is its one-line report.
    assert_eq!(calls(parent, "write").0, 1, "{:?}", parent.syscalls);
    let children: Vec<&Process> = run.processes.iter().filter(|p| p.pid != pid).collect();
    let child_writes: u64 = children.iter().map(|c| calls(c, "write").0).sum();
    let child_bytes: u64 = children.iter().map(|c| calls(c, "write").1).sum();
    assert_eq!((child_writes, child_bytes), (6_000, 60_000));
    for child in &children {
        // A PID the kernel hands out twice in one run (PIDs wrap at pid_max) holds two
        // children's counts: always whole children, 3 writes each.
        assert_eq!(calls(child, "write").0 % 3, 0, "{child:?}");
        assert!(
            child.exited_after_ns.is_some(),
            "child {} has no recorded exit",
            child.pid
        );
        assert_eq!(child.target, 0);
    }
    let pid_max: usize = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if pid_max > 100_000 {
        assert_eq!(children.len(), 2000);
    } else {
        assert!(children.len() > 1000, "{}", children.len());
    }
    assert!(Path::new(&out).is_file());
}
