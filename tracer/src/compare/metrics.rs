//! The metrics: each row's key, words, unit and which direction is better (the specs), and how
//! its value is computed from one run's [`Aggregate`] or load result, per second and per
//! request; the coalescing factor, which is computed across groups, is filled in here too. To
//! add or change a row, this is the one file to read.
use std::collections::BTreeMap;

use super::{
    aggregate::{Aggregate, WriteTarget, add_totals},
    model::{Better, Stat, Table, Unit},
};
use crate::run::{Direction, Run, SyscallStats};

/// [`crate::run::DirectionTotals::bytes_per_call`], or `None` for counters that do not add up
/// (more failed calls than calls: a damaged file).
#[must_use]
pub fn bytes_per_call(totals: &crate::run::DirectionTotals) -> Option<f64> {
    let unsuccessful = totals.errors.checked_add(totals.zero_returns)?;
    (unsuccessful <= totals.calls)
        .then(|| totals.bytes_per_call())
        .flatten()
}

/// Duration and request count of a run, the denominators of rates.
pub(super) struct Denominators {
    pub(super) seconds: f64,
    pub(super) requests: Option<u64>,
}

fn per_second(count: f64, d: &Denominators) -> Option<f64> {
    (d.seconds > 0.0).then(|| count / d.seconds)
}

fn per_request(value: f64, d: &Denominators) -> Option<f64> {
    d.requests.filter(|r| *r > 0).map(|r| value / r as f64)
}

/// A metric definition: key, words, unit, direction of improvement, and the count of calls
/// its value rests on (a key of the same [`Values`]), if it rests on calls.
pub(super) struct Spec {
    pub(super) metric: &'static str,
    pub(super) label: &'static str,
    pub(super) unit: Unit,
    pub(super) better: Better,
    pub(super) basis: Option<&'static str>,
}

const fn spec(metric: &'static str, label: &'static str, unit: Unit, better: Better) -> Spec {
    Spec {
        metric,
        label,
        unit,
        better,
        basis: None,
    }
}

impl Spec {
    /// The value rests on the calls counted under `basis`: with fewer than
    /// [`super::model::MIN_CALLS`] of them on a side, its change is withheld.
    const fn on(self, basis: &'static str) -> Self {
        Self {
            basis: Some(basis),
            ..self
        }
    }
}

pub(super) const SECTION_SPECS: &[Spec] = &[
    spec("io_calls", "I/O syscalls", Unit::Count, Better::Neutral).on("io_calls"),
    spec(
        "io_calls_per_s",
        "I/O syscalls per second",
        Unit::PerSecond,
        Better::Neutral,
    )
    .on("io_calls"),
    spec(
        "io_calls_per_request",
        "I/O syscalls per request",
        Unit::PerRequest,
        Better::Lower,
    )
    .on("io_calls"),
    spec(
        "read_calls",
        "reads (read-like calls)",
        Unit::Count,
        Better::Neutral,
    )
    .on("read_calls"),
    spec(
        "read_calls_per_s",
        "reads per second",
        Unit::PerSecond,
        Better::Neutral,
    )
    .on("read_calls"),
    spec(
        "read_calls_per_request",
        "reads per request",
        Unit::PerRequest,
        Better::Lower,
    )
    .on("read_calls"),
    spec(
        "read_bytes_per_call",
        "bytes per read",
        Unit::Bytes,
        Better::Higher,
    )
    .on("read_calls"),
    spec(
        "socket_read_calls_per_request",
        "socket reads per request",
        Unit::PerRequest,
        Better::Lower,
    )
    .on("socket_read_calls"),
    spec(
        "socket_read_bytes_per_call",
        "bytes per socket read",
        Unit::Bytes,
        Better::Higher,
    )
    .on("socket_read_calls"),
    spec(
        "coalescing_factor",
        "coalescing factor (B/read ÷ baseline)",
        Unit::Factor,
        Better::Higher,
    ),
    spec(
        "write_calls",
        "writes (write-like calls)",
        Unit::Count,
        Better::Neutral,
    )
    .on("write_calls"),
    spec(
        "write_calls_per_s",
        "writes per second",
        Unit::PerSecond,
        Better::Neutral,
    )
    .on("write_calls"),
    spec(
        "write_calls_per_request",
        "writes per request",
        Unit::PerRequest,
        Better::Lower,
    )
    .on("write_calls"),
    spec(
        "write_bytes_per_call",
        "bytes per write",
        Unit::Bytes,
        Better::Higher,
    )
    .on("write_calls"),
    spec(
        "socket_write_calls_per_request",
        "socket writes per request",
        Unit::PerRequest,
        Better::Lower,
    )
    .on("socket_write_calls"),
    spec(
        "anon_write_calls_per_request",
        "eventfd/anon-inode writes per request (wake-ups)",
        Unit::PerRequest,
        Better::Lower,
    )
    .on("anon_write_calls"),
    spec(
        "pipe_write_calls_per_request",
        "pipe writes per request",
        Unit::PerRequest,
        Better::Lower,
    )
    .on("pipe_write_calls"),
    spec(
        "file_write_calls_per_request",
        "file and device writes per request",
        Unit::PerRequest,
        Better::Lower,
    )
    .on("file_write_calls"),
    spec("errors", "errors", Unit::Count, Better::Lower).on("io_calls"),
    spec(
        "eagain_share",
        "EAGAIN share of calls",
        Unit::Share,
        Better::Lower,
    )
    .on("io_calls"),
    spec(
        "cpu_core_seconds",
        "CPU core-seconds",
        Unit::CoreSeconds,
        Better::Neutral,
    ),
    spec(
        "cpu_average_cores",
        "CPU average cores",
        Unit::Cores,
        Better::Lower,
    ),
    spec(
        "cpu_peak_cores",
        "CPU peak cores (1 s windows)",
        Unit::Cores,
        Better::Lower,
    ),
    spec(
        "cpu_us_per_request",
        "CPU per request",
        Unit::MicrosecondsPerRequest,
        Better::Lower,
    ),
    spec(
        "io_on_cpu_us_per_request",
        "CPU inside I/O syscalls per request",
        Unit::MicrosecondsPerRequest,
        Better::Lower,
    )
    .on("io_calls"),
];

