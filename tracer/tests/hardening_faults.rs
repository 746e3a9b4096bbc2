//! Root-only hardening against faults around a recording: SIGINT, SIGTERM and SIGHUP (and a
//! signal at any moment, even during set-up), a closed stdout/stderr pipe (`| head -1`), and
//! a full disk on the output path. In every case the run file is complete or absent — never
//! half-written, no temp file left behind — and the probes are detached once tracer exits.
//! (SIGKILL is covered by `no_leftover_probes.rs`.)
mod support;

use std::{
    collections::BTreeSet,
    io::{BufRead as _, BufReader, Write as _},
    os::fd::{FromRawFd as _, OwnedFd},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use support::{
    TRACER, assert_unloaded, calls, require_root, signal, start_recording, start_workload,
    tracer_demo, wait_at_most, wait_for_programs,
};
use tracer::run::{EndReason, Run};

/// Names in `dir`, sorted.
fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn sigint_sigterm_and_sighup_write_a_complete_file_and_detach_the_probes() {
    require_root();
    for (sig, reason) in [
        (libc::SIGINT, EndReason::Interrupted),
        (libc::SIGTERM, EndReason::Terminated),
        (libc::SIGHUP, EndReason::Terminated),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run.json");
        let (mut workload, pid) = start_workload(&["ping-pong", "--count", "20000"]);
        let recording = start_recording(&[
            "--pid",
            &pid.to_string(),
            "--interval",
            "100ms",
            "-o",
            out.to_str().unwrap(),
        ]);
        let programs = wait_for_programs(recording.pid());
        signal(pid, libc::SIGUSR1);
        assert!(wait_at_most(&mut workload, Duration::from_mins(1), "workload").success());
        // The target is gone but the tracer's next tick may not have noticed yet: the signal
        // races the end of the run, and both ends must leave the same complete file.
        signal(recording.pid(), sig);
        let tracer_pid = recording.pid();
        let (code, stderr) = recording.finish();
        assert_eq!(code, Some(0), "signal {sig}: {stderr}");
        let run = Run::read(&out).unwrap();
        assert!(
            run.end_reason == reason || run.end_reason == EndReason::TargetsExited,
            "signal {sig}: {:?}",
            run.end_reason
        );
        let process = run.processes.iter().find(|p| p.pid == pid).unwrap();
        assert_eq!(calls(process, "write"), (20_000, 2_000_000, 0));
        assert_eq!(calls(process, "read"), (20_000, 2_000_000, 0));
        assert_eq!(
            files_in(dir.path()),
            BTreeSet::from(["run.json".to_owned()])
        );
        assert_unloaded(
            &programs,
            &format!("tracer {tracer_pid} after signal {sig}"),
        );
    }
}

#[test]
fn a_signal_at_any_moment_leaves_the_run_file_complete_or_absent() {
    require_root();
    let (mut workload, pid) = start_workload(&["burn", "--seconds", "0"]);
    // From right after exec (before the handlers exist) to well into the recording.
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80, 150, 300, 600] {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("run.json");
            let mut tracer = Command::new(TRACER)
                .args(["record", "--quiet", "--pid", &pid.to_string(), "-o"])
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay_ms));
            signal(tracer.id(), sig);
            // Loading and detaching the probes takes about a second; three minutes tells a
            // hang from a machine busy with the rest of the suite.
            let status = wait_at_most(&mut tracer, Duration::from_mins(3), "tracer record");
            let files = files_in(dir.path());
            if out.exists() {
                assert!(status.success(), "{delay_ms} ms, signal {sig}: {status}");
                Run::read(&out).unwrap_or_else(|e| {
                    panic!("{delay_ms} ms, signal {sig}: a half-written run file: {e}")
                });
                assert_eq!(files.len(), 1, "{files:?}");
            } else {
                // Killed by the signal before its handlers were set up: nothing written, and
                // nothing left behind either.
                assert!(files.is_empty(), "{delay_ms} ms, signal {sig}: {files:?}");
            }
        }
    }
    signal(pid, libc::SIGKILL);
    let _ = workload.wait();
}

