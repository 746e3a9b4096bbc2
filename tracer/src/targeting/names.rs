//! Pure parsers for the names kubelet and container runtimes give to folders: pod log folders
//! (`<namespace>_<name>_<uid>`) and cgroup folders of pods and containers, for both cgroup
//! drivers (systemd, cgroupfs) and the three runtimes (containerd, CRI-O, Docker).
//!
//! Nothing here touches the filesystem, so every shape is covered by table-driven tests over
//! real path samples.
use std::fmt;

/// Kubernetes quality-of-service class of a pod; it decides where kubelet puts the pod's cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Qos {
    /// Directly under `kubepods` (`kubepods-pod<uid>.slice` / `kubepods/pod<uid>`).
    Guaranteed,
    /// Under `kubepods-burstable.slice` / `kubepods/burstable`.
    Burstable,
    /// Under `kubepods-besteffort.slice` / `kubepods/besteffort`.
    BestEffort,
}

impl fmt::Display for Qos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Guaranteed => "guaranteed",
            Self::Burstable => "burstable",
            Self::BestEffort => "besteffort",
        })
    }
}

/// kubelet's `--cgroup-driver`, as seen in the folder names it chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Driver {
    /// `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice`.
    Systemd,
    /// `kubepods/burstable/pod<uid>`.
    Cgroupfs,
}

/// The container runtime, told from the container cgroup's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    /// `cri-containerd-<id>.scope`.
    Containerd,
    /// `crio-<id>.scope` (its monitor `crio-conmon-<id>.scope` is not the container).
    Crio,
    /// `docker-<id>.scope` (cri-dockerd).
    Docker,
    /// A bare `<id>` folder (cgroupfs driver with containerd or Docker: the name does not say).
    Unknown,
}

/// What one cgroup folder name says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupName {
    /// A pod's cgroup made by the systemd driver; the class (`Qos`) is in the name.
    PodSlice { qos: Qos, uid: String },
    /// A pod's cgroup made by the cgroupfs driver; the class (`Qos`) is the parent folder's name.
    PodDir { uid: String },
    /// A container's cgroup; `id` is the 64-hex container ID.
    Container { runtime: Runtime, id: String },
    /// CRI-O's per-container monitor process (conmon), not part of the container.
    Conmon { id: String },
    /// Anything else (`kubepods-burstable.slice`, system services, ...).
    Other,
}

/// Classifies one cgroup folder name.
#[must_use]
pub fn parse_cgroup_name(name: &str) -> CgroupName {
    if let Some(pod) = parse_pod_slice(name) {
        return pod;
    }
    if let Some(uid) = name.strip_prefix("pod").filter(|uid| is_uid(uid)) {
        return CgroupName::PodDir {
            uid: uid.to_owned(),
        };
    }
    let stem = name.strip_suffix(".scope").unwrap_or(name);
    // Longest prefix first: `crio-conmon-` also starts with `crio-`.
    if let Some(id) = stem
        .strip_prefix("crio-conmon-")
        .filter(|id| is_container_id(id))
    {
        return CgroupName::Conmon { id: id.to_owned() };
    }
    for (prefix, runtime) in [
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::Crio),
        ("docker-", Runtime::Docker),
        ("", Runtime::Unknown),
    ] {
        if let Some(id) = stem.strip_prefix(prefix).filter(|id| is_container_id(id)) {
            return CgroupName::Container {
                runtime,
                id: id.to_owned(),
            };
        }
    }
    CgroupName::Other
}

/// `kubepods-pod<uid_>.slice`, `kubepods-<qos>-pod<uid_>.slice`; also with a prefix such as
/// `kubelet-kubepods-...` when kubelet runs with `--cgroup-root` (kind, nested setups).
fn parse_pod_slice(name: &str) -> Option<CgroupName> {
    let stem = name.strip_suffix(".slice")?;
    let at = stem.find("kubepods-")?;
    let rest = &stem[at + "kubepods-".len()..];
    let (qos, uid) = if let Some(uid) = rest.strip_prefix("pod") {
        (Qos::Guaranteed, uid)
    } else if let Some(uid) = rest.strip_prefix("burstable-pod") {
        (Qos::Burstable, uid)
    } else if let Some(uid) = rest.strip_prefix("besteffort-pod") {
        (Qos::BestEffort, uid)
    } else {
        return None;
    };
    // systemd reserves '-' as the slice separator, so kubelet writes the UID's '-' as '_'.
    let uid = uid.replace('_', "-");
    is_uid(&uid).then_some(CgroupName::PodSlice { qos, uid })
}

/// Class (`Qos`) of a cgroupfs-driver pod folder from its parent folder's name.
#[must_use]
pub fn qos_from_parent(parent: &str) -> Qos {
    match parent {
        "burstable" => Qos::Burstable,
        "besteffort" => Qos::BestEffort,
        _ => Qos::Guaranteed,
    }
}

