//! ROOT tests: a kubelet-like layout built for real, in this machine's cgroup filesystem.
//!
//! Each test makes its own cgroups under `<hierarchy>/tracer-test-<pid>-<n>/` (kubelet's
//! folder names below it), a fake host root with `var/log/pods/<ns>_<name>_<uid>/`, moves
//! processes it spawned into the container cgroups, and checks that the resolver finds
//! exactly those processes, the right cgroup id and the CPU they burn. A guard kills the
//! processes and removes, deepest first, only the folders the test created, on every path.
//! Without root, or without the hierarchy a test needs, a test fails saying which.
use std::{
    fs,
    io::{BufRead as _, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use tracer::targeting::{CgroupTarget, CpuSource, Driver, Qos, Resolver, Runtime};

mod support;

use support::require_root;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Folders and processes one test made; dropped on success and on panic alike.
struct Made {
    /// Folders in creation order (parents first).
    dirs: Vec<PathBuf>,
    children: Vec<Child>,
}

impl Made {
    fn new() -> Self {
        Self {
            dirs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Creates `base/relative` one level at a time, remembering each new folder.
    fn mkdirs(&mut self, base: &Path, relative: &str) -> PathBuf {
        let mut dir = base.to_owned();
        for part in relative.split('/') {
            dir.push(part);
            if !dir.exists() {
                fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
                self.dirs.push(dir.clone());
            }
        }
        dir
    }

    /// Spawns `sh -c script` with pipes, and moves it into the cgroup `dir`.
    fn spawn_into(&mut self, dir: &Path, script: &str) -> u32 {
        let child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = child.id();
        self.children.push(child);
        fs::write(dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("moving {pid} into {}: {e}", dir.display()));
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
            // An exited task leaves its cgroup a moment after wait(); retry briefly.
            for _ in 0..50 {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            if dir.exists() {
                eprintln!("could not remove test cgroup {}", dir.display());
            }
        }
    }
}

/// The cgroup v2 mount on this machine, probed like the resolver does.
fn v2_mount() -> PathBuf {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").is_file())
        .expect(
            "no cgroup v2 hierarchy on this machine (no cgroup.controllers in /sys/fs/cgroup or \
             /sys/fs/cgroup/unified): this test makes its cgroups there",
        )
}

/// The cgroup v1 hierarchy holding `cpuacct` (hybrid and v1 hosts only).
fn v1_cpuacct_mount() -> PathBuf {
    ["/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("cpuacct.usage").is_file() && !p.join("cgroup.controllers").exists())
        .expect(
            "no cgroup v1 cpuacct hierarchy on this machine (no cpuacct.usage in \
             /sys/fs/cgroup/cpuacct or /sys/fs/cgroup/cpu,cpuacct; a pure cgroup v2 host has \
             none): this test needs a hybrid or v1 host, like the CI machine",
        )
}

/// A random-enough pod UID, so no real pod on a CI node can match.
fn test_uid() -> String {
    let seed = u64::from(std::process::id()) << 20 | NEXT.load(Ordering::Relaxed) as u64;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        nanos,
        seed & 0xffff,
        (seed >> 16) & 0xfff,
        nanos & 0xfff,
        seed
    )
}

/// The cgroup v2 id of a folder, asked of the kernel through a file handle (the kernfs node
/// id), independently of the resolver's inode-number reading.
fn cgroup_id_from_handle(dir: &Path) -> u64 {
    #[repr(C)]
    struct FileHandle {
        handle_bytes: u32,
        handle_type: i32,
        id: u64,
    }
    let mut handle = FileHandle {
        handle_bytes: 8,
        handle_type: 0,
        id: 0,
    };
    let mut mount_id = 0;
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `path` is a valid C string; `handle` starts with the `file_handle` header and has
    // room for the 8 bytes `handle_bytes` announces; `mount_id` is a valid out pointer.
    let rc = unsafe {
        libc::name_to_handle_at(
            libc::AT_FDCWD,
            path.as_ptr(),
            (&raw mut handle).cast(),
            &raw mut mount_id,
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "name_to_handle_at {}: {}",
        dir.display(),
        std::io::Error::last_os_error()
    );
    handle.id
}

/// The process's cgroup v2 path, from `/proc/PID/cgroup` (`0::/...`).
fn proc_v2_cgroup(pid: u32) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap()
        .to_owned()
}

/// On-CPU ns of a single-threaded process (`/proc/PID/schedstat`, first field).
fn schedstat_ns(pid: u32) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// A shell that waits for a line, burns CPU, says `done`, then waits again.
const BURNER: &str =
    "read go; i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; echo done; read stop";
const SLEEPER: &str = "read stop";

/// Releases the burner and waits until it is idle again.
fn burn(stdin: &mut ChildStdin, stdout: ChildStdout) {
    stdin.write_all(b"go\n").unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "done");
}

/// Makes the burner run, and checks the target's CPU counter grew by what it ran (the same
/// kernel accounting; cgroup v2 counts in µs). Returns its stdin, to keep it waiting.
fn check_cpu_follows_burner(target: &CgroupTarget, made: &mut Made, burner: u32) -> ChildStdin {
    let (cpu_before_ns, sched_before_ns) =
        (target.read_cpu_usage_ns().unwrap(), schedstat_ns(burner));
    let child = made.children.iter_mut().find(|c| c.id() == burner).unwrap();
    let (mut stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    burn(&mut stdin, stdout);
    let (cpu_after_ns, sched_after_ns) =
        (target.read_cpu_usage_ns().unwrap(), schedstat_ns(burner));
    let (cgroup_ns, process_ns) = (
        cpu_after_ns - cpu_before_ns,
        sched_after_ns - sched_before_ns,
    );
    eprintln!("CPU burned: cgroup counter +{cgroup_ns} ns, process schedstat +{process_ns} ns");
    assert!(process_ns > 0);
    assert!(
        cgroup_ns.abs_diff(process_ns) <= 2_000_000 + process_ns / 50,
        "cgroup {cgroup_ns} ns vs process {process_ns} ns"
    );
    stdin
}

fn fake_host(namespace: &str, name: &str, uid: &str) -> tempfile::TempDir {
    let host = tempfile::tempdir().unwrap();
    fs::create_dir_all(
        host.path()
            .join(format!("var/log/pods/{namespace}_{name}_{uid}/app")),
    )
    .unwrap();
    host
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: the layout is built once and checked from every side"
)]
fn systemd_driver_pod_in_cgroup_v2() {
    require_root();
    let v2 = v2_mount();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let top = format!("tracer-test-{}-{n}", std::process::id());
    let uid = test_uid();
    let uid_ = uid.replace('-', "_");
    let (app_id, pause_id) = (
        format!("{:0<64}", format!("a{n}f{}", std::process::id())),
        format!("{:0<64}", format!("b{n}f{}", std::process::id())),
    );
    let pod =
        format!("{top}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice");
    let decoy = format!(
        "{top}/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice",
        test_uid().replace('-', "_")
    );

    let mut made = Made::new();
    let app_dir = made.mkdirs(&v2, &format!("{pod}/cri-containerd-{app_id}.scope"));
    let pause_dir = made.mkdirs(&v2, &format!("{pod}/cri-containerd-{pause_id}.scope"));
    let decoy_dir = made.mkdirs(
        &v2,
        &format!("{decoy}/cri-containerd-{}.scope", "c".repeat(64)),
    );
    let burner = made.spawn_into(&app_dir, BURNER);
    let sleeper = made.spawn_into(&app_dir, SLEEPER);
    let pause = made.spawn_into(&pause_dir, SLEEPER);
    let outsider = made.spawn_into(&decoy_dir, SLEEPER);
    let host = fake_host("default", "fortio-test", &uid);

    // The real cgroup root, so layout detection runs on this machine's mounts.
    let resolver = Resolver::new(host.path(), Some(&PathBuf::from("/sys/fs/cgroup")));
    let target = resolver
        .resolve_pod("default", "fortio-test")
        .unwrap_or_else(|e| panic!("{e:#}"));

    let mut want = vec![burner, sleeper, pause];
    want.sort_unstable();
    assert_eq!(
        target.pids().unwrap(),
        want,
        "exactly the pod's processes, not {outsider}"
    );
    let pod_dir = v2.join(&pod);
    assert_eq!(target.v2_dir.as_ref(), Some(&pod_dir));
    assert_eq!(target.cgroup_id, Some(cgroup_id_from_handle(&pod_dir)));
    // The path and level the kernel uses for the processes, from /proc.
    let app_path = proc_v2_cgroup(burner);
    assert_eq!(app_path, format!("/{pod}/cri-containerd-{app_id}.scope"));
    assert_eq!(target.cgroup_path, format!("/{pod}"));
    assert_eq!(
        target.cgroup_level,
        Some(u32::try_from(pod.split('/').count()).unwrap())
    );
    let pod_info = target.pod.as_ref().unwrap();
    assert_eq!(
        (pod_info.qos, pod_info.driver, pod_info.uid.as_str()),
        (Qos::Burstable, Driver::Systemd, uid.as_str())
    );
    let containers: Vec<_> = target
        .containers
        .iter()
        .map(|c| (c.id.as_str(), c.runtime, c.cgroup_id))
        .collect();
    let mut want_containers = vec![
        (
            app_id.as_str(),
            Runtime::Containerd,
            Some(cgroup_id_from_handle(&app_dir)),
        ),
        (
            pause_id.as_str(),
            Runtime::Containerd,
            Some(cgroup_id_from_handle(&pause_dir)),
        ),
    ];
    want_containers.sort_by_key(|c| c.0);
    assert_eq!(containers, want_containers);
    // The kernel filter's ids: the pod and both containers, never the decoy's.
    let ids = target.cgroup_ids().unwrap();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.contains(&cgroup_id_from_handle(&app_dir))
            && !ids.contains(&cgroup_id_from_handle(&decoy_dir))
    );

    // CPU: the pod's counter grows by what the burner ran (same kernel accounting, µs units).
    assert!(
        matches!(target.cpu, Some(CpuSource::CpuStat(_))),
        "{:?}",
        target.cpu
    );
    let stdin = check_cpu_follows_burner(&target, &mut made, burner);

    // The container alone, by prefix; and the pod again by its /proc path.
    let by_id = resolver.resolve_container(&app_id[..20]).unwrap();
    let mut want_app = vec![burner, sleeper];
    want_app.sort_unstable();
    assert_eq!(by_id.pids().unwrap(), want_app);
    assert_eq!(
        by_id.name,
        format!("default/fortio-test container {}", &app_id[..12])
    );
    let by_path = resolver
        .resolve_cgroup(Path::new(&format!("/{pod}")))
        .unwrap();
    assert_eq!(
        (by_path.name.as_str(), by_path.cgroup_id),
        ("default/fortio-test", target.cgroup_id)
    );
    drop(stdin);
}

#[test]
fn cgroupfs_driver_pod_in_cgroup_v1_cpuacct() {
    require_root();
    let cpuacct = v1_cpuacct_mount();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let top = format!("tracer-test-{}-{n}", std::process::id());
    let uid = test_uid();
    let app_id = format!("{:0<64}", format!("d{n}f{}", std::process::id()));
    let pod = format!("{top}/kubepods/besteffort/pod{uid}");

    let mut made = Made::new();
    let app_dir = made.mkdirs(&cpuacct, &format!("{pod}/{app_id}"));
    let burner = made.spawn_into(&app_dir, BURNER);
    let sleeper = made.spawn_into(&app_dir, SLEEPER);
    let host = fake_host("istio-system", "ztunnel-test", &uid);

    let resolver = Resolver::new(host.path(), Some(&PathBuf::from("/sys/fs/cgroup")));
    let target = resolver
        .resolve_pod("istio-system", "ztunnel-test")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let mut want = vec![burner, sleeper];
    want.sort_unstable();
    assert_eq!(target.pids().unwrap(), want);
    // kubelet's cgroupfs driver on a hybrid host makes no v2 folder: no ids, PIDs instead.
    assert_eq!((target.v2_dir.as_ref(), target.cgroup_id), (None, None));
    assert_eq!(target.v1_dir.as_ref(), Some(&cpuacct.join(&pod)));
    let pod_info = target.pod.as_ref().unwrap();
    assert_eq!(
        (pod_info.qos, pod_info.driver),
        (Qos::BestEffort, Driver::Cgroupfs)
    );
    assert_eq!(target.containers.len(), 1);
    assert_eq!(
        (
            target.containers[0].id.as_str(),
            target.containers[0].runtime
        ),
        (app_id.as_str(), Runtime::Unknown)
    );

    assert!(
        matches!(target.cpu, Some(CpuSource::CpuacctUsage(_))),
        "{:?}",
        target.cpu
    );
    let stdin = check_cpu_follows_burner(&target, &mut made, burner);
    drop(stdin);
}

#[test]
fn guard_removes_what_it_made() {
    require_root();
    let v2 = v2_mount();
    let top = v2.join(format!(
        "tracer-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    {
        let mut made = Made::new();
        let leaf = made.mkdirs(
            &v2,
            &format!("{}/a/b", top.file_name().unwrap().to_string_lossy()),
        );
        made.spawn_into(&leaf, SLEEPER);
        assert!(leaf.is_dir());
    }
    assert!(!top.exists(), "{} left behind", top.display());
}

/// One HTTP/1.1 request to the agent; returns the status code and body.
fn http(address: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (
        head.split_whitespace().nth(1).unwrap().parse().unwrap(),
        body.to_owned(),
    )
}

/// The whole path for `--pod` on a node: the agent resolves the pod from kubelet's folders
/// and the kubepods cgroup, records it, and the run holds the pod's writers (one that joined
/// after the start too) and nothing else.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: node, agent, recording and run checked in order"
)]
fn agent_records_a_pod_by_name_and_nothing_else() {
    require_root();
    let v2 = v2_mount();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let top = format!("tracer-test-{}-{n}", std::process::id());
    let uid = test_uid();
    let app_id = format!("{:0<64}", format!("e{n}f{}", std::process::id()));
    let pod = format!(
        "{top}/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice",
        uid.replace('-', "_")
    );
    let mut made = Made::new();
    let app_dir = made.mkdirs(&v2, &format!("{pod}/cri-containerd-{app_id}.scope"));
    let outside_dir = made.mkdirs(&v2, &format!("{top}/system.slice"));
    // `hi\n` is 3 bytes: every write of the writer carries exactly 3.
    let writer_script = "exec >/dev/null; while :; do echo hi; sleep 0.05; done";
    let inside = made.spawn_into(&app_dir, writer_script);
    let outside = made.spawn_into(&outside_dir, writer_script);
    let host = fake_host("default", "writer-pod", &uid);
    std::os::unix::fs::symlink("/proc", host.path().join("proc")).unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args([
            "agent",
            // On the host's shared loopback, without a token: only when told so.
            "--insecure-local",
            "--listen",
            "127.0.0.1:0",
            "--cgroup-root",
            "/sys/fs/cgroup",
            "--host-root",
        ])
        .arg(host.path())
        .arg("--state-dir")
        .arg(host.path().join("tracer-state"))
        .args(["--watch-segment", "1s"])
        .env("NODE_NAME", "test-node")
        .env_remove("TRACER_HOST_ROOT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let agent_pid = child.id();
    made.children.push(child);
    let stderr = made.children.last_mut().unwrap().stderr.take().unwrap();
    let mut stderr = BufReader::new(stderr);
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let api = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));

    let (code, body) = http(
        &api,
        "POST",
        "/recordings",
        r#"{"pods": ["default/writer-pod"], "duration": "2s"}"#,
    );
    assert_eq!(code, 202, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A process that joins the pod after the start (like `kubectl exec`): counted by cgroup.
    loop {
        let (_, status) = http(&api, "GET", &format!("/recordings/{id}"), "");
        if status.contains("\"state\":\"running\"") {
            break;
        }
        assert!(!status.contains("\"state\":\"failed\""), "{status}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let late = made.spawn_into(&app_dir, writer_script);
    let deadline = std::time::Instant::now() + Duration::from_mins(1);
    let run = loop {
        let (code, body) = http(&api, "GET", &format!("/recordings/{id}/run"), "");
        if code == 200 {
            break serde_json::from_str::<serde_json::Value>(&body).unwrap();
        }
        assert_eq!(code, 409, "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "recording did not end: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(run["targets"][0]["name"], "default/writer-pod");
    assert_eq!(run["targets"][0]["spec"], "pod:default/writer-pod");
    assert_eq!(run["targets"][0]["cgroup"], format!("/{pod}"));
    let processes = run["processes"].as_array().unwrap();
    assert!(
        processes.iter().all(|p| p["pid"] != outside),
        "the writer outside the pod was traced: {processes:?}"
    );
    let writer = processes
        .iter()
        .find(|p| p["pid"] == inside)
        .expect("the pod's writer is in the run");
    let write = writer["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["syscall"] == "write")
        .expect("it wrote");
    let calls = write["calls"].as_u64().unwrap();
    eprintln!("pod writer: {calls} writes in {} ns", run["duration_ns"]);
    assert!(calls > 0);
    assert_eq!(write["bytes"].as_u64().unwrap(), 3 * calls);
    let late = processes
        .iter()
        .find(|p| p["pid"] == late)
        .expect("the process that joined later is in the run");
    let late_write = late["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["syscall"] == "write")
        .expect("it wrote");
    assert_eq!(
        late_write["bytes"].as_u64().unwrap(),
        3 * late_write["calls"].as_u64().unwrap()
    );

    // Issue #16: /metrics names the pod; a watch keeps recording it, in 1 s segments, with its
    // counters moving between scrapes and the agent's memory flat from segment to segment.
    // The pod's one container is named by the first 12 digits of its id.
    let series = format!(
        r#"tracer_syscalls_total{{node="test-node",namespace="default",pod="writer-pod",container="{}",process="",syscall="write",direction="write"}}"#,
        &app_id[..12]
    );
    let pod_writes = |metrics: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str())?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    let (_, metrics) = http(&api, "GET", "/metrics", "");
    let recorded = pod_writes(&metrics);
    let (code, body) = http(
        &api,
        "POST",
        "/watches",
        r#"{"pod": "default/writer-pod", "interval": "100ms"}"#,
    );
    assert_eq!(code, 202, "{body}");
    let watch = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rss_kib = || -> u64 {
        std::fs::read_to_string(format!("/proc/{agent_pid}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    // Loading the probes takes a while on a busy machine: count from the watch's start.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, status) = http(&api, "GET", &format!("/recordings/{watch}"), "");
        if status.contains("\"state\":\"running\"") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (_, first) = http(&api, "GET", "/metrics", "");
    let rss_early = rss_kib();
    // At least five segments later, and until the counters have moved (a slow, emulated guest
    // takes seconds to reload the probes between segments).
    let since = std::time::Instant::now();
    let second = loop {
        std::thread::sleep(Duration::from_secs(1));
        let (_, second) = http(&api, "GET", "/metrics", "");
        if since.elapsed() >= Duration::from_secs(5) && pod_writes(&second) > pod_writes(&first)
            || since.elapsed() > Duration::from_mins(1)
        {
            break second;
        }
    };
    let rss_late = rss_kib();
    let gap = |metrics: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix("tracer_watch_gap_seconds_total ")?
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{metrics}"))
    };
    eprintln!(
        "watch: pod writes {recorded} after the recording, {} then {} while watched; agent RSS {rss_early} KiB after 1.5 s, {rss_late} KiB {:.1} s (1 s segments) later; {:.3} s between segments not watched",
        pod_writes(&first),
        pod_writes(&second),
        since.elapsed().as_secs_f64(),
        gap(&second) - gap(&first)
    );
    assert!(pod_writes(&first) > recorded && pod_writes(&second) > pod_writes(&first));
    assert!(
        rss_late < rss_early + 4 * 1024,
        "a watch's memory is bounded by one segment: {rss_early} KiB -> {rss_late} KiB"
    );
    assert!(
        second.contains(r#"tracer_syscall_payload_size_bytes_bucket{le="16.0",node="test-node",namespace="default",pod="writer-pod""#),
        "segments add histograms"
    );
    let (code, body) = http(&api, "POST", &format!("/recordings/{watch}/cancel"), "");
    assert_eq!(code, 202, "{body}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, status) = http(&api, "GET", &format!("/recordings/{watch}"), "");
        if status.contains("\"state\":\"done\"") {
            assert!(status.contains("\"watch\":true"), "{status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, body) = http(&api, "GET", &format!("/recordings/{watch}/run"), "");
    assert_eq!((code, body.contains("is a watch")), (409, true), "{body}");
}

/// The README's command on a node: `tracer record --pod NS/NAME ... -o run.json`, with the host
/// mounted elsewhere (`--host-root`), two pods at once (app and a ztunnel-like proxy).
#[test]
fn record_two_pods_by_name_like_the_readme() {
    require_root();
    let v2 = v2_mount();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let top = format!("tracer-test-{}-{n}", std::process::id());
    let (app_uid, proxy_uid) = (test_uid(), test_uid().replace("-4", "-5"));
    let mut made = Made::new();
    let script = "exec >/dev/null; while :; do echo hi; sleep 0.05; done";
    let mut pids = Vec::new();
    for (uid, qos, id) in [
        (&app_uid, "burstable", "f1"),
        (&proxy_uid, "besteffort", "f2"),
    ] {
        let dir = made.mkdirs(
            &v2,
            &format!(
                "{top}/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{}.slice/cri-containerd-{:0<64}.scope",
                uid.replace('-', "_"),
                format!("{id}{n}")
            ),
        );
        pids.push(made.spawn_into(&dir, script));
    }
    let host = tempfile::tempdir().unwrap();
    for (namespace, name, uid) in [
        ("default", "fortio-xyz", &app_uid),
        ("istio-system", "ztunnel-abc", &proxy_uid),
    ] {
        fs::create_dir_all(
            host.path()
                .join(format!("var/log/pods/{namespace}_{name}_{uid}/c")),
        )
        .unwrap();
    }
    let run_file = host.path().join("run.json");
    let output = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args([
            "record",
            "--pod",
            "default/fortio-xyz",
            "--pod",
            "istio-system/ztunnel-abc",
        ])
        .args([
            "--duration",
            "2s",
            "--quiet",
            "--cgroup-root",
            "/sys/fs/cgroup",
            "--host-root",
        ])
        .arg(host.path())
        .arg("-o")
        .arg(&run_file)
        .env_remove("TRACER_HOST_ROOT")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&run_file).unwrap()).unwrap();
    let names: Vec<_> = run["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["default/fortio-xyz", "istio-system/ztunnel-abc"]);
    for (index, pid) in pids.iter().enumerate() {
        let process = run["processes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["pid"] == *pid)
            .unwrap_or_else(|| panic!("pid {pid} of target {index} is not in the run"));
        assert_eq!(
            process["target"], index,
            "pid {pid} is counted for its own pod"
        );
        let write = process["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["syscall"] == "write")
            .expect("it wrote");
        assert_eq!(
            write["bytes"].as_u64().unwrap(),
            3 * write["calls"].as_u64().unwrap()
        );
        // Pod CPU comes from the pod cgroup's own counter.
        assert_eq!(
            run["targets"][index]["cpu"]["source"], "cgroup",
            "{}",
            run["targets"][index]
        );
    }
}
