//! The agent's recordings: a request is validated and its targets resolved before it is
//! accepted (so mistakes come back as 4xx at once), then one worker thread per recording owns
//! the probes and the session from start to finish. At most `max_active` run at once; finished
//! runs are kept in memory, the oldest dropped past `keep_finished` or past `max_kept_bytes`.
//!
//! Everything a request can make the agent hold is bounded: targets are de-duplicated and at
//! most [`MAX_TARGETS`], the interval is at least [`MIN_INTERVAL`] (so a run has at most
//! `max_duration / MIN_INTERVAL` intervals), a run file larger than `max_run_bytes` is
//! refused, and the run files kept add up to at most `max_kept_bytes`.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{http::ApiError, metrics::Metrics};
use crate::{
    collect::{Recorder, Schedule, TargetSpec, parse_duration},
    error::{ErrorKind, UserError},
    probe::{CostSampling, ProbeOptions},
    run::{EndReason, Run},
    targeting::{Resolver, names},
};

/// Bounds on what the API accepts.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Recordings starting or running at once; each loads its own probes.
    pub max_active: usize,
    /// Longest `duration` a request may ask for.
    pub max_duration: Duration,
    /// Finished recordings (and their run files) kept in memory.
    pub keep_finished: usize,
    /// Largest run file one recording may produce; a larger one fails the recording.
    pub max_run_bytes: usize,
    /// Most bytes of run files kept in memory at once; the oldest are dropped past it.
    pub max_kept_bytes: usize,
}

/// Most targets (pods, containers, cgroups and PIDs together, after de-duplication) one
/// request may name.
pub const MAX_TARGETS: usize = 64;

/// Shortest sampling interval a request may ask for: each interval adds a row to the run.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// `POST /recordings` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Host PIDs.
    #[serde(default)]
    pub pids: Vec<u32>,
    /// How long to record, e.g. `30s`.
    pub duration: String,
    /// Sampling interval, default `1s`.
    #[serde(default)]
    pub interval: Option<String>,
    /// Name of the run in comparisons.
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Loading the probes.
    Starting,
    Running,
    /// The run is ready at `GET /recordings/{id}/run`.
    Done,
    /// The probes could not be loaded or sampling failed; see `error`.
    Failed,
}

/// One target as resolved when the recording was accepted.
#[derive(Clone, Debug, Serialize)]
pub struct TargetStatus {
    pub spec: String,
    pub name: String,
    pub pids: Vec<u32>,
    pub cgroup: Option<String>,
}

/// What `GET /recordings/{id}` shows.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub id: String,
    pub state: State,
    pub label: Option<String>,
    pub targets: Vec<TargetStatus>,
    /// As requested.
    pub duration_ns: u64,
    /// Recorded so far (the run's duration once done).
    pub elapsed_ns: u64,
    pub cancel_requested: bool,
    pub end_reason: Option<EndReason>,
    pub error: Option<String>,
    /// Where the run file is, once `state` is `done`.
    pub run: Option<String>,
}

struct Recording {
    status: Status,
    started: Instant,
    cancel: Option<mpsc::UnboundedSender<()>>,
    run_json: Option<Arc<String>>,
}

/// All recordings of this agent.
pub struct Recordings {
    limits: Limits,
    resolver: Resolver,
    /// Where host PIDs are looked up (`<host-root>/proc`).
    proc_root: PathBuf,
    metrics: Arc<Metrics>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    recordings: BTreeMap<u64, Recording>,
}

