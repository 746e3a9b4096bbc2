//! Where the cgroup hierarchies are under a cgroup root, and walks over them.
//!
//! The layout is found by probing, not assumed: a folder holding `cgroup.controllers` is a
//! cgroup v2 hierarchy (the root itself on pure v2 hosts, `unified/` on hybrid hosts); a
//! sub-folder holding `cgroup.procs` but no `cgroup.controllers` is a v1 hierarchy, named by
//! its controllers (`cpu,cpuacct`, `cpuacct`, `pids`, `systemd`, ...). Probing marker files
//! works the same through a container's hostPath bind mounts, where the tracer's own
//! `/proc/self/mountinfo` names container paths and the host's names host paths.
use std::{
    collections::HashSet,
    fs, io,
    path::{Path, PathBuf},
};

/// Folders a walk descends at most, counted from a hierarchy root. Pod cgroups sit at depth
/// 2-3 (4-5 under a `--cgroup-root` such as kind's), containers one below, and crun can add
/// one more (`.../container`); 8 leaves room without walking deep system trees forever.
pub const MAX_WALK_DEPTH: usize = 8;

/// The cgroup hierarchies found under one cgroup root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hierarchies {
    /// The cgroup v2 hierarchy, if the host has one.
    pub v2: Option<PathBuf>,
    /// cgroup v1 hierarchies, the one with `cpuacct` first (it gives CPU in ns).
    pub v1: Vec<V1Hierarchy>,
}

/// One mounted cgroup v1 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V1Hierarchy {
    pub dir: PathBuf,
    /// Its controllers, e.g. `["cpu", "cpuacct"]`, or `["name=systemd"]` shown as `systemd`.
    pub controllers: Vec<String>,
}

impl V1Hierarchy {
    #[must_use]
    pub fn has_cpuacct(&self) -> bool {
        self.controllers.iter().any(|c| c == "cpuacct")
    }
}

impl Hierarchies {
    /// Probes `cgroup_root` (normally `<host-root>/sys/fs/cgroup`).
    pub fn detect(cgroup_root: &Path) -> io::Result<Self> {
        let mut found = Self::default();
        if cgroup_root.join("cgroup.controllers").is_file() {
            found.v2 = Some(cgroup_root.to_owned());
            // Pure v2: there are no v1 hierarchies below it, only cgroups.
            return Ok(found);
        }
        let unified = cgroup_root.join("unified");
        if unified.join("cgroup.controllers").is_file() {
            found.v2 = Some(unified);
        }
        let mut seen = HashSet::new();
        let mut entries: Vec<_> = fs::read_dir(cgroup_root)?.filter_map(Result::ok).collect();
        // Real folders before their symlinks (`cpu` -> `cpu,cpuacct`), so names list controllers.
        entries.sort_by_key(|e| (e.file_type().is_ok_and(|t| t.is_symlink()), e.file_name()));
        for entry in entries {
            let dir = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "unified"
                || !dir.join("cgroup.procs").is_file()
                || dir.join("cgroup.controllers").exists()
            {
                continue;
            }
            let canonical = fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
            if !seen.insert(canonical) {
                continue;
            }
            let controllers = name.split(',').map(str::to_owned).collect();
            found.v1.push(V1Hierarchy { dir, controllers });
        }
        // cpuacct first; then pids and systemd, which every process is in; then the rest.
        found.v1.sort_by_key(|h| {
            let rank = if h.has_cpuacct() {
                0
            } else if h.controllers.iter().any(|c| c == "pids" || c == "systemd") {
                1
            } else {
                2
            };
            (rank, h.dir.clone())
        });
        Ok(found)
    }

    /// Every hierarchy root, v2 first.
    pub fn roots(&self) -> impl Iterator<Item = &Path> {
        self.v2
            .iter()
            .map(PathBuf::as_path)
            .chain(self.v1.iter().map(|h| h.dir.as_path()))
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.v2.is_none() && self.v1.is_empty()
    }
}

/// Every folder below `root` (not `root` itself) down to [`MAX_WALK_DEPTH`], as paths
/// relative to `root`, parents before children. `prune` stops the walk at a folder (the
/// folder itself is still listed). Folders that vanish mid-walk are skipped: cgroups of
/// exiting containers disappear at any time.
pub fn walk(root: &Path, prune: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![(PathBuf::new(), 0usize)];
    while let Some((relative, depth)) = stack.pop() {
        if depth >= MAX_WALK_DEPTH {
            continue;
        }
        let Ok(entries) = fs::read_dir(root.join(&relative)) else {
            continue;
        };
        let mut children: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            // Only real folders: a cgroup fs has no symlinks below a hierarchy root, and
            // following them in a fake tree could loop.
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| relative.join(e.file_name()))
            .collect();
        children.sort();
        for child in children.into_iter().rev() {
            if !prune(&child) {
                stack.push((child.clone(), depth + 1));
            }
            found.push(child);
        }
    }
    found.sort();
    found
}

/// PIDs listed in a cgroup folder's `cgroup.procs`; empty when the cgroup was just removed.
pub fn read_procs(dir: &Path) -> io::Result<Vec<u32>> {
    match fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(text) => Ok(text
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect()),
        // ENODEV: read of a cgroup removed after it was opened.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV) => {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "").unwrap();
    }

    #[test]
    fn pure_v2() {
        let root = tempfile::tempdir().unwrap();
        touch(&root.path().join("cgroup.controllers"));
        touch(&root.path().join("cgroup.procs"));
        touch(&root.path().join("kubepods.slice/cgroup.procs"));
        let found = Hierarchies::detect(root.path()).unwrap();
        assert_eq!(
            found,
            Hierarchies {
                v2: Some(root.path().to_owned()),
                v1: vec![]
            }
        );
    }

    #[test]
    fn hybrid_with_split_and_joined_cpu_controllers() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        touch(&r.join("unified/cgroup.controllers"));
        touch(&r.join("unified/cgroup.procs"));
        for v1 in ["cpu,cpuacct", "pids", "memory", "systemd"] {
            touch(&r.join(v1).join("cgroup.procs"));
        }
        std::os::unix::fs::symlink(r.join("cpu,cpuacct"), r.join("cpu")).unwrap();
        std::os::unix::fs::symlink(r.join("cpu,cpuacct"), r.join("cpuacct")).unwrap();
        let found = Hierarchies::detect(r).unwrap();
        assert_eq!(found.v2, Some(r.join("unified")));
        let names: Vec<_> = found
            .v1
            .iter()
            .map(|h| h.dir.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["cpu,cpuacct", "pids", "systemd", "memory"]);
        assert!(found.v1[0].has_cpuacct());
    }

    #[test]
    fn v1_only_with_separate_cpuacct() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for v1 in ["cpu", "cpuacct", "pids"] {
            touch(&r.join(v1).join("cgroup.procs"));
        }
        let found = Hierarchies::detect(r).unwrap();
        assert_eq!(found.v2, None);
        assert_eq!(found.v1[0].dir, r.join("cpuacct"));
        assert_eq!(found.v1.len(), 3);
    }

    #[test]
    fn empty_root_has_no_hierarchies() {
        let root = tempfile::tempdir().unwrap();
        assert!(Hierarchies::detect(root.path()).unwrap().is_empty());
    }

    #[test]
    fn walk_lists_parents_first_and_prunes() {
        let root = tempfile::tempdir().unwrap();
        for dir in ["a/b/c", "a/skip/deep", "d"] {
            fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let found = walk(root.path(), &|p| p.ends_with("skip"));
        let found: Vec<_> = found
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, ["a", "a/b", "a/b/c", "a/skip", "d"]);
    }
}
