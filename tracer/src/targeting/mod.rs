//! Target resolution for pods, containers and cgroups on a node, without the API server:
//! from `--pod NAMESPACE/NAME`, `--container ID` or `--cgroup PATH` to what the kernel
//! filter and the collector need (cgroup ids, PIDs, a CPU counter).
//!
//! API (the collector and the agent use only this):
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use std::path::Path;
//! use tracer::targeting::Resolver;
//! // In the DaemonSet the host is mounted at /host; cgroup root defaults to /host/sys/fs/cgroup.
//! let resolver = Resolver::new(Path::new("/host"), None);
//! let pod = resolver.resolve_pod("default", "fortio-7d9")?;
//! let filter_ids = pod.cgroup_ids()?; // v2 ids of the pod and its containers (kernel filter)
//! let pids = pod.pids()?; // processes in the pod now
//! let cpu_ns = pod.read_cpu_usage_ns()?; // sample once a second
//! # let _ = (filter_ids, pids, cpu_ns);
//! # Ok(()) }
//! ```
//! - [`Resolver::resolve_pod`], [`Resolver::resolve_container`] (64 hex or a unique prefix of
//!   12 or more), [`Resolver::resolve_cgroup`] (as in `/proc/PID/cgroup`, or a path under
//!   `/sys/fs/cgroup`) each give a [`CgroupTarget`]; [`Resolver::resolve_all`] resolves the
//!   [`Specs`] a command line gave (flags in `cmd::targets`).
//! - Kernel filter: the target's cgroup v2 folder goes into a cgroup array, and the probes ask
//!   `bpf_current_task_under_cgroup`, true for tasks in that folder or any folder below it (a
//!   pod's containers, including those created after the start). Tracing programs have that
//!   helper on every kernel since 4.9; `bpf_get_current_ancestor_cgroup_id`, which an earlier
//!   version compared with `cgroup_id` at `cgroup_level`, is refused by 5.10's verifier there.
//!   `cgroup_id` (the folder's inode number, what `bpf_get_current_cgroup_id()` returns) and
//!   [`CgroupTarget::cgroup_ids`] remain for display and for telling which container a
//!   process is in.
//! - Without cgroup v2 for the pod (v1 hosts; hybrid hosts with the cgroupfs driver) there
//!   are no ids: filter by [`CgroupTarget::pids`], re-read each interval.
//! - CRI-O's monitor (`crio-conmon-<id>.scope`) is left out of ids and PIDs; it is not the app.
//!
//! Paths: `--host-root` (e.g. `/host`) prefixes every host path the tracer reads;
//! `--cgroup-root` (default `<host-root>/sys/fs/cgroup`) is kept apart so a test can pair a
//! fake host tree with the real cgroup filesystem.
pub mod kubelet;
pub mod layout;
pub mod names;
pub mod show;

use std::{
    fs,
    os::unix::fs::MetadataExt as _,
    path::{Component, Path, PathBuf},
};

use anyhow::Context as _;
use serde::Serialize;

use crate::error::{ErrorKind, user};
use layout::Hierarchies;
pub use names::{CgroupName, Driver, Qos, Runtime};

/// Pods, containers and cgroups as a user named them (`--pod`, `--container`, `--cgroup`).
#[derive(Clone, Debug, Default)]
pub struct Specs {
    /// (namespace, name)
    pub pods: Vec<(String, String)>,
    /// Container IDs: 64 hex digits or a unique prefix of at least 12.
    pub containers: Vec<String>,
    /// As in /proc/PID/cgroup (`/kubepods.slice/...`) or under /sys/fs/cgroup.
    pub cgroups: Vec<PathBuf>,
}

impl Specs {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty() && self.containers.is_empty() && self.cgroups.is_empty()
    }
}

/// Resolves target specs against one host (or host mount) and one cgroup root.
#[derive(Clone, Debug)]
pub struct Resolver {
    host_root: PathBuf,
    cgroup_root: PathBuf,
}

/// A pod, as named by kubelet's folders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub qos: Qos,
    pub driver: Driver,
}

impl PodInfo {
    /// `namespace/name`, or `pod <uid>` when kubelet's folders did not name it.
    #[must_use]
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("pod {}", self.uid)
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }
}

