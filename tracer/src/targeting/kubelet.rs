//! Finding a pod's UID from what kubelet leaves on the node, without the API server.
//!
//! First choice: `/var/log/pods/<namespace>_<name>_<uid>/`, one folder per pod kubelet runs
//! (kept a while after the pod ends, so a match is only a candidate until its cgroup is
//! found). It holds nothing secret, so the node agent's manifest mounts it read-only.
//!
//! Fallback when `/var/log/pods` is absent: `/var/lib/kubelet/pods/<uid>/`. kubelet leaves
//! there `etc-hosts` (its last line is `<pod IP>\t<hostname>...`, the hostname being the pod
//! name cut to 63 characters unless `spec.hostname` is set), `containers/<container name>/`
//! (termination-log files), `plugins/` and `volumes/`. The namespace is written only in the
//! service-account volume, `volumes/kubernetes.io~projected/kube-api-access-*/namespace`.
//! A pod matches when both agree. This folder also holds every pod's secrets, so the
//! agent's manifest does not mount it; the fallback is for running the tracer directly on a node.
use std::{
    fs, io,
    path::{Path, PathBuf},
};

use super::names::{is_uid, parse_pod_log_dir};

/// Where the pod was found, for error messages and the run file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodCandidate {
    pub uid: String,
    /// The folder that named it.
    pub evidence: PathBuf,
}

/// How a lookup went: candidates, and what was searched (for a useful "not found").
#[derive(Debug, Default)]
pub struct Lookup {
    pub candidates: Vec<PodCandidate>,
    /// The folders searched, in order, e.g. `/host/var/log/pods`.
    pub searched: Vec<PathBuf>,
    /// Pods that matched the name but whose namespace could not be read (fallback only).
    pub namespace_unknown: Vec<PathBuf>,
}

