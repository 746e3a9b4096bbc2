//! One run's share of a section: which processes a section covers (a [`Scope`], matched across
//! runs by target and process name), and their syscalls, socket reads and CPU summed into an
//! [`Aggregate`]. Everything that looks inside a run's processes is here; the metrics only
//! see the sums.
use std::collections::BTreeMap;

use super::analyze::Input;
use crate::run::{Direction, Run, SyscallStats};

/// Which processes of a run a section covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Scope {
    /// The processes of a target with a name; with `any_name`, the one process of a target that
    /// has a single process in every run, whatever it was named (a command's process can be
    /// seen under its parent's name when it exits before exec is noticed).
    Process {
        target: String,
        process: String,
        any_name: bool,
    },
    All,
}

/// A section's statistics in one run: its processes' syscalls merged, and their CPU.
#[derive(Default)]
pub(super) struct Aggregate {
    pub(super) pids: Vec<u32>,
    pub(super) syscalls: BTreeMap<String, SyscallStats>,
    pub(super) on_cpu_ns: Option<u64>,
    pub(super) peak_cores: Option<f64>,
    /// Read-like calls on fds the kernel saw to be sockets at the call (the per-fd breakdown).
    pub(super) socket_reads: crate::run::DirectionTotals,
    /// Write-like calls by what the fd was at the call: sockets, pipes, anonymous inodes
    /// (eventfd wake-ups, ...), files and the rest.
    pub(super) writes_by_kind: BTreeMap<WriteTarget, u64>,
    /// Time inside I/O syscalls on a CPU (latency minus time switched out), when the run has
    /// the split (schema 2).
    pub(super) io_on_cpu_ns: Option<u64>,
}

/// What a write went to, for the split of writes per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum WriteTarget {
    Socket,
    Pipe,
    Anon,
    File,
    Other,
}

impl WriteTarget {
    fn of(kind: crate::run::FdKind) -> Option<Self> {
        use crate::run::FdKind;
        Some(match kind {
            FdKind::Tcp | FdKind::Udp | FdKind::Unix | FdKind::Socket => Self::Socket,
            FdKind::Pipe => Self::Pipe,
            FdKind::Anon => Self::Anon,
            FdKind::File => Self::File,
            FdKind::Device | FdKind::Other => Self::Other,
            FdKind::Unknown | FdKind::Overflow => return None,
        })
    }
}

/// Adds `[calls, bytes, errors, eagain, zero_returns]`; saturating, as a damaged run file must
/// not make a report panic.
pub(super) fn add_totals(
    into: &mut crate::run::DirectionTotals,
    [calls, bytes, errors, eagain, zero]: [u64; 5],
) {
    into.calls = into.calls.saturating_add(calls);
    into.bytes = into.bytes.saturating_add(bytes);
    into.errors = into.errors.saturating_add(errors);
    into.eagain = into.eagain.saturating_add(eagain);
    into.zero_returns = into.zero_returns.saturating_add(zero);
}

/// For rows without the kernel's inode (schema-1 runs, or kernels whose BTF lacks the
/// offsets), whose kind is only as the fd was last seen: a `read()` on an fd number that also
/// saw `recv*()` was most likely a file's, before the number became this socket's (`recv*()`
/// only works on sockets; `pread64` never does). Rows the kernel keyed by inode need no such guess.
fn likely_a_files_reads(process: &crate::run::Process, fd: &crate::run::FdStats) -> bool {
    let recv_family = |name: &str| name.starts_with("recv");
    let has_recv = process
        .fds
        .iter()
        .any(|other| other.fd == fd.fd && other.inode == 0 && recv_family(&other.syscall));
    fd.syscall == "pread64" || (has_recv && !recv_family(&fd.syscall))
}

/// Whether an fd kind is a socket, where write coalescing shows.
fn is_socket(kind: crate::run::FdKind) -> bool {
    use crate::run::FdKind;
    matches!(
        kind,
        FdKind::Tcp | FdKind::Udp | FdKind::Unix | FdKind::Socket
    )
}

fn merge_stats(into: &mut SyscallStats, from: &SyscallStats) {
    if into.calls == 0 && into.syscall.is_empty() {
        into.syscall.clone_from(&from.syscall);
        into.direction = from.direction;
    }
    into.calls = into.calls.saturating_add(from.calls);
    into.bytes = into.bytes.saturating_add(from.bytes);
    into.errors = into.errors.saturating_add(from.errors);
    into.eagain = into.eagain.saturating_add(from.eagain);
    into.zero_returns = into.zero_returns.saturating_add(from.zero_returns);
    into.latency_total_ns = into.latency_total_ns.saturating_add(from.latency_total_ns);
    into.latency_max_ns = into.latency_max_ns.max(from.latency_max_ns);
    into.waiting_total_ns = into.waiting_total_ns.saturating_add(from.waiting_total_ns);
    into.size = into.size.merged(&from.size);
    into.latency = into.latency.merged(&from.latency);
    into.waiting = into.waiting.merged(&from.waiting);
    into.on_cpu = into.on_cpu.merged(&from.on_cpu);
}