/// One container cgroup of a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerCgroup {
    /// Full 64-hex container ID.
    pub id: String,
    pub runtime: Runtime,
    /// Path inside the hierarchy, as in `/proc/PID/cgroup`.
    pub cgroup_path: String,
    /// cgroup v2 id (inode number of its v2 folder), when it has a v2 folder.
    pub cgroup_id: Option<u64>,
}

/// Where the target's CPU time is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "file")]
pub enum CpuSource {
    /// cgroup v2 `cpu.stat`, `usage_usec` (µs; present whether or not the cpu controller is on).
    CpuStat(PathBuf),
    /// cgroup v1 `cpuacct.usage` (ns).
    CpuacctUsage(PathBuf),
}

/// A resolved pod, container or cgroup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CgroupTarget {
    /// As given: `pod:default/fortio-7d9`, `container:5d1b7c8e9f0a`, `cgroup:/kubepods.slice/...`.
    pub spec: String,
    /// Short display name, e.g. `default/fortio-7d9`.
    pub name: String,
    /// The pod, when the target is (in) a pod kubelet knows.
    pub pod: Option<PodInfo>,
    /// Path inside the hierarchies, as in `/proc/PID/cgroup` (same in v1 and v2).
    pub cgroup_path: String,
    /// The cgroup v2 folder, if the host has v2 and the target is in it.
    pub v2_dir: Option<PathBuf>,
    /// cgroup v2 id of `v2_dir`: its inode number, what `bpf_get_current_cgroup_id()` returns.
    pub cgroup_id: Option<u64>,
    /// Depth of `v2_dir` below the v2 root (root = 0).
    pub cgroup_level: Option<u32>,
    /// The folder in the v1 hierarchy used for PIDs and CPU (cpuacct when mounted), if any.
    pub v1_dir: Option<PathBuf>,
    /// Container cgroups directly below the target (the target itself for a container).
    pub containers: Vec<ContainerCgroup>,
    pub cpu: Option<CpuSource>,
}

impl Resolver {
    /// Resolves every pod, then every container, then every cgroup, in the order given.
    pub fn resolve_all(&self, specs: &Specs) -> anyhow::Result<Vec<CgroupTarget>> {
        let mut targets = Vec::new();
        for (namespace, name) in &specs.pods {
            targets.push(self.resolve_pod(namespace, name)?);
        }
        for id in &specs.containers {
            targets.push(self.resolve_container(id)?);
        }
        for path in &specs.cgroups {
            targets.push(self.resolve_cgroup(path)?);
        }
        Ok(targets)
    }

    /// `host_root` prefixes host paths (`/` on the host, `/host` in the node agent's pod);
    /// `cgroup_root` defaults to `<host_root>/sys/fs/cgroup`.
    #[must_use]
    pub fn new(host_root: &Path, cgroup_root: Option<&Path>) -> Self {
        let cgroup_root =
            cgroup_root.map_or_else(|| host_root.join("sys/fs/cgroup"), Path::to_owned);
        Self {
            host_root: host_root.to_owned(),
            cgroup_root,
        }
    }

    fn hierarchies(&self) -> anyhow::Result<Hierarchies> {
        let found = Hierarchies::detect(&self.cgroup_root)
            .ok()
            .filter(|h| !h.is_empty());
        found.ok_or_else(|| {
            user(
                ErrorKind::TargetNotFound,
                format!(
                    "no cgroup filesystem at {}: mount the host's /sys/fs/cgroup there or point --cgroup-root (or --host-root) at it",
                    self.cgroup_root.display()
                ),
            )
        })
    }