pub(super) const SYSCALL_SPECS: &[Spec] = &[
    spec("calls", "calls", Unit::Count, Better::Neutral).on("calls"),
    spec(
        "calls_per_request",
        "calls per request",
        Unit::PerRequest,
        Better::Lower,
    )
    .on("calls"),
    spec(
        "bytes_per_call",
        "bytes per call",
        Unit::Bytes,
        Better::Higher,
    )
    .on("calls"),
    spec("errors", "errors", Unit::Count, Better::Lower).on("calls"),
    spec("eagain", "EAGAIN", Unit::Count, Better::Lower).on("calls"),
    spec(
        "latency_p50_ns",
        "latency p50",
        Unit::Nanoseconds,
        Better::Lower,
    )
    .on("calls"),
    spec(
        "latency_p90_ns",
        "latency p90",
        Unit::Nanoseconds,
        Better::Lower,
    )
    .on("calls"),
    spec(
        "latency_p99_ns",
        "latency p99",
        Unit::Nanoseconds,
        Better::Lower,
    )
    .on("calls"),
    spec(
        "on_cpu_p50_ns",
        "on-CPU p50",
        Unit::Nanoseconds,
        Better::Lower,
    )
    .on("calls"),
    spec(
        "on_cpu_p90_ns",
        "on-CPU p90",
        Unit::Nanoseconds,
        Better::Lower,
    )
    .on("calls"),
    spec(
        "on_cpu_p99_ns",
        "on-CPU p99",
        Unit::Nanoseconds,
        Better::Lower,
    )
    .on("calls"),
    spec(
        "on_cpu_total_ns",
        "on-CPU total",
        Unit::Nanoseconds,
        Better::Lower,
    )
    .on("calls"),
    spec(
        "waiting_p50_ns",
        "waiting p50 (switched out)",
        Unit::Nanoseconds,
        Better::Neutral,
    )
    .on("calls"),
    spec(
        "waiting_p90_ns",
        "waiting p90",
        Unit::Nanoseconds,
        Better::Neutral,
    )
    .on("calls"),
    spec(
        "waiting_p99_ns",
        "waiting p99",
        Unit::Nanoseconds,
        Better::Neutral,
    )
    .on("calls"),
    spec(
        "waiting_total_ns",
        "waiting total",
        Unit::Nanoseconds,
        Better::Neutral,
    )
    .on("calls"),
];

pub(super) const LOAD_SPECS: &[Spec] = &[
    spec("requests", "requests", Unit::Count, Better::Neutral),
    spec("errors", "failed requests", Unit::Count, Better::Lower),
    spec(
        "qps",
        "requests per second",
        Unit::RequestsPerSecond,
        Better::Higher,
    ),
    spec("average_ns", "average", Unit::Nanoseconds, Better::Lower).on("requests"),
    spec("p50_ns", "P50", Unit::Nanoseconds, Better::Lower).on("requests"),
    spec("p75_ns", "P75", Unit::Nanoseconds, Better::Lower).on("requests"),
    spec("p90_ns", "P90", Unit::Nanoseconds, Better::Lower).on("requests"),
    spec("p99_ns", "P99", Unit::Nanoseconds, Better::Lower).on("requests"),
    spec("p999_ns", "P99.9", Unit::Nanoseconds, Better::Lower).on("requests"),
];

