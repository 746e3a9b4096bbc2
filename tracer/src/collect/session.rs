//! A recording in progress: the probes, the targets, and the bookkeeping of every interval
//! (counts, CPU, fd descriptions). At the end it hands what it gathered to
//! [`assemble`](super::assemble), which makes the [`Run`]. Driven by [`Recorder`](super::Recorder).
use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant, SystemTime},
};

use tracer_common::syscalls;

use super::{
    assemble::{Gathered, TargetRecord, assemble, comm_to_string},
    cpu::ProcessCpu,
    fds::FdDescriber,
};
use crate::{
    probe::{ProbeOptions, Probes, Snapshot},
    run::{self, EndReason, Interval, Run},
};

/// A target as requested, before and while recording.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// As given, e.g. `pid:1234`.
    pub spec: String,
    /// Display name.
    pub name: String,
    /// Processes it starts with.
    pub pids: Vec<u32>,
    /// A pod, container or cgroup: counted in the kernel by cgroup v2 id (processes started
    /// later included), or, on cgroup v1 only, by its PIDs re-read every interval; its CPU is
    /// the cgroup's own counter.
    pub cgroup: Option<crate::targeting::CgroupTarget>,
    /// Named after its first process (not by the user, not a cgroup): the name follows that
    /// process through exec, so the run names it as the process ended up.
    pub follows_exec: bool,
}

impl TargetSpec {
    /// Whether the probes can count it by its cgroup v2 folder (and so must filter by cgroup).
    #[must_use]
    pub fn is_cgroup_v2(&self) -> bool {
        self.cgroup.as_ref().is_some_and(|c| c.cgroup_id.is_some())
    }
}

/// Live numbers for the per-interval view.
#[derive(Debug, Clone, Default)]
pub struct Tick {
    pub elapsed: Duration,
    /// Calls and bytes per second in the last interval, all processes.
    pub calls_per_s: f64,
    pub bytes_per_s: f64,
    /// Busiest processes of the last interval: (name, pid, calls/s).
    pub top: Vec<(String, u32, f64)>,
    /// Original `--pid` targets that are gone.
    pub targets_gone: usize,
    /// Calls, bytes and errors per target and syscall since the recording started (exact,
    /// from the kernel's counters), for live metrics.
    pub traffic: Vec<Traffic>,
    /// Every loss counter since the start (see `run::Losses`).
    pub losses: crate::run::Losses,
    /// How full the per-fd counter map is, 0 to 1 (past 1 calls go to per-syscall totals).
    pub fd_map_fill: f64,
    /// On-CPU cores of every traced process in the last interval.
    pub cores: f64,
    /// Size and latency histograms since the start, when the session reads them every
    /// interval ([`Session::read_histograms_every_interval`]) and at the last sample.
    pub histograms: Vec<LiveHistogram>,
}

/// One target's totals of one syscall, since the recording started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Index of the target, in the order added.
    pub target: usize,
    /// For a pod: index of the container (in the target's `cgroup.containers`) the calls
    /// were made in, if the process is in one.
    pub container: Option<usize>,
    /// Index in the syscall table (`tracer_common::syscalls`).
    pub syscall: u32,
    pub calls: u64,
    /// Payload bytes: sum of positive return values.
    pub bytes: u64,
    pub errors: u64,
    /// Sum of entry-to-exit times.
    pub latency_total_ns: u64,
}

/// One target's histogram of one syscall since the recording started: payload sizes or
/// latencies, as (largest value of the bucket, samples in it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveHistogram {
    pub target: usize,
    pub container: Option<usize>,
    pub syscall: u32,
    /// `tracer_common::hist_kind::SIZE` (bytes) or `LATENCY` (ns).
    pub kind: u8,
    pub buckets: Vec<(u64, u64)>,
}

/// How a target's processes join the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joined {
    /// Already running: counted from now on.
    Running,
    /// A command tracer started and holds before its exec: counted from its exec on.
    AtExec,
}