impl Recordings {
    #[must_use]
    pub fn new(
        limits: Limits,
        host_root: &Path,
        cgroup_root: Option<&Path>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            limits,
            resolver: Resolver::new(host_root, cgroup_root),
            proc_root: host_root.join("proc"),
            metrics,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A worker that panicked while holding the lock leaves consistent data behind (every
        // update is a single assignment), so keep serving.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Validates and resolves a request, then starts its worker.
    pub fn start(self: &Arc<Self>, request: RecordingRequest) -> Result<Status, ApiError> {
        let duration = parse_duration(&request.duration)
            .map_err(|reason| ApiError::bad_request(format!("\"duration\": {reason}")))?;
        if duration > self.limits.max_duration {
            return Err(ApiError::bad_request(format!(
                "\"duration\" {} is longer than this agent allows ({:.0} s, --max-duration)",
                request.duration,
                self.limits.max_duration.as_secs_f64()
            )));
        }
        let interval = match &request.interval {
            Some(text) => parse_duration(text)
                .map_err(|reason| ApiError::bad_request(format!("\"interval\": {reason}")))?,
            None => Duration::from_secs(1),
        };
        if interval < MIN_INTERVAL {
            return Err(ApiError::bad_request(format!(
                "\"interval\" {} is shorter than this agent allows ({} ms); sample less often",
                request.interval.as_deref().unwrap_or_default(),
                MIN_INTERVAL.as_millis()
            )));
        }
        if let Some(label) = &request.label {
            crate::collect::check_label(label).map_err(ApiError::bad_request)?;
        }
        let request = request.deduplicated()?;
        let targets = self.resolve(&request)?;
        let (cancel, cancelled) = mpsc::unbounded_channel();
        let (id, status) = {
            let mut inner = self.lock();
            let active = inner
                .recordings
                .values()
                .filter(|r| matches!(r.status.state, State::Starting | State::Running))
                .count();
            if active >= self.limits.max_active {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "{active} recording(s) are running, the most this agent allows (--max-recordings); wait for one to end or cancel one"
                    ),
                ));
            }
            inner.next_id += 1;
            let id = inner.next_id;
            let status = Status {
                id: recording_name(id),
                state: State::Starting,
                label: request.label.clone(),
                targets: targets
                    .iter()
                    .map(|t| TargetStatus {
                        spec: t.spec.clone(),
                        name: t.name.clone(),
                        pids: t.pids.clone(),
                        cgroup: t.cgroup.as_ref().map(|c| c.cgroup_path.clone()),
                    })
                    .collect(),
                duration_ns: u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
                elapsed_ns: 0,
                cancel_requested: false,
                end_reason: None,
                error: None,
                run: None,
            };
            let recording = Recording {
                status: status.clone(),
                started: Instant::now(),
                cancel: Some(cancel),
                run_json: None,
            };
            inner.recordings.insert(id, recording);
            (id, status)
        };
        self.metrics.recording_started();
        let this = Arc::clone(self);
        let work = Work {
            targets,
            duration,
            interval,
            label: request.label,
        };
        let spawned = std::thread::Builder::new()
            .name(recording_name(id))
            .spawn(move || this.work(id, work, cancelled));
        if let Err(e) = spawned {
            self.finish(id, Err(format!("could not start a worker thread: {e}")));
        }
        Ok(status)
    }

    /// Turns the request's targets into session targets, or the 4xx that explains why not.
    fn resolve(&self, request: &RecordingRequest) -> Result<Vec<TargetSpec>, ApiError> {
        if request.pods.is_empty()
            && request.containers.is_empty()
            && request.cgroups.is_empty()
            && request.pids.is_empty()
        {
            return Err(ApiError::bad_request(
                "nothing to record: give \"pods\", \"containers\", \"cgroups\" or \"pids\"",
            ));
        }
        let mut resolved = Vec::new();
        for pod in &request.pods {
            let (namespace, name) = names::parse_pod_spec(pod).map_err(ApiError::bad_request)?;
            resolved.push(
                self.resolver
                    .resolve_pod(&namespace, &name)
                    .map_err(ApiError::from_user)?,
            );
        }
        for id in &request.containers {
            resolved.push(
                self.resolver
                    .resolve_container(id)
                    .map_err(ApiError::from_user)?,
            );
        }
        for path in &request.cgroups {
            resolved.push(
                self.resolver
                    .resolve_cgroup(Path::new(path))
                    .map_err(ApiError::from_user)?,
            );
        }
        let mut targets = Vec::new();
        for target in resolved {
            // The session counts the cgroup (and, on cgroup v1, re-reads its PIDs); the PIDs
            // now are for the status and the run's target list.
            let pids = target.pids().map_err(ApiError::from_user)?;
            targets.push(TargetSpec {
                spec: target.spec.clone(),
                name: target.name.clone(),
                pids,
                cgroup: Some(target),
            });
        }
        for &pid in &request.pids {
            let comm = self.proc_root.join(pid.to_string()).join("comm");
            let Ok(name) = std::fs::read_to_string(&comm) else {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!(
                        "no process with PID {pid} on this node ({} is missing)",
                        comm.display()
                    ),
                ));
            };
            targets.push(TargetSpec {
                spec: format!("pid:{pid}"),
                name: name.trim().to_owned(),
                pids: vec![pid],
                cgroup: None,
            });
        }
        Ok(targets)
    }

    /// The worker: the recorder and its sampling loop, all on this thread.
    fn work(&self, id: u64, work: Work, mut cancelled: mpsc::UnboundedReceiver<()>) {
        let result = (|| -> anyhow::Result<Run> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let options = ProbeOptions {
                mechanism: None,
                btf_path: None,
                filter_by_cgroup: false,
                cost_sampling: CostSampling::default(),
                no_waiting_split: false,
            };
            let mut recorder = Recorder::start(options, work.label, work.targets)?;
            self.update(id, |r| {
                r.status.state = State::Running;
                r.started = Instant::now();
            });
            let schedule = Schedule {
                duration: Some(work.duration),
                interval: work.interval,
            };
            // A cancel request, or its sender gone (the recording was dropped).
            let stop = async {
                let _ = cancelled.recv().await;
                EndReason::Cancelled
            };
            let end_reason = runtime.block_on(recorder.record(schedule, stop, |_| {}))?;
            Ok(recorder.finish(end_reason)?.0)
        })();
        self.finish(id, result.map_err(|e| crate::error::describe(&e).1));
    }

    fn update(&self, id: u64, change: impl FnOnce(&mut Recording)) {
        if let Some(recording) = self.lock().recordings.get_mut(&id) {
            change(recording);
        }
    }

    /// Stores a recording's outcome and drops the oldest finished ones past the limit.
    fn finish(&self, id: u64, result: Result<Run, String>) {
        self.metrics.recording_ended(result.as_ref().ok());
        let max_run_bytes = self.limits.max_run_bytes;
        let outcome = result.and_then(|run| match serde_json::to_string_pretty(&run) {
            Ok(json) if json.len() > max_run_bytes => Err(format!(
                "the run file would be {} MiB, more than this agent keeps ({} MiB, --max-run-mib); record fewer targets, for less time or with a longer interval",
                json.len().div_ceil(1 << 20),
                max_run_bytes >> 20
            )),
            Ok(json) => Ok((run, Arc::new(json))),
            Err(e) => Err(format!("could not encode the run: {e}")),
        });
        let mut inner = self.lock();
        if let Some(recording) = inner.recordings.get_mut(&id) {
            recording.cancel = None;
            match outcome {
                Ok((run, json)) => {
                    recording.status.state = State::Done;
                    recording.status.elapsed_ns = run.duration_ns;
                    recording.status.end_reason = Some(run.end_reason);
                    recording.status.run = Some(format!("/recordings/{}/run", recording.status.id));
                    recording.run_json = Some(json);
                }
                Err(message) => {
                    recording.status.state = State::Failed;
                    recording.status.elapsed_ns = elapsed_ns(recording.started);
                    recording.status.error = Some(message);
                }
            }
        }
        self.drop_oldest(&mut inner);
    }

    /// Drops the oldest finished recordings past `keep_finished`, then past `max_kept_bytes`.
    fn drop_oldest(&self, inner: &mut Inner) {
        let finished: Vec<(u64, usize)> = inner
            .recordings
            .iter()
            .filter(|(_, r)| matches!(r.status.state, State::Done | State::Failed))
            .map(|(&id, r)| (id, r.run_json.as_ref().map_or(0, |json| json.len())))
            .collect();
        let mut kept_bytes: usize = finished.iter().map(|&(_, bytes)| bytes).sum();
        let mut kept = finished.len();
        for &(old, bytes) in &finished {
            if kept <= self.limits.keep_finished && kept_bytes <= self.limits.max_kept_bytes {
                break;
            }
            inner.recordings.remove(&old);
            kept -= 1;
            kept_bytes -= bytes;
        }
    }

    /// Every recording kept, oldest first.
    pub fn list(&self) -> Vec<Status> {
        self.lock()
            .recordings
            .values()
            .map(current_status)
            .collect()
    }

    pub fn status(&self, id: &str) -> Result<Status, ApiError> {
        let inner = self.lock();
        find(&inner, id).map(current_status)
    }

    /// The run file of a finished recording, as JSON text.
    pub fn run_json(&self, id: &str) -> Result<Arc<String>, ApiError> {
        let inner = self.lock();
        let recording = find(&inner, id)?;
        match (&recording.run_json, recording.status.state) {
            (Some(json), _) => Ok(Arc::clone(json)),
            (None, State::Failed) => Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "recording {id} failed and has no run: {}",
                    recording.status.error.as_deref().unwrap_or("unknown error")
                ),
            )),
            (None, _) => Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "recording {id} is still {} ({:.0} s of {:.0} s); fetch its run when its state is done",
                    if recording.status.state == State::Starting {
                        "starting"
                    } else {
                        "running"
                    },
                    current_status(recording).elapsed_ns as f64 / 1e9,
                    recording.status.duration_ns as f64 / 1e9
                ),
            )),
        }
    }

    /// Asks a recording to stop now; its run covers the time until then.
    pub fn cancel(&self, id: &str) -> Result<Status, ApiError> {
        let mut inner = self.lock();
        let key = find_key(&inner, id)?;
        let Some(recording) = inner.recordings.get_mut(&key) else {
            return Err(not_found(id));
        };
        let Some(cancel) = &recording.cancel else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("recording {id} has already ended"),
            ));
        };
        // The worker may have just ended and dropped its receiver; it stores its result anyway.
        let _ = cancel.send(());
        recording.status.cancel_requested = true;
        Ok(current_status(recording))
    }
}