/// The processes of a run that a scope covers.
fn members<'r>(run: &'r Run, scope: &Scope) -> impl Iterator<Item = &'r crate::run::Process> {
    let target_name = |index: usize| run.targets.get(index).map_or("?", |t| t.name.as_str());
    run.processes.iter().filter(move |p| match scope {
        Scope::All => true,
        Scope::Process {
            target,
            process,
            any_name,
        } => target_name(p.target) == target && (*any_name || p.name == *process),
    })
}

pub(super) fn aggregate(run: &Run, scope: &Scope) -> Option<Aggregate> {
    let processes: Vec<_> = members(run, scope).collect();
    if processes.is_empty() && *scope != Scope::All {
        return None;
    }
    let mut aggregate = Aggregate::default();
    let mut cores_series: Vec<f64> = Vec::new();
    for process in &processes {
        aggregate.pids.push(process.pid);
        // The kernel tells each fd's kind at the time of the call, and an fd number reused
        // for another file is another row, so no row mixes a file's reads with a socket's.
        for fd in &process.fds {
            let direction = process.syscall(&fd.syscall).map(|s| s.direction);
            if direction == Some(Direction::Read)
                && is_socket(fd.kind)
                && !(fd.inode == 0 && likely_a_files_reads(process, fd))
            {
                add_totals(
                    &mut aggregate.socket_reads,
                    [fd.calls, fd.bytes, fd.errors, fd.eagain, fd.zero_returns],
                );
            }
            if direction == Some(Direction::Write)
                && let Some(target) = WriteTarget::of(fd.kind)
            {
                let count = aggregate.writes_by_kind.entry(target).or_default();
                *count = count.saturating_add(fd.calls);
            }
        }
        for stats in &process.syscalls {
            merge_stats(
                aggregate.syscalls.entry(stats.syscall.clone()).or_default(),
                stats,
            );
            // Runs with the waiting/on-CPU split have an on-CPU histogram for every call.
            if stats.on_cpu.count > 0 {
                let sum = aggregate.io_on_cpu_ns.get_or_insert(0);
                *sum = sum.saturating_add(
                    stats
                        .latency_total_ns
                        .saturating_sub(stats.waiting_total_ns),
                );
            }
        }
        if let Some(cpu) = &process.cpu {
            let sum = aggregate.on_cpu_ns.get_or_insert(0);
            *sum = sum.saturating_add(cpu.on_cpu_ns);
            add_series(&mut cores_series, &cpu.cores, cpu.peak_cores);
        }
    }
    // The total prefers target-level CPU (a cgroup's usage covers processes that made no
    // traced syscall) when every target has it.
    if *scope == Scope::All
        && !run.targets.is_empty()
        && run.targets.iter().all(|t| t.cpu.is_some())
    {
        cores_series.clear();
        let mut on_cpu_ns: u64 = 0;
        for cpu in run.targets.iter().filter_map(|t| t.cpu.as_ref()) {
            on_cpu_ns = on_cpu_ns.saturating_add(cpu.on_cpu_ns);
            add_series(&mut cores_series, &cpu.cores, cpu.peak_cores);
        }
        aggregate.on_cpu_ns = Some(on_cpu_ns);
    }
    if aggregate.on_cpu_ns.is_some() {
        aggregate.peak_cores = Some(cores_series.iter().copied().fold(0.0, f64::max));
    }
    Some(aggregate)
}

/// Adds a per-interval series element-wise; a process without a series adds its peak to every
/// interval (an upper bound, the best known).
fn add_series(sum: &mut Vec<f64>, cores: &[f64], peak: f64) {
    if cores.is_empty() {
        if sum.is_empty() {
            sum.push(0.0);
        }
        for v in sum.iter_mut() {
            *v += peak;
        }
        return;
    }
    if sum.len() < cores.len() {
        let fill = if sum.len() == 1 && sum[0] > 0.0 {
            sum[0]
        } else {
            0.0
        };
        sum.resize(cores.len(), fill);
    }
    sum.iter_mut().zip(cores).for_each(|(s, c)| *s += c);
}