    /// Resolves `--pod NAMESPACE/NAME` from kubelet's folders and the pod's cgroup.
    pub fn resolve_pod(&self, namespace: &str, name: &str) -> anyhow::Result<CgroupTarget> {
        names::check_pod_name(namespace, name).map_err(|reason| {
            user(
                ErrorKind::Usage,
                format!("--pod {namespace}/{name}: {reason}"),
            )
        })?;
        let hierarchies = self.hierarchies()?;
        let lookup = kubelet::find_pod(&self.host_root, namespace, name).with_context(|| {
            format!(
                "reading kubelet's pod folders under {}",
                self.host_root.display()
            )
        })?;
        let display = format!("{namespace}/{name}");
        if lookup.candidates.is_empty() {
            return Err(user(
                ErrorKind::TargetNotFound,
                self.pod_not_found(&lookup, namespace, name),
            ));
        }
        let mut running = Vec::new();
        for candidate in &lookup.candidates {
            if let Some(found) = find_pod_cgroup(&hierarchies, &candidate.uid) {
                running.push((candidate, found));
            }
        }
        match running.len() {
            0 => {
                let candidate = &lookup.candidates[0];
                Err(user(
                    ErrorKind::TargetNotFound,
                    format!(
                        "pod {display} is not running on this node: {} names it (uid {}) but no cgroup under {} does; kubelet keeps the folders of ended pods a while, so check kubectl get pod -o wide",
                        candidate.evidence.display(),
                        candidate.uid,
                        self.cgroup_root.display()
                    ),
                ))
            }
            1 => {
                let (candidate, (relative, qos, driver)) = running.remove(0);
                let pod = PodInfo {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    uid: candidate.uid.clone(),
                    qos,
                    driver,
                };
                build_target(
                    &hierarchies,
                    format!("pod:{display}"),
                    display,
                    Some(pod),
                    &relative,
                )
            }
            _ => {
                let uids: Vec<_> = running.iter().map(|(c, _)| c.uid.as_str()).collect();
                Err(user(
                    ErrorKind::TargetNotFound,
                    format!(
                        "{} pods named {display} run on this node (uids {}); trace one with --cgroup and its pod cgroup path",
                        uids.len(),
                        uids.join(", ")
                    ),
                ))
            }
        }
    }

    fn pod_not_found(&self, lookup: &kubelet::Lookup, namespace: &str, name: &str) -> String {
        let display = format!("{namespace}/{name}");
        let Some(searched) = lookup.searched.first() else {
            return format!(
                "no pod {display} on this node: neither {} nor {} exists; mount the host's /var/log/pods there or set --host-root",
                self.host_root.join("var/log/pods").display(),
                self.host_root.join("var/lib/kubelet/pods").display()
            );
        };
        if searched.ends_with("var/log/pods") {
            return format!(
                "no pod {display} on this node: {} has no {namespace}_{name}_* folder; check the name with kubectl get pod -o wide",
                searched.display()
            );
        }
        let unknown = if lookup.namespace_unknown.is_empty() {
            String::new()
        } else {
            format!(
                " ({} pod(s) named {name} have no readable namespace)",
                lookup.namespace_unknown.len()
            )
        };
        format!(
            "no pod {display} on this node: no folder in {} has an etc-hosts naming {name} and namespace {namespace}{unknown}; check the name with kubectl get pod -o wide",
            searched.display()
        )
    }

    /// Resolves `--container ID` (64 hex digits or a unique prefix of at least 12).
    pub fn resolve_container(&self, id: &str) -> anyhow::Result<CgroupTarget> {
        let prefix =
            names::parse_container_spec(id).map_err(|message| user(ErrorKind::Usage, message))?;
        let hierarchies = self.hierarchies()?;
        let mut matches: Vec<(String, PathBuf)> = Vec::new();
        for root in hierarchies.roots() {
            for relative in layout::walk(root, &|p| is_container_dir(p)) {
                if let Some(CgroupName::Container { id, .. }) =
                    last_name(&relative).map(names::parse_cgroup_name)
                    && id.starts_with(&prefix)
                    && !matches.iter().any(|(seen, _)| *seen == id)
                {
                    matches.push((id, relative));
                }
            }
            // v1 hierarchies repeat what the first one with containers showed.
            if !matches.is_empty() {
                break;
            }
        }
        match matches.len() {
            0 => Err(user(
                ErrorKind::TargetNotFound,
                format!(
                    "no container {prefix} on this node: no cgroup under {} is named after it; check the ID with crictl ps or kubectl get pod -o wide",
                    self.cgroup_root.display()
                ),
            )),
            1 => {
                let (full_id, relative) = matches.remove(0);
                let pod = relative.parent().and_then(|parent| self.pod_of_dir(parent));
                let short = &full_id[..names::MIN_CONTAINER_PREFIX];
                let name = match &pod {
                    Some(pod) => format!("{} container {short}", pod.display()),
                    None => format!("container {short}"),
                };
                build_target(
                    &hierarchies,
                    format!("container:{prefix}"),
                    name,
                    pod,
                    &relative,
                )
            }
            n => {
                let ids: Vec<_> = matches.iter().map(|(id, _)| &id[..16]).collect();
                Err(user(
                    ErrorKind::Usage,
                    format!(
                        "container ID {prefix} matches {n} containers ({}...); give more digits",
                        ids.join("..., ")
                    ),
                ))
            }
        }
    }

