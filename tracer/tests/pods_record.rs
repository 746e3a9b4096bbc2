//! Root-only: `tracer record --pod NS/NAME --host-root DIR` on a kubelet-like layout built for
//! real (cgroup v2 folders in the systemd driver's shape, kubelet's pod log folder under a
//! fake host root). It must count exactly the syscalls of the pod's processes — including one
//! that joins the pod after the recording began — and none of a process outside the pod.
use std::{
    fs,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use tracer::run::Run;

mod support;

use support::{start_recording, tracer_demo};

/// Folders and processes this test made, removed (deepest first) on every path.
struct Made {
    dirs: Vec<PathBuf>,
    children: Vec<Child>,
}

impl Made {
    fn mkdirs(&mut self, base: &Path, relative: &str) -> PathBuf {
        let mut dir = base.to_owned();
        for part in relative.split('/') {
            dir.push(part);
            if !dir.exists() {
                fs::create_dir(&dir).unwrap();
                self.dirs.push(dir.clone());
            }
        }
        dir
    }

    /// Starts a `tracer-demo workload --wait-signal mix` in cgroup `dir` (or where we are).
    fn workload(&mut self, dir: Option<&Path>) -> u32 {
        let mut child = Command::new(tracer_demo())
            .args(["workload", "--wait-signal", "mix"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let pid = child.id();
        self.children.push(child);
        if let Some(dir) = dir {
            fs::write(dir.join("cgroup.procs"), pid.to_string()).unwrap();
        }
        pid
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for dir in self.dirs.iter().rev() {
            for _ in 0..50 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn go(pid: u32) {
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid.cast_signed(), libc::SIGUSR1) }, 0);
}

fn wait_exit(made: &mut Made, pid: u32) {
    let child = made.children.iter_mut().find(|c| c.id() == pid).unwrap();
    assert!(child.wait().unwrap().success());
}

/// How kubelet names a pod's cgroups: its `--cgroup-driver`.
#[derive(Clone, Copy)]
enum Driver {
    /// `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope`
    Systemd,
    /// `kubepods/burstable/pod<uid>/<id>`
    Cgroupfs,
}

impl Driver {
    /// A name for this driver's pod, the pod's uid and its container's folder, relative to
    /// the v2 root (under a folder of this test's own).
    fn layout(self) -> (&'static str, String, String) {
        let (tag, number) = match self {
            Self::Systemd => ("systemd", 1),
            Self::Cgroupfs => ("cgroupfs", 2),
        };
        let uid = format!("5e7a1c0{number}-0000-4000-8000-{:012x}", std::process::id());
        let base = format!("tracer-record-test-{}-{tag}", std::process::id());
        let container_id = "a".repeat(64);
        let container = match self {
            Self::Systemd => format!(
                "{base}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{container_id}.scope",
                uid.replace('-', "_")
            ),
            Self::Cgroupfs => format!("{base}/kubepods/burstable/pod{uid}/{container_id}"),
        };
        (tag, uid, container)
    }
}

#[test]
fn record_pod_counts_exactly_the_pods_processes_including_late_ones() {
    record_pod(Driver::Systemd);
}

#[test]
fn record_pod_with_the_cgroupfs_driver_counts_exactly_the_same() {
    record_pod(Driver::Cgroupfs);
}

fn record_pod(driver: Driver) {
    // SAFETY: no preconditions.
    assert!(unsafe { libc::geteuid() } == 0, "run as root (CI does)");
    let v2 = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").is_file())
        .expect("a cgroup v2 hierarchy");
    let (tag, uid, container) = driver.layout();
    let pod_name = format!("fortio-{tag}");
    let mut made = Made {
        dirs: Vec::new(),
        children: Vec::new(),
    };
    let container = made.mkdirs(&v2, &container);
    let host = tempfile::tempdir().unwrap();
    fs::create_dir_all(
        host.path()
            .join(format!("var/log/pods/default_{pod_name}_{uid}/app")),
    )
    .unwrap();

    let early = made.workload(Some(&container));
    let outsider = made.workload(None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pod.json");
    let host_root = host.path().to_str().unwrap();
    let pod = format!("default/{pod_name}");
    let tracer = start_recording(&[
        "--pod",
        &pod,
        "--host-root",
        host_root,
        "--cgroup-root",
        "/sys/fs/cgroup",
        "--interval",
        "200ms",
        "-o",
        out.to_str().unwrap(),
    ]);

    // A process that joins the pod after the recording began (not in the PIDs found at start).
    let late = made.workload(Some(&container));
    for pid in [early, outsider, late] {
        go(pid);
    }
    for pid in [early, outsider, late] {
        wait_exit(&mut made, pid);
    }
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(tracer.pid().cast_signed(), libc::SIGINT) };
    let (code, stderr) = tracer.finish();
    assert_eq!(code, Some(0), "{stderr}");

    let run = Run::read(&out).unwrap();
    assert_eq!(run.targets.len(), 1);
    assert_eq!(run.targets[0].name, pod);
    assert_eq!(
        run.targets[0].pids,
        vec![early],
        "the pod's processes when recording began"
    );
    assert!(
        run.processes.iter().all(|p| p.pid != outsider),
        "a process outside the pod was counted"
    );
    for pid in [early, late] {
        let process = run
            .processes
            .iter()
            .find(|p| p.pid == pid)
            .unwrap_or_else(|| panic!("pod process {pid} missing"));
        let write = process.syscall("write").unwrap();
        assert_eq!(
            (write.calls, write.bytes, write.errors),
            (1060, 100_500, 10),
            "pid {pid}"
        );
        assert_eq!(process.syscall("sendto").unwrap().calls, 300, "pid {pid}");
        assert_eq!(process.syscalls.len(), 7, "pid {pid}");
    }
    // Each workload forks one child inside the pod: 100 writes each.
    let children: Vec<_> = run
        .processes
        .iter()
        .filter(|p| p.pid != early && p.pid != late)
        .collect();
    assert_eq!(
        children.len(),
        2,
        "{:?}",
        run.processes.iter().map(|p| p.pid).collect::<Vec<_>>()
    );
    assert!(
        children
            .iter()
            .all(|c| c.syscall("write").is_some_and(|w| w.calls == 100))
    );
    let cpu = run.targets[0].cpu.as_ref().expect("the pod cgroup's CPU");
    assert_eq!(cpu.source, "cgroup");
    assert!(cpu.on_cpu_ns > 0);
}