/// Process scopes in order of first appearance, baseline first; processes of a common target
/// come before the others so the verdict speaks about what both sides traced.
pub(super) fn scopes(grouped: &[(String, Vec<&Input>)]) -> Vec<Scope> {
    let inputs = || grouped.iter().flat_map(|(_, runs)| runs);
    let target_of = |run: &Run, process: &crate::run::Process| {
        run.targets
            .get(process.target)
            .map_or_else(|| "?".to_owned(), |t| t.name.clone())
    };
    let single_process = |target: &str| {
        inputs().all(|input| {
            let run = &input.run;
            run.processes
                .iter()
                .filter(|p| target_of(run, p) == target)
                .count()
                <= 1
        })
    };
    let mut scopes: Vec<Scope> = Vec::new();
    for input in inputs() {
        for process in &input.run.processes {
            let target = target_of(&input.run, process);
            let any_name = single_process(&target);
            let already = scopes.iter().any(|scope| match scope {
                Scope::Process {
                    target: t,
                    process: p,
                    ..
                } => *t == target && (any_name || *p == process.name),
                Scope::All => false,
            });
            let scope = Scope::Process {
                target,
                process: process.name.clone(),
                any_name,
            };
            if !already {
                scopes.push(scope);
            }
        }
    }
    let in_every_group = |scope: &Scope| {
        grouped.iter().all(|(_, runs)| {
            runs.iter()
                .any(|input| members(&input.run, scope).next().is_some())
        })
    };
    let (mut common, others): (Vec<Scope>, Vec<Scope>) =
        scopes.into_iter().partition(in_every_group);
    // The busiest common process first: the verdict speaks about it (the load generator or
    // the app, not the shell that started it).
    let baseline_calls = |scope: &Scope| -> u64 {
        grouped[0]
            .1
            .iter()
            .flat_map(|input| members(&input.run, scope))
            .flat_map(|p| &p.syscalls)
            .fold(0u64, |sum, s| sum.saturating_add(s.calls))
    };
    common.sort_by_cached_key(|scope| std::cmp::Reverse(baseline_calls(scope)));
    common.extend(others);
    common
}

#[cfg(test)]
#[expect(
    clippy::float_cmp,
    reason = "the expected values are exact in binary floating point"
)]
mod tests {
    use super::*;
    use crate::compare::{
        Options, compare,
        sample::{self, direct_vs_proxy, input, mean},
    };