/// Looks up the UIDs of pod `namespace/name` under `host_root`.
pub fn find_pod(host_root: &Path, namespace: &str, name: &str) -> io::Result<Lookup> {
    let mut lookup = Lookup::default();
    let logs = host_root.join("var/log/pods");
    match fs::read_dir(&logs) {
        Ok(entries) => {
            lookup.searched.push(logs);
            for entry in entries.filter_map(Result::ok) {
                let folder = entry.file_name();
                let Some(pod) = parse_pod_log_dir(&folder.to_string_lossy()) else {
                    continue;
                };
                if pod.namespace == namespace && pod.name == name {
                    lookup.candidates.push(PodCandidate {
                        uid: pod.uid,
                        evidence: entry.path(),
                    });
                }
            }
            lookup.candidates.sort_by(|a, b| a.uid.cmp(&b.uid));
            return Ok(lookup);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let kubelet = host_root.join("var/lib/kubelet/pods");
    let entries = match fs::read_dir(&kubelet) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(lookup),
        Err(e) => return Err(e),
    };
    lookup.searched.push(kubelet);
    for entry in entries.filter_map(Result::ok) {
        let uid = entry.file_name().to_string_lossy().to_ascii_lowercase();
        if !is_uid(&uid) {
            continue;
        }
        let dir = entry.path();
        let want = truncate_hostname(name);
        // A token is the bare hostname or its FQDN (`web-0.web.shop.svc.cluster.local`).
        let named = |h: &String| {
            h == want
                || h.strip_prefix(want)
                    .is_some_and(|rest| rest.starts_with('.'))
        };
        if !hostnames(&dir).iter().any(named) {
            continue;
        }
        match pod_namespace(&dir) {
            Some(found) if found == namespace => {
                lookup.candidates.push(PodCandidate { uid, evidence: dir });
            }
            Some(_) => {}
            None => lookup.namespace_unknown.push(dir),
        }
    }
    lookup.candidates.sort_by(|a, b| a.uid.cmp(&b.uid));
    Ok(lookup)
}

/// The `<namespace>/<name>` of the pod with `uid`, from its log folder (for naming a
/// container or cgroup target found by ID).
#[must_use]
pub fn pod_name_of_uid(host_root: &Path, uid: &str) -> Option<(String, String)> {
    let entries = fs::read_dir(host_root.join("var/log/pods")).ok()?;
    entries.filter_map(Result::ok).find_map(|entry| {
        let pod = parse_pod_log_dir(&entry.file_name().to_string_lossy())?;
        (pod.uid == uid).then_some((pod.namespace, pod.name))
    })
}

/// kubelet sets the pod's hostname to its name cut to 63 characters (a DNS label).
fn truncate_hostname(name: &str) -> &str {
    let cut = name.get(..63).unwrap_or(name);
    cut.trim_end_matches(['-', '.'])
}

/// Host names on the last entry of the pod's `etc-hosts`; none for host-network pods, whose
/// file is the node's own hosts file and names the node.
fn hostnames(pod_dir: &Path) -> Vec<String> {
    let Ok(text) = fs::read_to_string(pod_dir.join("etc-hosts")) else {
        return Vec::new();
    };
    if text
        .lines()
        .next()
        .is_some_and(|l| l.contains("host network"))
    {
        return Vec::new();
    }
    let Some(last) = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
    else {
        return Vec::new();
    };
    // `10.244.0.5\tfortio-7d9` or `10.244.0.5\tweb-0.web.default.svc.cluster.local\tweb-0`.
    last.split_whitespace().skip(1).map(str::to_owned).collect()
}

/// The namespace written in the pod's service-account volume, if it has one.
fn pod_namespace(pod_dir: &Path) -> Option<String> {
    let projected = pod_dir.join("volumes/kubernetes.io~projected");
    fs::read_dir(projected)
        .ok()?
        .filter_map(Result::ok)
        .find_map(|volume| {
            let text = fs::read_to_string(volume.path().join("namespace")).ok()?;
            Some(text.trim().to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID_A: &str = "0f4c1a7e-3b2d-4c5e-9f8a-1b2c3d4e5f60";
    const UID_B: &str = "1f4c1a7e-3b2d-4c5e-9f8a-1b2c3d4e5f61";
    const UID_C: &str = "2f4c1a7e-3b2d-4c5e-9f8a-1b2c3d4e5f62";

    fn mkdir(path: &Path) {
        fs::create_dir_all(path).unwrap();
    }

    #[test]
    fn finds_pods_by_log_folder() {
        let host = tempfile::tempdir().unwrap();
        let logs = host.path().join("var/log/pods");
        mkdir(&logs.join(format!("default_fortio-7d9_{UID_A}/fortio")));
        mkdir(&logs.join(format!("default_fortio-7d9x_{UID_B}")));
        mkdir(&logs.join(format!("other_fortio-7d9_{UID_C}")));
        let found = find_pod(host.path(), "default", "fortio-7d9").unwrap();
        assert_eq!(found.candidates.len(), 1);
        assert_eq!(found.candidates[0].uid, UID_A);
        assert_eq!(found.searched, std::slice::from_ref(&logs));
        assert!(
            find_pod(host.path(), "default", "fortio")
                .unwrap()
                .candidates
                .is_empty()
        );
        assert_eq!(
            pod_name_of_uid(host.path(), UID_B),
            Some(("default".into(), "fortio-7d9x".into()))
        );
    }

    fn kubelet_pod(host: &Path, uid: &str, hosts_tail: &str, namespace: Option<&str>) {
        let dir = host.join("var/lib/kubelet/pods").join(uid);
        mkdir(&dir.join("containers/app"));
        fs::write(
            dir.join("etc-hosts"),
            format!("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n{hosts_tail}\n"),
        )
        .unwrap();
        if let Some(namespace) = namespace {
            let volume = dir.join("volumes/kubernetes.io~projected/kube-api-access-x7k2p");
            mkdir(&volume);
            fs::write(volume.join("namespace"), namespace).unwrap();
        }
    }

    #[test]
    fn falls_back_to_kubelet_pod_folders() {
        let host = tempfile::tempdir().unwrap();
        kubelet_pod(
            host.path(),
            UID_A,
            "10.244.0.5\tweb-0.web.shop.svc.cluster.local\tweb-0",
            Some("shop"),
        );
        kubelet_pod(host.path(), UID_B, "10.244.0.6\tweb-0", None);
        let found = find_pod(host.path(), "shop", "web-0").unwrap();
        assert_eq!(
            found
                .candidates
                .iter()
                .map(|c| c.uid.as_str())
                .collect::<Vec<_>>(),
            [UID_A]
        );
        assert_eq!(
            found.namespace_unknown,
            [host.path().join("var/lib/kubelet/pods").join(UID_B)]
        );
        assert!(
            find_pod(host.path(), "other", "web-0")
                .unwrap()
                .candidates
                .is_empty()
        );
    }

    #[test]
    fn host_network_pods_are_not_matched_by_node_name() {
        let host = tempfile::tempdir().unwrap();
        let dir = host.path().join("var/lib/kubelet/pods").join(UID_A);
        mkdir(&dir);
        fs::write(
            dir.join("etc-hosts"),
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 node1\n",
        )
        .unwrap();
        assert!(
            find_pod(host.path(), "default", "node1")
                .unwrap()
                .candidates
                .is_empty()
        );
    }

    #[test]
    fn nothing_to_search() {
        let host = tempfile::tempdir().unwrap();
        let found = find_pod(host.path(), "default", "x").unwrap();
        assert!(found.candidates.is_empty() && found.searched.is_empty());
    }
}
