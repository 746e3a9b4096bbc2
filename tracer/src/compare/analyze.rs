//! Runs -> [`Comparison`]: groups runs, matches processes across them, computes the per-run
//! metrics (calls, per second, per request, bytes per call, CPU) and their mean and spread per
//! group, and the change of each group against the baseline. Pure: no I/O.
use std::collections::BTreeMap;

use super::model::{
    Better, Change, Comparison, Group, IntervalPoint, KIND, Row, RunInfo, SCHEMA, Section, Stat,
    SyscallTable, Table, Unit,
};
use crate::{
    hist::Histogram,
    run::{Direction, Run, SyscallStats},
};

/// A run and the file it came from.
#[derive(Clone, Debug)]
pub struct Input {
    pub file: String,
    pub run: Run,
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Put runs whose labels differ only by a run number ("ambient run 2") in one group.
    pub group_by_label: bool,
    /// Requests per run, overriding the load generator's count.
    pub requests: Option<u64>,
}

/// Why runs cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Fewer than two runs.
    #[error(
        "compare needs at least two run files (a baseline and another); for one run use `tracer report RUN.json`"
    )]
    NotEnoughRuns,
    /// `--group` put every run in the same group.
    #[error(
        "all runs have the label \"{label}\", so --group makes a single group: give the other setup's runs another `--label` when recording, or drop --group"
    )]
    OneGroup { label: String },
    /// The groups traced different programs.
    #[error(
        "the runs have no common target ({listing}): record the same program in every run so its numbers can be compared"
    )]
    NoCommonTarget { listing: String },
}

/// The group a run label belongs to with `--group`: the label without a trailing run number
/// (`ambient run 2`, `ambient-2`, `ambient #2` -> `ambient`).
#[must_use]
pub fn group_name(label: &str) -> String {
    let trimmed = label.trim_end();
    let without_digits = trimmed.trim_end_matches(|c: char| c.is_ascii_digit());
    if without_digits.len() == trimmed.len() || without_digits.is_empty() {
        return trimmed.to_owned();
    }
    let mut rest = without_digits.trim_end_matches([' ', '_', '-', '#']);
    for word in ["run", "Run", "RUN"] {
        if let Some(stripped) = rest.strip_suffix(word) {
            rest = stripped.trim_end_matches([' ', '_', '-']);
            break;
        }
    }
    // Only strip when the number was separated from the name: "http2" stays "http2".
    if rest.len() == without_digits.len() || rest.is_empty() {
        trimmed.to_owned()
    } else {
        rest.to_owned()
    }
}

/// The label shown for a run: its `--label`, else the file name without `.json`.
fn run_label(input: &Input) -> String {
    input
        .run
        .label
        .clone()
        .filter(|l| !l.trim().is_empty())
        .unwrap_or_else(|| {
            let name = std::path::Path::new(&input.file)
                .file_name()
                .map_or_else(|| input.file.clone(), |n| n.to_string_lossy().into_owned());
            name.strip_suffix(".json")
                .map(str::to_owned)
                .unwrap_or(name)
        })
}

/// Compares two or more runs; the first run's group is the baseline.
pub fn compare(inputs: &[Input], options: &Options) -> Result<Comparison, CompareError> {
    if inputs.len() < 2 {
        return Err(CompareError::NotEnoughRuns);
    }
    let grouped = group(inputs, options.group_by_label);
    if grouped.len() < 2 {
        return Err(CompareError::OneGroup {
            label: grouped[0].0.clone(),
        });
    }
    check_common_target(&grouped)?;
    Ok(build(&grouped, options))
}

/// One run shown on its own (`tracer report`): the same tables with a single column.
#[must_use]
pub fn summarize(input: &Input, options: &Options) -> Comparison {
    build(&[(run_label(input), vec![input])], options)
}

type Grouped<'a> = Vec<(String, Vec<&'a Input>)>;

fn group(inputs: &[Input], by_label: bool) -> Grouped<'_> {
    let mut groups: Grouped<'_> = Vec::new();
    for input in inputs {
        let label = run_label(input);
        if !by_label {
            // Two runs recorded with the same --label still need telling apart.
            let label = if groups.iter().any(|(existing, _)| *existing == label) {
                format!("{label} ({})", input.file)
            } else {
                label
            };
            groups.push((label, vec![input]));
            continue;
        }
        let name = group_name(&label);
        match groups.iter_mut().find(|(existing, _)| *existing == name) {
            Some((_, runs)) => runs.push(input),
            None => groups.push((name, vec![input])),
        }
    }
    groups
}