/// A recording in progress.
pub struct Session {
    probes: Probes,
    label: Option<String>,
    /// Per target, in the order added (the index the probes know it by).
    targets: Vec<TargetRecord>,
    started_at: SystemTime,
    start: Instant,
    start_monotonic_ns: u64,
    /// Every process seen: CPU, name and cores per interval.
    processes: BTreeMap<u32, Tracked>,
    fds: FdDescriber,
    intervals: Vec<Interval>,
    /// What the previous interval ended with, to take differences from.
    last: Last,
    last_snapshot: Snapshot,
    /// Read the histograms every interval, not only at the end.
    histograms_every_interval: bool,
}

/// One process the recording has seen.
struct Tracked {
    cpu: ProcessCpu,
    /// From `/proc/PID/comm` while it lived.
    name: Option<String>,
    /// On-CPU ns at the previous tick.
    last_on_cpu_ns: u64,
    /// Cores used in each interval so far (missing at the start: it appeared later).
    cores: Vec<f64>,
    /// The container it runs in, for pod targets: looked up once.
    container: ContainerLookup,
}

impl Tracked {
    fn new(cpu: ProcessCpu) -> Self {
        Self {
            cpu,
            name: None,
            last_on_cpu_ns: 0,
            cores: Vec::new(),
            container: ContainerLookup::NotYet,
        }
    }
}

/// Which container of its pod a process runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ContainerLookup {
    NotYet,
    /// Index in the pod target's `cgroup.containers`, `None` when in none of them.
    Found(Option<usize>),
}

/// Calls and bytes, by direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Totals {
    read_calls: u64,
    write_calls: u64,
    read_bytes: u64,
    write_bytes: u64,
}

impl Totals {
    fn add(&mut self, syscall: u32, stats: &tracer_common::FdStats) {
        if syscalls::is_read_like(syscall) {
            self.read_calls += stats.calls;
            self.read_bytes += stats.bytes;
        } else {
            self.write_calls += stats.calls;
            self.write_bytes += stats.bytes;
        }
    }
}

/// The end of the previous interval.
struct Last {
    tick: Instant,
    calls_by_pid: HashMap<u32, u64>,
    totals: Totals,
    cpu_ns: u64,
}

impl Session {
    /// Loads and attaches the probes; nothing is counted until targets are added.
    pub fn start(options: &ProbeOptions, label: Option<String>) -> anyhow::Result<Self> {
        let probes = Probes::attach(options)?;
        let now = Instant::now();
        Ok(Self {
            probes,
            label,
            targets: Vec::new(),
            started_at: SystemTime::now(),
            start: now,
            start_monotonic_ns: monotonic_ns(),
            processes: BTreeMap::new(),
            fds: FdDescriber::default(),
            intervals: Vec::new(),
            last: Last {
                tick: now,
                calls_by_pid: HashMap::new(),
                totals: Totals::default(),
                cpu_ns: 0,
            },
            last_snapshot: Snapshot::default(),
            histograms_every_interval: false,
        })
    }