pub(super) type Values = BTreeMap<&'static str, f64>;

fn direction_values(values: &mut Values, aggregate: &Aggregate, d: &Denominators) {
    let mut io_calls: u64 = 0;
    for direction in [Direction::Read, Direction::Write] {
        let mut totals = crate::run::DirectionTotals::default();
        for stats in aggregate
            .syscalls
            .values()
            .filter(|s| s.direction == direction)
        {
            add_totals(
                &mut totals,
                [
                    stats.calls,
                    stats.bytes,
                    stats.errors,
                    stats.eagain,
                    stats.zero_returns,
                ],
            );
        }
        io_calls = io_calls.saturating_add(totals.calls);
        let calls = totals.calls as f64;
        let (calls_key, per_s_key, per_request_key, bytes_key) = if direction == Direction::Read {
            (
                "read_calls",
                "read_calls_per_s",
                "read_calls_per_request",
                "read_bytes_per_call",
            )
        } else {
            (
                "write_calls",
                "write_calls_per_s",
                "write_calls_per_request",
                "write_bytes_per_call",
            )
        };
        values.insert(calls_key, calls);
        put(values, per_s_key, per_second(calls, d));
        put(values, per_request_key, per_request(calls, d));
        put(values, bytes_key, bytes_per_call(&totals));
    }
    let io = io_calls as f64;
    values.insert("io_calls", io);
    put(values, "io_calls_per_s", per_second(io, d));
    put(values, "io_calls_per_request", per_request(io, d));
    let sum = |field: fn(&SyscallStats) -> u64| {
        aggregate
            .syscalls
            .values()
            .fold(0u64, |sum, s| sum.saturating_add(field(s)))
    };
    let (errors, eagain) = (sum(|s| s.errors), sum(|s| s.eagain));
    values.insert("errors", errors as f64);
    put(
        values,
        "eagain_share",
        (io_calls > 0).then(|| eagain as f64 / io),
    );
}

fn put(values: &mut Values, key: &'static str, value: Option<f64>) {
    if let Some(value) = value.filter(|v| v.is_finite()) {
        values.insert(key, value);
    }
}

pub(super) fn section_values(aggregate: &Aggregate, d: &Denominators) -> Values {
    let mut values = Values::new();
    direction_values(&mut values, aggregate, d);
    let sockets = &aggregate.socket_reads;
    if sockets.calls > 0 {
        values.insert("socket_read_calls", sockets.calls as f64);
        put(
            &mut values,
            "socket_read_calls_per_request",
            per_request(sockets.calls as f64, d),
        );
        put(
            &mut values,
            "socket_read_bytes_per_call",
            bytes_per_call(sockets),
        );
    }
    for (target, count_key, key) in [
        (
            WriteTarget::Socket,
            "socket_write_calls",
            "socket_write_calls_per_request",
        ),
        (
            WriteTarget::Anon,
            "anon_write_calls",
            "anon_write_calls_per_request",
        ),
        (
            WriteTarget::Pipe,
            "pipe_write_calls",
            "pipe_write_calls_per_request",
        ),
        (
            WriteTarget::File,
            "file_write_calls",
            "file_write_calls_per_request",
        ),
    ] {
        let mut calls = aggregate.writes_by_kind.get(&target).copied().unwrap_or(0);
        if target == WriteTarget::File {
            calls = calls.saturating_add(
                aggregate
                    .writes_by_kind
                    .get(&WriteTarget::Other)
                    .copied()
                    .unwrap_or(0),
            );
        }
        if calls > 0 {
            values.insert(count_key, calls as f64);
            put(&mut values, key, per_request(calls as f64, d));
        }
    }
    if let Some(io_on_cpu_ns) = aggregate.io_on_cpu_ns {
        put(
            &mut values,
            "io_on_cpu_us_per_request",
            per_request(io_on_cpu_ns as f64 / 1e3, d),
        );
    }
    if let Some(on_cpu_ns) = aggregate.on_cpu_ns {
        let core_seconds = on_cpu_ns as f64 / 1e9;
        values.insert("cpu_core_seconds", core_seconds);
        put(
            &mut values,
            "cpu_average_cores",
            (d.seconds > 0.0).then(|| core_seconds / d.seconds),
        );
        put(&mut values, "cpu_peak_cores", aggregate.peak_cores);
        put(
            &mut values,
            "cpu_us_per_request",
            per_request(on_cpu_ns as f64 / 1e3, d),
        );
    }
    values
}