fn target_names(runs: &[&Input]) -> Vec<String> {
    let mut names: Vec<String> = runs
        .iter()
        .flat_map(|input| input.run.targets.iter().map(|t| t.name.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn check_common_target(grouped: &Grouped<'_>) -> Result<(), CompareError> {
    let per_group: Vec<Vec<String>> = grouped.iter().map(|(_, runs)| target_names(runs)).collect();
    let common = per_group[0]
        .iter()
        .any(|name| per_group.iter().all(|names| names.contains(name)));
    if common {
        return Ok(());
    }
    let listing = grouped
        .iter()
        .zip(&per_group)
        .map(|((label, _), names)| {
            let names = if names.is_empty() {
                "nothing".to_owned()
            } else {
                names.join(", ")
            };
            format!("{label} traced {names}")
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(CompareError::NoCommonTarget { listing })
}

/// Which processes of a run a section covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
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
struct Aggregate {
    pids: Vec<u32>,
    syscalls: BTreeMap<String, SyscallStats>,
    on_cpu_ns: Option<u64>,
    peak_cores: Option<f64>,
    /// Read-like calls on fds known to be sockets (from the per-fd breakdown).
    socket_reads: crate::run::DirectionTotals,
}

/// Adds `[calls, bytes, errors, eagain, zero_returns]`; saturating, as a damaged run file must
/// not make a report panic.
fn add_totals(
    into: &mut crate::run::DirectionTotals,
    [calls, bytes, errors, eagain, zero]: [u64; 5],
) {
    into.calls = into.calls.saturating_add(calls);
    into.bytes = into.bytes.saturating_add(bytes);
    into.errors = into.errors.saturating_add(errors);
    into.eagain = into.eagain.saturating_add(eagain);
    into.zero_returns = into.zero_returns.saturating_add(zero);
}

/// [`crate::run::DirectionTotals::bytes_per_call`], or `None` for counters that do not add up
/// (more failed calls than calls: a damaged file).
#[must_use]
pub fn bytes_per_call(totals: &crate::run::DirectionTotals) -> Option<f64> {
    let unsuccessful = totals.errors.checked_add(totals.zero_returns)?;
    (unsuccessful <= totals.calls)
        .then(|| totals.bytes_per_call())
        .flatten()
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
    into.size = into.size.merged(&from.size);
    into.latency = into.latency.merged(&from.latency);
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

fn aggregate(run: &Run, scope: &Scope) -> Option<Aggregate> {
    let processes: Vec<_> = members(run, scope).collect();
    if processes.is_empty() && *scope != Scope::All {
        return None;
    }
    let mut aggregate = Aggregate::default();
    let mut cores_series: Vec<f64> = Vec::new();
    for process in &processes {
        aggregate.pids.push(process.pid);
        for fd in process.fds.iter().filter(|fd| is_socket(fd.kind)) {
            // An fd's kind is as last seen, and fd numbers are reused: a read() on an fd that
            // also saw recv*() was most likely a file's, before the number became this
            // socket's. recv*() only works on sockets; pread64 never does.
            let recv_family = |name: &str| name.starts_with("recv");
            let has_recv = process
                .fds
                .iter()
                .any(|other| other.fd == fd.fd && recv_family(&other.syscall));
            if fd.syscall == "pread64" || (has_recv && !recv_family(&fd.syscall)) {
                continue;
            }
            if process
                .syscall(&fd.syscall)
                .is_some_and(|s| s.direction == Direction::Read)
            {
                add_totals(
                    &mut aggregate.socket_reads,
                    [fd.calls, fd.bytes, fd.errors, fd.eagain, fd.zero_returns],
                );
            }
        }
        for stats in &process.syscalls {
            merge_stats(
                aggregate.syscalls.entry(stats.syscall.clone()).or_default(),
                stats,
            );
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

/// Duration and request count of a run, the denominators of rates.
struct Denominators {
    seconds: f64,
    requests: Option<u64>,
}

fn per_second(count: f64, d: &Denominators) -> Option<f64> {
    (d.seconds > 0.0).then(|| count / d.seconds)
}

fn per_request(value: f64, d: &Denominators) -> Option<f64> {
    d.requests.filter(|r| *r > 0).map(|r| value / r as f64)
}

/// A metric definition: key, words, unit, direction of improvement.
struct Spec {
    metric: &'static str,
    label: &'static str,
    unit: Unit,
    better: Better,
}

const fn spec(metric: &'static str, label: &'static str, unit: Unit, better: Better) -> Spec {
    Spec {
        metric,
        label,
        unit,
        better,
    }
}

const SECTION_SPECS: &[Spec] = &[
    spec("io_calls", "I/O syscalls", Unit::Count, Better::Neutral),
    spec(
        "io_calls_per_s",
        "I/O syscalls per second",
        Unit::PerSecond,
        Better::Neutral,
    ),
    spec(
        "io_calls_per_request",
        "I/O syscalls per request",
        Unit::PerRequest,
        Better::Lower,
    ),
    spec(
        "read_calls",
        "reads (read-like calls)",
        Unit::Count,
        Better::Neutral,
    ),
    spec(
        "read_calls_per_s",
        "reads per second",
        Unit::PerSecond,
        Better::Neutral,
    ),
    spec(
        "read_calls_per_request",
        "reads per request",
        Unit::PerRequest,
        Better::Lower,
    ),
    spec(
        "read_bytes_per_call",
        "bytes per read",
        Unit::Bytes,
        Better::Higher,
    ),
    spec(
        "socket_read_calls_per_request",
        "socket reads per request",
        Unit::PerRequest,
        Better::Lower,
    ),
    spec(
        "socket_read_bytes_per_call",
        "bytes per socket read",
        Unit::Bytes,
        Better::Higher,
    ),
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
    ),
    spec(
        "write_calls_per_s",
        "writes per second",
        Unit::PerSecond,
        Better::Neutral,
    ),
    spec(
        "write_calls_per_request",
        "writes per request",
        Unit::PerRequest,
        Better::Lower,
    ),
    spec(
        "write_bytes_per_call",
        "bytes per write",
        Unit::Bytes,
        Better::Higher,
    ),
    spec("errors", "errors", Unit::Count, Better::Lower),
    spec(
        "eagain_share",
        "EAGAIN share of calls",
        Unit::Share,
        Better::Lower,
    ),
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
];

const SYSCALL_SPECS: &[Spec] = &[
    spec("calls", "calls", Unit::Count, Better::Neutral),
    spec(
        "calls_per_request",
        "calls per request",
        Unit::PerRequest,
        Better::Lower,
    ),
    spec(
        "bytes_per_call",
        "bytes per call",
        Unit::Bytes,
        Better::Higher,
    ),
    spec("errors", "errors", Unit::Count, Better::Lower),
    spec("eagain", "EAGAIN", Unit::Count, Better::Lower),
    spec(
        "latency_p50_ns",
        "latency p50",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    spec(
        "latency_p90_ns",
        "latency p90",
        Unit::Nanoseconds,
        Better::Lower,
    ),
    spec(
        "latency_p99_ns",
        "latency p99",
        Unit::Nanoseconds,
        Better::Lower,
    ),
];

const LOAD_SPECS: &[Spec] = &[
    spec("requests", "requests", Unit::Count, Better::Neutral),
    spec("errors", "failed requests", Unit::Count, Better::Lower),
    spec(
        "qps",
        "requests per second",
        Unit::RequestsPerSecond,
        Better::Higher,
    ),
    spec("average_ns", "average", Unit::Nanoseconds, Better::Lower),
    spec("p50_ns", "P50", Unit::Nanoseconds, Better::Lower),
    spec("p75_ns", "P75", Unit::Nanoseconds, Better::Lower),
    spec("p90_ns", "P90", Unit::Nanoseconds, Better::Lower),
    spec("p99_ns", "P99", Unit::Nanoseconds, Better::Lower),
    spec("p999_ns", "P99.9", Unit::Nanoseconds, Better::Lower),
];

type Values = BTreeMap<&'static str, f64>;

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

fn section_values(aggregate: &Aggregate, d: &Denominators) -> Values {
    let mut values = Values::new();
    direction_values(&mut values, aggregate, d);
    let sockets = &aggregate.socket_reads;
    if sockets.calls > 0 {
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

fn syscall_values(stats: &SyscallStats, d: &Denominators) -> Values {
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
    values
}

fn load_values(run: &Run) -> Values {
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

/// Builds rows from per-group, per-run values: mean and spread per group, change against
/// group 0.
fn build_table(specs: &[Spec], per_group: &[Vec<Values>]) -> Table {
    let rows = specs
        .iter()
        .map(|spec| {
            let values: Vec<Option<Stat>> = per_group
                .iter()
                .map(|runs| {
                    let found: Vec<f64> = runs.iter().filter_map(|v| v.get(spec.metric).copied()).collect();
                    Stat::of(&found)
                })
                .collect();
            Row {
                metric: spec.metric.to_owned(),
                label: spec.label.to_owned(),
                unit: spec.unit,
                better: spec.better,
                changes: changes(&values),
                values,
            }
        })
        .filter(|row| row.values.iter().any(Option::is_some) || row.metric == "coalescing_factor")
        // Error rows of a syscall that never failed say nothing.
        .filter(|row| {
            !matches!(row.metric.as_str(), "eagain" | "errors" if specs.len() == SYSCALL_SPECS.len())
                || row.values.iter().flatten().any(|s| s.max > 0.0)
        })
        .collect();
    Table { rows }
}

fn changes(values: &[Option<Stat>]) -> Vec<Option<Change>> {
    values
        .iter()
        .enumerate()
        .map(
            |(index, value)| match (index, values.first().copied().flatten(), value) {
                (0, ..) | (_, None, _) | (_, _, None) => None,
                (_, Some(base), Some(other)) => Some(Change::between(&base, other)),
            },
        )
        .collect()
}

/// Fills the coalescing-factor row from the bytes-per-read row: B/read(group) ÷ B/read(base).
fn fill_coalescing(table: &mut Table) {
    // Socket reads when every group has them (file reads say nothing about coalescing).
    let socket = table
        .row("socket_read_bytes_per_call")
        .filter(|row| row.values.iter().all(Option::is_some));
    let (bytes, label) = match socket {
        Some(row) => (
            Some(row.values.clone()),
            "coalescing factor (B/socket read ÷ baseline)",
        ),
        None => (
            table
                .row("read_bytes_per_call")
                .map(|row| row.values.clone()),
            "coalescing factor (B/read ÷ baseline)",
        ),
    };
    let Some(bytes) = bytes.filter(|b| b.len() > 1) else {
        // A factor needs a baseline and another group.
        table.rows.retain(|row| row.metric != "coalescing_factor");
        return;
    };
    let Some(row) = table
        .rows
        .iter_mut()
        .find(|row| row.metric == "coalescing_factor")
    else {
        return;
    };
    label.clone_into(&mut row.label);
    let base = bytes[0].map(|s| s.mean).filter(|b| *b > 0.0);
    row.values = bytes
        .iter()
        .map(|stat| {
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

fn build(grouped: &[(String, Vec<&Input>)], options: &Options) -> Comparison {
    let mut notes = Vec::new();
    let groups: Vec<Group> = grouped
        .iter()
        .map(|(label, runs)| Group {
            label: label.clone(),
            runs: runs.iter().map(|i| run_info(i, options)).collect(),
        })
        .collect();
    let denominators: Vec<Vec<Denominators>> = groups
        .iter()
        .map(|g| {
            g.runs
                .iter()
                .map(|r| Denominators {
                    seconds: r.duration_ns as f64 / 1e9,
                    requests: r.requests,
                })
                .collect()
        })
        .collect();

    let scopes = scopes(grouped);
    let mut sections: Vec<Section> = scopes
        .iter()
        .map(|scope| section(scope, grouped, &denominators))
        .collect();
    if sections.len() > 1 {
        sections.push(section(&Scope::All, grouped, &denominators));
    }

    let load_per_group: Vec<Vec<Values>> = grouped
        .iter()
        .map(|(_, runs)| runs.iter().map(|i| load_values(&i.run)).collect())
        .collect();
    let load = load_per_group
        .iter()
        .flatten()
        .any(|v| !v.is_empty())
        .then(|| build_table(LOAD_SPECS, &load_per_group));

    for (group, runs) in groups.iter().zip(grouped.iter().map(|(_, runs)| runs)) {
        for (info, input) in group.runs.iter().zip(runs) {
            if !input.run.losses.is_complete() {
                notes.push(format!(
                    "{} ({}) is incomplete: the kernel could not record everything ({:?}); its counts are lower bounds",
                    info.label, info.file, input.run.losses
                ));
            }
            if info.requests.is_none() {
                notes.push(format!(
                    "{} has no request count (no load-generator result and no --requests): per-request values are left out",
                    info.label
                ));
            }
        }
    }
    if let Some(first) = sections.first() {
        for (index, group) in groups.iter().enumerate() {
            if !first.present(index) {
                notes.push(format!("{} was not traced in {}", first.name, group.label));
            }
        }
    }
    notes.push(
        "socket reads are told from the per-fd breakdown, which knows an fd's kind as it was last seen; \
         read() calls on an fd number that also saw recv*() are left out of them as most likely a file's, \
         before the number was reused for the socket"
            .to_owned(),
    );
    notes.push(
        "syscall latency percentiles are histogram bucket midpoints, within the stated relative error; payload sizes below 256 B are exact"
            .to_owned(),
    );

    let mut comparison = Comparison {
        kind: KIND,
        schema: SCHEMA,
        tool: format!("tracer {}", env!("CARGO_PKG_VERSION")),
        groups,
        load,
        sections,
        verdict: Vec::new(),
        notes,
    };
    comparison.verdict = super::verdict::sentences(&comparison);
    comparison
}

fn run_info(input: &Input, options: &Options) -> RunInfo {
    let run = &input.run;
    let (requests, requests_from) = match (options.requests, &run.load) {
        (Some(n), _) => (Some(n), Some("--requests".to_owned())),
        (None, Some(load)) if load.requests > 0 => (Some(load.requests), Some(load.tool.clone())),
        _ => (None, None),
    };
    let mut previous_end_ns = 0;
    let intervals = run
        .intervals
        .iter()
        .map(|interval| {
            let seconds = interval.end_ns.saturating_sub(previous_end_ns) as f64 / 1e9;
            previous_end_ns = interval.end_ns;
            let calls = (interval.read_calls + interval.write_calls) as f64;
            IntervalPoint {
                end_s: interval.end_ns as f64 / 1e9,
                syscalls_per_s: if seconds > 0.0 { calls / seconds } else { 0.0 },
                cores: interval.cores,
            }
        })
        .collect();
    RunInfo {
        label: run_label(input),
        file: input.file.clone(),
        duration_ns: run.duration_ns,
        requests,
        requests_from,
        mechanism: run.probe.mechanism.clone(),
        load: run.load.clone(),
        intervals,
    }
}

/// Process scopes in order of first appearance, baseline first; processes of a common target
/// come before the others so the verdict speaks about what both sides traced.
fn scopes(grouped: &[(String, Vec<&Input>)]) -> Vec<Scope> {
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

/// One table per syscall made in any run, read-like first.
type Aggregates = [Vec<Option<Aggregate>>];

fn syscall_tables(
    aggregates: &Aggregates,
    denominators: &[Vec<Denominators>],
) -> Vec<SyscallTable> {
    let mut names: Vec<(Direction, String)> = aggregates
        .iter()
        .flatten()
        .flatten()
        .flat_map(|a| {
            a.syscalls
                .values()
                .map(|s| (s.direction, s.syscall.clone()))
        })
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|(direction, name)| {
            let mut max_relative_error: f64 = 0.0;
            let values: Vec<Vec<Values>> = aggregates
                .iter()
                .zip(denominators)
                .map(|(runs, ds)| {
                    runs.iter()
                        .zip(ds)
                        .filter_map(|(a, d)| {
                            let stats = a.as_ref()?.syscalls.get(&name)?;
                            max_relative_error =
                                max_relative_error.max(stats.latency.max_relative_error);
                            Some(syscall_values(stats, d))
                        })
                        .collect()
                })
                .collect();
            SyscallTable {
                syscall: name,
                direction,
                latency_max_relative_error: max_relative_error,
                table: build_table(SYSCALL_SPECS, &values),
            }
        })
        .collect()
}

fn section(
    scope: &Scope,
    grouped: &[(String, Vec<&Input>)],
    denominators: &[Vec<Denominators>],
) -> Section {
    let aggregates: Vec<Vec<Option<Aggregate>>> = grouped
        .iter()
        .map(|(_, runs)| {
            runs.iter()
                .map(|input| aggregate(&input.run, scope))
                .collect()
        })
        .collect();

    let values: Vec<Vec<Values>> = aggregates
        .iter()
        .zip(denominators)
        .map(|(runs, ds)| {
            runs.iter()
                .zip(ds)
                .filter_map(|(a, d)| a.as_ref().map(|a| section_values(a, d)))
                .collect()
        })
        .collect();
    let mut table = build_table(SECTION_SPECS, &values);
    fill_coalescing(&mut table);

    let syscalls = syscall_tables(&aggregates, denominators);

    let histogram = |direction: Direction, latency: bool| -> Vec<Histogram> {
        aggregates
            .iter()
            .map(|runs| {
                runs.iter()
                    .flatten()
                    .flat_map(|a| a.syscalls.values())
                    .filter(|s| s.direction == direction)
                    .fold(Histogram::default(), |sum, s| {
                        sum.merged(if latency { &s.latency } else { &s.size })
                    })
            })
            .collect()
    };

    let (name, target, process) = match scope {
        Scope::Process {
            target, process, ..
        } => {
            let name = if target == process {
                process.clone()
            } else {
                format!("{process} (target {target})")
            };
            (name, Some(target.clone()), Some(process.clone()))
        }
        Scope::All => ("all traced processes".to_owned(), None, None),
    };
    Section {
        name,
        target,
        process,
        pids: aggregates
            .iter()
            .map(|runs| {
                let mut pids: Vec<u32> = runs
                    .iter()
                    .flatten()
                    .flat_map(|a| a.pids.iter().copied())
                    .collect();
                pids.sort_unstable();
                pids.dedup();
                pids
            })
            .collect(),
        table,
        syscalls,
        read_sizes: histogram(Direction::Read, false),
        write_sizes: histogram(Direction::Write, false),
        read_latency: histogram(Direction::Read, true),
        write_latency: histogram(Direction::Write, true),
    }
}

#[cfg(test)]
#[expect(
    clippy::float_cmp,
    reason = "the expected values are exact in binary floating point"
)]
mod tests {
    use super::*;
    use crate::compare::sample;

    fn input(run: Run) -> Input {
        Input {
            file: format!("{}.json", run.label.clone().unwrap_or_default()),
            run,
        }
    }

    fn mean(section: &Section, metric: &str, group: usize) -> f64 {
        section
            .row(metric)
            .and_then(|r| r.values[group])
            .map_or(f64::NAN, |s| s.mean)
    }

    fn direct_vs_proxy(requests: Option<u64>) -> Comparison {
        let inputs = [
            input(sample::direct("direct", 1000, 400_000_000)),
            input(sample::proxied("proxy", 1000, 300_000_000)),
        ];
        compare(
            &inputs,
            &Options {
                group_by_label: false,
                requests,
            },
        )
        .unwrap()
    }

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

    #[test]
    fn verdict_states_syscalls_bytes_cpu_and_latency_in_words() {
        let mut direct = sample::direct("no-mesh", 1000, 400_000_000);
        direct.load = Some(sample::load(1000, 0.89, 0.85));
        let mut proxy = sample::proxied("ambient", 1000, 300_000_000);
        proxy.load = Some(sample::load(1000, 0.80, 0.81));
        let comparison = compare(&[input(direct), input(proxy)], &Options::default()).unwrap();
        assert_eq!(
            comparison.verdict[0],
            "ambient vs no-mesh: client: 33% fewer I/O syscalls per request (3.0 → 2.0); reads carry 2.0× more bytes \
             (179 → 358 B); CPU per request −25%; request latency 11% faster on average and 5% faster on P90."
        );
        assert_eq!(
            comparison.verdict[1],
            "ambient vs no-mesh, all traced processes: 133% more I/O syscalls per request (3.0 → 7.0); reads carry \
             1.6× more bytes (179 → 278 B); CPU per request +12%."
        );
    }

    #[test]
    fn groups_show_mean_and_spread_and_call_small_differences_noise() {
        let runs: Vec<Input> = [
            ("no-mesh run 1", 400),
            ("no-mesh run 2", 410),
            ("no-mesh run 3", 390),
        ]
        .iter()
        .map(|&(label, cpu_ms)| input(sample::direct(label, 1000, cpu_ms * 1_000_000)))
        .chain(
            [
                ("ambient run 1", 395),
                ("ambient run 2", 300),
                ("ambient run 3", 405),
            ]
            .iter()
            .map(|&(label, cpu_ms)| input(sample::direct(label, 1000, cpu_ms * 1_000_000))),
        )
        .collect();
        let comparison = compare(
            &runs,
            &Options {
                group_by_label: true,
                requests: Some(1000),
            },
        )
        .unwrap();
        assert_eq!(
            comparison
                .groups
                .iter()
                .map(|g| (g.label.as_str(), g.runs.len()))
                .collect::<Vec<_>>(),
            [("no-mesh", 3), ("ambient", 3)]
        );
        let row = comparison.sections[0].row("cpu_us_per_request").unwrap();
        let base = row.values[0].unwrap();
        assert_eq!(
            (base.mean, base.min, base.max, base.runs),
            (400.0, 390.0, 410.0, 3)
        );
        // Ambient mean 366.7 is 33 below, inside ambient's 105 µs run-to-run range.
        assert_eq!(row.changes[1].unwrap().within_noise, Some(true));
        assert!(
            comparison.verdict[0].contains("(within run-to-run noise)"),
            "{:?}",
            comparison.verdict
        );
        // Identical I/O: the same, and no noise needed to say so.
        assert_eq!(row.changes[1].unwrap().is_better(Better::Lower), None);
        let io = comparison.sections[0]
            .row("io_calls_per_request")
            .unwrap()
            .changes[1]
            .unwrap();
        assert_eq!(io.percent, Some(0.0));
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
            comparison.verdict[0].starts_with("again vs direct: client:"),
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

    #[test]
    fn runs_with_the_same_label_are_told_apart_by_file() {
        let inputs = [
            input(sample::direct("direct", 10, 1)),
            Input {
                file: "second.json".into(),
                run: sample::direct("direct", 10, 1),
            },
        ];
        let comparison = compare(&inputs, &Options::default()).unwrap();
        let labels: Vec<&str> = comparison.groups.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, ["direct", "direct (second.json)"]);
    }

    #[test]
    fn run_numbers_are_stripped_only_when_separated() {
        for (label, group) in [
            ("ambient run 2", "ambient"),
            ("ambient-3", "ambient"),
            ("no mesh #1", "no mesh"),
            ("Run_1", "Run_1"),
            ("http2", "http2"),
            ("no-mesh-run-12", "no-mesh"),
            ("42", "42"),
        ] {
            assert_eq!(group_name(label), group, "{label}");
        }
    }

    #[test]
    fn runs_that_cannot_be_compared_are_refused_with_a_reason() {
        let one = [input(sample::direct("a", 10, 1))];
        assert!(matches!(
            compare(&one, &Options::default()),
            Err(CompareError::NotEnoughRuns)
        ));

        let same = [
            input(sample::direct("a run 1", 10, 1)),
            input(sample::direct("a run 2", 10, 1)),
        ];
        let error = compare(
            &same,
            &Options {
                group_by_label: true,
                requests: None,
            },
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("all runs have the label \"a\""),
            "{error}"
        );

        let mut other = sample::direct("b", 10, 1);
        other.targets[0].name = "curl".into();
        let error = compare(
            &[input(sample::direct("a", 10, 1)), input(other)],
            &Options::default(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the runs have no common target (a traced client; b traced curl): record the same program in every run so its numbers can be compared"
        );
    }

    #[test]
    fn a_single_run_is_summarized_without_change_columns() {
        let summary = summarize(
            &input(sample::proxied("proxy", 100, 1_000_000)),
            &Options::default(),
        );
        assert_eq!(summary.groups.len(), 1);
        assert!(summary.verdict.is_empty());
        let client = &summary.sections[0];
        assert!(
            client
                .table
                .rows
                .iter()
                .all(|r| r.values.len() == 1 && r.changes == [None])
        );
        assert!(client.row("coalescing_factor").is_none());
    }
}