impl RecordingRequest {
    /// The request with each target named once, or a 400 past [`MAX_TARGETS`].
    fn deduplicated(self) -> Result<Self, ApiError> {
        fn once<T: Ord + Clone>(items: Vec<T>) -> Vec<T> {
            let mut seen = std::collections::BTreeSet::new();
            items
                .into_iter()
                .filter(|item| seen.insert(item.clone()))
                .collect()
        }
        let request = Self {
            pods: once(self.pods),
            containers: once(self.containers),
            cgroups: once(self.cgroups),
            pids: once(self.pids),
            ..self
        };
        let count = request.pods.len()
            + request.containers.len()
            + request.cgroups.len()
            + request.pids.len();
        if count > MAX_TARGETS {
            return Err(ApiError::bad_request(format!(
                "the request names {count} different targets, more than one recording may trace ({MAX_TARGETS}); split it into several recordings"
            )));
        }
        Ok(request)
    }
}

struct Work {
    targets: Vec<TargetSpec>,
    duration: Duration,
    interval: Duration,
    label: Option<String>,
}

fn recording_name(id: u64) -> String {
    format!("rec-{id}")
}

fn elapsed_ns(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn current_status(recording: &Recording) -> Status {
    let mut status = recording.status.clone();
    if status.state == State::Running {
        status.elapsed_ns = elapsed_ns(recording.started).min(status.duration_ns);
    }
    status
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no recording {id} on this agent; GET /recordings lists them (finished ones are dropped oldest first)"
        ),
    )
}

fn find_key(inner: &Inner, id: &str) -> Result<u64, ApiError> {
    let key = id
        .strip_prefix("rec-")
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| not_found(id))?;
    if inner.recordings.contains_key(&key) {
        Ok(key)
    } else {
        Err(not_found(id))
    }
}

fn find<'a>(inner: &'a Inner, id: &str) -> Result<&'a Recording, ApiError> {
    let key = find_key(inner, id)?;
    inner.recordings.get(&key).ok_or_else(|| not_found(id))
}

impl ApiError {
    /// The HTTP status for an expected failure from the resolver or the recorder.
    #[must_use]
    #[expect(
        clippy::needless_pass_by_value,
        reason = "called as map_err(ApiError::from_user)"
    )]
    pub fn from_user(error: anyhow::Error) -> Self {
        let status = match error.downcast_ref::<UserError>().map(|u| u.kind) {
            Some(ErrorKind::Usage | ErrorKind::BadInput) => StatusCode::BAD_REQUEST,
            Some(ErrorKind::TargetNotFound) => StatusCode::NOT_FOUND,
            Some(ErrorKind::Permission) => StatusCode::FORBIDDEN,
            Some(ErrorKind::Busy) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, crate::error::describe(&error).1)
    }
}