pub(super) fn syscall_values(stats: &SyscallStats, d: &Denominators) -> Values {
    let mut values = Values::new();
    let calls = stats.calls as f64;
    values.insert("calls", calls);
    put(&mut values, "calls_per_request", per_request(calls, d));
    let successful = stats
        .calls
        .saturating_sub(stats.errors + stats.zero_returns);
    put(
        &mut values,
        "bytes_per_call",
        (successful > 0).then(|| stats.bytes as f64 / successful as f64),
    );
    values.insert("errors", stats.errors as f64);
    values.insert("eagain", stats.eagain as f64);
    if stats.latency.count > 0 {
        values.insert("latency_p50_ns", stats.latency.percentiles.p50 as f64);
        values.insert("latency_p90_ns", stats.latency.percentiles.p90 as f64);
        values.insert("latency_p99_ns", stats.latency.percentiles.p99 as f64);
    }
    if stats.on_cpu.count > 0 {
        let on_cpu = &stats.on_cpu.percentiles;
        let waiting = &stats.waiting.percentiles;
        values.insert("on_cpu_p50_ns", on_cpu.p50 as f64);
        values.insert("on_cpu_p90_ns", on_cpu.p90 as f64);
        values.insert("on_cpu_p99_ns", on_cpu.p99 as f64);
        values.insert(
            "on_cpu_total_ns",
            stats
                .latency_total_ns
                .saturating_sub(stats.waiting_total_ns) as f64,
        );
        values.insert("waiting_p50_ns", waiting.p50 as f64);
        values.insert("waiting_p90_ns", waiting.p90 as f64);
        values.insert("waiting_p99_ns", waiting.p99 as f64);
        values.insert("waiting_total_ns", stats.waiting_total_ns as f64);
    }
    values
}

pub(super) fn load_values(run: &Run) -> Values {
    let mut values = Values::new();
    if let Some(load) = &run.load {
        let latency = &load.latency;
        values.insert("requests", load.requests as f64);
        values.insert("errors", load.errors as f64);
        values.insert("qps", load.qps);
        if !has_latency(load) {
            // `record --requests N` gives a count without a latency.
            return values;
        }
        values.insert("average_ns", latency.average_ns);
        values.insert("p50_ns", latency.p50_ns as f64);
        values.insert("p75_ns", latency.p75_ns as f64);
        values.insert("p90_ns", latency.p90_ns as f64);
        values.insert("p99_ns", latency.p99_ns as f64);
        values.insert("p999_ns", latency.p999_ns as f64);
    }
    values
}

/// Whether a load result measured request latency (a bare request count does not).
#[must_use]
pub fn has_latency(load: &crate::run::LoadResult) -> bool {
    load.latency.p50_ns > 0 || load.latency.average_ns > 0.0
}