/// A pod UID: a UUID (`8-4-4-4-12` hex) for API pods, or 32 hex digits (the manifest hash)
/// for static pods. Compared lower-case.
#[must_use]
pub fn is_uid(text: &str) -> bool {
    text.len() >= 32
        && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && text.bytes().filter(u8::is_ascii_hexdigit).count() == 32
}

/// A full container ID: 64 lower-case hex digits.
#[must_use]
pub fn is_container_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One pod's log folder, `/var/log/pods/<namespace>_<name>_<uid>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodLogDir {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Parses a pod log folder name. Namespaces and pod names cannot contain '_' (DNS-1123), but
/// the split is made robust anyway: the namespace ends at the first '_', the UID starts
/// after the last one, and the name is everything between.
#[must_use]
pub fn parse_pod_log_dir(folder: &str) -> Option<PodLogDir> {
    let (namespace, rest) = folder.split_once('_')?;
    let (name, uid) = rest.rsplit_once('_')?;
    (!namespace.is_empty() && !name.is_empty() && is_uid(uid)).then(|| PodLogDir {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        uid: uid.to_ascii_lowercase(),
    })
}

/// Checks a `NAMESPACE/NAME` pair against Kubernetes' naming rules, so a typo is reported as
/// a typo and not as a missing pod. Returns the reason when invalid.
pub fn check_pod_name(namespace: &str, name: &str) -> Result<(), String> {
    let valid = |text: &str, extra: &[u8], max: usize| {
        !text.is_empty()
            && text.len() <= max
            && text.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || extra.contains(&b)
            })
    };
    if !valid(namespace, &[], 63) {
        return Err(format!(
            "namespace {namespace:?} is not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)"
        ));
    }
    if !valid(name, b".", 253) {
        return Err(format!(
            "pod name {name:?} is not a Kubernetes pod name (lower-case letters, digits, '-' and '.', at most 253)"
        ));
    }
    Ok(())
}

/// Parses `--pod NAMESPACE/NAME`.
pub fn parse_pod_spec(spec: &str) -> Result<(String, String), String> {
    let Some((namespace, name)) = spec.split_once('/') else {
        return Err(format!(
            "--pod wants NAMESPACE/NAME (e.g. default/fortio-7d9), got {spec:?}"
        ));
    };
    check_pod_name(namespace, name).map_err(|reason| format!("--pod {spec:?}: {reason}"))?;
    Ok((namespace.to_owned(), name.to_owned()))
}

/// Shortest container ID prefix accepted: 12 hex digits, what `crictl ps` and `docker ps` show.
pub const MIN_CONTAINER_PREFIX: usize = 12;