    /// Resolves `--cgroup PATH`: as in `/proc/PID/cgroup` (`/kubepods.slice/...`), or a path
    /// under `/sys/fs/cgroup` (v2, `unified/` or a v1 controller folder), `<host-root>` or
    /// `<cgroup-root>`.
    pub fn resolve_cgroup(&self, path: &Path) -> anyhow::Result<CgroupTarget> {
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(user(
                ErrorKind::Usage,
                format!("--cgroup {}: give a path without '..'", path.display()),
            ));
        }
        let hierarchies = self.hierarchies()?;
        let relative = self
            .cgroup_candidates(&hierarchies, path)
            .into_iter()
            .find(|relative| hierarchies.roots().any(|root| root.join(relative).is_dir()));
        let Some(relative) = relative else {
            return Err(user(
                ErrorKind::TargetNotFound,
                format!(
                    "no cgroup {} under {}: give the path from /proc/PID/cgroup (the part after 0::) or one under /sys/fs/cgroup",
                    path.display(),
                    self.cgroup_root.display()
                ),
            ));
        };
        let pod = self.pod_of_dir(&relative);
        let name = match &pod {
            Some(pod) if is_pod_dir(&relative) => pod.display(),
            _ => last_name(&relative).unwrap_or("/").to_owned(),
        };
        build_target(
            &hierarchies,
            format!("cgroup:{}", path.display()),
            name,
            pod,
            &relative,
        )
    }

    /// Paths inside the hierarchies that `path` may mean, most specific reading first.
    fn cgroup_candidates(&self, hierarchies: &Hierarchies, path: &Path) -> Vec<PathBuf> {
        let mut prefixes = vec![
            self.cgroup_root.clone(),
            self.host_root.join("sys/fs/cgroup"),
            PathBuf::from("/sys/fs/cgroup"),
        ];
        prefixes.dedup();
        let mut candidates = Vec::new();
        for prefix in &prefixes {
            let Ok(rest) = path.strip_prefix(prefix) else {
                continue;
            };
            // `/sys/fs/cgroup/unified/x` or `/sys/fs/cgroup/<controller>/x`.
            let mut components = rest.components();
            if let Some(Component::Normal(first)) = components.next() {
                let first = first.to_string_lossy();
                let is_v1 = hierarchies.v1.iter().any(|h| {
                    h.dir
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy() == first)
                });
                if first == "unified" || is_v1 {
                    candidates.push(components.as_path().to_owned());
                }
            }
            candidates.push(rest.to_owned());
        }
        // As in /proc/PID/cgroup: relative to each hierarchy root.
        candidates.push(path.strip_prefix("/").unwrap_or(path).to_owned());
        candidates
    }

    /// The pod whose cgroup is `relative` or contains it, named from its log folder.
    fn pod_of_dir(&self, relative: &Path) -> Option<PodInfo> {
        relative.ancestors().find_map(|dir| {
            let name = last_name(dir)?;
            let (uid, qos, driver) = match names::parse_cgroup_name(name) {
                CgroupName::PodSlice { qos, uid } => (uid, qos, Driver::Systemd),
                CgroupName::PodDir { uid } => {
                    let parent = dir.parent().and_then(last_name).unwrap_or_default();
                    (uid, names::qos_from_parent(parent), Driver::Cgroupfs)
                }
                _ => return None,
            };
            let (namespace, name) =
                kubelet::pod_name_of_uid(&self.host_root, &uid).unwrap_or_default();
            Some(PodInfo {
                namespace,
                name,
                uid,
                qos,
                driver,
            })
        })
    }
}

