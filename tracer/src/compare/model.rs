//! The comparison as data: what every renderer (text, Markdown, JSON, HTML) shows, computed
//! once. Serialized as-is for `--format json` under its own `kind` and `schema`.
use serde::Serialize;

use crate::{hist::Histogram, run::LoadResult};

/// Value of `kind` in a JSON comparison, so it is not mistaken for a run file.
pub const KIND: &str = "tracer-comparison";
/// Value of `kind` in the JSON report of a single run (`tracer report`): the same layout as a
/// comparison, with one group and no changes.
pub const REPORT_KIND: &str = "tracer-report";
/// Version of the JSON comparison layout.
pub const SCHEMA: u32 = 1;

/// Fewest calls a value must rest on, on both sides, for its change to be stated: a latency
/// percentile or a bytes-per-call ratio of a handful of calls says nothing. Below it the
/// change reads "too few calls" and is never coloured or used in a verdict; a process that
/// made fewer I/O syscalls than this in a run is "idle" there.
pub const MIN_CALLS: u64 = 30;

/// Runs side by side: the first group is the baseline, every other group is compared with it.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub kind: &'static str,
    pub schema: u32,
    /// The tracer that compared, e.g. `tracer 0.1.0`.
    pub tool: String,
    pub groups: Vec<Group>,
    /// Request latency and rate from the load generator, when runs carry one.
    pub load: Option<Table>,
    /// One per traced process (matched across runs by target name, then process name), then
    /// the sum over all traced processes when there is more than one.
    pub sections: Vec<Section>,
    /// Plain-words summary: per non-baseline group one sentence per role (client, servers,
    /// proxies = the mesh's cost) and one for the total.
    pub verdict: Vec<String>,
    /// The process the headline speaks about when `--focus` named it.
    pub focus: Option<String>,
    /// [`MIN_CALLS`], stated so readers of the JSON know why a change is withheld.
    pub min_calls: u64,
    /// Things the reader must know to trust the numbers (losses, missing request counts, ...).
    pub notes: Vec<String>,
}

/// Runs that stand for one setup (e.g. "ambient", runs 1..3).
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub label: String,
    pub runs: Vec<RunInfo>,
}

/// What a renderer needs to know about one run besides its statistics.
#[derive(Clone, Debug, Serialize)]
pub struct RunInfo {
    pub label: String,
    pub file: String,
    pub duration_ns: u64,
    /// Requests the "per request" values divide by, when known.
    pub requests: Option<u64>,
    /// Where `requests` came from: `fortio`, `oha`, `--requests`.
    pub requests_from: Option<String>,
    pub mechanism: String,
    pub load: Option<LoadResult>,
    /// Per-interval rate and CPU, for charts over time.
    pub intervals: Vec<IntervalPoint>,
    /// Where and how the run was recorded, for the report's header.
    pub context: RunContext,
}

/// Where, when and how a run was recorded (from its run file).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunContext {
    /// `started_at` of the run file (UTC).
    pub started_at: String,
    pub hostname: String,
    pub kernel: String,
    pub arch: String,
    pub cpus: u32,
    /// The tracer that recorded, e.g. `tracer 0.1.0`.
    pub recorded_by: String,
    /// Mean probe cost per program run, when `--cost-sampling` measured it.
    pub probe_ns_per_run: Option<f64>,
    /// Targets as given (`command:oha ...`, `pid:1234`, `pod:ns/name`), with their names.
    pub targets: Vec<String>,
    /// The run's `--label`, if any.
    pub label: Option<String>,
    /// Why the recording ended (`duration`, `interrupted`, `command_exited`, ...).
    pub end_reason: String,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct IntervalPoint {
    /// Start and end of the interval, seconds after the start of the run.
    pub start_s: f64,
    pub end_s: f64,
    /// Calls over the interval's true length.
    pub syscalls_per_s: f64,
    pub cores: f64,
    /// Whether a traced process exited during the interval in a schema-1 run file: its CPU
    /// after its last sample is missing from `cores` (schema 2 has every exiting thread's CPU
    /// from the kernel).
    pub exits: bool,
}

/// One traced process (all its PIDs with the same target and name), or the total.
#[derive(Clone, Debug, Serialize)]
pub struct Section {
    /// Display name: `curl (target curl)` or `all traced processes`.
    pub name: String,
    pub target: Option<String>,
    pub process: Option<String>,
    /// What the process is to the comparison; `None` for the total.
    pub role: Option<Role>,
    /// Per group: PIDs seen (empty when the process was not traced in that group).
    pub pids: Vec<Vec<u32>>,
    /// Per group: traced but made fewer than [`MIN_CALLS`] I/O syscalls (no ratios).
    pub idle: Vec<bool>,
    pub table: Table,
    pub syscalls: Vec<SyscallTable>,
    /// Per group, summed over its runs.
    pub read_sizes: Vec<Histogram>,
    pub write_sizes: Vec<Histogram>,
    pub read_latency: Vec<Histogram>,
    pub write_latency: Vec<Histogram>,
}

