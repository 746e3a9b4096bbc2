//! Turning what a recording gathered into its [`Run`]. Pure — no probes, no `/proc` — so the
//! rules are unit-tested on snapshots built in code: which target and name a process gets,
//! per-syscall totals as the sum of every fd and the overflow, CPU of a target as the sum of
//! its processes (or its cgroup's counter; a command's rusage is kept beside it), and
//! the loss counters.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::{Duration, SystemTime},
};

use tracer_common::{FdKey, buckets, counters, hist_kind, syscalls};

use super::{TargetSpec, fds::FdDescriber};
use crate::{
    hist::Histogram,
    probe::Snapshot,
    run::{self, Direction, EndReason, Interval, Run},
};

/// A target as the recording kept it: as requested, its cgroup's CPU counter (first and last
/// reading, cores per interval) and, for a command, how it ended (exit code, wait4's CPU).
#[derive(Debug, Clone)]
pub struct TargetRecord {
    pub spec: TargetSpec,
    pub cgroup_cpu: Option<(Option<u64>, Option<u64>, Vec<f64>)>,
    pub command_exit: Option<(i32, u64)>,
}

/// Everything a recording gathered, at its end.
pub struct Gathered<'a> {
    /// The maps' last contents, with the histograms.
    pub snapshot: Snapshot,
    pub probe: run::ProbeInfo,
    pub host: run::Host,
    pub label: Option<String>,
    pub started_at: SystemTime,
    pub start_monotonic_ns: u64,
    pub duration: Duration,
    pub end_reason: EndReason,
    pub intervals: Vec<Interval>,
    pub targets: Vec<TargetRecord>,
    /// Names read from `/proc` while the processes lived.
    pub names: HashMap<u32, String>,
    /// Each sampled process's CPU, its series as long as `intervals` or shorter.
    pub cpu: BTreeMap<u32, run::Cpu>,
    pub fds: &'a FdDescriber,
}