    /// The probe mechanism in use.
    #[must_use]
    pub fn mechanism(&self) -> &'static str {
        self.probes.mechanism().name()
    }

    /// Adds a target; its processes are counted from now on, or from their exec for a
    /// command tracer started ([`Joined::AtExec`]). Returns the target's index.
    pub fn add_target(&mut self, target: TargetSpec, joined: Joined) -> anyhow::Result<usize> {
        let index = self.targets.len();
        let index_u32 = u32::try_from(index)?;
        let mut cgroup_cpu = None;
        if let Some(cgroup) = &target.cgroup {
            if let (Some(dir), Some(_)) = (&cgroup.v2_dir, cgroup.cgroup_id) {
                self.probes.add_cgroup(dir, index_u32)?;
            }
            let usage = cgroup.read_cpu_usage_ns().ok();
            cgroup_cpu = Some((usage, usage, Vec::new()));
        }
        for &pid in &target.pids {
            match joined {
                Joined::Running => self.probes.add_tgid(pid, index_u32)?,
                Joined::AtExec => self.probes.add_tgid_at_exec(pid, index_u32)?,
            }
            let mut tracked = Tracked::new(ProcessCpu::new(joined == Joined::Running));
            tracked.cpu.sample(pid);
            tracked.name = read_comm(pid);
            self.processes.insert(pid, tracked);
        }
        self.targets.push(TargetRecord {
            spec: target,
            cgroup_cpu,
            command_exit: None,
        });
        Ok(index)
    }

    /// Number of targets added so far (the next target's index).
    #[must_use]
    pub fn target_count(&self) -> usize {
        self.targets.len()
    }

    /// Records how a command target ended: its exit status, and the CPU that it and the
    /// descendants it reaped used (from wait4), which also covers processes that ran and
    /// exited between two samples.
    pub fn set_command_exit(&mut self, target: usize, code: i32, cpu_ns: u64) {
        if let Some(record) = self.targets.get_mut(target) {
            record.command_exit = Some((code, cpu_ns));
        }
    }

    /// Looks up what newly used fds are (sockets, pipes, files) without closing an interval:
    /// called a few times early in a recording, so short-lived processes' fds get described
    /// before they exit.
    pub fn describe_fds(&mut self) -> anyhow::Result<()> {
        let counts = self.probes.counts()?;
        describe_live_fds(&mut self.fds, &counts);
        Ok(())
    }

    /// Threads of targets that exited since the last call: their whole CPU time, from the
    /// kernel, goes to their process (made known here if no sample saw it alive).
    fn add_thread_exits(&mut self) -> anyhow::Result<()> {
        for (tid, exit) in self.probes.take_thread_exits()? {
            self.processes
                .entry(exit.tgid)
                .or_insert_with(|| Tracked::new(ProcessCpu::new(false)))
                .cpu
                .thread_exited(tid, exit.runtime_ns);
        }
        Ok(())
    }

    /// Samples the maps and CPU once; call once per interval.
    pub fn tick(&mut self) -> anyhow::Result<Tick> {
        self.sample(false)
    }

    /// cgroup targets: on cgroup v1 the kernel cannot filter by cgroup, so processes that
    /// appeared in it since the last interval are added by PID; and the cgroup's CPU.
    fn sample_cgroup_targets(&mut self, dt: f64, interval_index: usize) -> anyhow::Result<()> {
        for (index, record) in self.targets.iter_mut().enumerate() {
            let Some(cgroup) = &record.spec.cgroup else {
                continue;
            };
            if cgroup.cgroup_id.is_none() {
                for pid in cgroup.pids().unwrap_or_default() {
                    if let std::collections::btree_map::Entry::Vacant(entry) =
                        self.processes.entry(pid)
                    {
                        self.probes.add_tgid(pid, u32::try_from(index)?)?;
                        entry.insert(Tracked::new(ProcessCpu::new(false)));
                    }
                }
            }
            if let Some((_, last, cores)) = &mut record.cgroup_cpu {
                let now_ns = cgroup.read_cpu_usage_ns().ok();
                cores.resize(interval_index, 0.0);
                cores.push(match (now_ns, *last) {
                    (Some(now_ns), Some(previous)) => {
                        now_ns.saturating_sub(previous) as f64 / 1e9 / dt
                    }
                    _ => 0.0,
                });
                if now_ns.is_some() {
                    *last = now_ns;
                }
            }
        }
        Ok(())
    }

    fn sample(&mut self, with_histograms: bool) -> anyhow::Result<Tick> {
        let snapshot = if with_histograms || self.histograms_every_interval {
            self.probes.snapshot()?
        } else {
            self.probes.counts()?
        };
        let now = Instant::now();
        let dt = now.duration_since(self.last.tick).as_secs_f64().max(1e-9);

        let interval_index = self.intervals.len();
        self.sample_cgroup_targets(dt, interval_index)?;
        self.add_thread_exits()?;

        // New processes (children) and their names and CPU.
        for &pid in snapshot
            .targets
            .keys()
            .chain(snapshot.fd_stats.keys().map(|k| &k.tgid))
        {
            if !self.processes.contains_key(&pid) && is_process(pid) {
                self.processes
                    .insert(pid, Tracked::new(ProcessCpu::new(false)));
            }
        }
        let mut cpu_ns = 0;
        for (&pid, tracked) in &mut self.processes {
            // The name now; else, for a process already gone, the one its last exec gave it
            // (the kernel's exec event, in the final sample), which may be newer than the last
            // one read here.
            if tracked.cpu.sample(pid)
                && let Some(name) = read_comm(pid)
            {
                tracked.name = Some(name);
            } else if let Some(comm) = snapshot.exec_names.get(&pid) {
                tracked.name = Some(comm_to_string(comm));
            }
            let on_cpu_ns = tracked.cpu.on_cpu_ns();
            cpu_ns += on_cpu_ns;
            tracked.cores.resize(interval_index, 0.0);
            tracked
                .cores
                .push(on_cpu_ns.saturating_sub(tracked.last_on_cpu_ns) as f64 / 1e9 / dt);
            tracked.last_on_cpu_ns = on_cpu_ns;
        }
        describe_live_fds(&mut self.fds, &snapshot);

        // Interval totals.
        let mut totals = Totals::default();
        let mut calls_by_pid: HashMap<u32, u64> = HashMap::new();
        for (key, stats) in snapshot.fd_stats.iter().chain(&snapshot.overflow_stats) {
            totals.add(key.syscall, stats);
            *calls_by_pid.entry(key.tgid).or_default() += stats.calls;
        }
        let last = &self.last.totals;
        let interval = Interval {
            end_ns: duration_ns(now.duration_since(self.start)),
            duration_ns: duration_ns(now.duration_since(self.last.tick)),
            read_calls: totals.read_calls.saturating_sub(last.read_calls),
            write_calls: totals.write_calls.saturating_sub(last.write_calls),
            read_bytes: totals.read_bytes.saturating_sub(last.read_bytes),
            write_bytes: totals.write_bytes.saturating_sub(last.write_bytes),
            cores: cpu_ns.saturating_sub(self.last.cpu_ns) as f64 / 1e9 / dt,
        };
        let mut top: Vec<(String, u32, f64)> = calls_by_pid
            .iter()
            .map(|(&pid, &calls)| {
                let before = self.last.calls_by_pid.get(&pid).copied().unwrap_or(0);
                (
                    self.name_of(pid, &snapshot),
                    pid,
                    calls.saturating_sub(before) as f64 / dt,
                )
            })
            .filter(|(_, _, rate)| *rate > 0.0)
            .collect();
        top.sort_by(|a, b| b.2.total_cmp(&a.2));
        top.truncate(3);
        let fd_capacity = self
            .probes
            .capacities()
            .iter()
            .find(|(name, _)| *name == tracer_common::maps::FD_STATS)
            .map_or(0, |&(_, entries)| entries);
        let tick = Tick {
            traffic: self.traffic_by_target(&snapshot),
            histograms: self.histograms_by_target(&snapshot),
            losses: super::assemble::losses(&snapshot.losses),
            fd_map_fill: snapshot.fd_stats.len() as f64 / f64::from(fd_capacity.max(1)),
            cores: interval.cores,
            elapsed: now.duration_since(self.start),
            calls_per_s: (interval.read_calls + interval.write_calls) as f64 / dt,
            bytes_per_s: (interval.read_bytes + interval.write_bytes) as f64 / dt,
            top,
            targets_gone: self
                .targets
                .iter()
                .flat_map(|t| &t.spec.pids)
                .filter(|&&pid| !is_alive(pid, &snapshot))
                .count(),
        };
        self.intervals.push(interval);
        self.last = Last {
            tick: now,
            calls_by_pid,
            totals,
            cpu_ns,
        };
        self.last_snapshot = snapshot;
        Ok(tick)
    }

    /// Whether every process the targets started with has exited.
    /// Only `--pid` targets count: pods and cgroups outlive their processes.
    #[must_use]
    pub fn all_initial_targets_gone(&self) -> bool {
        let pids: Vec<u32> = self
            .targets
            .iter()
            .filter(|t| t.spec.cgroup.is_none())
            .flat_map(|t| t.spec.pids.iter().copied())
            .collect();
        !pids.is_empty() && pids.iter().all(|&pid| !is_alive(pid, &self.last_snapshot))
    }

    /// Final sample, then the run. The probes are detached when this returns.
    pub fn finish(self, end_reason: EndReason) -> anyhow::Result<Run> {
        self.finish_with_tick(end_reason).map(|(run, _)| run)
    }

    /// [`Self::finish`], with the figures of the last interval (from the last tick to now).
    pub fn finish_with_tick(mut self, end_reason: EndReason) -> anyhow::Result<(Run, Tick)> {
        // A last interval so the counts include everything up to now, with the histograms.
        let tick = self.sample(true)?;
        let cost = self.probes.cost();
        let duration = self.last.tick.duration_since(self.start);
        let probe = run::ProbeInfo {
            capacities: self
                .probes
                .capacities()
                .iter()
                .map(|&(name, entries)| (name.to_owned(), entries))
                .collect(),
            mechanism: self.probes.mechanism().name().into(),
            syscalls: self
                .probes
                .counted_syscalls()
                .map(|names| names.into_iter().map(Into::into).collect()),
            fallbacks: self
                .probes
                .fallbacks()
                .iter()
                .map(|f| run::Fallback {
                    mechanism: f.mechanism.clone(),
                    reason: f.reason.clone(),
                })
                .collect(),
            overhead: (cost.run_count > 0).then(|| run::ProbeOverhead {
                run_time_ns: cost.run_time_ns,
                run_count: cost.run_count,
                ns_per_run: cost.run_time_ns as f64 / cost.run_count as f64,
                measured_share: cost.measured_share,
            }),
        };
        drop(self.probes);
        let mut names = HashMap::new();
        let mut cpu = BTreeMap::new();
        for (pid, tracked) in self.processes {
            if let Some(name) = tracked.name {
                names.insert(pid, name);
            }
            cpu.insert(pid, process_cpu(&tracked.cpu, duration, tracked.cores));
        }
        Ok((
            assemble(Gathered {
                snapshot: self.last_snapshot,
                probe,
                host: host_info(),
                label: self.label,
                started_at: self.started_at,
                start_monotonic_ns: self.start_monotonic_ns,
                duration,
                end_reason,
                intervals: self.intervals,
                targets: self.targets,
                names,
                cpu,
                fds: &self.fds,
            }),
            tick,
        ))
    }

    /// Calls, bytes and errors per (target, container, syscall), from the kernel's cumulative
    /// counters.
    fn traffic_by_target(&mut self, snapshot: &Snapshot) -> Vec<Traffic> {
        let mut totals: BTreeMap<(usize, Option<usize>, u32), Traffic> = BTreeMap::new();
        for (key, stats) in snapshot.fd_stats.iter().chain(&snapshot.overflow_stats) {
            let target = snapshot
                .targets
                .get(&key.tgid)
                .copied()
                .or_else(|| snapshot.exits.get(&key.tgid).map(|exit| exit.target));
            let Some(target) = target.and_then(|t| usize::try_from(t).ok()) else {
                continue;
            };
            let container = self.container_of(key.tgid, target);
            let entry = totals
                .entry((target, container, key.syscall))
                .or_insert(Traffic {
                    target,
                    container,
                    syscall: key.syscall,
                    ..Traffic::default()
                });
            entry.calls += stats.calls;
            entry.bytes += stats.bytes;
            entry.errors += stats.errors;
            entry.latency_total_ns += stats.latency_total_ns;
        }
        totals.into_values().collect()
    }

    /// Size and latency histograms per (target, container, syscall), from the kernel's
    /// cumulative buckets; empty when the snapshot has none.
    fn histograms_by_target(&mut self, snapshot: &Snapshot) -> Vec<LiveHistogram> {
        use tracer_common::{buckets, hist_kind};
        type Key = (usize, Option<usize>, u32, u8);
        let mut by_key: BTreeMap<Key, BTreeMap<u64, u64>> = BTreeMap::new();
        for (key, &count) in &snapshot.histograms {
            let scheme = match key.kind {
                hist_kind::SIZE => buckets::SIZE,
                hist_kind::LATENCY => buckets::LATENCY,
                _ => continue,
            };
            let target = snapshot
                .targets
                .get(&key.tgid)
                .copied()
                .or_else(|| snapshot.exits.get(&key.tgid).map(|exit| exit.target));
            let Some(target) = target.and_then(|t| usize::try_from(t).ok()) else {
                continue;
            };
            let container = self.container_of(key.tgid, target);
            let largest = scheme.lower_bound(key.bucket) + scheme.width(key.bucket) - 1;
            *by_key
                .entry((target, container, u32::from(key.syscall), key.kind))
                .or_default()
                .entry(largest)
                .or_default() += count;
        }
        by_key
            .into_iter()
            .map(
                |((target, container, syscall, kind), buckets)| LiveHistogram {
                    target,
                    container,
                    syscall,
                    kind,
                    buckets: buckets.into_iter().collect(),
                },
            )
            .collect()
    }

    /// Reads the histogram map every interval too (not only at the end), so that each
    /// [`Tick`] carries them: for live metrics, at the price of reading one more map.
    pub fn read_histograms_every_interval(&mut self) {
        self.histograms_every_interval = true;
    }

    /// The container of a pod target that `pid` runs in, from `/proc/PID/cgroup`, looked up
    /// once per process (a process does not change containers).
    fn container_of(&mut self, pid: u32, target: usize) -> Option<usize> {
        let containers = &self.targets.get(target)?.spec.cgroup.as_ref()?.containers;
        if containers.len() < 2 {
            // A container target, or a pod with one container: nothing to tell apart.
            return (containers.len() == 1).then_some(0);
        }
        let tracked = self.processes.get_mut(&pid)?;
        if let ContainerLookup::Found(index) = tracked.container {
            return index;
        }
        let index = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .ok()?
            .lines()
            .find_map(|line| {
                let path = line.splitn(3, ':').nth(2)?;
                containers.iter().position(|c| {
                    path.strip_prefix(c.cgroup_path.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                })
            });
        tracked.container = ContainerLookup::Found(index);
        index
    }

    fn name_of(&self, pid: u32, snapshot: &Snapshot) -> String {
        self.processes
            .get(&pid)
            .and_then(|t| t.name.clone())
            .or_else(|| snapshot.exits.get(&pid).map(|e| comm_to_string(&e.comm)))
            .unwrap_or_else(|| "?".into())
    }
}