/// Fills the coalescing-factor row from the bytes-per-read row: B/read(group) ÷ B/read(base).
pub(super) fn fill_coalescing(table: &mut Table) {
    // Socket reads when every group has them (file reads say nothing about coalescing).
    let socket = table
        .row("socket_read_bytes_per_call")
        .filter(|row| row.values.iter().all(Option::is_some));
    let (bytes, label, metric) = match socket {
        Some(row) => (
            Some(row.values.clone()),
            "coalescing factor (B/socket read ÷ baseline)",
            "socket_read_bytes_per_call",
        ),
        None => (
            table
                .row("read_bytes_per_call")
                .map(|row| row.values.clone()),
            "coalescing factor (B/read ÷ baseline)",
            "read_bytes_per_call",
        ),
    };
    let Some(bytes) = bytes.filter(|b| b.len() > 1) else {
        // A factor needs a baseline and another group.
        table.rows.retain(|row| row.metric != "coalescing_factor");
        return;
    };
    // No factor where the bytes per read rest on too few calls or the process was idle;
    // none at all when that is so for every other group (the baseline's own is then moot).
    let withheld: Vec<bool> = table
        .row(metric)
        .map(|row| {
            row.changes
                .iter()
                .map(|c| c.is_some_and(|c| c.withheld.is_some()))
                .collect()
        })
        .unwrap_or_default();
    let base = bytes[0]
        .map(|s| s.mean)
        .filter(|b| *b > 0.0 && !withheld.iter().skip(1).all(|w| *w));
    let Some(row) = table
        .rows
        .iter_mut()
        .find(|row| row.metric == "coalescing_factor")
    else {
        return;
    };
    label.clone_into(&mut row.label);
    row.values = bytes
        .iter()
        .enumerate()
        .map(|(group, stat)| {
            if withheld.get(group).copied().unwrap_or(false) {
                return None;
            }
            let (base, stat) = (base?, (*stat)?);
            Some(Stat {
                mean: stat.mean / base,
                min: stat.min / base,
                max: stat.max / base,
                runs: stat.runs,
            })
        })
        .collect();
    // The factor is itself the change; its noise call is the bytes-per-read row's.
    row.changes = vec![None; row.values.len()];
    table
        .rows
        .retain(|row| row.metric != "coalescing_factor" || row.values.iter().any(Option::is_some));
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
    use crate::hist::Histogram;

    #[test]
    fn coalescing_factor_and_per_request_values_follow_the_definitions() {
        let comparison = direct_vs_proxy(Some(1000));
        let client = &comparison.sections[0];
        assert_eq!(client.name, "client");
        assert_eq!(mean(client, "read_bytes_per_call", 0), 179.0);
        assert_eq!(mean(client, "read_bytes_per_call", 1), 358.0);
        assert_eq!(mean(client, "coalescing_factor", 1), 2.0);
        assert_eq!(mean(client, "read_calls_per_request", 0), 2.0);
        assert_eq!(mean(client, "read_calls_per_request", 1), 1.0);
        assert_eq!(mean(client, "io_calls_per_request", 0), 3.0);
        assert_eq!(mean(client, "io_calls_per_s", 1), 200.0);
        assert_eq!(mean(client, "cpu_us_per_request", 0), 400.0);
        let cpu = client.row("cpu_us_per_request").unwrap().changes[1].unwrap();
        assert!((cpu.percent.unwrap() + 25.0).abs() < 1e-9);
        let io = client.row("io_calls_per_request").unwrap().changes[1].unwrap();
        assert!((io.percent.unwrap() + 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(io.within_noise, None, "one run per side: noise unknown");
        // Sizes side by side: 178 and 180 exact on the direct side, 358 through the proxy.
        let lows = |h: &Histogram| {
            h.buckets
                .iter()
                .map(|b| (b.low, b.width, b.count))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            lows(&client.read_sizes[0]),
            [(178, 1, 1000), (180, 1, 1000)]
        );
        assert_eq!(client.read_sizes[1].count, 1000);
    }

    #[test]
    fn per_request_values_need_a_request_count() {
        let comparison = direct_vs_proxy(None);
        let client = &comparison.sections[0];
        assert!(client.row("io_calls_per_request").is_none());
        assert!(client.row("cpu_us_per_request").is_none());
        assert!(
            comparison
                .notes
                .iter()
                .any(|n| n.contains("no request count"))
        );
        assert!(
            comparison.verdict[0].contains("I/O syscalls per second"),
            "{:?}",
            comparison.verdict
        );

        let mut direct = sample::direct("direct", 1000, 400_000_000);
        direct.load = Some(sample::load(500, 0.89, 0.85));
        let mut proxy = sample::proxied("proxy", 1000, 300_000_000);
        proxy.load = Some(sample::load(500, 0.80, 0.81));
        let comparison = compare(&[input(direct), input(proxy)], &Options::default()).unwrap();
        assert_eq!(
            comparison.groups[0].runs[0].requests_from.as_deref(),
            Some("fortio")
        );
        assert_eq!(
            mean(&comparison.sections[0], "read_calls_per_request", 0),
            4.0
        );
    }

    #[test]
    fn a_bare_request_count_gives_per_request_values_but_no_latency() {
        let counted = |mut run: Run| {
            run.load = Some(crate::run::LoadResult {
                tool: "manual".into(),
                requests: 1000,
                ..crate::run::LoadResult::default()
            });
            input(run)
        };
        let inputs = [
            counted(sample::direct("direct", 1000, 400_000_000)),
            counted(sample::proxied("proxy", 1000, 300_000_000)),
        ];
        let comparison = compare(&inputs, &Options::default()).unwrap();
        assert_eq!(
            mean(&comparison.sections[0], "read_calls_per_request", 1),
            1.0
        );
        let load = comparison.load.as_ref().unwrap();
        assert!(load.row("requests").is_some() && load.row("p50_ns").is_none());
        assert!(
            !comparison.verdict[0].contains("latency"),
            "{:?}",
            comparison.verdict
        );
    }
}