/// The run file's contents.
#[must_use]
pub fn assemble(gathered: Gathered<'_>) -> Run {
    let Gathered {
        snapshot,
        probe,
        host,
        label,
        started_at,
        start_monotonic_ns,
        duration,
        end_reason,
        intervals,
        targets,
        names,
        mut cpu,
        fds,
    } = gathered;
    let count = intervals.len();
    for process in cpu.values_mut() {
        process.cores.resize(count, 0.0);
    }
    let specs: Vec<TargetSpec> = targets.iter().map(|t| t.spec.clone()).collect();
    let processes = build_processes(&snapshot, &names, &cpu, fds, start_monotonic_ns, &specs);
    let targets = targets
        .into_iter()
        .enumerate()
        .map(|(index, target)| {
            let cpu = target
                .cgroup_cpu
                .and_then(|(first, last, cores)| {
                    Some(cgroup_cpu(first?, last?, cores, duration, count))
                })
                .or_else(|| target_cpu(&processes, index, duration, count));
            // A target named after its process (`--pid PID`, a command) is named as that
            // process ends up: `bash` that exec'd `sleep` is `sleep`. The kernel keeps 15
            // bytes of a name: a longer program name it merely cut stays whole.
            let spec_name = target.spec.name;
            let name = target
                .spec
                .follows_exec
                .then(|| target.spec.pids.first())
                .flatten()
                .and_then(|&pid| processes.iter().find(|p| p.pid == pid))
                .map(|p| p.name.clone())
                .filter(|name| name != "?")
                .filter(|name| !(name.len() == COMM_LEN && spec_name.starts_with(name.as_str())))
                .unwrap_or(spec_name);
            run::Target {
                spec: target.spec.spec,
                name,
                pids: target.spec.pids,
                cgroup: target.spec.cgroup.map(|c| c.cgroup_path),
                cpu,
                exit_code: target.command_exit.map(|(code, _)| code),
                rusage_cpu_ns: target.command_exit.map(|(_, ns)| ns),
            }
        })
        .collect();
    Run {
        schema: run::SCHEMA,
        kind: run::KIND.into(),
        tool: run::Tool {
            name: "tracer".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        host,
        probe,
        label,
        started_at: rfc3339(started_at),
        start_monotonic_ns,
        duration_ns: u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
        end_reason,
        targets,
        processes,
        losses: losses(&snapshot.losses),
        intervals,
        load: None,
    }
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
        kind: 0,
        inode: 0,
    }..=FdKey {
        tgid: pid,
        fd: i32::MAX,
        syscall: u32::MAX,
        kind: u32::MAX,
        inode: u64::MAX,
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
                waiting_total_ns: stats.waiting_total_ns,
                waiting: Histogram::from_buckets(buckets::LATENCY, hist(hist_kind::WAITING)),
                on_cpu: Histogram::from_buckets(buckets::LATENCY, hist(hist_kind::ON_CPU)),
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
            let (kind, description) = fds.get(key);
            run::FdStats {
                fd: key.fd,
                syscall: syscalls::NAMES[key.syscall as usize].into(),
                kind,
                inode: key.inode,
                description,
                calls: stats.calls,
                bytes: stats.bytes,
                errors: stats.errors,
                eagain: stats.eagain,
                zero_returns: stats.zero_returns,
                latency_total_ns: stats.latency_total_ns,
                waiting_total_ns: stats.waiting_total_ns,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then(a.fd.cmp(&b.fd))
            .then(a.inode.cmp(&b.inode))
    });
    out
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

pub(super) fn losses(counts: &[u64]) -> run::Losses {
    let at = |i: u32| counts.get(i as usize).copied().unwrap_or(0);
    run::Losses {
        fd_keys_overflowed: at(counters::FD_KEYS_OVERFLOWED),
        calls_lost: at(counters::CALLS_LOST),
        histogram_samples_lost: at(counters::HISTOGRAM_SAMPLES_LOST),
        in_flight_full: at(counters::IN_FLIGHT_FULL),
        children_not_traced: at(counters::CHILDREN_NOT_TRACED),
        exits_not_recorded: at(counters::EXITS_NOT_RECORDED),
        thread_exits_not_recorded: at(counters::THREAD_EXITS_NOT_RECORDED),
    }
}

/// Longest process name the kernel keeps (`TASK_COMM_LEN` less its NUL).
const COMM_LEN: usize = 15;

pub(super) fn comm_to_string(comm: &[u8; 16]) -> String {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

/// RFC 3339 UTC with seconds, from the civil-from-days algorithm (no date crate needed).
#[must_use]
pub fn rfc3339(time: SystemTime) -> String {
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

    use tracer_common::{ExitInfo, FD_OVERFLOW, FdStats, HistKey};

    fn calls(rets: &[i64]) -> FdStats {
        let mut stats = FdStats::default();
        for &ret in rets {
            stats.record(ret, 1_000, 0);
        }
        stats
    }

    fn key(tgid: u32, fd: i32, syscall: u32) -> FdKey {
        FdKey {
            tgid,
            fd,
            syscall,
            kind: 0,
            inode: 0,
        }
    }

    fn target(name: &str, pids: Vec<u32>) -> TargetRecord {
        TargetRecord {
            spec: TargetSpec {
                spec: format!("pid:{}", pids[0]),
                name: name.into(),
                pids,
                cgroup: None,
                follows_exec: false,
            },
            cgroup_cpu: None,
            command_exit: None,
        }
    }

    fn cpu(on_cpu_ns: u64, cores: Vec<f64>) -> run::Cpu {
        run::Cpu {
            source: "schedstat".into(),
            on_cpu_ns,
            average_cores: on_cpu_ns as f64 / 1e9,
            peak_cores: cores.iter().copied().fold(0.0, f64::max),
            cores,
            ..run::Cpu::default()
        }
    }

    fn gathered(snapshot: Snapshot, targets: Vec<TargetRecord>, fds: &FdDescriber) -> Gathered<'_> {
        Gathered {
            snapshot,
            probe: run::ProbeInfo {
                mechanism: "tp_btf".into(),
                fallbacks: Vec::new(),
                overhead: None,
                syscalls: None,
                capacities: BTreeMap::new(),
            },
            host: run::Host {
                hostname: "node".into(),
                kernel: "6.1".into(),
                arch: "x86_64".into(),
                cpus: 2,
            },
            label: Some("no-mesh".into()),
            started_at: SystemTime::UNIX_EPOCH,
            start_monotonic_ns: 1_000,
            duration: Duration::from_secs(1),
            end_reason: EndReason::Duration,
            intervals: vec![Interval::default(); 2],
            targets,
            names: HashMap::from([(10, "client".to_owned())]),
            cpu: BTreeMap::new(),
            fds,
        }
    }

    /// Per-syscall totals are every fd's calls plus the overflow's; fd rows most calls first;
    /// errnos from the histogram, most frequent first; losses by counter.
    #[test]
    fn totals_are_the_sum_of_every_fd_and_the_overflow() {
        let mut snapshot = Snapshot::default();
        snapshot
            .fd_stats
            .insert(key(10, 3, syscalls::READ), calls(&[180, 178, 0]));
        snapshot
            .fd_stats
            .insert(key(10, 4, syscalls::READ), calls(&[358, -11, -9, -9]));
        snapshot
            .overflow_stats
            .insert(key(10, FD_OVERFLOW, syscalls::READ), calls(&[1]));
        for (errno, count) in [(9u16, 2), (11, 1)] {
            let hist = HistKey {
                tgid: 10,
                syscall: u8::try_from(syscalls::READ).unwrap(),
                kind: hist_kind::ERRNO,
                bucket: errno,
            };
            snapshot.histograms.insert(hist, count);
        }
        snapshot.losses = vec![7, 0, 1, 0, 0, 0];
        let fds = FdDescriber::default();
        let run = assemble(gathered(snapshot, vec![target("client", vec![10])], &fds));
        assert_eq!(run.processes.len(), 1);
        let process = &run.processes[0];
        assert_eq!(
            (process.pid, process.name.as_str(), process.target),
            (10, "client", 0)
        );
        let read = process.syscall("read").unwrap();
        assert_eq!(
            (
                read.calls,
                read.bytes,
                read.errors,
                read.eagain,
                read.zero_returns
            ),
            (8, 180 + 178 + 358 + 1, 3, 1, 1)
        );
        let errnos: Vec<&str> = read.errnos.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(errnos, ["EBADF", "EAGAIN"]);
        let rows: Vec<(i32, u64)> = process.fds.iter().map(|f| (f.fd, f.calls)).collect();
        assert_eq!(rows, [(4, 4), (3, 3), (FD_OVERFLOW, 1)]);
        assert_eq!(
            (
                run.losses.fd_keys_overflowed,
                run.losses.histogram_samples_lost
            ),
            (7, 1)
        );
        assert_eq!(run.started_at, "1970-01-01T00:00:00Z");
        assert_eq!(run.duration_ns, 1_000_000_000);
    }

    /// A process's target: the one that named it at the start, else the kernel's (a child),
    /// else its exit record's; its name at exit beats the one read earlier (an exec since).
    #[test]
    fn processes_get_their_target_and_their_name_at_exit() {
        let mut snapshot = Snapshot::default();
        snapshot
            .fd_stats
            .insert(key(10, 1, syscalls::WRITE), calls(&[5]));
        snapshot
            .fd_stats
            .insert(key(11, 1, syscalls::WRITE), calls(&[5]));
        snapshot
            .fd_stats
            .insert(key(12, 1, syscalls::WRITE), calls(&[5]));
        snapshot.targets.insert(11, 1);
        let mut comm = [0u8; 16];
        comm[..5].copy_from_slice(b"sleep");
        snapshot.exits.insert(
            12,
            ExitInfo {
                exit_ns: 1_000 + 500,
                comm,
                target: 1,
                _pad: 0,
            },
        );
        snapshot.exits.insert(
            10,
            ExitInfo {
                exit_ns: 1_000 + 900,
                comm,
                target: 0,
                _pad: 0,
            },
        );
        let fds = FdDescriber::default();
        let targets = vec![target("client", vec![10]), target("server", vec![20])];
        let run = assemble(gathered(snapshot, targets, &fds));
        let of = |pid: u32| run.processes.iter().find(|p| p.pid == pid).unwrap();
        assert_eq!((of(10).target, of(10).name.as_str()), (0, "sleep"));
        assert_eq!(of(10).exited_after_ns, Some(900));
        assert_eq!((of(11).target, of(11).name.as_str()), (1, "?"));
        assert_eq!((of(12).target, of(12).exited_after_ns), (1, Some(500)));
        // The server's initial PID made no call but is listed, so its target has a process.
        assert_eq!(of(20).syscalls.len(), 0);
    }

    /// A target named after its process takes the process's final name (an exec since); one
    /// the user named keeps its name; a long program name the kernel only cut stays whole.
    #[test]
    fn targets_named_after_their_process_follow_its_exec() {
        let mut snapshot = Snapshot::default();
        let comm = |name: &[u8]| {
            let mut comm = [0u8; 16];
            comm[..name.len()].copy_from_slice(name);
            comm
        };
        for (pid, name) in [
            (10, &b"sleep"[..]),
            (20, b"sleep"),
            (30, b"kubernetes-vali"),
        ] {
            snapshot.exits.insert(
                pid,
                ExitInfo {
                    exit_ns: 1_500,
                    comm: comm(name),
                    target: 0,
                    _pad: 0,
                },
            );
        }
        let fds = FdDescriber::default();
        let following = |name: &str, pid| {
            let mut record = target(name, vec![pid]);
            record.spec.follows_exec = true;
            record
        };
        let targets = vec![
            following("bash", 10),
            target("client", vec![20]),
            following("kubernetes-validate", 30),
        ];
        let run = assemble(gathered(snapshot, targets, &fds));
        let names: Vec<&str> = run.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["sleep", "client", "kubernetes-validate"]);
    }

    /// A target's CPU is the sum of its processes, interval by interval, whatever a command's
    /// wait4 total says (kept beside it as a cross-check), and the peak is never below the
    /// average.
    #[test]
    fn a_targets_cpu_is_its_processes_sum_with_its_commands_rusage_beside_it() {
        let snapshot = Snapshot::default();
        let fds = FdDescriber::default();
        let mut command = target("cmd", vec![10]);
        command.command_exit = Some((0, 3_000_000_000));
        let mut input = gathered(snapshot, vec![target("app", vec![20, 21]), command], &fds);
        input.cpu = BTreeMap::from([
            (20, cpu(300_000_000, vec![0.1, 0.2])),
            (21, cpu(100_000_000, vec![0.1])),
            (10, cpu(500_000_000, vec![0.5, 0.0])),
        ]);
        let run = assemble(input);
        let app = run.targets[0].cpu.as_ref().unwrap();
        assert_eq!(app.on_cpu_ns, 400_000_000);
        assert_eq!(app.cores.len(), 2);
        assert!((app.cores[0] - 0.2).abs() < 1e-9 && (app.cores[1] - 0.2).abs() < 1e-9);
        let cmd = run.targets[1].cpu.as_ref().unwrap();
        assert_eq!(
            (cmd.source.as_str(), cmd.on_cpu_ns),
            ("schedstat", 500_000_000)
        );
        assert_eq!(run.targets[1].rusage_cpu_ns, Some(3_000_000_000));
        assert!(cmd.peak_cores >= cmd.average_cores, "{cmd:?}");
        assert_eq!(run.targets[1].exit_code, Some(0));
    }

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
