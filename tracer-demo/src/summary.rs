//! The demo's own summary table, read from its run files (or, without a recording, from the
//! load generator's own read counts): client reads per response, bytes per read, syscalls and
//! CPU per request, the proxies' CPU as mesh cost, and request latency.
//!
//! It is deliberately small; the full comparison (histograms, verdicts, Markdown and HTML) is
//! `tracer compare`, which the orchestrator runs after it.
use std::{fmt::Write as _, path::PathBuf};

use tracer::run::{Direction, DirectionTotals, FdKind, LoadResult, Process, Run};

/// What one mode's run produced.
#[derive(Clone, Debug)]
pub struct ModeRun {
    /// `no-mesh` or `mesh`.
    pub label: String,
    /// 1-based repetition.
    pub index: u32,
    /// Run file written by `tracer record`, with the load result attached.
    pub run_file: Option<PathBuf>,
    pub load: LoadResult,
    /// The client's own count: (read calls, bytes read, responses), `tracer-demo load` only.
    pub client_reads: Option<(u64, u64, u64)>,
}

/// Per-request figures of one process, from a run file.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessFigures {
    pub reads_per_request: f64,
    pub bytes_per_read: Option<f64>,
    pub syscalls_per_request: f64,
    pub cpu_us_per_request: Option<f64>,
}

/// The processes of a run that belong to the target named `name`.
pub fn processes_named<'a>(run: &'a Run, name: &'a str) -> impl Iterator<Item = &'a Process> + 'a {
    run.processes.iter().filter(move |process| {
        run.targets
            .get(process.target)
            .is_some_and(|target| target.name == name)
    })
}

/// Read-like calls of a process on sockets (all read-like calls when the run has no fds).
///
/// Short-lived connections (`--connection-close`) are often closed before the recorder looks
/// at the fd, so `Unknown` (and the overflow bucket) count as sockets; pipes, files and the
/// like never do - the load generator's one read of "go" on stdin stays out.
#[must_use]
pub fn socket_reads(process: &Process) -> DirectionTotals {
    if process.fds.is_empty() {
        return process.totals(Direction::Read);
    }
    let mut totals = DirectionTotals::default();
    for fd in &process.fds {
        let is_read = process
            .syscall(&fd.syscall)
            .is_some_and(|s| s.direction == Direction::Read);
        let socket_like = matches!(
            fd.kind,
            FdKind::Tcp | FdKind::Socket | FdKind::Unknown | FdKind::Overflow
        );
        if is_read && socket_like {
            totals.calls += fd.calls;
            totals.bytes += fd.bytes;
            totals.errors += fd.errors;
            totals.eagain += fd.eagain;
            totals.zero_returns += fd.zero_returns;
        }
    }
    totals
}

/// Figures of the target `name` in `run`, per request of `requests`.
#[must_use]
pub fn figures(run: &Run, name: &str, requests: u64) -> Option<ProcessFigures> {
    let processes: Vec<&Process> = processes_named(run, name).collect();
    if processes.is_empty() || requests == 0 {
        return None;
    }
    let per_request = |value: u64| value as f64 / requests as f64;
    let mut reads = DirectionTotals::default();
    let mut syscalls = 0;
    let mut cpu_ns = None;
    for process in &processes {
        let socket = socket_reads(process);
        reads.calls += socket.calls;
        reads.bytes += socket.bytes;
        reads.errors += socket.errors;
        reads.zero_returns += socket.zero_returns;
        syscalls += process.totals(Direction::Read).calls + process.totals(Direction::Write).calls;
        if let Some(cpu) = &process.cpu {
            *cpu_ns.get_or_insert(0) += cpu.on_cpu_ns;
        }
    }
    Some(ProcessFigures {
        reads_per_request: per_request(reads.calls),
        bytes_per_read: reads.bytes_per_call(),
        syscalls_per_request: per_request(syscalls),
        cpu_us_per_request: cpu_ns.map(|ns| per_request(ns) / 1e3),
    })
}

