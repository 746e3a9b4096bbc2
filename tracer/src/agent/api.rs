//! The agent API's request and response bodies, as the OpenAPI document describes them.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    probe::Mechanism,
    run::{EndReason, Losses, ProbeOverhead},
};

/// `POST /recordings` body: what `tracer record` takes, as JSON fields. Not offered: a
/// command to start (the agent runs nothing on the node) and `--btf` (a file on the node).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"pids": [1], "duration": "1s", "interval": "500ms", "label": "init"}))]
pub struct RecordingRequest {
    /// `NAMESPACE/NAME` of pods on this node.
    #[serde(default)]
    pub pods: Vec<String>,
    /// Container IDs (64 hex digits or a unique prefix of at least 12).
    #[serde(default)]
    pub containers: Vec<String>,
    /// cgroup paths, as in `/proc/PID/cgroup`.
    #[serde(default)]
    pub cgroups: Vec<String>,
    /// Host PIDs, each traced with its threads and later children: a number, or
    /// `"NAME=PID"` to name it in reports (like `--pid client=1234`).
    #[serde(default)]
    pub pids: Vec<PidSpec>,
    /// How long to record, e.g. `30s` (at most the agent's `--max-duration`).
    #[schema(example = "30s")]
    pub duration: String,
    /// Sampling interval, default `1s`, at least `100ms`.
    #[serde(default)]
    #[schema(example = "1s")]
    pub interval: Option<String>,
    /// Name of the run in comparisons.
    #[serde(default)]
    pub label: Option<String>,
    /// Attach mechanism, default `auto` (the cheapest this kernel allows).
    #[serde(default)]
    pub probe: Option<ProbeChoice>,
    /// Percent of the time the kernel times tracer's own programs (0, off, the default, to
    /// 100); see `tracer record --cost-sampling` for why it is off by default.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub cost_sampling: Option<u8>,
    /// Fortio (`-json`) or oha (`--output-format json`) result of the load that ran during
    /// the recording, attached to the run.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub load: Option<serde_json::Value>,
    /// Requests the load generator made during the run (for per-request values), when no
    /// `load` is given.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub requests: Option<u64>,
    /// Count only these syscalls (as `tracer record --syscalls`), e.g. `["read", "recvfrom"]`;
    /// empty or left out: all of them.
    #[serde(default)]
    pub syscalls: Vec<String>,
}

/// One of `"pids"`: `1234` or `"client=1234"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PidSpec {
    Pid(u32),
    #[schema(example = "client=1234")]
    Named(String),
}

/// `POST /watches` body: a pod recorded without end, for `/metrics` only.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchRequest {
    /// `NAMESPACE/NAME` of a pod on this node.
    #[schema(example = "default/fortio-7d9")]
    pub pod: String,
    /// Sampling interval, default `1s`, at least `100ms`.
    #[serde(default)]
    pub interval: Option<String>,
    /// Attach mechanism, default `auto`.
    #[serde(default)]
    pub probe: Option<ProbeChoice>,
}

/// `record --probe`'s choices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeChoice {
    #[default]
    Auto,
    Fentry,
    TpBtf,
    Raw,
    Tracepoint,
}

impl ProbeChoice {
    /// The mechanism to force, `None` for `auto`.
    #[must_use]
    pub const fn mechanism(self) -> Option<Mechanism> {
        match self {
            Self::Auto => None,
            Self::Fentry => Some(Mechanism::Fentry),
            Self::TpBtf => Some(Mechanism::TpBtf),
            Self::Raw => Some(Mechanism::RawTracepoint),
            Self::Tracepoint => Some(Mechanism::Tracepoint),
        }
    }
}

/// Where a recording is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Loading the probes.
    Starting,
    Running,
    /// Ended; its run is at `run` (a watch has none).
    Done,
    /// The probes could not be loaded, sampling failed, or the agent was killed before it
    /// could finish; see `error`.
    Failed,
}

/// One target as resolved when the recording was accepted.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TargetStatus {
    /// As asked: `pod:default/fortio-7d9`, `container:…`, `cgroup:…`, `pid:1234`.
    pub spec: String,
    pub name: String,
    /// Its processes when it was resolved.
    pub pids: Vec<u32>,
    /// Its cgroup path, for pods, containers and cgroups.
    pub cgroup: Option<String>,
    /// The pod's namespace, for pod and container targets.
    pub namespace: Option<String>,
    pub pod: Option<String>,
    /// The container ID (12 hex digits), for container targets.
    pub container: Option<String>,
}