/// Reads the folders of `relative` in each hierarchy into a target.
fn build_target(
    hierarchies: &Hierarchies,
    spec: String,
    name: String,
    pod: Option<PodInfo>,
    relative: &Path,
) -> anyhow::Result<CgroupTarget> {
    let v2_dir = hierarchies
        .v2
        .as_ref()
        .map(|root| under(root, relative))
        .filter(|d| d.is_dir());
    let v1_dir = hierarchies
        .v1
        .iter()
        .map(|h| under(&h.dir, relative))
        .find(|d| d.is_dir());
    let Some(dir) = v2_dir.as_ref().or(v1_dir.as_ref()) else {
        return Err(user(
            ErrorKind::TargetNotFound,
            format!("the cgroup of {name} is gone: it ended while being resolved"),
        ));
    };
    let id = v2_dir.as_deref().map(cgroup_id).transpose()?;
    let cgroup_level = v2_dir
        .as_ref()
        .map(|_| u32::try_from(relative.components().count()).unwrap_or(u32::MAX));
    let containers = if let Some(CgroupName::Container {
        id: container_id,
        runtime,
    }) = last_name(relative).map(names::parse_cgroup_name)
    {
        vec![ContainerCgroup {
            id: container_id,
            runtime,
            cgroup_path: cgroup_path(relative),
            cgroup_id: id,
        }]
    } else {
        let mut containers = Vec::new();
        for entry in fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(Result::ok)
        {
            let file_name = entry.file_name();
            let CgroupName::Container { id, runtime } =
                names::parse_cgroup_name(&file_name.to_string_lossy())
            else {
                continue;
            };
            let child = relative.join(&file_name);
            let child_id = v2_dir
                .as_ref()
                .and_then(|d| cgroup_id(&d.join(&file_name)).ok());
            containers.push(ContainerCgroup {
                id,
                runtime,
                cgroup_path: cgroup_path(&child),
                cgroup_id: child_id,
            });
        }
        containers.sort_by(|a, b| a.id.cmp(&b.id));
        containers
    };
    let cpuacct = hierarchies
        .v1
        .iter()
        .find(|h| h.has_cpuacct())
        .map(|h| h.dir.join(relative).join("cpuacct.usage"));
    let cpu = match (&v2_dir, cpuacct) {
        (Some(dir), _) if dir.join("cpu.stat").is_file() => {
            Some(CpuSource::CpuStat(dir.join("cpu.stat")))
        }
        (_, Some(usage)) if usage.is_file() => Some(CpuSource::CpuacctUsage(usage)),
        _ => None,
    };
    Ok(CgroupTarget {
        spec,
        name,
        pod,
        cgroup_path: cgroup_path(relative),
        v2_dir,
        cgroup_id: id,
        cgroup_level,
        v1_dir,
        containers,
        cpu,
    })
}

impl CgroupTarget {
    /// The folder PIDs are read from: v2 when there, else the v1 one.
    fn procs_dir(&self) -> anyhow::Result<&Path> {
        let dir = self
            .v2_dir
            .as_deref()
            .or(self.v1_dir.as_deref())
            .filter(|d| d.is_dir());
        dir.ok_or_else(|| {
            user(
                ErrorKind::TargetNotFound,
                format!(
                    "the cgroup of {} is gone: the pod or container ended",
                    self.name
                ),
            )
        })
    }

