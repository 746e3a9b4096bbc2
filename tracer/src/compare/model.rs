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
    /// Plain-words summary, one sentence per non-baseline group (and per extra scope).
    pub verdict: Vec<String>,
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
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct IntervalPoint {
    /// End of the interval, seconds after the start of the run.
    pub end_s: f64,
    pub syscalls_per_s: f64,
    pub cores: f64,
}

/// One traced process (all its PIDs with the same target and name), or the total.
#[derive(Clone, Debug, Serialize)]
pub struct Section {
    /// Display name: `curl (target curl)` or `all traced processes`.
    pub name: String,
    pub target: Option<String>,
    pub process: Option<String>,
    /// Per group: PIDs seen (empty when the process was not traced in that group).
    pub pids: Vec<Vec<u32>>,
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
