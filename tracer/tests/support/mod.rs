//! Shared by the end-to-end tests: starting workloads and recordings the way a user does (the
//! built binary), signals, and checking that a finished tracer left no probe loaded.
#![allow(
    dead_code,
    reason = "each hardening test binary uses a different subset of these helpers"
)]
use std::{
    collections::BTreeSet,
    io::{BufRead as _, BufReader, Read as _},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use tracer::run::Process;

pub const TRACER: &str = env!("CARGO_BIN_EXE_tracer");

/// `tracer-demo`, which makes the workloads these tests trace. It is another package's binary,
/// so cargo gives its path only to that package's tests and `cargo test -p tracer` does not
/// build it; `cargo test --workspace` (or `cargo build -p tracer-demo`) puts it next to
/// `tracer`, in the same target folder and profile.
pub fn tracer_demo() -> &'static str {
    static PATH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let path = std::path::Path::new(TRACER).with_file_name("tracer-demo");
        assert!(
            path.is_file(),
            "{} is missing: build it first with `cargo build -p tracer-demo` (same profile as \
             these tests), or run `cargo test --workspace`",
            path.display()
        );
        path.display().to_string()
    });
    &PATH
}

/// Makes the child die with the test thread that spawns it, so a failing test never leaves a
/// workload or a recording running (and holding the test runner's output pipes).
fn dies_with_test(command: &mut Command, signal: i32) -> &mut Command {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal.
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, signal);
            Ok(())
        })
    }
}

#[track_caller]
pub fn require_root() {
    // SAFETY: no preconditions.
    assert!(
        unsafe { libc::geteuid() } == 0,
        "these tests load eBPF probes or make cgroups: run them as root (CI does)"
    );
}

/// A child process that is killed if the test panics before it ends (so a failing test
/// leaves no recording or workload running behind it).
pub struct Guarded(pub Child);

impl std::ops::Deref for Guarded {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Guarded {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // Does nothing to a child already waited for (std knows its status).
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tracer-demo workload --wait-signal ARGS` and returns it with its PID once it is
/// ready.
pub fn start_workload(args: &[&str]) -> (Guarded, u32) {
    let mut child = dies_with_test(&mut Command::new(tracer_demo()), libc::SIGKILL)
        .arg("workload")
        .arg("--wait-signal")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = line.trim().strip_prefix("ready ").unwrap().parse().unwrap();
    (Guarded(child), pid)
}

/// A running `tracer record` and everything it has written to stderr so far.
pub struct Recording {
    pub child: Guarded,
    pub stderr: Arc<Mutex<String>>,
}

impl Recording {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the exit (failing the test after 3 minutes: a hung tracer is a bug); returns
    /// the exit code (None if killed by a signal) and stderr.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let status = wait_at_most(&mut self.child, Duration::from_mins(3), "tracer record");
        // The drain thread ends at EOF, right after the process exits.
        for _ in 0..100 {
            if Arc::strong_count(&self.stderr) == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let stderr = self.stderr.lock().unwrap().clone();
        (status.code(), stderr)
    }
}

/// Starts `tracer record ARGS` and returns once it says it is recording.
pub fn start_recording(args: &[&str]) -> Recording {
    let mut child = dies_with_test(&mut Command::new(TRACER), libc::SIGTERM)
        .arg("record")
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let collected = Arc::new(Mutex::new(String::new()));
    let mut line = String::new();
    loop {
        line.clear();
        let n = stderr.read_line(&mut line).unwrap();
        collected.lock().unwrap().push_str(&line);
        assert!(
            n > 0,
            "tracer record exited before recording: {}",
            collected.lock().unwrap()
        );
        if line.starts_with("tracer: recording") {
            break;
        }
    }
    // Keep draining stderr so the tracer never blocks on a full pipe.
    let sink = collected.clone();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        sink.lock().unwrap().push_str(&rest);
    });
    Recording {
        child: Guarded(child),
        stderr: collected,
    }
}

/// Waits for `child`, killing it and failing the test if it takes longer than `limit`.
pub fn wait_at_most(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            // Where each thread waits, for the failure message (root reads kernel stacks).
            let threads = std::fs::read_dir(format!("/proc/{}/task", child.id()))
                .map(|tasks| {
                    tasks
                        .flatten()
                        .map(|task| {
                            let read = |name: &str| {
                                std::fs::read_to_string(task.path().join(name)).unwrap_or_default()
                            };
                            format!(
                                "thread {} ({}) wchan {}:\n{}",
                                task.file_name().to_string_lossy(),
                                read("comm").trim(),
                                read("wchan"),
                                read("stack")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            // Which signals are pending, blocked, ignored and caught.
            let signals: String = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
                .unwrap_or_default()
                .lines()
                .filter(|line| line.starts_with("Sig") || line.starts_with("ShdPnd"))
                .flat_map(|line| [line, "\n"])
                .collect();
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} hung: still running after {limit:?}\n{signals}{threads}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn signal(pid: u32, signal: i32) {
    // SAFETY: sending a signal to a process we started.
    assert_eq!(unsafe { libc::kill(pid.cast_signed(), signal) }, 0);
}

/// (calls, bytes, errors) of one syscall of a process.
pub fn calls(process: &Process, syscall: &str) -> (u64, u64, u64) {
    process
        .syscall(syscall)
        .map_or((0, 0, 0), |s| (s.calls, s.bytes, s.errors))
}

/// Ids of the BPF programs a process holds open (programs and links both name theirs in
/// /proc/PID/fdinfo). Tied to this process, so other tracers on the machine do not matter.
pub fn program_ids_of(pid: u32) -> BTreeSet<u32> {
    let mut ids = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return ids;
    };
    for entry in entries.flatten() {
        if let Ok(text) = std::fs::read_to_string(entry.path()) {
            ids.extend(
                text.lines()
                    .filter_map(|l| l.strip_prefix("prog_id:"))
                    .filter_map(|id| id.trim().parse::<u32>().ok()),
            );
        }
    }
    ids
}

/// Asserts that none of `ids` is still loaded (teardown is deferred by RCU: waits up to 5 s).
pub fn assert_unloaded(ids: &BTreeSet<u32>, what: &str) {
    assert!(!ids.is_empty(), "{what}: the tracer held no BPF programs");
    let still_loaded = || -> Vec<u32> {
        aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .map(|p| p.id())
            .filter(|id| ids.contains(id))
            .collect()
    };
    let mut left = still_loaded();
    for _ in 0..50 {
        if left.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
        left = still_loaded();
    }
    panic!("{what}: programs {left:?} are still loaded after tracer exited");
}

/// Waits (up to 10 s) until the tracer holds its probes and returns their ids.
pub fn wait_for_programs(pid: u32) -> BTreeSet<u32> {
    for _ in 0..100 {
        let ids = program_ids_of(pid);
        if !ids.is_empty() {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("tracer {pid} never held BPF programs");
}
