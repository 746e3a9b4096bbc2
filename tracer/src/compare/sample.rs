//! Runs built in code for unit tests: the blog's client reading each HTTP response as two
//! reads (180 B headers + 178 B body) directly, or as one 358 B read through a merging proxy;
//! and the helpers the analysis tests share.
use tracer_common::buckets::{LATENCY, SIZE};

use super::{
    analyze::{Input, Options, compare},
    model::{Comparison, Section},
};
use crate::{
    hist::Histogram,
    run::{
        Cpu, Direction, EndReason, Host, Interval, LoadResult, Losses, ProbeInfo, Process,
        RequestLatency, Run, SyscallStats, Target, Tool,
    },
};

/// One syscall's totals: `(size, count)` of successful calls, each taking `latency_ns`.
pub fn syscall(
    name: &str,
    direction: Direction,
    sizes: &[(u64, u64)],
    errors: u64,
    eagain: u64,
    latency_ns: u64,
) -> SyscallStats {
    let calls: u64 = sizes.iter().map(|(_, n)| n).sum::<u64>() + errors;
    SyscallStats {
        syscall: name.into(),
        direction,
        calls,
        bytes: sizes.iter().map(|(size, n)| size * n).sum(),
        errors,
        eagain,
        zero_returns: 0,
        latency_total_ns: calls * latency_ns,
        latency_max_ns: latency_ns,
        errnos: vec![],
        size: Histogram::from_buckets(SIZE, sizes.iter().map(|&(size, n)| (SIZE.bucket(size), n))),
        latency: Histogram::from_buckets(LATENCY, [(LATENCY.bucket(latency_ns), calls)]),
        ..SyscallStats::default()
    }
}

pub fn process(
    pid: u32,
    name: &str,
    target: usize,
    syscalls: Vec<SyscallStats>,
    on_cpu_ns: u64,
    seconds: u64,
) -> Process {
    Process {
        pid,
        name: name.into(),
        target,
        exited_after_ns: None,
        syscalls,
        fds: vec![],
        cpu: Some(Cpu {
            source: "schedstat".into(),
            on_cpu_ns,
            user_ns: None,
            system_ns: None,
            average_cores: on_cpu_ns as f64 / (seconds as f64 * 1e9),
            peak_cores: on_cpu_ns as f64 / (seconds as f64 * 1e9) * 1.5,
            cores: vec![],
        }),
    }
}

pub fn load(requests: u64, average_ms: f64, p90_ms: f64) -> LoadResult {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "test values"
    )]
    let ns = |ms: f64| (ms * 1e6) as u64;
    LoadResult {
        tool: "fortio".into(),
        source: None,
        requests,
        errors: 0,
        duration_ns: 10_000_000_000,
        qps: requests as f64 / 10.0,
        target_qps: Some(requests as f64 / 10.0),
        connections: Some(10),
        latency: RequestLatency {
            average_ns: average_ms * 1e6,
            min_ns: ns(average_ms * 0.5),
            max_ns: ns(p90_ms * 4.0),
            p50_ns: ns(average_ms * 0.8),
            p75_ns: ns(average_ms * 0.9),
            p90_ns: ns(p90_ms),
            p99_ns: ns(p90_ms * 2.0),
            p999_ns: ns(p90_ms * 3.0),
        },
        status_codes: [("200".to_owned(), requests)].into(),
    }
}

/// A run of `processes` over `targets`, 10 s long, with 10 one-second intervals.
pub fn run(
    label: &str,
    targets: &[&str],
    processes: Vec<Process>,
    load: Option<LoadResult>,
) -> Run {
    let calls = |d| processes.iter().map(|p| p.totals(d).calls).sum::<u64>();
    let (reads, writes) = (calls(Direction::Read), calls(Direction::Write));
    Run {
        schema: crate::run::SCHEMA,
        kind: crate::run::KIND.into(),
        tool: Tool {
            name: "tracer".into(),
            version: "0.1.0".into(),
        },
        host: Host {
            hostname: "test".into(),
            kernel: "6.12".into(),
            arch: "x86_64".into(),
            cpus: 2,
        },
        probe: ProbeInfo {
            capacities: std::collections::BTreeMap::new(),
            mechanism: "raw_tracepoint".into(),
            fallbacks: vec![],
            overhead: None,
            syscalls: None,
        },
        label: Some(label.into()),
        started_at: "2026-11-27T00:00:00Z".into(),
        start_monotonic_ns: 1,
        duration_ns: 10_000_000_000,
        end_reason: EndReason::Duration,
        targets: targets
            .iter()
            .enumerate()
            .map(|(i, name)| Target {
                spec: format!("command:{name}"),
                name: (*name).into(),
                pids: vec![u32::try_from(i).unwrap_or(0) + 100],
                cgroup: None,
                cpu: None,
                exit_code: None,
                rusage_cpu_ns: None,
            })
            .collect(),
        processes,
        losses: Losses::default(),
        intervals: (1..=10u64)
            .map(|s| Interval {
                end_ns: s * 1_000_000_000,
                duration_ns: 1_000_000_000,
                read_calls: reads / 10,
                write_calls: writes / 10,
                read_bytes: 0,
                write_bytes: 0,
                cores: 0.04,
            })
            .collect(),
        load,
    }
}