    #[test]
    fn processes_are_matched_by_target_then_name_and_summed_in_a_total() {
        let comparison = direct_vs_proxy(Some(1000));
        let names: Vec<&str> = comparison
            .sections
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["client", "haproxy", "all traced processes"]);
        let proxy = &comparison.sections[1];
        assert!(!proxy.present(0) && proxy.present(1));
        assert!(proxy.row("io_calls").unwrap().values[0].is_none());
        // 1000 EAGAIN out of 3000 recvfrom + 2000 sendto calls.
        assert!((mean(proxy, "eagain_share", 1) - 0.2).abs() < 1e-9);
        let total = &comparison.sections[2];
        assert_eq!(mean(total, "io_calls", 0), 3000.0);
        assert_eq!(mean(total, "io_calls", 1), 2000.0 + 5000.0);
        assert_eq!(mean(total, "cpu_core_seconds", 1), 0.45);
    }

    #[test]
    fn coalescing_uses_socket_reads_when_fds_are_known() {
        use crate::run::{FdKind, FdStats};
        // The client also reads ten 4 KiB blocks of a file, which must not dilute B/read.
        let with_file_reads = |mut run: Run, socket_calls: u64, socket_bytes: u64| {
            let client = &mut run.processes[0];
            let read = client
                .syscalls
                .iter_mut()
                .find(|s| s.syscall == "read")
                .unwrap();
            read.calls += 10;
            read.bytes += 40_960;
            let fd = |fd, kind, calls, bytes| FdStats {
                fd,
                syscall: "read".into(),
                kind,
                inode: 0,
                latency_total_ns: 0,
                waiting_total_ns: 0,
                description: String::new(),
                calls,
                bytes,
                errors: 0,
                eagain: 0,
                zero_returns: 0,
            };
            client.fds = vec![
                fd(3, FdKind::Tcp, socket_calls, socket_bytes),
                fd(7, FdKind::File, 10, 40_960),
            ];
            input(run)
        };
        let inputs = [
            with_file_reads(sample::direct("direct", 1000, 1), 2000, 358_000),
            with_file_reads(sample::proxied("proxy", 1000, 1), 1000, 358_000),
        ];
        let comparison = compare(
            &inputs,
            &Options {
                group_by_label: false,
                requests: Some(1000),
                focus: None,
            },
        )
        .unwrap();
        let client = &comparison.sections[0];
        assert_eq!(mean(client, "socket_read_bytes_per_call", 0), 179.0);
        assert_eq!(mean(client, "socket_read_bytes_per_call", 1), 358.0);
        assert_eq!(
            mean(client, "read_bytes_per_call", 0),
            (358_000.0 + 40_960.0) / 2010.0
        );
        let factor = client.row("coalescing_factor").unwrap();
        assert_eq!(factor.label, "coalescing factor (B/socket read ÷ baseline)");
        assert_eq!(factor.values[1].unwrap().mean, 2.0);
        assert!(
            comparison.verdict[0].contains("socket reads carry 2.0× more bytes (179 → 358 B)"),
            "{:?}",
            comparison.verdict
        );
    }

    /// Schema-2 rows carry the kernel's kind and inode: a file read on fd 7 before the number
    /// became a socket is told apart without any guess, writes are split by what they went to
    /// (1 socket write + 2 eventfd wake-ups per request), and the CPU inside I/O syscalls per
    /// request is latency minus waiting.
    #[test]
    fn kernel_kinds_split_reads_and_writes_and_io_cpu_per_request() {
        use crate::{
            hist::Histogram,
            run::{FdKind, FdStats},
        };
        use tracer_common::buckets::LATENCY;
        let shape = |mut run: Run| {
            let client = &mut run.processes[0];
            let mut write = sample::syscall("write", Direction::Write, &[(8, 3000)], 0, 0, 1_000);
            write.waiting_total_ns = 1_000_000;
            write.on_cpu = Histogram::from_buckets(LATENCY, [(LATENCY.bucket(600), 3000)]);
            client.syscalls.push(write);
            let fd = |fd, syscall: &str, kind, inode, calls| FdStats {
                fd,
                syscall: syscall.into(),
                kind,
                inode,
                latency_total_ns: 0,
                waiting_total_ns: 0,
                description: String::new(),
                calls,
                bytes: calls * 100,
                errors: 0,
                eagain: 0,
                zero_returns: 0,
            };
            client.fds = vec![
                fd(7, "read", FdKind::File, 20, 140),
                fd(7, "read", FdKind::Tcp, 21, 2000),
                fd(7, "write", FdKind::Tcp, 21, 1000),
                fd(9, "write", FdKind::Anon, 22, 2000),
            ];
            input(run)
        };
        let inputs = [
            shape(sample::direct("a", 1000, 1)),
            shape(sample::direct("b", 1000, 1)),
        ];
        let options = Options {
            group_by_label: false,
            requests: Some(1000),
            focus: None,
        };
        let comparison = compare(&inputs, &options).unwrap();
        let client = &comparison.sections[0];
        assert_eq!(mean(client, "socket_read_calls_per_request", 0), 2.0);
        assert_eq!(mean(client, "socket_write_calls_per_request", 0), 1.0);
        assert_eq!(mean(client, "anon_write_calls_per_request", 0), 2.0);
        assert!(
            client
                .row("pipe_write_calls_per_request")
                .is_none_or(|row| row.values[0].is_none())
        );
        // 3,000 writes x 1 us, 1 ms of it waiting: 2 ms on a CPU over 1,000 requests.
        assert_eq!(mean(client, "io_on_cpu_us_per_request", 0), 2.0);
    }

    #[test]
    fn the_busiest_common_process_comes_first() {
        let with_shell = |mut run: Run| {
            let shell = sample::process(
                99,
                "sh",
                0,
                vec![sample::syscall(
                    "read",
                    Direction::Read,
                    &[(10, 3)],
                    0,
                    0,
                    1_000,
                )],
                1,
                10,
            );
            run.processes.insert(0, shell);
            input(run)
        };
        let inputs = [
            with_shell(sample::direct("direct", 100, 1)),
            with_shell(sample::direct("again", 100, 1)),
        ];
        let comparison = compare(&inputs, &Options::default()).unwrap();
        let names: Vec<&str> = comparison
            .sections
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["client", "sh (target client)", "all traced processes"]
        );
        assert!(
            comparison.verdict[0].starts_with("again vs direct, client:"),
            "{:?}",
            comparison.verdict
        );
    }

    #[test]
    fn a_targets_only_process_is_matched_whatever_its_name() {
        let mut renamed = sample::proxied("proxy", 1000, 1);
        renamed.processes[0].name = "tracer".into();
        let inputs = [input(sample::direct("direct", 1000, 1)), input(renamed)];
        let comparison = compare(&inputs, &Options::default()).unwrap();
        let client = &comparison.sections[0];
        assert_eq!(client.name, "client");
        assert!(client.present(0) && client.present(1));
        assert_eq!(mean(client, "coalescing_factor", 1), 2.0);
    }
}