/// Parses `--container ID`: a full ID or a prefix of at least 12 hex digits, optionally in
/// the `containerd://<id>` form `kubectl get pod -o yaml` shows in `containerID`.
pub fn parse_container_spec(spec: &str) -> Result<String, String> {
    let id = spec
        .split_once("://")
        .map_or(spec, |(_, id)| id)
        .to_ascii_lowercase();
    if id.len() < MIN_CONTAINER_PREFIX
        || id.len() > 64
        || !id.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(format!(
            "--container wants a container ID of {MIN_CONTAINER_PREFIX} to 64 hex digits (crictl ps shows it), got {spec:?}"
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0f4c1a7e-3b2d-4c5e-9f8a-1b2c3d4e5f60";
    const UID_: &str = "0f4c1a7e_3b2d_4c5e_9f8a_1b2c3d4e5f60";
    const ID: &str = "5d1b7c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0";

    fn pod_slice(qos: Qos) -> CgroupName {
        CgroupName::PodSlice {
            qos,
            uid: UID.to_owned(),
        }
    }

    fn container(runtime: Runtime) -> CgroupName {
        CgroupName::Container {
            runtime,
            id: ID.to_owned(),
        }
    }

    #[test]
    fn cgroup_names_of_both_drivers_all_qos_and_runtimes() {
        let cases: Vec<(String, CgroupName)> = vec![
            // systemd driver, pod slices.
            (
                format!("kubepods-pod{UID_}.slice"),
                pod_slice(Qos::Guaranteed),
            ),
            (
                format!("kubepods-burstable-pod{UID_}.slice"),
                pod_slice(Qos::Burstable),
            ),
            (
                format!("kubepods-besteffort-pod{UID_}.slice"),
                pod_slice(Qos::BestEffort),
            ),
            // kubelet --cgroup-root=/kubelet (kind).
            (
                format!("kubelet-kubepods-burstable-pod{UID_}.slice"),
                pod_slice(Qos::Burstable),
            ),
            // cgroupfs driver, pod folders.
            (
                format!("pod{UID}"),
                CgroupName::PodDir {
                    uid: UID.to_owned(),
                },
            ),
            // Static pod: the UID is the manifest hash.
            (
                "pod6d2c8a3f1e4b5c7d9e0f1a2b3c4d5e6f".to_owned(),
                CgroupName::PodDir {
                    uid: "6d2c8a3f1e4b5c7d9e0f1a2b3c4d5e6f".to_owned(),
                },
            ),
            // Containers, systemd driver.
            (
                format!("cri-containerd-{ID}.scope"),
                container(Runtime::Containerd),
            ),
            (format!("crio-{ID}.scope"), container(Runtime::Crio)),
            (format!("docker-{ID}.scope"), container(Runtime::Docker)),
            (
                format!("crio-conmon-{ID}.scope"),
                CgroupName::Conmon { id: ID.to_owned() },
            ),
            // Containers, cgroupfs driver.
            (ID.to_owned(), container(Runtime::Unknown)),
            (format!("crio-{ID}"), container(Runtime::Crio)),
            (
                format!("crio-conmon-{ID}"),
                CgroupName::Conmon { id: ID.to_owned() },
            ),
            // Not pods or containers.
            ("kubepods.slice".to_owned(), CgroupName::Other),
            ("kubepods-burstable.slice".to_owned(), CgroupName::Other),
            ("kubepods-besteffort.slice".to_owned(), CgroupName::Other),
            ("kubepods".to_owned(), CgroupName::Other),
            ("burstable".to_owned(), CgroupName::Other),
            ("system.slice".to_owned(), CgroupName::Other),
            ("containerd.service".to_owned(), CgroupName::Other),
            (
                "kubepods-burstable-podnothex.slice".to_owned(),
                CgroupName::Other,
            ),
            (
                format!("cri-containerd-{}.scope", &ID[..63]),
                CgroupName::Other,
            ),
            (
                format!("docker-{}.scope", ID.to_ascii_uppercase()),
                CgroupName::Other,
            ),
            ("podcast".to_owned(), CgroupName::Other),
            ("session-1.scope".to_owned(), CgroupName::Other),
        ];
        for (name, want) in cases {
            assert_eq!(parse_cgroup_name(&name), want, "{name}");
        }
    }

    #[test]
    fn qos_of_cgroupfs_pods_comes_from_the_parent() {
        assert_eq!(qos_from_parent("burstable"), Qos::Burstable);
        assert_eq!(qos_from_parent("besteffort"), Qos::BestEffort);
        assert_eq!(qos_from_parent("kubepods"), Qos::Guaranteed);
    }

    #[test]
    fn pod_log_dirs() {
        let ok = |namespace: &str, name: &str, uid: &str| {
            Some(PodLogDir {
                namespace: namespace.into(),
                name: name.into(),
                uid: uid.into(),
            })
        };
        let cases = [
            (
                format!("default_fortio-7d9c5b-x2v4q_{UID}"),
                ok("default", "fortio-7d9c5b-x2v4q", UID),
            ),
            (
                format!("istio-system_ztunnel-abcde_{UID}"),
                ok("istio-system", "ztunnel-abcde", UID),
            ),
            (
                "kube-system_etcd-node1_6d2c8a3f1e4b5c7d9e0f1a2b3c4d5e6f".to_owned(),
                ok(
                    "kube-system",
                    "etcd-node1",
                    "6d2c8a3f1e4b5c7d9e0f1a2b3c4d5e6f",
                ),
            ),
            // Robust to '_' in the name even though Kubernetes forbids it.
            (format!("ns_odd_name_{UID}"), ok("ns", "odd_name", UID)),
            (
                format!("default_web.v2_{}", UID.to_ascii_uppercase()),
                ok("default", "web.v2", UID),
            ),
            (format!("default_{UID}"), None),
            (format!("_name_{UID}"), None),
            ("default_web_notauid".to_owned(), None),
            ("default".to_owned(), None),
        ];
        for (folder, want) in cases {
            assert_eq!(parse_pod_log_dir(&folder), want, "{folder}");
        }
    }

    #[test]
    fn pod_specs() {
        assert_eq!(
            parse_pod_spec("default/fortio-7d9"),
            Ok(("default".into(), "fortio-7d9".into()))
        );
        assert_eq!(
            parse_pod_spec("istio-system/ztunnel.a-1"),
            Ok(("istio-system".into(), "ztunnel.a-1".into()))
        );
        for bad in [
            "default",
            "/name",
            "default/",
            "Default/x",
            "ns/a/b",
            "ns/a_b",
            "a.b/c",
        ] {
            let err = parse_pod_spec(bad).expect_err(bad);
            assert!(err.starts_with("--pod"), "{bad}: {err}");
        }
    }

    #[test]
    fn container_specs() {
        assert_eq!(parse_container_spec(ID), Ok(ID.to_owned()));
        assert_eq!(parse_container_spec(&ID[..12]), Ok(ID[..12].to_owned()));
        assert_eq!(
            parse_container_spec(&format!("containerd://{ID}")),
            Ok(ID.to_owned())
        );
        assert_eq!(
            parse_container_spec(&ID[..12].to_ascii_uppercase()),
            Ok(ID[..12].to_owned())
        );
        for bad in [&ID[..11], "zz1b7c8e9f0a1b", &format!("{ID}0")] {
            assert!(parse_container_spec(bad).is_err(), "{bad}");
        }
    }
}