#[test]
fn a_closed_stdout_and_stderr_pipe_does_not_lose_the_run() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run.json");
    let (mut workload, pid) = start_workload(&["mix"]);
    // stdout and stderr share one pipe whose reader goes away after one line, as with
    // `tracer record ... 2>&1 | head -1`.
    let mut fds = [0; 2];
    // SAFETY: valid array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh fds from pipe2 that we now own.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut tracer = Command::new(TRACER)
        .args(["record", "--pid", &pid.to_string(), "--interval", "100ms"])
        // --duration makes an early end print one more line on stderr ("every target exited").
        .args(["--duration", "60s", "-o"])
        .arg(&out)
        .stdout(Stdio::from(writer.try_clone().unwrap()))
        .stderr(Stdio::from(writer))
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut lines = BufReader::new(std::fs::File::from(reader));
    lines.read_line(&mut first).unwrap();
    assert!(first.starts_with("tracer: recording"), "{first}");
    drop(lines);
    signal(pid, libc::SIGUSR1);
    assert!(wait_at_most(&mut workload, Duration::from_mins(1), "workload").success());
    let status = wait_at_most(&mut tracer, Duration::from_mins(1), "tracer record");
    // The target exited before --duration: a warning and 0 (8 only with --strict); what
    // matters is that it is not a panic (101).
    assert_eq!(status.code(), Some(0), "{status}");
    let run = Run::read(&out).unwrap();
    let process = run.processes.iter().find(|p| p.pid == pid).unwrap();
    assert_eq!(calls(process, "write"), (1060, 100_500, 10));
}

#[test]
fn piping_the_summary_into_head_keeps_the_exit_code_and_the_file() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run.json");
    let status_file = dir.path().join("status");
    let script = format!(
        "'{TRACER}' record --quiet -o '{}' -- '{}' workload mix | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}} > '{}'",
        out.display(),
        tracer_demo(),
        status_file.display()
    );
    let mut shell = Command::new("bash").args(["-c", &script]).spawn().unwrap();
    assert!(wait_at_most(&mut shell, Duration::from_mins(2), "bash").success());
    assert_eq!(std::fs::read_to_string(&status_file).unwrap().trim(), "0");
    let run = Run::read(&out).unwrap();
    assert_eq!(run.end_reason, EndReason::CommandExited);
    assert!(run.processes.iter().any(|p| calls(p, "writev").0 == 200));
}

/// A tmpfs of 64 KiB mounted for one test, unmounted on every path.
struct TinyDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tracer-hardening"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "mount -t tmpfs failed");
        Self { path, _dir: dir }
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) {
        let mut filler = std::fs::File::create(self.path.join("filler")).unwrap();
        let block = [0u8; 4096];
        loop {
            match filler.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn a_full_disk_leaves_the_previous_run_file_intact_and_nothing_half_written() {
    require_root();
    let disk = TinyDisk::mount();
    let out = disk.path.join("run.json");
    // A run file from an earlier recording, to be kept as it is.
    std::fs::write(&out, "{\"previous\": true}").unwrap();
    let (mut workload, pid) = start_workload(&["mix"]);
    let recording = start_recording(&[
        "--pid",
        &pid.to_string(),
        "--interval",
        "100ms",
        "-o",
        out.to_str().unwrap(),
    ]);
    let programs = wait_for_programs(recording.pid());
    // The disk fills up while recording.
    disk.fill();
    signal(pid, libc::SIGUSR1);
    assert!(wait_at_most(&mut workload, Duration::from_mins(1), "workload").success());
    let (code, stderr) = recording.finish();
    assert_eq!(code, Some(6), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("tracer: cannot write the run file") && last.contains("No space left"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "{\"previous\": true}"
    );
    assert_eq!(
        files_in(&disk.path),
        BTreeSet::from(["filler".to_owned(), "run.json".to_owned()]),
        "no temp file left behind"
    );
    assert_unloaded(&programs, "tracer after a full disk");
}

#[test]
fn an_output_folder_removed_mid_run_is_one_clear_error() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("gone");
    std::fs::create_dir(&folder).unwrap();
    let out = folder.join("run.json");
    let (mut workload, pid) = start_workload(&["mix"]);
    let recording = start_recording(&[
        "--pid",
        &pid.to_string(),
        "--interval",
        "100ms",
        "-o",
        out.to_str().unwrap(),
    ]);
    std::fs::remove_dir(&folder).unwrap();
    signal(pid, libc::SIGUSR1);
    assert!(wait_at_most(&mut workload, Duration::from_mins(1), "workload").success());
    let (code, stderr) = recording.finish();
    assert_eq!(code, Some(6), "{stderr}");
    assert!(
        stderr
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("tracer: cannot write the run file")),
        "{stderr}"
    );
    assert!(!folder.exists());
}