/// What `GET /recordings/{id}` shows; also kept on disk, so it outlives restarts.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// A ULID: unique across restarts, and ids sort by creation time.
    #[schema(example = "01JE4Z3K7Q8X9M2N5P6R7S8T9V")]
    pub id: String,
    pub state: State,
    /// The node the agent runs on (`NODE_NAME`, else the host name).
    pub node: String,
    /// A watch: recording a pod without end, for `/metrics` only (no run file).
    #[serde(default)]
    pub watch: bool,
    pub label: Option<String>,
    pub targets: Vec<TargetStatus>,
    /// The attach mechanism asked for.
    pub probe: ProbeChoice,
    /// The attach mechanism used, once the probes are loaded.
    pub mechanism: Option<String>,
    /// Percent of the time the kernel timed tracer's programs.
    pub cost_sampling: u8,
    pub interval_ns: u64,
    /// As requested; none for a watch.
    pub duration_ns: Option<u64>,
    /// Recorded so far (the run's duration once done).
    pub elapsed_ns: u64,
    /// RFC 3339, UTC: accepted, probes loaded, ended.
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub cancel_requested: bool,
    /// Why it ended: `agent_stopped` when the agent was stopped (SIGTERM) mid-run.
    #[schema(value_type = Option<String>, example = "duration")]
    pub end_reason: Option<EndReason>,
    pub error: Option<String>,
    /// What the kernel maps could not hold (all zero in a complete run), once done.
    pub losses: Option<Losses>,
    /// The probes' own kernel time, when `cost_sampling` was asked for.
    pub probe_overhead: Option<ProbeOverhead>,
    /// Where its run file, report and live figures are.
    pub run: Option<String>,
    pub report: Option<String>,
    pub events: String,
    /// Size of its run file on disk.
    pub run_bytes: Option<u64>,
}

/// `POST /compare` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareRequest {
    /// Ids of done recordings, the first the baseline.
    pub recordings: Vec<String>,
    /// Group runs whose labels differ only by a trailing run number.
    #[serde(default)]
    pub group: bool,
    /// Requests each run served (overrides the load result they carry).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub requests: Option<u64>,
    /// The process the headline verdict speaks about (as `tracer compare --focus`): a
    /// process, target or pod name, or a target spec such as `pid:1234`.
    #[serde(default)]
    pub focus: Option<String>,
    /// `text` (default), `markdown`, `json` or `html`.
    #[serde(default)]
    pub format: Option<ReportFormat>,
}

/// A report's format.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    #[default]
    Text,
    Markdown,
    Json,
    Html,
}

impl ReportFormat {
    #[must_use]
    pub const fn format(self) -> crate::report::Format {
        match self {
            Self::Text => crate::report::Format::Text,
            Self::Markdown => crate::report::Format::Markdown,
            Self::Json => crate::report::Format::Json,
            Self::Html => crate::report::Format::Html,
        }
    }

    /// The response's `Content-Type`.
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Text => "text/plain; charset=utf-8",
            Self::Markdown => "text/markdown; charset=utf-8",
            Self::Json => "application/json",
            Self::Html => "text/html; charset=utf-8",
        }
    }
}

/// `?format=` of `GET /recordings/{id}/report`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `text` (default), `markdown`, `json` or `html`.
    pub format: Option<ReportFormat>,
    /// Requests the run served (overrides its load result).
    #[param(minimum = 1)]
    pub requests: Option<u64>,
}

/// Every failure: one sentence saying what is wrong and what to do.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// One interval of a recording, as the event stream sends it (`event: interval`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntervalEvent {
    /// Since the probes were loaded.
    pub elapsed_ns: u64,
    /// All targets, in the last interval.
    pub calls_per_s: f64,
    pub bytes_per_s: f64,
    /// On-CPU cores of every traced process in the last interval.
    pub cores: f64,
    /// Per target and syscall, since the start.
    pub traffic: Vec<TrafficFigures>,
    /// Every loss counter so far (all zero while nothing is lost).
    pub losses: Losses,
}

/// One target's totals of one syscall since the recording started.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrafficFigures {
    /// Display name of the target.
    pub target: String,
    pub syscall: String,
    pub calls: u64,
    pub bytes: u64,
    pub errors: u64,
}

/// One Server-Sent Event of `GET /recordings/{id}/events`, as a client's parser hands it over.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamEvent {
    /// `interval` (data: an [`IntervalEvent`] as JSON) or `end` (data: the [`Status`] as JSON).
    pub event: String,
    /// JSON text.
    pub data: String,
}
