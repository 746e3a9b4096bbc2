//! The demo's own figures, read from its run files (or, without a recording, from the load
//! generator's own read counts): client reads per response, bytes per read, syscalls and CPU
//! per request, the proxies' syscalls and CPU as mesh cost, the service's writes per response,
//! request latency, and what strace saw when it was attached.
//!
//! The full comparison (histograms, verdicts, Markdown and HTML) is `tracer compare`, which the
//! report runs per scenario next to these tables.
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tracer::run::{Direction, DirectionTotals, FdKind, LoadResult, Process, Run};

use crate::orchestrate::Mode;

/// What one run of one mode produced.
#[derive(Clone, Debug)]
pub struct ModeRun {
    /// `keepalive`, `connection-close` or `nagle`.
    pub scenario: String,
    pub mode: Mode,
    /// The run's label and file stem, e.g. `keepalive-ambient-2`.
    pub label: String,
    /// 1-based repetition.
    pub index: u32,
    /// Run file written by `tracer record`, with the load result attached.
    pub run_file: Option<PathBuf>,
    /// The ambient proxies recorded while the tunnel was opened (first ambient run only).
    pub tunnel_file: Option<PathBuf>,
    pub load: LoadResult,
    /// The client's own count: (read calls, bytes read, responses), `tracer-demo load` only.
    pub client_reads: Option<(u64, u64, u64)>,
    /// What strace printed, when it was attached to the client.
    pub strace: Option<Strace>,
}

/// strace's own view of the client's socket reads, counted from its output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Strace {
    /// `recvfrom` calls strace printed.
    pub recvfrom: u64,
    /// Responses the load generator received meanwhile.
    pub responses: u64,
}

impl Strace {
    /// Counts the `recvfrom(` calls in an `strace -f -o FILE` output (a call interrupted by
    /// another thread's is printed as `recvfrom(... <unfinished ...>` and then resumed: one
    /// line with `recvfrom(` per call).
    pub fn count(path: &Path, responses: u64) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read strace's output {}", path.display()))?;
        Ok(Self {
            recvfrom: count_calls(&text, "recvfrom"),
            responses,
        })
    }

    #[must_use]
    pub fn per_response(&self) -> Option<f64> {
        (self.responses > 0).then(|| self.recvfrom as f64 / self.responses as f64)
    }
}

/// Calls of `syscall` in strace output: lines with `syscall(` (not the `<... resumed>` halves).
#[must_use]
pub fn count_calls(strace_output: &str, syscall: &str) -> u64 {
    let call = format!("{syscall}(");
    strace_output
        .lines()
        .filter(|line| {
            line.split_whitespace()
                .nth(1)
                .is_some_and(|word| word.starts_with(&call))
        })
        .count() as u64
}

/// Per-request figures of one process, from a run file.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessFigures {
    pub reads_per_request: f64,
    pub bytes_per_read: Option<f64>,
    pub syscalls_per_request: f64,
    /// Write-like calls per request (the service: 2 per response).
    pub writes_per_request: f64,
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
    let mut writes = 0;
    let mut cpu_ns = None;
    for process in &processes {
        let socket = socket_reads(process);
        reads.calls += socket.calls;
        reads.bytes += socket.bytes;
        reads.errors += socket.errors;
        reads.zero_returns += socket.zero_returns;
        writes += process.totals(Direction::Write).calls;
        syscalls += process.totals(Direction::Read).calls + process.totals(Direction::Write).calls;
        if let Some(cpu) = &process.cpu {
            *cpu_ns.get_or_insert(0) += cpu.on_cpu_ns;
        }
    }
    Some(ProcessFigures {
        reads_per_request: per_request(reads.calls),
        bytes_per_read: reads.bytes_per_call(),
        syscalls_per_request: per_request(syscalls),
        writes_per_request: per_request(writes),
        cpu_us_per_request: cpu_ns.map(|ns| per_request(ns) / 1e3),
    })
}