    /// Processes in the target's cgroup and every descendant (CRI-O's conmon left out), now;
    /// sorted, without duplicates.
    pub fn pids(&self) -> anyhow::Result<Vec<u32>> {
        let dir = self.procs_dir()?;
        let mut pids = layout::read_procs(dir)
            .with_context(|| format!("reading {}/cgroup.procs", dir.display()))?;
        for relative in layout::walk(dir, &|p| is_conmon_dir(p)) {
            if is_conmon_dir(&relative) {
                continue;
            }
            let child = dir.join(&relative);
            pids.extend(
                layout::read_procs(&child)
                    .with_context(|| format!("reading {}/cgroup.procs", child.display()))?,
            );
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// cgroup v2 ids of the target's folder and every descendant (CRI-O's conmon left out),
    /// now; empty without cgroup v2. Tasks are in the leaves, so the kernel filter needs all.
    pub fn cgroup_ids(&self) -> anyhow::Result<Vec<u64>> {
        let Some(dir) = &self.v2_dir else {
            return Ok(Vec::new());
        };
        let mut ids = vec![cgroup_id(dir)?];
        for relative in layout::walk(dir, &|p| is_conmon_dir(p)) {
            if is_conmon_dir(&relative) {
                continue;
            }
            // A container that just ended has no folder any more: nothing to filter.
            if let Ok(id) = cgroup_id(&dir.join(relative)) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Total CPU time the target's cgroup used so far, in ns (cgroup v2 `usage_usec` × 1000,
    /// or v1 `cpuacct.usage`). Sample it once per interval; differences are CPU per interval.
    pub fn read_cpu_usage_ns(&self) -> anyhow::Result<u64> {
        let Some(source) = &self.cpu else {
            return Err(user(
                ErrorKind::KernelUnsupported,
                format!(
                    "no CPU counter for {}: its cgroup has neither cpu.stat (v2) nor cpuacct.usage (v1)",
                    self.name
                ),
            ));
        };
        let (file, stat) = match source {
            CpuSource::CpuStat(file) => (file, true),
            CpuSource::CpuacctUsage(file) => (file, false),
        };
        let text = match fs::read_to_string(file) {
            Ok(text) => text,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENODEV) =>
            {
                return Err(user(
                    ErrorKind::TargetNotFound,
                    format!(
                        "the cgroup of {} is gone: the pod or container ended",
                        self.name
                    ),
                ));
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("reading {}", file.display())));
            }
        };
        let parsed = if stat {
            parse_cpu_stat_usage_ns(&text)
        } else {
            text.trim().parse().ok()
        };
        parsed.with_context(|| {
            format!(
                "{} has no CPU usage value: {:?}",
                file.display(),
                text.lines().next().unwrap_or_default()
            )
        })
    }
}

/// `usage_usec` of a cgroup v2 `cpu.stat`, in ns.
#[must_use]
pub fn parse_cpu_stat_usage_ns(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("usage_usec "))
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(|usec| usec.saturating_mul(1000))
}

/// The cgroup v2 id of a folder: its inode number (kernfs node id), the value
/// `bpf_get_current_cgroup_id()` returns for tasks directly in it.
pub fn cgroup_id(dir: &Path) -> anyhow::Result<u64> {
    Ok(fs::metadata(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .ino())
}

/// Finds the pod cgroup of `uid` in the first hierarchy that has it.
fn find_pod_cgroup(hierarchies: &Hierarchies, uid: &str) -> Option<(PathBuf, Qos, Driver)> {
    for root in hierarchies.roots() {
        // Pods hold only containers; nothing below them can be another pod.
        let prune = |p: &Path| is_pod_dir(p) || is_container_dir(p);
        for relative in layout::walk(root, &prune) {
            let Some(name) = last_name(&relative) else {
                continue;
            };
            let found = match names::parse_cgroup_name(name) {
                CgroupName::PodSlice { qos, uid: found } => (found, qos, Driver::Systemd),
                CgroupName::PodDir { uid: found } => {
                    let parent = relative.parent().and_then(last_name).unwrap_or_default();
                    (found, names::qos_from_parent(parent), Driver::Cgroupfs)
                }
                _ => continue,
            };
            if found.0.eq_ignore_ascii_case(uid) {
                return Some((relative, found.1, found.2));
            }
        }
    }
    None
}

fn last_name(path: &Path) -> Option<&str> {
    path.file_name().and_then(|n| n.to_str())
}

fn is_pod_dir(path: &Path) -> bool {
    last_name(path).is_some_and(|n| {
        matches!(
            names::parse_cgroup_name(n),
            CgroupName::PodSlice { .. } | CgroupName::PodDir { .. }
        )
    })
}

fn is_container_dir(path: &Path) -> bool {
    last_name(path).is_some_and(|n| {
        matches!(
            names::parse_cgroup_name(n),
            CgroupName::Container { .. } | CgroupName::Conmon { .. }
        )
    })
}

fn is_conmon_dir(path: &Path) -> bool {
    last_name(path)
        .is_some_and(|n| matches!(names::parse_cgroup_name(n), CgroupName::Conmon { .. }))
}

/// `root/relative`, without the trailing '/' `join` leaves for an empty `relative` (the root).
fn under(root: &Path, relative: &Path) -> PathBuf {
    if relative.as_os_str().is_empty() {
        root.to_owned()
    } else {
        root.join(relative)
    }
}

/// `/kubepods.slice/...`, the form `/proc/PID/cgroup` shows.
fn cgroup_path(relative: &Path) -> String {
    format!("/{}", relative.display())
}

#[cfg(test)]
mod tests;