/// Column widths of the table (the first column is left-aligned).
const COLUMN_WIDTHS: [usize; 12] = [10, 8, 11, 7, 10, 10, 11, 11, 8, 8, 8, 8];

fn push_row(out: &mut String, cells: &[String; 12]) {
    for (index, (cell, width)) in cells.iter().zip(COLUMN_WIDTHS).enumerate() {
        let _ = match index {
            0 => write!(out, "{cell:<width$}"),
            _ => write!(out, " {cell:>width$}"),
        };
    }
    out.push('\n');
}

/// Renders the table.
#[must_use]
pub fn render(results: &[ModeRun]) -> String {
    let mut out = String::new();
    let recorded = results.iter().all(|r| r.run_file.is_some());
    let _ = writeln!(
        out,
        "tracer-demo summary ({})",
        if recorded {
            "from the eBPF run files; client = load generator, mesh cost = proxy-a + proxy-b"
        } else {
            "NOT recorded with eBPF: reads counted by the load generator itself"
        }
    );
    push_row(
        &mut out,
        &[
            "mode",
            "requests",
            "reads/resp",
            "B/read",
            "calls/req",
            "client",
            "mesh cost",
            "mesh cost",
            "avg",
            "p50",
            "p90",
            "p99",
        ]
        .map(String::from),
    );
    push_row(
        &mut out,
        &[
            "",
            "",
            "(client)",
            "",
            "(client)",
            "µs CPU/req",
            "µs CPU/req",
            "calls/req",
            "ms",
            "ms",
            "ms",
            "ms",
        ]
        .map(String::from),
    );
    for result in results {
        push_row(&mut out, &row(result));
    }
    if results.iter().any(|r| r.load.tool == "oha") && recorded {
        let _ = writeln!(
            out,
            "note: oha reads its CA certificates at start on an fd number it later uses for a \
             socket; the per-fd kind is the last one seen, so those file reads (the same number \
             in every run) are counted as socket reads here - `tracer compare` shows recvfrom alone"
        );
    }
    out
}

/// The cells of one mode's run.
fn row(result: &ModeRun) -> [String; 12] {
    let requests = result.load.requests;
    let run = result
        .run_file
        .as_ref()
        .and_then(|path| Run::read(path).ok());
    let client = run
        .as_ref()
        .and_then(|run| figures(run, "client", requests));
    let proxies: Vec<ProcessFigures> = run
        .as_ref()
        .map(|run| {
            ["proxy-a", "proxy-b"]
                .iter()
                .filter_map(|name| figures(run, name, requests))
                .collect()
        })
        .unwrap_or_default();
    let (reads_per_response, bytes_per_read) = match (client, result.client_reads) {
        (Some(client), _) => (Some(client.reads_per_request), client.bytes_per_read),
        (None, Some((calls, bytes, responses))) if responses > 0 && calls > 0 => (
            Some(calls as f64 / responses as f64),
            Some(bytes as f64 / calls as f64),
        ),
        _ => (None, None),
    };
    let mesh_cpu = (!proxies.is_empty()).then(|| {
        proxies
            .iter()
            .map(|p| p.cpu_us_per_request.unwrap_or(0.0))
            .sum::<f64>()
    });
    let mesh_calls =
        (!proxies.is_empty()).then(|| proxies.iter().map(|p| p.syscalls_per_request).sum::<f64>());
    let ms = |ns: f64| format!("{:.3}", ns / 1e6);
    let latency = &result.load.latency;
    [
        format!("{} {}", result.label, result.index),
        requests.to_string(),
        number(reads_per_response, 2),
        number(bytes_per_read, 1),
        number(client.map(|c| c.syscalls_per_request), 2),
        number(client.and_then(|c| c.cpu_us_per_request), 1),
        number(mesh_cpu, 1),
        number(mesh_calls, 2),
        ms(latency.average_ns),
        ms(latency.p50_ns as f64),
        ms(latency.p90_ns as f64),
        ms(latency.p99_ns as f64),
    ]
}