/// Describes new fds, but not those of a process the kernel saw exit: its PID may already
/// name another process.
fn describe_live_fds(fds: &mut FdDescriber, snapshot: &Snapshot) {
    fds.describe_new(snapshot.fd_stats.keys().filter(|k| {
        !snapshot.exits.contains_key(&k.tgid) || snapshot.targets.contains_key(&k.tgid)
    }));
}

fn process_cpu(cpu: &ProcessCpu, duration: Duration, cores: Vec<f64>) -> run::Cpu {
    let on_cpu_ns = cpu.on_cpu_ns();
    let (user_ns, system_ns) = cpu
        .user_system_ns()
        .map_or((None, None), |(u, s)| (Some(u), Some(s)));
    run::Cpu {
        source: "schedstat".into(),
        on_cpu_ns,
        user_ns,
        system_ns,
        average_cores: on_cpu_ns as f64 / 1e9 / duration.as_secs_f64().max(1e-9),
        peak_cores: cores.iter().copied().fold(0.0, f64::max),
        cores,
    }
}

fn is_alive(pid: u32, snapshot: &Snapshot) -> bool {
    if snapshot.exits.contains_key(&pid) {
        return false;
    }
    // A zombie has exited; it only waits for its parent.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat.get(i + 2..i + 3))
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// True if `pid` is a process (thread group leader), not another thread.
fn is_process(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Tgid:"))
            .is_some_and(|tgid| tgid.trim() == pid.to_string())
    })
}

fn read_comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_owned())
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `CLOCK_MONOTONIC` in ns: the clock of `bpf_ktime_get_ns`.
#[must_use]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespec pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

fn host_info() -> run::Host {
    // SAFETY: utsname is plain data; uname fills it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer.
    unsafe { libc::uname(&raw mut uts) };
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| u8::from_ne_bytes(c.to_ne_bytes()))
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    run::Host {
        hostname: field(&uts.nodename),
        kernel: field(&uts.release),
        arch: field(&uts.machine),
        cpus: std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
    }
}
