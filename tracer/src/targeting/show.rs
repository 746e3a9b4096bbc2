//! What `--pod`, `--container` and `--cgroup` resolve to on this node (cgroups, ids, PIDs, CPU
//! counter), for `tracer targets` to show before a run.
use std::fmt::Write as _;

use serde::Serialize;

use super::{CgroupTarget, CpuSource};

/// One resolved target with what it has now.
#[derive(Serialize)]
pub struct Shown<'a> {
    #[serde(flatten)]
    target: &'a CgroupTarget,
    pids: Vec<u32>,
    cgroup_ids: Vec<u64>,
    cpu_usage_ns: Option<u64>,
}

/// What each resolved target has now: its PIDs, cgroup ids and CPU so far.
pub fn describe(resolved: &[CgroupTarget]) -> anyhow::Result<Vec<Shown<'_>>> {
    resolved
        .iter()
        .map(|target| {
            Ok(Shown {
                target,
                pids: target.pids()?,
                cgroup_ids: target.cgroup_ids()?,
                cpu_usage_ns: target.read_cpu_usage_ns().ok(),
            })
        })
        .collect()
}

/// The text `tracer targets` prints.
#[must_use]
pub fn render(shown: &[Shown<'_>]) -> String {
    let mut out = String::new();
    for entry in shown {
        let target = entry.target;
        let _ = write!(out, "{}", target.name);
        if let Some(pod) = &target.pod {
            let _ = write!(
                out,
                "  (pod uid {}, {}, {:?} driver)",
                pod.uid, pod.qos, pod.driver
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "  cgroup      {}", target.cgroup_path);
        match (target.cgroup_id, target.cgroup_level) {
            (Some(id), Some(level)) => {
                let _ = writeln!(
                    out,
                    "  cgroup v2   id {id}, level {level}, {} ids with descendants",
                    entry.cgroup_ids.len()
                );
            }
            _ => {
                let _ = writeln!(out, "  cgroup v2   none: filtered by PID");
            }
        }
        let source = match &target.cpu {
            Some(CpuSource::CpuStat(file) | CpuSource::CpuacctUsage(file)) => {
                file.display().to_string()
            }
            None => "none".to_owned(),
        };
        match entry.cpu_usage_ns {
            Some(ns) => {
                let _ = writeln!(
                    out,
                    "  cpu         {:.3} s so far ({source})",
                    ns as f64 / 1e9
                );
            }
            None => {
                let _ = writeln!(out, "  cpu         unknown ({source})");
            }
        }
        for container in &target.containers {
            let id = container
                .cgroup_id
                .map_or_else(String::new, |id| format!(", cgroup id {id}"));
            let _ = writeln!(
                out,
                "  container   {} ({:?}{id})",
                &container.id[..12],
                container.runtime
            );
        }
        let pids: Vec<String> = entry.pids.iter().map(u32::to_string).collect();
        let _ = writeln!(
            out,
            "  pids        {}",
            if pids.is_empty() {
                "none".to_owned()
            } else {
                pids.join(" ")
            }
        );
    }
    out
}