fn number(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracer::run::{Cpu, FdStats, SyscallStats, Target};

    fn syscall(name: &str, direction: Direction, calls: u64, bytes: u64) -> SyscallStats {
        SyscallStats {
            syscall: name.into(),
            direction,
            calls,
            bytes,
            ..SyscallStats::default()
        }
    }

    fn fd(fd: i32, name: &str, kind: FdKind, calls: u64, bytes: u64) -> FdStats {
        FdStats {
            fd,
            syscall: name.into(),
            kind,
            description: String::new(),
            calls,
            bytes,
            errors: 0,
            eagain: 0,
            zero_returns: 0,
            inode: 0,
            latency_total_ns: 0,
            waiting_total_ns: 0,
        }
    }

    fn process(pid: u32, target: usize, cpu_ns: u64) -> Process {
        Process {
            pid,
            name: "tracer".into(),
            target,
            exited_after_ns: None,
            // 200 socket reads of 180/178 B plus the one 3 B read of "go" on stdin.
            syscalls: vec![
                syscall("recvfrom", Direction::Read, 200, 35_800),
                syscall("read", Direction::Read, 1, 3),
                syscall("sendto", Direction::Write, 100, 11_800),
            ],
            fds: vec![
                fd(5, "recvfrom", FdKind::Tcp, 150, 26_850),
                // A connection closed before the recorder looked at it.
                fd(6, "recvfrom", FdKind::Unknown, 50, 8_950),
                fd(0, "read", FdKind::Pipe, 1, 3),
                fd(5, "sendto", FdKind::Tcp, 100, 11_800),
            ],
            cpu: Some(Cpu {
                on_cpu_ns: cpu_ns,
                ..Cpu::default()
            }),
        }
    }

    fn target(name: &str) -> Target {
        Target {
            spec: format!("pid:{name}"),
            name: name.into(),
            pids: vec![],
            cgroup: None,
            cpu: None,
            exit_code: None,
            rusage_cpu_ns: None,
        }
    }

    #[test]
    fn figures_count_socket_reads_per_request_and_cpu_per_target() {
        let mut run: Run = serde_json::from_value(serde_json::json!({
            "schema": 1, "kind": "tracer-run",
            "tool": {"name": "tracer", "version": "0"},
            "host": {"hostname": "h", "kernel": "k", "arch": "x86_64", "cpus": 2},
            "probe": {"mechanism": "fentry", "fallbacks": [], "overhead": null},
            "label": "no-mesh", "started_at": "", "start_monotonic_ns": 0, "duration_ns": 1,
            "end_reason": "interrupted", "targets": [], "processes": [],
            "losses": {"fd_keys_overflowed": 0, "calls_lost": 0, "histogram_samples_lost": 0,
                "in_flight_full": 0, "children_not_traced": 0, "exits_not_recorded": 0},
            "intervals": [], "load": null
        }))
        .unwrap();
        run.targets = vec![target("client"), target("proxy-a")];
        run.processes = vec![
            process(1, 0, 5_000_000),
            process(2, 1, 2_000_000),
            process(3, 1, 1_000_000),
        ];
        let client = figures(&run, "client", 100).unwrap();
        assert!(
            (client.reads_per_request - 2.0).abs() < 1e-9,
            "the stdin read is not a socket read"
        );
        assert_eq!(client.bytes_per_read, Some(179.0));
        assert!(
            (client.syscalls_per_request - 3.01).abs() < 1e-9,
            "all I/O syscalls count as calls"
        );
        assert_eq!(client.cpu_us_per_request, Some(50.0));
        let proxies = figures(&run, "proxy-a", 100).unwrap();
        assert_eq!(
            proxies.cpu_us_per_request,
            Some(30.0),
            "both processes of the target"
        );
        assert!(figures(&run, "proxy-b", 100).is_none());
        assert!(figures(&run, "client", 0).is_none());
    }
}