/// Bytes read and written on the tunnel connections of a tunnel-setup recording, per proxy:
/// (proxy, bytes read, bytes written) on the fds whose peer or local address is `tunnel_port`.
#[must_use]
pub fn tunnel_bytes(run: &Run, proxy: &str, tunnel_port: u16) -> (u64, u64) {
    let port = format!(":{tunnel_port}");
    let mut read = 0;
    let mut written = 0;
    for process in processes_named(run, proxy) {
        for fd in &process.fds {
            let on_tunnel = fd.kind == FdKind::Tcp
                && fd
                    .description
                    .split_whitespace()
                    .any(|address| address.ends_with(&port));
            if !on_tunnel {
                continue;
            }
            match process.syscall(&fd.syscall).map(|s| s.direction) {
                Some(Direction::Read) => read += fd.bytes,
                Some(Direction::Write) => written += fd.bytes,
                _ => {}
            }
        }
    }
    (read, written)
}

/// Read-like calls of the target `name` that returned between `low` and `high` bytes
/// (inclusive; from the size histograms, exact below 256 B and within 0.4% above).
#[must_use]
pub fn reads_sized(run: &Run, name: &str, low: u64, high: u64) -> u64 {
    processes_named(run, name)
        .flat_map(|process| &process.syscalls)
        .filter(|syscall| syscall.direction == Direction::Read)
        .flat_map(|syscall| &syscall.size.buckets)
        .filter(|bucket| bucket.low >= low && bucket.low <= high)
        .map(|bucket| bucket.count)
        .sum()
}

/// The figures of a run that the report and the tests use.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunFigures {
    pub client: Option<ProcessFigures>,
    pub service: Option<ProcessFigures>,
    /// The mode's proxies together; `None` without a mesh.
    pub mesh_syscalls_per_request: Option<f64>,
    pub mesh_cpu_us_per_request: Option<f64>,
}

impl RunFigures {
    /// Reads `result`'s run file (if any) and computes its figures.
    #[must_use]
    pub fn of(result: &ModeRun) -> Self {
        let requests = result.load.requests;
        let Some(run) = result
            .run_file
            .as_ref()
            .and_then(|path| Run::read(path).ok())
        else {
            return Self::default();
        };
        let proxies: Vec<ProcessFigures> = result
            .mode
            .proxies()
            .iter()
            .filter_map(|name| figures(&run, name, requests))
            .collect();
        let any = !proxies.is_empty();
        Self {
            client: figures(&run, "client", requests),
            service: figures(&run, "details", requests),
            mesh_syscalls_per_request: any
                .then(|| proxies.iter().map(|p| p.syscalls_per_request).sum()),
            mesh_cpu_us_per_request: any.then(|| {
                proxies
                    .iter()
                    .map(|p| p.cpu_us_per_request.unwrap_or(0.0))
                    .sum()
            }),
        }
    }

    /// Client reads per response: from the run file, else the load generator's own count.
    #[must_use]
    pub fn reads_per_response(&self, result: &ModeRun) -> Option<f64> {
        match (self.client, result.client_reads) {
            (Some(client), _) => Some(client.reads_per_request),
            (None, Some((calls, _, responses))) if responses > 0 => {
                Some(calls as f64 / responses as f64)
            }
            _ => None,
        }
    }
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
    fn strace_calls_are_counted_once_even_when_interrupted() {
        let output = "\
101 recvfrom(5, \"HTTP/1.1 200 OK\\r\\n\"..., 4096, 0, NULL, NULL) = 358
102 recvfrom(6,  <unfinished ...>
101 sendto(5, \"GET /details/0 HTTP/1.1\\r\\n\"..., 118, MSG_NOSIGNAL, NULL, 0) = 118
102 <... recvfrom resumed>\"HTTP/1.1 200 OK\\r\\n\"..., 4096, 0, NULL, NULL) = 180
102 recvfrom(6, \"{\\\"id\\\":0}\"..., 4096, 0, NULL, NULL) = 178
";
        assert_eq!(count_calls(output, "recvfrom"), 3);
        assert_eq!(count_calls(output, "sendto"), 1);
        assert_eq!(count_calls(output, "read"), 0);
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
        assert!((client.writes_per_request - 1.0).abs() < 1e-9);
        assert!(figures(&run, "client", 0).is_none());
    }
}
