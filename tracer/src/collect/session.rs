//! A recording in progress: the probes, the targets, CPU and fd bookkeeping, and the turning of
//! kernel counts into a [`Run`]. The library API behind `tracer record`, the demo and the agent.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::{Duration, Instant, SystemTime},
};

use tracer_common::{FdKey, buckets, counters, hist_kind, syscalls};

use super::{cpu::ProcessCpu, fds::FdDescriber};
use crate::{
    hist::Histogram,
    probe::{ProbeOptions, Probes, Snapshot},
    run::{self, Direction, EndReason, Interval, Run},
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
}

/// A cgroup's CPU counter (ns) at the start and at the last tick, and cores per interval.
type CgroupCpu = (Option<u64>, Option<u64>, Vec<f64>);

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
    targets: Vec<TargetSpec>,
    started_at: SystemTime,
    start: Instant,
    start_monotonic_ns: u64,
    cpu: BTreeMap<u32, ProcessCpu>,
    names: HashMap<u32, String>,
    fds: FdDescriber,
    intervals: Vec<Interval>,
    last_tick: Instant,
    last_calls: HashMap<u32, u64>,
    last_totals: [u64; 4],
    last_cpu_ns: u64,
    /// Per process: on-CPU ns at the previous tick, and cores used in each interval so far.
    cpu_series: BTreeMap<u32, (u64, Vec<f64>)>,
    /// Per cgroup target: its cgroup's CPU counter at the start and at the last tick, and
    /// the cores used in each interval.
    cgroup_cpu: HashMap<usize, CgroupCpu>,
    last_snapshot: Snapshot,
    exit_codes: HashMap<usize, i32>,
    /// Per command target: user + system ns of it and its reaped descendants, at its exit.
    command_cpu_ns: HashMap<usize, u64>,
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
            cpu: BTreeMap::new(),
            names: HashMap::new(),
            fds: FdDescriber::default(),
            intervals: Vec::new(),
            last_tick: now,
            last_calls: HashMap::new(),
            last_totals: [0; 4],
            last_cpu_ns: 0,
            cpu_series: BTreeMap::new(),
            cgroup_cpu: HashMap::new(),
            last_snapshot: Snapshot::default(),
            exit_codes: HashMap::new(),
            command_cpu_ns: HashMap::new(),
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
        if let Some(cgroup) = &target.cgroup {
            if let (Some(dir), Some(_)) = (&cgroup.v2_dir, cgroup.cgroup_id) {
                self.probes.add_cgroup(dir, index_u32)?;
            }
            let usage = cgroup.read_cpu_usage_ns().ok();
            self.cgroup_cpu.insert(index, (usage, usage, Vec::new()));
        }
        for &pid in &target.pids {
            match joined {
                Joined::Running => self.probes.add_tgid(pid, index_u32)?,
                Joined::AtExec => self.probes.add_tgid_at_exec(pid, index_u32)?,
            }
            let mut cpu = ProcessCpu::new(joined == Joined::Running);
            cpu.sample(pid);
            self.cpu.insert(pid, cpu);
            if let Some(name) = read_comm(pid) {
                self.names.insert(pid, name);
            }
        }
        self.targets.push(target);
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
        self.exit_codes.insert(target, code);
        self.command_cpu_ns.insert(target, cpu_ns);
    }

    /// Looks up what newly used fds are (sockets, pipes, files) without closing an interval:
    /// called a few times early in a recording, so short-lived processes' fds get described
    /// before they exit.
    pub fn describe_fds(&mut self) -> anyhow::Result<()> {
        let counts = self.probes.counts()?;
        describe_live_fds(&mut self.fds, &counts);
        Ok(())
    }

    /// Samples the maps and CPU once; call once per interval.
    pub fn tick(&mut self) -> anyhow::Result<Tick> {
        self.sample(false)
    }

    /// cgroup targets: on cgroup v1 the kernel cannot filter by cgroup, so processes that
    /// appeared in it since the last interval are added by PID; and the cgroup's CPU.
    fn sample_cgroup_targets(&mut self, dt: f64, interval_index: usize) -> anyhow::Result<()> {
        for index in 0..self.targets.len() {
            let Some(cgroup) = self.targets[index].cgroup.clone() else {
                continue;
            };
            if cgroup.cgroup_id.is_none() {
                for pid in cgroup.pids().unwrap_or_default() {
                    if let std::collections::btree_map::Entry::Vacant(entry) = self.cpu.entry(pid) {
                        self.probes.add_tgid(pid, u32::try_from(index)?)?;
                        entry.insert(ProcessCpu::new(false));
                    }
                }
            }
            if let Some((_, last, cores)) = self.cgroup_cpu.get_mut(&index) {
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
        let snapshot = if with_histograms {
            self.probes.snapshot()?
        } else {
            self.probes.counts()?
        };
        let now = Instant::now();
        let dt = now.duration_since(self.last_tick).as_secs_f64().max(1e-9);

        let interval_index = self.intervals.len();
        self.sample_cgroup_targets(dt, interval_index)?;

        // New processes (children) and their names and CPU.
        for &pid in snapshot
            .targets
            .keys()
            .chain(snapshot.fd_stats.keys().map(|k| &k.tgid))
        {
            if !self.cpu.contains_key(&pid) && is_process(pid) {
                self.cpu.insert(pid, ProcessCpu::new(false));
            }
        }
        for (&pid, cpu) in &mut self.cpu {
            if cpu.sample(pid)
                && let Some(name) = read_comm(pid)
            {
                self.names.insert(pid, name);
            }
        }
        describe_live_fds(&mut self.fds, &snapshot);

        // Interval totals.
        let mut totals = [0u64; 4];
        let mut calls_by_pid: HashMap<u32, u64> = HashMap::new();
        for (key, stats) in snapshot.fd_stats.iter().chain(&snapshot.overflow_stats) {
            let read = syscalls::is_read_like(key.syscall);
            totals[usize::from(!read)] += stats.calls;
            totals[2 + usize::from(!read)] += stats.bytes;
            *calls_by_pid.entry(key.tgid).or_default() += stats.calls;
        }
        let cpu_ns: u64 = self.cpu.values().map(ProcessCpu::on_cpu_ns).sum();
        for (&pid, cpu) in &self.cpu {
            let on_cpu_ns = cpu.on_cpu_ns();
            let (previous_ns, series) = self.cpu_series.entry(pid).or_default();
            series.resize(interval_index, 0.0);
            series.push(on_cpu_ns.saturating_sub(*previous_ns) as f64 / 1e9 / dt);
            *previous_ns = on_cpu_ns;
        }
        let interval = Interval {
            end_ns: duration_ns(now.duration_since(self.start)),
            read_calls: totals[0] - self.last_totals[0].min(totals[0]),
            write_calls: totals[1] - self.last_totals[1].min(totals[1]),
            read_bytes: totals[2] - self.last_totals[2].min(totals[2]),
            write_bytes: totals[3] - self.last_totals[3].min(totals[3]),
            cores: cpu_ns.saturating_sub(self.last_cpu_ns) as f64 / 1e9 / dt,
        };
        let mut top: Vec<(String, u32, f64)> = calls_by_pid
            .iter()
            .map(|(&pid, &calls)| {
                let delta = calls - self.last_calls.get(&pid).copied().unwrap_or(0).min(calls);
                (self.name_of(pid, &snapshot), pid, delta as f64 / dt)
            })
            .filter(|(_, _, rate)| *rate > 0.0)
            .collect();
        top.sort_by(|a, b| b.2.total_cmp(&a.2));
        top.truncate(3);
        let tick = Tick {
            elapsed: now.duration_since(self.start),
            calls_per_s: (interval.read_calls + interval.write_calls) as f64 / dt,
            bytes_per_s: (interval.read_bytes + interval.write_bytes) as f64 / dt,
            top,
            targets_gone: self
                .targets
                .iter()
                .flat_map(|t| &t.pids)
                .filter(|&&pid| !is_alive(pid, &snapshot))
                .count(),
        };
        self.intervals.push(interval);
        self.last_tick = now;
        self.last_calls = calls_by_pid;
        self.last_totals = totals;
        self.last_cpu_ns = cpu_ns;
        self.last_snapshot = snapshot;
        Ok(tick)
    }

    /// Whether every process the targets started with has exited.
    #[must_use]
    /// Only `--pid` targets count: pods and cgroups outlive their processes.
    pub fn all_initial_targets_gone(&self) -> bool {
        let pids: Vec<u32> = self
            .targets
            .iter()
            .filter(|t| t.cgroup.is_none())
            .flat_map(|t| t.pids.iter().copied())
            .collect();
        !pids.is_empty() && pids.iter().all(|&pid| !is_alive(pid, &self.last_snapshot))
    }

    /// Final sample, then the run. The probes are detached when this returns.
    pub fn finish(mut self, end_reason: EndReason) -> anyhow::Result<Run> {
        // A last interval so the counts include everything up to now, with the histograms.
        self.sample(true)?;
        let cost = self.probes.cost();
        let duration = self.last_tick.duration_since(self.start);
        let snapshot = std::mem::take(&mut self.last_snapshot);
        let mut run = Run {
            schema: run::SCHEMA,
            kind: run::KIND.into(),
            tool: run::Tool {
                name: "tracer".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            host: host_info(),
            probe: run::ProbeInfo {
                capacities: self
                    .probes
                    .capacities()
                    .iter()
                    .map(|&(name, entries)| (name.to_owned(), entries))
                    .collect(),
                mechanism: self.probes.mechanism().name().into(),
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
            },
            label: self.label.clone(),
            started_at: rfc3339(self.started_at),
            start_monotonic_ns: self.start_monotonic_ns,
            duration_ns: duration_ns(duration),
            end_reason,
            targets: Vec::new(),
            processes: Vec::new(),
            losses: losses(&snapshot.losses),
            intervals: std::mem::take(&mut self.intervals),
            load: None,
        };
        drop(self.probes);
        let intervals = run.intervals.len();
        let cpu: BTreeMap<u32, run::Cpu> = self
            .cpu
            .iter()
            .map(|(&pid, cpu)| {
                let mut cores = self
                    .cpu_series
                    .remove(&pid)
                    .map(|(_, series)| series)
                    .unwrap_or_default();
                cores.resize(intervals, 0.0);
                (pid, process_cpu(cpu, duration, cores))
            })
            .collect();
        run.processes = build_processes(
            &snapshot,
            &self.names,
            &cpu,
            &self.fds,
            self.start_monotonic_ns,
            &self.targets,
        );
        run.targets = self
            .targets
            .iter()
            .enumerate()
            .map(|(index, target)| run::Target {
                spec: target.spec.clone(),
                name: target.name.clone(),
                pids: target.pids.clone(),
                cgroup: target.cgroup.as_ref().map(|c| c.cgroup_path.clone()),
                cpu: self
                    .cgroup_cpu
                    .remove(&index)
                    .and_then(|(first, last, cores)| {
                        Some(cgroup_cpu(first?, last?, cores, duration, intervals))
                    })
                    .or_else(|| target_cpu(&run.processes, index, duration, intervals))
                    .map(|cpu| with_rusage(cpu, self.command_cpu_ns.get(&index).copied(), duration))
                    .or_else(|| {
                        let rusage_ns = self.command_cpu_ns.get(&index).copied()?;
                        let empty = run::Cpu {
                            cores: vec![0.0; intervals],
                            ..run::Cpu::default()
                        };
                        Some(with_rusage(empty, Some(rusage_ns), duration))
                    }),
                exit_code: self.exit_codes.get(&index).copied(),
            })
            .collect();
        Ok(run)
    }

    fn name_of(&self, pid: u32, snapshot: &Snapshot) -> String {
        self.names
            .get(&pid)
            .cloned()
            .or_else(|| snapshot.exits.get(&pid).map(|e| comm_to_string(&e.comm)))
            .unwrap_or_else(|| "?".into())
    }
}

/// Describes new fds, but not those of a process the kernel saw exit: its PID may already
/// name another process.
fn describe_live_fds(fds: &mut FdDescriber, snapshot: &Snapshot) {
    fds.describe_new(
        snapshot
            .fd_stats
            .keys()
            .filter(|k| {
                !snapshot.exits.contains_key(&k.tgid) || snapshot.targets.contains_key(&k.tgid)
            })
            .map(|k| (k.tgid, k.fd, k.syscall)),
    );
}

fn build_processes(
    snapshot: &Snapshot,
    names: &HashMap<u32, String>,
    cpu: &BTreeMap<u32, run::Cpu>,
    fds: &FdDescriber,
    start_monotonic_ns: u64,
    targets: &[TargetSpec],
) -> Vec<run::Process> {
    let mut pids: BTreeSet<u32> = snapshot.fd_stats.keys().map(|k| k.tgid).collect();
    pids.extend(snapshot.overflow_stats.keys().map(|k| k.tgid));
    pids.extend(snapshot.exits.keys());
    pids.extend(targets.iter().flat_map(|t| t.pids.iter().copied()));
    pids.extend(cpu.keys());
    let initial_target: HashMap<u32, usize> = targets
        .iter()
        .enumerate()
        .flat_map(|(i, t)| t.pids.iter().map(move |&pid| (pid, i)))
        .collect();

    pids.into_iter()
        .map(|pid| {
            let exit = snapshot.exits.get(&pid);
            let target = initial_target
                .get(&pid)
                .copied()
                .or_else(|| snapshot.targets.get(&pid).map(|&t| t as usize))
                .or_else(|| exit.map(|e| e.target as usize))
                .unwrap_or(0);
            // The kernel's name at exit beats ours, which may predate an exec.
            let name = exit
                .map(|e| comm_to_string(&e.comm))
                .or_else(|| names.get(&pid).cloned())
                .unwrap_or_else(|| "?".into());
            run::Process {
                pid,
                name,
                target,
                exited_after_ns: exit.map(|e| e.exit_ns.saturating_sub(start_monotonic_ns)),
                syscalls: syscall_stats(snapshot, pid),
                fds: fd_stats(snapshot, pid, fds),
                cpu: cpu.get(&pid).cloned(),
            }
        })
        .collect()
}

/// Per-syscall totals of one process: every fd, plus what overflowed the per-fd map.
fn syscall_stats(snapshot: &Snapshot, pid: u32) -> Vec<run::SyscallStats> {
    let mut totals: BTreeMap<u32, tracer_common::FdStats> = BTreeMap::new();
    let range = FdKey {
        tgid: pid,
        fd: i32::MIN,
        syscall: 0,
        _pad: 0,
    }..=FdKey {
        tgid: pid,
        fd: i32::MAX,
        syscall: u32::MAX,
        _pad: u32::MAX,
    };
    for (key, stats) in snapshot
        .fd_stats
        .range(range.clone())
        .chain(snapshot.overflow_stats.range(range))
    {
        totals.entry(key.syscall).or_default().merge(stats);
    }
    totals
        .into_iter()
        .map(|(syscall, stats)| {
            let hist = |kind: u8| {
                snapshot
                    .histograms
                    .iter()
                    .filter(move |(k, _)| {
                        k.tgid == pid && u32::from(k.syscall) == syscall && k.kind == kind
                    })
                    .map(|(k, &count)| (k.bucket, count))
            };
            let mut errnos: Vec<run::ErrnoCount> = hist(hist_kind::ERRNO)
                .map(|(errno, count)| run::ErrnoCount {
                    errno: i32::from(errno),
                    name: errno_name(i32::from(errno)),
                    count,
                })
                .collect();
            errnos.sort_by_key(|e| std::cmp::Reverse(e.count));
            run::SyscallStats {
                syscall: syscalls::NAMES[syscall as usize].into(),
                direction: if syscalls::is_read_like(syscall) {
                    Direction::Read
                } else {
                    Direction::Write
                },
                calls: stats.calls,
                bytes: stats.bytes,
                errors: stats.errors,
                eagain: stats.eagain,
                zero_returns: stats.zero_returns,
                latency_total_ns: stats.latency_total_ns,
                latency_max_ns: stats.latency_max_ns,
                errnos,
                size: Histogram::from_buckets(buckets::SIZE, hist(hist_kind::SIZE)),
                latency: {
                    let mut latency =
                        Histogram::from_buckets(buckets::LATENCY, hist(hist_kind::LATENCY));
                    latency.percentiles.max = stats.latency_max_ns;
                    latency
                },
            }
        })
        .collect()
}

/// Per-fd counters of one process, most calls first.
fn fd_stats(snapshot: &Snapshot, pid: u32, fds: &FdDescriber) -> Vec<run::FdStats> {
    let mut out: Vec<run::FdStats> = snapshot
        .fd_stats
        .iter()
        .chain(&snapshot.overflow_stats)
        .filter(|(key, _)| key.tgid == pid)
        .map(|(key, stats)| {
            let (kind, description) = fds.get(pid, key.fd, key.syscall);
            run::FdStats {
                fd: key.fd,
                syscall: syscalls::NAMES[key.syscall as usize].into(),
                kind,
                description,
                calls: stats.calls,
                bytes: stats.bytes,
                errors: stats.errors,
                eagain: stats.eagain,
                zero_returns: stats.zero_returns,
            }
        })
        .collect();
    out.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.fd.cmp(&b.fd)));
    out
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

/// A command target's CPU: wait4's total for it and its reaped descendants when that is more
/// than the per-second samples saw (processes that lived between two samples); the series
/// stays as sampled.
fn with_rusage(mut cpu: run::Cpu, rusage_ns: Option<u64>, duration: Duration) -> run::Cpu {
    if let Some(rusage_ns) = rusage_ns.filter(|&ns| ns > cpu.on_cpu_ns) {
        cpu.source = "rusage".into();
        cpu.on_cpu_ns = rusage_ns;
        cpu.average_cores = rusage_ns as f64 / 1e9 / duration.as_secs_f64().max(1e-9);
        cpu.peak_cores = cpu.peak_cores.max(cpu.average_cores);
    }
    cpu
}

/// A cgroup target's CPU from its cgroup's own counter.
fn cgroup_cpu(
    first_ns: u64,
    last_ns: u64,
    mut cores: Vec<f64>,
    duration: Duration,
    intervals: usize,
) -> run::Cpu {
    cores.resize(intervals, 0.0);
    let on_cpu_ns = last_ns.saturating_sub(first_ns);
    run::Cpu {
        source: "cgroup".into(),
        on_cpu_ns,
        user_ns: None,
        system_ns: None,
        average_cores: on_cpu_ns as f64 / 1e9 / duration.as_secs_f64().max(1e-9),
        peak_cores: cores.iter().copied().fold(0.0, f64::max),
        cores,
    }
}

/// A target's CPU: the sum over its processes, interval by interval.
fn target_cpu(
    processes: &[run::Process],
    target: usize,
    duration: Duration,
    intervals: usize,
) -> Option<run::Cpu> {
    let mut total = run::Cpu {
        source: "schedstat".into(),
        cores: vec![0.0; intervals],
        ..run::Cpu::default()
    };
    let mut any = false;
    for cpu in processes
        .iter()
        .filter(|p| p.target == target)
        .filter_map(|p| p.cpu.as_ref())
    {
        any = true;
        total.on_cpu_ns += cpu.on_cpu_ns;
        for (sum, cores) in total.cores.iter_mut().zip(&cpu.cores) {
            *sum += cores;
        }
        if let (Some(user), Some(system)) = (cpu.user_ns, cpu.system_ns) {
            total.user_ns = Some(total.user_ns.unwrap_or(0) + user);
            total.system_ns = Some(total.system_ns.unwrap_or(0) + system);
        }
    }
    total.average_cores = total.on_cpu_ns as f64 / 1e9 / duration.as_secs_f64().max(1e-9);
    total.peak_cores = total.cores.iter().copied().fold(0.0, f64::max);
    any.then_some(total)
}

fn losses(counts: &[u64]) -> run::Losses {
    let at = |i: u32| counts.get(i as usize).copied().unwrap_or(0);
    run::Losses {
        fd_keys_overflowed: at(counters::FD_KEYS_OVERFLOWED),
        calls_lost: at(counters::CALLS_LOST),
        histogram_samples_lost: at(counters::HISTOGRAM_SAMPLES_LOST),
        in_flight_full: at(counters::IN_FLIGHT_FULL),
        children_not_traced: at(counters::CHILDREN_NOT_TRACED),
        exits_not_recorded: at(counters::EXITS_NOT_RECORDED),
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

fn comm_to_string(comm: &[u8; 16]) -> String {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end]).into_owned()
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
            .map(|&c| c.cast_unsigned())
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

/// RFC 3339 UTC with seconds, from the civil-from-days algorithm (no date crate needed).
fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Symbolic errno names for the errors I/O syscalls return.
#[must_use]
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EINVAL => "EINVAL",
        libc::EISDIR => "EISDIR",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EPIPE => "EPIPE",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EDESTADDRREQ => "EDESTADDRREQ",
        libc::ENOTCONN => "ENOTCONN",
        libc::ECONNRESET => "ECONNRESET",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EDQUOT => "EDQUOT",
        libc::EFBIG => "EFBIG",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => return format!("E{errno}"),
    };
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_mins(29_929_000);
        assert_eq!(rfc3339(t), "2026-11-27T00:40:00Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn names_errnos() {
        assert_eq!(errno_name(9), "EBADF");
        assert_eq!(errno_name(11), "EAGAIN");
        assert_eq!(errno_name(4000), "E4000");
    }
}