impl Section {
    /// Whether the process was traced in group `group`.
    #[must_use]
    pub fn present(&self, group: usize) -> bool {
        self.pids.get(group).is_some_and(|pids| !pids.is_empty()) || self.target.is_none()
    }

    #[must_use]
    pub fn row(&self, metric: &str) -> Option<&Row> {
        self.table.row(metric)
    }
}

/// The part a traced process plays, for the verdict's one line per role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The load generator or traced command (or the `--focus` process): the headline.
    Client,
    /// Another process traced on every side (the application).
    Server,
    /// A process only the non-baseline side has (or named like a proxy): the mesh's cost.
    Proxy,
}

impl Role {
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
            Self::Proxy => "proxy",
        }
    }
}

/// One syscall's rows within a section.
#[derive(Clone, Debug, Serialize)]
pub struct SyscallTable {
    pub syscall: String,
    pub direction: crate::run::Direction,
    /// Latency percentiles are bucket midpoints within this fraction of the true value.
    pub latency_max_relative_error: f64,
    pub table: Table,
}

/// Metrics (rows) by group (columns).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Table {
    pub rows: Vec<Row>,
}

impl Table {
    #[must_use]
    pub fn row(&self, metric: &str) -> Option<&Row> {
        self.rows.iter().find(|row| row.metric == metric)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Machine name, e.g. `read_bytes_per_call`.
    pub metric: String,
    /// The user's words, e.g. `bytes per read`.
    pub label: String,
    pub unit: Unit,
    pub better: Better,
    /// Per group; `None` when not measured (no request count, process not traced, ...).
    pub values: Vec<Option<Stat>>,
    /// Per group against the baseline; `None` for the baseline itself and when not comparable.
    pub changes: Vec<Option<Change>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Count,
    PerSecond,
    PerRequest,
    Bytes,
    /// A ratio shown as `2.00×`.
    Factor,
    /// A share, 0..=1, shown as a percentage.
    Share,
    Nanoseconds,
    CoreSeconds,
    Cores,
    /// µs of CPU per request.
    MicrosecondsPerRequest,
    RequestsPerSecond,
}

/// Which direction of change is an improvement, for colouring and wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
    /// Neither (e.g. total calls, which depend on how long a run lasted).
    Neutral,
}

/// A metric over the runs of a group.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Stat {
    #[must_use]
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Self {
            mean: values.iter().sum::<f64>() / values.len() as f64,
            min,
            max,
            runs: values.len(),
        })
    }

    /// Run-to-run spread: the range (max - min) of the group's runs.
    #[must_use]
    pub fn spread(&self) -> f64 {
        self.max - self.min
    }
}

/// A group's value against the baseline's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Change {
    /// `(other - base) / base * 100`; `None` when only the baseline is 0.
    pub percent: Option<f64>,
    /// `other / base`; `None` when only the baseline is 0.
    pub factor: Option<f64>,
    /// With several runs on a side: whether the difference of the means is no larger than the
    /// larger run-to-run spread; `None` with one run per side (noise unknown).
    pub within_noise: Option<bool>,
    /// Why no percent or factor is stated although both sides have a value.
    pub withheld: Option<Withheld>,
}

/// Why a change is not stated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Withheld {
    /// One side's value rests on fewer than [`MIN_CALLS`] calls.
    TooFewCalls,
    /// The process made fewer than [`MIN_CALLS`] I/O syscalls on one side.
    Idle,
}

impl Change {
    #[must_use]
    pub fn between(base: &Stat, other: &Stat) -> Self {
        let nonzero = base.mean.abs() > f64::EPSILON;
        let both_zero = !nonzero && other.mean.abs() <= f64::EPSILON;
        let within_noise = (base.runs > 1 || other.runs > 1).then(|| {
            let difference = (other.mean - base.mean).abs();
            // No difference at all is "the same", not noise.
            difference > 0.0 && difference <= base.spread().max(other.spread())
        });
        Self {
            percent: if both_zero {
                Some(0.0)
            } else {
                nonzero.then(|| (other.mean - base.mean) / base.mean * 100.0)
            },
            factor: if both_zero {
                Some(1.0)
            } else {
                nonzero.then(|| other.mean / base.mean)
            },
            within_noise,
            withheld: None,
        }
    }

    /// A change that is not stated, and why.
    #[must_use]
    pub const fn withheld(why: Withheld) -> Self {
        Self {
            percent: None,
            factor: None,
            within_noise: None,
            withheld: Some(why),
        }
    }

    /// Whether the change is an improvement (`Some(true)`), a regression, or neither.
    #[must_use]
    pub fn is_better(&self, better: Better) -> Option<bool> {
        let percent = self.percent?;
        // Changes of a percent or two are not worth a colour.
        if percent.abs() < 2.0 || self.within_noise == Some(true) {
            return None;
        }
        match better {
            Better::Lower => Some(percent < 0.0),
            Better::Higher => Some(percent > 0.0),
            Better::Neutral => None,
        }
    }
}