/// The client reading each response as two reads (the server wrote headers and body apart).
pub fn direct(label: &str, responses: u64, on_cpu_ns: u64) -> Run {
    let client = process(
        100,
        "client",
        0,
        vec![
            syscall(
                "read",
                Direction::Read,
                &[(180, responses), (178, responses)],
                0,
                0,
                2_000,
            ),
            syscall("write", Direction::Write, &[(118, responses)], 0, 0, 5_000),
        ],
        on_cpu_ns,
        10,
    );
    run(label, &["client"], vec![client], None)
}

/// The client through a proxy that merged the two writes: one 358 B read per response, and
/// the proxy itself traced as a second target.
pub fn proxied(label: &str, responses: u64, on_cpu_ns: u64) -> Run {
    let client = process(
        200,
        "client",
        0,
        vec![
            syscall("read", Direction::Read, &[(358, responses)], 0, 0, 2_000),
            syscall("write", Direction::Write, &[(118, responses)], 0, 0, 5_000),
        ],
        on_cpu_ns,
        10,
    );
    let proxy = process(
        201,
        "haproxy",
        1,
        vec![
            syscall(
                "recvfrom",
                Direction::Read,
                &[(118, responses), (358, responses)],
                responses,
                responses,
                3_000,
            ),
            syscall(
                "sendto",
                Direction::Write,
                &[(118, responses), (358, responses)],
                0,
                0,
                6_000,
            ),
        ],
        on_cpu_ns / 2,
        10,
    );
    run(label, &["client", "haproxy"], vec![client, proxy], None)
}

/// A run as the input read from `LABEL.json`.
pub fn input(run: Run) -> Input {
    Input {
        file: format!("{}.json", run.label.clone().unwrap_or_default()),
        run,
    }
}

/// A metric's mean in one group, NaN where the group has none.
pub fn mean(section: &Section, metric: &str, group: usize) -> f64 {
    section
        .row(metric)
        .and_then(|r| r.values[group])
        .map_or(f64::NAN, |s| s.mean)
}

/// The client read directly (two reads a response) against through the merging proxy (one).
pub fn direct_vs_proxy(requests: Option<u64>) -> Comparison {
    let inputs = [
        input(direct("direct", 1000, 400_000_000)),
        input(proxied("proxy", 1000, 300_000_000)),
    ];
    compare(
        &inputs,
        &Options {
            group_by_label: false,
            requests,
            focus: None,
        },
    )
    .unwrap()
}

/// A Ruby server (the busiest process) and a Python client started as the traced
/// command; through the mesh the client reads each response at once. `proxy_calls`: a
/// node proxy traced too, with that many reads and writes each.
pub fn ruby_and_python(
    label: &str,
    merged: bool,
    proxy_calls: Option<u64>,
    average_ms: f64,
) -> crate::run::Run {
    let server = process(
        10,
        "ruby",
        0,
        vec![
            syscall("read", Direction::Read, &[(100, 3000)], 0, 0, 2_000),
            syscall(
                "write",
                Direction::Write,
                &[(180, 3000), (178, 3000)],
                0,
                0,
                3_000,
            ),
        ],
        100_000_000,
        10,
    );
    let reads: &[(u64, u64)] = if merged {
        &[(358, 1000)]
    } else {
        &[(180, 1000), (178, 1000)]
    };
    let client = process(
        20,
        "python3",
        1,
        vec![
            syscall("recvfrom", Direction::Read, reads, 0, 0, 2_000),
            syscall("sendto", Direction::Write, &[(118, 1000)], 0, 0, 5_000),
            // A handful of calls: their changes say nothing.
            syscall(
                "pread64",
                Direction::Read,
                &[(4096, if merged { 5 } else { 2 })],
                0,
                0,
                9_000,
            ),
        ],
        50_000_000,
        10,
    );
    let mut processes = vec![server, client];
    let mut targets = vec!["server", "client"];
    if let Some(calls) = proxy_calls {
        targets.push("ztunnel");
        processes.push(process(
            30,
            "ztunnel",
            2,
            vec![
                syscall("recvfrom", Direction::Read, &[(40, calls)], 0, 0, 1_000),
                syscall("sendto", Direction::Write, &[(40, calls)], 0, 0, 1_000),
            ],
            1_000_000,
            10,
        ));
    }
    let mut run = run(
        label,
        &targets,
        processes,
        Some(load(1000, average_ms, average_ms)),
    );
    run.targets[0].spec = "pid:10".into();
    run.targets[1].spec = "command:python3 client.py 18080".into();
    if proxy_calls.is_some() {
        run.targets[2].spec = "pod:istio-system/ztunnel-x2x".into();
    }
    run
}

/// The blog's runs with load results: no mesh (two reads per response, 0.89 ms average)
/// against ambient (one read, 0.80 ms), compared.
pub fn blog_like() -> Comparison {
    let mut direct = direct("no-mesh", 1000, 400_000_000);
    direct.load = Some(load(1000, 0.89, 0.85));
    let mut proxy = proxied("ambient", 1000, 300_000_000);
    proxy.load = Some(load(1000, 0.80, 0.81));
    let inputs = [
        Input {
            file: "no-mesh.json".into(),
            run: direct,
        },
        Input {
            file: "ambient.json".into(),
            run: proxy,
        },
    ];
    compare(&inputs, &Options::default()).unwrap()
}
