//! Resolution over fake kubelet layouts: every cgroup version (v2, hybrid, v1) × driver ×
//! quality-of-service class × runtime, built as plain folders and files in a temp dir.
use std::{fs, path::Path};

use super::*;

const UID: &str = "0f4c1a7e-3b2d-4c5e-9f8a-1b2c3d4e5f60";
const OTHER_UID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const PAUSE_ID: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const APP_ID: &str = "5d1b7c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0";
const CONMON_PID: u32 = 999;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Version {
    V2,
    Hybrid,
    V1,
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// The pod folder, relative to a hierarchy root, as kubelet names it.
fn pod_path(driver: Driver, qos: Qos, uid: &str) -> String {
    let uid_ = uid.replace('-', "_");
    match (driver, qos) {
        (Driver::Systemd, Qos::Guaranteed) => format!("kubepods.slice/kubepods-pod{uid_}.slice"),
        (Driver::Systemd, qos) => {
            format!("kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid_}.slice")
        }
        (Driver::Cgroupfs, Qos::Guaranteed) => format!("kubepods/pod{uid}"),
        (Driver::Cgroupfs, qos) => format!("kubepods/{qos}/pod{uid}"),
    }
}

fn container_name(driver: Driver, runtime: Runtime, id: &str) -> String {
    match (driver, runtime) {
        (Driver::Systemd, Runtime::Containerd) => format!("cri-containerd-{id}.scope"),
        (Driver::Systemd, Runtime::Crio) => format!("crio-{id}.scope"),
        (Driver::Systemd, Runtime::Docker) => format!("docker-{id}.scope"),
        (Driver::Cgroupfs, Runtime::Crio) => format!("crio-{id}"),
        (_, _) => id.to_owned(),
    }
}

/// What the cgroupfs driver's bare `<id>` folders parse as.
fn seen_runtime(driver: Driver, runtime: Runtime) -> Runtime {
    if driver == Driver::Cgroupfs && runtime != Runtime::Crio {
        Runtime::Unknown
    } else {
        runtime
    }
}

struct Fake {
    host: tempfile::TempDir,
    cgroups: tempfile::TempDir,
    /// Hierarchy roots the pod is in.
    pod_roots: Vec<std::path::PathBuf>,
    v2_root: Option<std::path::PathBuf>,
}

impl Fake {
    fn resolver(&self) -> Resolver {
        Resolver::new(self.host.path(), Some(self.cgroups.path()))
    }
}

/// A node with one pod (pause + app container; CRI-O also gets a conmon per container)
/// and a decoy pod of another class.
fn node(version: Version, driver: Driver, qos: Qos, runtime: Runtime) -> Fake {
    let host = tempfile::tempdir().unwrap();
    let cgroups = tempfile::tempdir().unwrap();
    let c = cgroups.path();
    fs::create_dir_all(
        host.path()
            .join(format!("var/log/pods/default_fortio-7d9_{UID}/fortio")),
    )
    .unwrap();
    fs::create_dir_all(
        host.path()
            .join(format!("var/log/pods/default_other_{OTHER_UID}")),
    )
    .unwrap();
    let (v2_root, v1_roots): (Option<_>, Vec<_>) = match version {
        Version::V2 => (Some(c.to_owned()), vec![]),
        Version::Hybrid => (
            Some(c.join("unified")),
            vec![c.join("cpu,cpuacct"), c.join("pids"), c.join("systemd")],
        ),
        Version::V1 => (
            None,
            vec![c.join("cpu,cpuacct"), c.join("pids"), c.join("memory")],
        ),
    };
    if let Some(root) = &v2_root {
        write(&root.join("cgroup.controllers"), "cpu io memory pids\n");
        write(&root.join("cgroup.procs"), "1\n");
    }
    for root in &v1_roots {
        write(&root.join("cgroup.procs"), "1\n");
    }
    // The cgroupfs driver on a hybrid host makes v1 cgroups only; systemd mirrors into v2.
    let mut pod_roots = v1_roots.clone();
    if v2_root.is_some() && !(version == Version::Hybrid && driver == Driver::Cgroupfs) {
        pod_roots.insert(0, v2_root.clone().unwrap());
    }
    let decoy_qos = if qos == Qos::BestEffort {
        Qos::Burstable
    } else {
        Qos::BestEffort
    };
    for root in &pod_roots {
        let pod = root.join(pod_path(driver, qos, UID));
        write(&pod.join("cgroup.procs"), "");
        write(
            &pod.join(container_name(driver, runtime, PAUSE_ID))
                .join("cgroup.procs"),
            "100\n",
        );
        write(
            &pod.join(container_name(driver, runtime, APP_ID))
                .join("cgroup.procs"),
            "201\n200\n",
        );
        if runtime == Runtime::Crio {
            let conmon = if driver == Driver::Systemd {
                format!("crio-conmon-{APP_ID}.scope")
            } else {
                format!("crio-conmon-{APP_ID}")
            };
            write(
                &pod.join(conmon).join("cgroup.procs"),
                &format!("{CONMON_PID}\n"),
            );
        }
        if root.ends_with("cpu,cpuacct") {
            write(&pod.join("cpuacct.usage"), "5678\n");
        } else if Some(root) == v2_root.as_ref() {
            write(
                &pod.join("cpu.stat"),
                "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n",
            );
        }
        let decoy = root.join(pod_path(driver, decoy_qos, OTHER_UID));
        write(
            &decoy
                .join(container_name(driver, runtime, &"2".repeat(64)))
                .join("cgroup.procs"),
            "300\n",
        );
    }
    Fake {
        host,
        cgroups,
        pod_roots,
        v2_root,
    }
}

const VERSIONS: [Version; 3] = [Version::V2, Version::Hybrid, Version::V1];
const DRIVERS: [Driver; 2] = [Driver::Systemd, Driver::Cgroupfs];
const QOS: [Qos; 3] = [Qos::Guaranteed, Qos::Burstable, Qos::BestEffort];
const RUNTIMES: [Runtime; 3] = [Runtime::Containerd, Runtime::Crio, Runtime::Docker];

fn every_layout() -> impl Iterator<Item = (Version, Driver, Qos, Runtime)> {
    VERSIONS.into_iter().flat_map(|v| {
        DRIVERS.into_iter().flat_map(move |d| {
            QOS.into_iter()
                .flat_map(move |q| RUNTIMES.into_iter().map(move |r| (v, d, q, r)))
        })
    })
}

#[test]
fn pods_resolve_in_every_layout() {
    for (version, driver, qos, runtime) in every_layout() {
        let case = format!("{version:?} {driver:?} {qos:?} {runtime:?}");
        let fake = node(version, driver, qos, runtime);
        let pod = fake
            .resolver()
            .resolve_pod("default", "fortio-7d9")
            .unwrap_or_else(|e| panic!("{case}: {e:#}"));
        let relative = pod_path(driver, qos, UID);
        assert_eq!(pod.name, "default/fortio-7d9", "{case}");
        assert_eq!(pod.spec, "pod:default/fortio-7d9", "{case}");
        assert_eq!(
            pod.pod,
            Some(PodInfo {
                namespace: "default".into(),
                name: "fortio-7d9".into(),
                uid: UID.into(),
                qos,
                driver
            }),
            "{case}"
        );
        assert_eq!(pod.cgroup_path, format!("/{relative}"), "{case}");
        assert_eq!(
            pod.pids().unwrap(),
            [100, 200, 201],
            "{case}: conmon excluded, sorted"
        );
        let in_v2 = fake.pod_roots.first() == fake.v2_root.as_ref() && fake.v2_root.is_some();
        if in_v2 {
            let dir = fake.v2_root.as_ref().unwrap().join(&relative);
            assert_eq!(pod.v2_dir.as_ref(), Some(&dir), "{case}");
            assert_eq!(
                pod.cgroup_id,
                Some(fs::metadata(&dir).unwrap().ino()),
                "{case}"
            );
            assert_eq!(
                pod.cgroup_level,
                Some(u32::try_from(relative.split('/').count()).unwrap()),
                "{case}"
            );
            assert_eq!(
                pod.read_cpu_usage_ns().unwrap(),
                1_234_000,
                "{case}: usage_usec in ns"
            );
            // Pod + 2 containers; conmon is not the app.
            assert_eq!(pod.cgroup_ids().unwrap().len(), 3, "{case}");
        } else {
            assert_eq!((pod.v2_dir.as_ref(), pod.cgroup_id), (None, None), "{case}");
            assert!(pod.cgroup_ids().unwrap().is_empty(), "{case}");
            assert_eq!(
                pod.read_cpu_usage_ns().unwrap(),
                5678,
                "{case}: cpuacct.usage"
            );
        }
        if version != Version::V2 {
            assert!(
                pod.v1_dir
                    .as_ref()
                    .unwrap()
                    .starts_with(fake.cgroups.path().join("cpu,cpuacct")),
                "{case}"
            );
        }
        let want: Vec<_> = [PAUSE_ID, APP_ID]
            .iter()
            .map(|id| {
                (
                    id.to_string(),
                    seen_runtime(driver, runtime),
                    format!("/{relative}/{}", container_name(driver, runtime, id)),
                )
            })
            .collect();
        let got: Vec<_> = pod
            .containers
            .iter()
            .map(|c| (c.id.clone(), c.runtime, c.cgroup_path.clone()))
            .collect();
        assert_eq!(got, want, "{case}");
        assert_eq!(
            pod.containers.iter().all(|c| c.cgroup_id.is_some()),
            in_v2,
            "{case}"
        );
    }
}

#[test]
fn containers_resolve_by_prefix_in_every_layout() {
    for (version, driver, qos, runtime) in every_layout() {
        let case = format!("{version:?} {driver:?} {qos:?} {runtime:?}");
        let fake = node(version, driver, qos, runtime);
        let target = fake
            .resolver()
            .resolve_container(&APP_ID[..12])
            .unwrap_or_else(|e| panic!("{case}: {e:#}"));
        assert_eq!(
            target.name, "default/fortio-7d9 container 5d1b7c8e9f0a",
            "{case}"
        );
        assert_eq!(target.pids().unwrap(), [200, 201], "{case}");
        assert_eq!(target.containers.len(), 1, "{case}");
        assert_eq!(target.containers[0].id, APP_ID, "{case}");
        assert_eq!(target.pod.as_ref().map(|p| p.qos), Some(qos), "{case}");
    }
}

#[test]
fn cgroups_resolve_from_proc_and_sysfs_paths() {
    for (version, driver) in VERSIONS.into_iter().flat_map(|v| DRIVERS.map(|d| (v, d))) {
        let case = format!("{version:?} {driver:?}");
        let fake = node(version, driver, Qos::Burstable, Runtime::Containerd);
        let relative = pod_path(driver, Qos::Burstable, UID);
        let root = &fake.pod_roots[0];
        let paths = [
            format!("/{relative}"),
            root.join(&relative).display().to_string(),
            format!(
                "/sys/fs/cgroup/{}",
                root.strip_prefix(fake.cgroups.path())
                    .unwrap()
                    .join(&relative)
                    .display()
            ),
        ];
        for path in paths {
            let target = fake
                .resolver()
                .resolve_cgroup(Path::new(&path))
                .unwrap_or_else(|e| panic!("{case} {path}: {e:#}"));
            assert_eq!(target.cgroup_path, format!("/{relative}"), "{case} {path}");
            assert_eq!(target.name, "default/fortio-7d9", "{case} {path}");
            assert_eq!(target.pids().unwrap(), [100, 200, 201], "{case} {path}");
        }
    }
}

fn user_error(result: anyhow::Result<CgroupTarget>) -> (ErrorKind, String) {
    let error = result.expect_err("should fail");
    let user = error
        .downcast_ref::<crate::error::UserError>()
        .unwrap_or_else(|| panic!("not a user error: {error:#}"));
    (user.kind, user.message.clone())
}

#[test]
fn unknown_pod_says_where_it_looked() {
    let fake = node(
        Version::V2,
        Driver::Systemd,
        Qos::Burstable,
        Runtime::Containerd,
    );
    let (kind, message) = user_error(fake.resolver().resolve_pod("default", "x"));
    assert_eq!(kind, ErrorKind::TargetNotFound);
    let logs = fake.host.path().join("var/log/pods");
    assert_eq!(
        message,
        format!(
            "no pod default/x on this node: {} has no default_x_* folder; check the name with kubectl get pod -o wide",
            logs.display()
        )
    );
}

#[test]
fn ended_pod_is_not_running() {
    let fake = node(
        Version::V2,
        Driver::Systemd,
        Qos::Burstable,
        Runtime::Containerd,
    );
    let ended = "7e7e7e7e-1111-4222-8333-444455556666";
    fs::create_dir_all(
        fake.host
            .path()
            .join(format!("var/log/pods/default_done_{ended}")),
    )
    .unwrap();
    let (kind, message) = user_error(fake.resolver().resolve_pod("default", "done"));
    assert_eq!(kind, ErrorKind::TargetNotFound);
    assert!(
        message.starts_with("pod default/done is not running on this node:"),
        "{message}"
    );
    assert!(message.contains(ended), "{message}");
}

#[test]
fn malformed_specs_are_usage_errors() {
    let fake = node(
        Version::V2,
        Driver::Systemd,
        Qos::Burstable,
        Runtime::Containerd,
    );
    assert_eq!(
        user_error(fake.resolver().resolve_pod("Default", "x")).0,
        ErrorKind::Usage
    );
    assert_eq!(
        user_error(fake.resolver().resolve_container("5d1b7c8e")).0,
        ErrorKind::Usage
    );
    assert_eq!(
        user_error(
            fake.resolver()
                .resolve_cgroup(Path::new("/kubepods.slice/../etc"))
        )
        .0,
        ErrorKind::Usage
    );
}

#[test]
fn ambiguous_and_unknown_containers() {
    let fake = node(
        Version::V2,
        Driver::Systemd,
        Qos::Burstable,
        Runtime::Containerd,
    );
    // A second container sharing the first 12 digits of APP_ID.
    let twin = format!("{}{}", &APP_ID[..12], "f".repeat(52));
    let pod = fake
        .v2_root
        .as_ref()
        .unwrap()
        .join(pod_path(Driver::Systemd, Qos::Burstable, UID));
    fs::create_dir_all(pod.join(format!("cri-containerd-{twin}.scope"))).unwrap();
    let (kind, message) = user_error(fake.resolver().resolve_container(&APP_ID[..12]));
    assert_eq!(kind, ErrorKind::Usage);
    assert!(
        message.contains("matches 2 containers") && message.ends_with("give more digits"),
        "{message}"
    );
    // One more digit tells them apart.
    assert_eq!(
        fake.resolver()
            .resolve_container(&APP_ID[..13])
            .unwrap()
            .containers[0]
            .id,
        APP_ID
    );
    let (kind, message) = user_error(fake.resolver().resolve_container(&"a".repeat(12)));
    assert_eq!(kind, ErrorKind::TargetNotFound);
    assert!(
        message.starts_with("no container aaaaaaaaaaaa on this node"),
        "{message}"
    );
}

#[test]
fn missing_cgroup_and_missing_cgroup_fs() {
    let fake = node(
        Version::V2,
        Driver::Systemd,
        Qos::Burstable,
        Runtime::Containerd,
    );
    let (kind, message) = user_error(
        fake.resolver()
            .resolve_cgroup(Path::new("/kubepods.slice/nope.slice")),
    );
    assert_eq!(kind, ErrorKind::TargetNotFound);
    assert!(
        message.starts_with("no cgroup /kubepods.slice/nope.slice under"),
        "{message}"
    );
    let empty = tempfile::tempdir().unwrap();
    let resolver = Resolver::new(fake.host.path(), Some(empty.path()));
    let (kind, message) = user_error(resolver.resolve_pod("default", "fortio-7d9"));
    assert_eq!(kind, ErrorKind::TargetNotFound);
    assert!(
        message.starts_with(&format!(
            "no cgroup filesystem at {}",
            empty.path().display()
        )),
        "{message}"
    );
}

#[test]
fn no_kubelet_folders_at_all() {
    let fake = node(
        Version::V2,
        Driver::Systemd,
        Qos::Burstable,
        Runtime::Containerd,
    );
    let bare = tempfile::tempdir().unwrap();
    let resolver = Resolver::new(bare.path(), Some(fake.cgroups.path()));
    let (kind, message) = user_error(resolver.resolve_pod("default", "fortio-7d9"));
    assert_eq!(kind, ErrorKind::TargetNotFound);
    assert!(message.contains("set --host-root"), "{message}");
}

#[test]
fn gone_cgroup_is_reported_not_panicked() {
    let fake = node(
        Version::V2,
        Driver::Systemd,
        Qos::Burstable,
        Runtime::Containerd,
    );
    let pod = fake
        .resolver()
        .resolve_pod("default", "fortio-7d9")
        .unwrap();
    fs::remove_dir_all(pod.v2_dir.as_ref().unwrap()).unwrap();
    assert_eq!(
        user_error(pod.pids().map(|_| pod.clone())).0,
        ErrorKind::TargetNotFound
    );
    assert_eq!(
        user_error(pod.read_cpu_usage_ns().map(|_| pod.clone())).0,
        ErrorKind::TargetNotFound
    );
}

#[test]
fn cpu_stat_usage() {
    assert_eq!(
        parse_cpu_stat_usage_ns("usage_usec 42\nuser_usec 40\n"),
        Some(42_000)
    );
    assert_eq!(parse_cpu_stat_usage_ns("user_usec 40\n"), None);
}

#[test]
fn specs_resolve_in_order() {
    let fake = node(
        Version::Hybrid,
        Driver::Systemd,
        Qos::Guaranteed,
        Runtime::Crio,
    );
    let specs = Specs {
        pods: vec![("default".into(), "fortio-7d9".into())],
        containers: vec![APP_ID.to_owned()],
        cgroups: Vec::new(),
    };
    let targets = Resolver::new(fake.host.path(), Some(fake.cgroups.path()))
        .resolve_all(&specs)
        .unwrap();
    let names: Vec<_> = targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "default/fortio-7d9",
            "default/fortio-7d9 container 5d1b7c8e9f0a"
        ]
    );
}
