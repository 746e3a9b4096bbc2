//! The agent's recordings: a request is validated and its targets resolved before it is
//! accepted (so mistakes come back as 4xx at once), then one worker thread per recording owns
//! the probes and the session from start to finish. At most `max_active` run at once.
//!
//! Every recording lives in the state directory ([`StateDir`]): its status is written when it
//! is accepted, when it starts and when it ends, and its run file when it is done, so both
//! outlive the agent. Ids are ULIDs: unique across restarts, sorted by time. Finished
//! recordings are deleted oldest first past `keep_finished` or past `max_kept_bytes` on disk;
//! a recording still running is never deleted. When the agent is stopped, every recording in
//! progress ends (`agent_stopped`) and is written before the agent exits; one the agent could
//! not finish (killed, node lost) is marked failed when the agent starts again.
//!
//! Everything a request can make the agent hold is bounded: targets are de-duplicated and at
//! most [`MAX_TARGETS`], the interval is at least [`MIN_INTERVAL`] (so a run has at most
//! `max_duration / MIN_INTERVAL` intervals), a run file larger than `max_run_bytes` is
//! refused, and memory holds statuses only (run files are read from disk when asked for).
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime},
};

use axum::http::StatusCode;
use tokio::sync::{broadcast, mpsc};
use ulid::Ulid;

use super::{
    api::{
        IntervalEvent, PidSpec, ProbeChoice, RecordingRequest, State, Status, TargetStatus,
        TrafficFigures, WatchRequest,
    },
    http::ApiError,
    metrics::{Delta, Metrics, TargetLabels},
    state::{FileKind, MAX_STATUS_BYTES, StateDir},
};
use crate::{
    collect::{Recorder, Schedule, TargetSpec, Tick, parse_duration, rfc3339},
    error::{ErrorKind, UserError},
    probe::{CostSampling, ProbeOptions},
    run::{EndReason, Run},
    targeting::{Resolver, names},
};

/// Bounds on what the API accepts and the state directory keeps.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Recordings (and watches) starting or running at once; each loads its own probes.
    pub max_active: usize,
    /// Longest `duration` a request may ask for.
    pub max_duration: Duration,
    /// Finished recordings kept in the state directory.
    pub keep_finished: usize,
    /// Largest run file one recording may produce; a larger one fails the recording.
    pub max_run_bytes: usize,
    /// Most bytes of finished recordings kept in the state directory; oldest deleted past it.
    pub max_kept_bytes: usize,
    /// A watch records in segments of this length, each a fresh session whose run is
    /// dropped: its memory (per-interval rows, processes seen, the kernel maps) is bounded by
    /// one segment.
    pub watch_segment: Duration,
}

/// Most targets (pods, containers, cgroups and PIDs together, after de-duplication) one
/// request may name.
pub const MAX_TARGETS: usize = 64;

/// Shortest sampling interval a request may ask for: each interval adds a row to the run.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Events a slow stream reader may fall behind by before it skips ahead.
const EVENT_BACKLOG: usize = 16;

/// One recording in memory: its status and, while it runs, how to stop it and follow it.
struct Recording {
    id: Ulid,
    status: Status,
    started: Option<Instant>,
    stop: Option<mpsc::UnboundedSender<EndReason>>,
    events: Option<broadcast::Sender<Arc<str>>>,
}

/// All recordings of this agent.
pub struct Recordings {
    limits: Limits,
    node: String,
    state: StateDir,
    resolver: Resolver,
    /// Where host PIDs are looked up (`<host-root>/proc`).
    proc_root: PathBuf,
    metrics: Arc<Metrics>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    ids: ulid::Generator,
    recordings: BTreeMap<Ulid, Recording>,
}

/// What a worker needs, resolved from a request.
struct Work {
    targets: Vec<TargetSpec>,
    labels: Vec<TargetLabels>,
    duration: Option<Duration>,
    interval: Duration,
    label: Option<String>,
    probe: ProbeChoice,
    cost_sampling: CostSampling,
    /// Only these syscalls (`"syscalls"`), as the probe's mask; None: all.
    syscall_mask: Option<u32>,
    load: Option<crate::run::LoadResult>,
    requests: Option<u64>,
    /// For a watch: the pod to resolve again at each segment.
    watch_pod: Option<String>,
}

/// The probe's mask of `"syscalls"`; None when empty (every syscall), 400 for a name tracer
/// does not count.
fn syscall_mask(names: &[String]) -> Result<Option<u32>, ApiError> {
    use tracer_common::syscalls::NAMES;
    if names.is_empty() {
        return Ok(None);
    }
    names
        .iter()
        .try_fold(0_u32, |mask, name| {
            match NAMES.iter().position(|n| n == name) {
                Some(index) => Ok(mask | 1 << index),
                None => Err(ApiError::bad_request(format!(
                    "\"syscalls\": tracer does not count '{name}'; give some of {}",
                    NAMES.join(", ")
                ))),
            }
        })
        .map(Some)
}

impl Recordings {
    /// Opens the state directory's recordings: those the agent could not finish last time are
    /// marked failed, and the oldest past the limits deleted.
    pub fn open(
        limits: Limits,
        node: &str,
        state: StateDir,
        host_root: &Path,
        cgroup_root: Option<&Path>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let this = Self {
            limits,
            node: node.to_owned(),
            state,
            resolver: Resolver::new(host_root, cgroup_root),
            proc_root: host_root.join("proc"),
            metrics,
            inner: Mutex::default(),
        };
        let mut inner = this.lock();
        for id in this.state.ids()? {
            let Some(mut status) = this.read_status(id) else {
                continue;
            };
            if matches!(status.state, State::Starting | State::Running) {
                status.state = State::Failed;
                status.error = Some(
                    "the agent stopped before it could finish this recording (killed, or the node went down)"
                        .to_owned(),
                );
                this.save(id, &status);
            }
            inner.recordings.insert(
                id,
                Recording {
                    id,
                    status,
                    started: None,
                    stop: None,
                    events: None,
                },
            );
        }
        this.drop_oldest(&mut inner);
        drop(inner);
        Ok(this)
    }

    fn read_status(&self, id: Ulid) -> Option<Status> {
        let text = self
            .state
            .read(id, FileKind::Status, MAX_STATUS_BYTES)
            .ok()?;
        let status: Status = serde_json::from_str(&text).ok()?;
        // A file renamed to another id is not that recording.
        (status.id == id.to_string()).then_some(status)
    }

    /// Writes a status file; a failure is noted (the recording goes on in memory).
    fn save(&self, id: Ulid, status: &Status) {
        let written = serde_json::to_vec_pretty(status)
            .map_err(std::io::Error::other)
            .and_then(|json| self.state.write(id, FileKind::Status, &json));
        if let Err(e) = written {
            crate::console::note(&format!(
                "tracer agent: cannot write the status of recording {id} in the state directory ({e})"
            ));
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
        let interval = parse_interval(request.interval.as_deref())?;
        if let Some(label) = &request.label {
            crate::collect::check_label(label)
                .map_err(|reason| ApiError::bad_request(format!("\"label\": {reason}")))?;
        }
        let cost_sampling = CostSampling::percent(request.cost_sampling.unwrap_or(0))
            .map_err(|reason| ApiError::bad_request(format!("\"cost_sampling\": {reason}")))?;
        if request.requests == Some(0) {
            return Err(ApiError::bad_request(
                "\"requests\" is 0; give the number of requests the load made (1 or more), or leave it out",
            ));
        }
        let load = match &request.load {
            Some(value) => Some(
                crate::load::parse(&value.to_string(), Path::new("\"load\""))
                    .map_err(ApiError::from_user)?,
            ),
            None => None,
        };
        let syscall_mask = syscall_mask(&request.syscalls)?;
        let request = request.deduplicated()?;
        let targets = self.resolve(&request)?;
        self.launch(Work {
            labels: targets.iter().map(TargetLabels::of).collect(),
            targets,
            duration: Some(duration),
            interval,
            label: request.label,
            probe: request.probe.unwrap_or_default(),
            cost_sampling,
            syscall_mask,
            load,
            requests: request.requests,
            watch_pod: None,
        })
    }

    /// Starts a watch: `pod` recorded without end, in segments, for `/metrics` only. A pod
    /// not on this node is a 404, unless `wait_for_pod` (`--watch-pod` on every node of a
    /// `DaemonSet`): then the watch waits for it, and its status says so.
    pub fn watch(
        self: &Arc<Self>,
        request: WatchRequest,
        wait_for_pod: bool,
    ) -> Result<Status, ApiError> {
        let interval = parse_interval(request.interval.as_deref())?;
        names::parse_pod_spec(&request.pod).map_err(|reason| {
            ApiError::bad_request(in_api_terms(&reason).replace("\"pods\"", "\"pod\""))
        })?;
        let pods = RecordingRequest {
            pods: vec![request.pod.clone()],
            ..RecordingRequest::default()
        };
        let targets = match self.resolve(&pods) {
            Ok(targets) => targets,
            Err(error) if wait_for_pod && error.status == StatusCode::NOT_FOUND => Vec::new(),
            Err(error) => return Err(error),
        };
        self.launch(Work {
            labels: targets.iter().map(TargetLabels::of).collect(),
            targets,
            duration: None,
            interval,
            label: Some(format!("watch {}", request.pod)),
            probe: request.probe.unwrap_or_default(),
            cost_sampling: CostSampling::default(),
            syscall_mask: None,
            load: None,
            requests: None,
            watch_pod: Some(request.pod),
        })
    }

    /// Registers a recording (status on disk, 429 past `max_active`) and starts its worker.
    fn launch(self: &Arc<Self>, work: Work) -> Result<Status, ApiError> {
        let (stop, stopped) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let (id, status) = {
            let mut inner = self.lock();
            let active = inner
                .recordings
                .values()
                .filter(|r| r.stop.is_some())
                .count();
            if active >= self.limits.max_active {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "{active} recording(s) are running, the most this agent allows (--max-recordings); wait for one to end or cancel one"
                    ),
                ));
            }
            let id = inner.ids.generate().map_err(|_| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many recordings started within one millisecond; try again",
                )
            })?;
            let status = self.new_status(id, &work);
            inner.recordings.insert(
                id,
                Recording {
                    id,
                    status: status.clone(),
                    started: None,
                    stop: Some(stop),
                    events: Some(events),
                },
            );
            (id, status)
        };
        self.save(id, &status);
        self.metrics.recording_started();
        let this = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("rec-{id}"))
            .spawn(move || this.work(id, work, stopped));
        if let Err(e) = spawned {
            self.finish(id, Err(format!("could not start a worker thread: {e}")));
        }
        Ok(status)
    }

    fn new_status(&self, id: Ulid, work: &Work) -> Status {
        Status {
            id: id.to_string(),
            state: State::Starting,
            node: self.node.clone(),
            watch: work.watch_pod.is_some(),
            label: work.label.clone(),
            targets: work
                .targets
                .iter()
                .zip(&work.labels)
                .map(|(t, labels)| TargetStatus {
                    spec: t.spec.clone(),
                    name: t.name.clone(),
                    pids: t.pids.clone(),
                    cgroup: t.cgroup.as_ref().map(|c| c.cgroup_path.clone()),
                    namespace: Some(labels.namespace.clone()).filter(|s| !s.is_empty()),
                    pod: Some(labels.pod.clone()).filter(|s| !s.is_empty()),
                    container: Some(labels.container.clone()).filter(|s| !s.is_empty()),
                })
                .collect(),
            probe: work.probe,
            mechanism: None,
            cost_sampling: work.cost_sampling.as_percent(),
            interval_ns: nanos(work.interval),
            duration_ns: work.duration.map(nanos),
            elapsed_ns: 0,
            created_at: rfc3339(SystemTime::now()),
            started_at: None,
            ended_at: None,
            cancel_requested: false,
            end_reason: None,
            error: None,
            losses: None,
            probe_overhead: None,
            run: None,
            report: None,
            events: format!("/recordings/{id}/events"),
            run_bytes: None,
        }
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
            let (namespace, name) = names::parse_pod_spec(pod)
                .map_err(|reason| ApiError::bad_request(in_api_terms(&reason)))?;
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
                follows_exec: false,
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for spec in &request.pids {
            let (given_name, pid) = parse_pid(spec)?;
            if !seen.insert(pid) {
                return Err(ApiError::bad_request(format!(
                    "\"pids\": PID {pid} is given twice; name each process once"
                )));
            }
            let comm = self.proc_root.join(pid.to_string()).join("comm");
            let Ok(name) = std::fs::read_to_string(&comm) else {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!(
                        "\"pids\": no process with PID {pid} on this node ({} is missing)",
                        comm.display()
                    ),
                ));
            };
            // A name given in "NAME=PID" stays; a process's own name follows its exec.
            let follows_exec = given_name.is_none();
            targets.push(TargetSpec {
                spec: format!("pid:{pid}"),
                name: given_name.unwrap_or_else(|| name.trim().to_owned()),
                pids: vec![pid],
                cgroup: None,
                follows_exec,
            });
        }
        Ok(targets)
    }

    /// The worker: the recorder and its sampling loop, all on this thread.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "the worker thread owns what it records"
    )]
    fn work(&self, id: Ulid, work: Work, mut stopped: mpsc::UnboundedReceiver<EndReason>) {
        let result = (|| -> anyhow::Result<Run> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            if work.watch_pod.is_some() {
                return runtime.block_on(self.watch_segments(id, &work, &mut stopped));
            }
            let mut recorder = self.start_recorder(id, &work, work.targets.clone())?;
            let schedule = Schedule {
                duration: work.duration,
                interval: work.interval,
            };
            let mut feed = LiveFeed::default();
            // A stop request, or its sender gone (the recording was dropped).
            let stop = async { stopped.recv().await.unwrap_or(EndReason::Cancelled) };
            let end_reason = runtime.block_on(recorder.record(schedule, stop, |tick| {
                self.on_tick(id, &work, &mut feed, tick);
            }))?;
            let (mut run, last) = recorder.finish_with_tick(end_reason)?;
            feed.observe(&self.metrics, id, &work.labels, &last);
            if let Some(load) = &work.load {
                run.load = Some(load.clone());
            } else if let Some(requests) = work.requests {
                run.load = Some(crate::run::LoadResult::manual(requests, run.duration_ns));
            }
            Ok(run)
        })();
        self.finish(id, result.map_err(|e| crate::error::describe(&e).1));
    }

    fn start_recorder(
        &self,
        id: Ulid,
        work: &Work,
        targets: Vec<TargetSpec>,
    ) -> anyhow::Result<Recorder> {
        let options = ProbeOptions {
            mechanism: work.probe.mechanism(),
            btf_path: None,
            filter_by_cgroup: false,
            cost_sampling: work.cost_sampling,
            syscall_mask: work.syscall_mask,
            // The scheduler probe is opt-in on the command line (`--waiting-split`) and
            // left out here: an agent runs unattended on shared nodes.
            no_waiting_split: true,
        };
        let mut recorder = Recorder::start(options, work.label.clone(), targets)?;
        recorder.read_histograms_every_interval();
        let mechanism = recorder.mechanism().to_owned();
        let status = self.update(id, |r| {
            r.status.state = State::Running;
            r.status.mechanism = Some(mechanism);
            r.status.error = None;
            if r.started.is_none() {
                r.started = Some(Instant::now());
                r.status.started_at = Some(rfc3339(SystemTime::now()));
            }
        });
        if let Some(status) = status {
            self.save(id, &status);
        }
        Ok(recorder)
    }

    /// A watch: segment after segment until stopped; each segment's run only feeds `/metrics`.
    /// The pod is resolved again for each segment (it may have been recreated); while it is
    /// not on the node, the status says why and the watch waits.
    async fn watch_segments(
        &self,
        id: Ulid,
        work: &Work,
        stopped: &mut mpsc::UnboundedReceiver<EndReason>,
    ) -> anyhow::Result<Run> {
        let pod = work.watch_pod.clone().unwrap_or_default();
        let mut targets = Some(work.targets.clone()).filter(|t| !t.is_empty());
        let mut previous_end: Option<Instant> = None;
        loop {
            let segment_targets = match targets.take() {
                Some(targets) => Ok(targets),
                None => self.resolve(&RecordingRequest {
                    pods: vec![pod.clone()],
                    ..RecordingRequest::default()
                }),
            };
            let end = match segment_targets {
                Ok(segment_targets) => {
                    let labels: Vec<TargetLabels> =
                        segment_targets.iter().map(TargetLabels::of).collect();
                    let work = Work {
                        labels,
                        targets: Vec::new(),
                        duration: Some(self.limits.watch_segment),
                        label: work.label.clone(),
                        watch_pod: None,
                        load: None,
                        requests: None,
                        ..*work
                    };
                    let mut recorder = self.start_recorder(id, &work, segment_targets)?;
                    if let Some(ended) = previous_end.take() {
                        self.metrics.watch_gap(ended.elapsed());
                    }
                    let mut feed = LiveFeed::default();
                    let schedule = Schedule {
                        duration: Some(self.limits.watch_segment),
                        interval: work.interval,
                    };
                    let stop = async { stopped.recv().await.unwrap_or(EndReason::Cancelled) };
                    let end = recorder
                        .record(schedule, stop, |tick| {
                            self.on_tick(id, &work, &mut feed, tick);
                        })
                        .await?;
                    // From the last sample of this segment to the first count of the next,
                    // nothing is counted: finishing, resolving and loading the probes again.
                    previous_end = Some(Instant::now());
                    let (run, last) = recorder.finish_with_tick(end)?;
                    feed.observe(&self.metrics, id, &work.labels, &last);
                    if end != EndReason::Duration {
                        return Ok(run);
                    }
                    continue;
                }
                Err(error) => {
                    self.update(id, |r| r.status.error = Some(error.message.clone()));
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(5)) => None,
                        reason = stopped.recv() => Some(reason.unwrap_or(EndReason::Cancelled)),
                    }
                }
            };
            if let Some(reason) = end {
                return Err(crate::error::user(
                    ErrorKind::TargetNotFound,
                    format!("the watch ended ({reason:?}) while pod {pod} was not on this node"),
                ));
            }
        }
    }

    /// One interval: live metrics, the event stream and the elapsed time.
    fn on_tick(&self, id: Ulid, work: &Work, feed: &mut LiveFeed, tick: &Tick) {
        feed.observe(&self.metrics, id, &work.labels, tick);
        let event = IntervalEvent {
            elapsed_ns: nanos(tick.elapsed),
            calls_per_s: tick.calls_per_s,
            bytes_per_s: tick.bytes_per_s,
            cores: tick.cores,
            traffic: tick
                .traffic
                .iter()
                .map(|t| TrafficFigures {
                    target: work
                        .labels
                        .get(t.target)
                        .map_or_else(|| "?".to_owned(), |l| l.name.clone()),
                    syscall: crate::collect::syscall_name(t.syscall).to_owned(),
                    calls: t.calls,
                    bytes: t.bytes,
                    errors: t.errors,
                })
                .collect(),
            losses: tick.losses.clone(),
        };
        let inner = self.lock();
        if let Some(events) = inner.recordings.get(&id).and_then(|r| r.events.as_ref())
            && let Ok(json) = serde_json::to_string(&event)
        {
            // No readers is fine.
            let _ = events.send(Arc::from(json));
        }
    }

    /// Applies `change` to a recording; returns its status afterwards.
    fn update(&self, id: Ulid, change: impl FnOnce(&mut Recording)) -> Option<Status> {
        let mut inner = self.lock();
        let recording = inner.recordings.get_mut(&id)?;
        change(recording);
        Some(recording.status.clone())
    }

    /// Stores a recording's outcome (run file, then status) and deletes the oldest finished
    /// ones past the limits.
    fn finish(&self, id: Ulid, result: Result<Run, String>) {
        self.metrics.recording_ended(id, result.as_ref().ok());
        let watch = self
            .lock()
            .recordings
            .get(&id)
            .is_some_and(|r| r.status.watch);
        let max_run_bytes = self.limits.max_run_bytes;
        let outcome = result.and_then(|run| {
            if watch {
                return Ok((run, None));
            }
            let json = serde_json::to_vec_pretty(&run)
                .map_err(|e| format!("could not encode the run: {e}"))?;
            if json.len() > max_run_bytes {
                return Err(format!(
                    "the run file would be {} MiB, more than this agent keeps ({} MiB, --max-run-mib); record fewer targets, for less time or with a longer interval",
                    json.len().div_ceil(1 << 20),
                    max_run_bytes >> 20
                ));
            }
            self.state.write(id, FileKind::Run, &json).map_err(|e| {
                format!("cannot write the run file in the state directory ({e}); free space there or give another --state-dir")
            })?;
            Ok((run, Some(json.len() as u64)))
        });
        let status = {
            let mut inner = self.lock();
            let Some(recording) = inner.recordings.get_mut(&id) else {
                return;
            };
            let started = recording.started;
            let mut status = recording.status.clone();
            status.ended_at = Some(rfc3339(SystemTime::now()));
            match outcome {
                Ok((run, bytes)) => {
                    status.state = State::Done;
                    status.elapsed_ns = run.duration_ns;
                    status.end_reason = Some(run.end_reason);
                    status.losses = Some(run.losses.clone());
                    status.probe_overhead.clone_from(&run.probe.overhead);
                    status.error = None;
                    if bytes.is_some() {
                        status.run = Some(format!("/recordings/{}/run", status.id));
                        status.report = Some(format!("/recordings/{}/report", status.id));
                    }
                    status.run_bytes = bytes;
                }
                Err(message) => {
                    status.state = State::Failed;
                    status.elapsed_ns = started.map_or(0, elapsed_ns);
                    status.error = Some(message);
                }
            }
            status
        };
        // On disk first: once the recording shows as ended (and may be deleted past the
        // limits), its status file is never written again.
        self.save(id, &status);
        let mut inner = self.lock();
        if let Some(recording) = inner.recordings.get_mut(&id) {
            recording.status = status;
            recording.stop = None;
            recording.events = None;
        }
        self.drop_oldest(&mut inner);
    }

    /// Deletes the oldest finished recordings past `keep_finished`, then past
    /// `max_kept_bytes` (run and status files on disk). Running ones are never deleted.
    fn drop_oldest(&self, inner: &mut Inner) {
        let finished: Vec<(Ulid, u64)> = inner
            .recordings
            .values()
            .filter(|r| r.stop.is_none())
            .map(|r| {
                let bytes =
                    self.state.size(r.id, FileKind::Run) + self.state.size(r.id, FileKind::Status);
                (r.id, bytes)
            })
            .collect();
        let mut kept_bytes: u64 = finished.iter().map(|&(_, bytes)| bytes).sum();
        let mut kept = finished.len();
        for &(old, bytes) in &finished {
            if kept <= self.limits.keep_finished && kept_bytes <= self.limits.max_kept_bytes as u64
            {
                break;
            }
            inner.recordings.remove(&old);
            self.state.remove(old);
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

    /// The run file of a done recording, as JSON text read from the state directory.
    pub fn run_json(&self, id: &str) -> Result<String, ApiError> {
        let key = {
            let inner = self.lock();
            let recording = find(&inner, id)?;
            match recording.status.state {
                State::Done if recording.status.run.is_some() => recording.id,
                State::Done => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        format!("recording {id} is a watch: it feeds /metrics and keeps no run"),
                    ));
                }
                State::Failed => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        format!(
                            "recording {id} failed and has no run: {}",
                            recording.status.error.as_deref().unwrap_or("unknown error")
                        ),
                    ));
                }
                State::Starting | State::Running => {
                    let status = current_status(recording);
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        format!(
                            "recording {id} is still {} ({:.0} s so far); fetch its run when its state is done",
                            if status.state == State::Starting {
                                "starting"
                            } else {
                                "running"
                            },
                            status.elapsed_ns as f64 / 1e9,
                        ),
                    ));
                }
            }
        };
        self.state
            .read(key, FileKind::Run, self.limits.max_run_bytes as u64)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::GONE,
                    format!(
                        "the run file of recording {id} cannot be read from the state directory ({e}); record it again"
                    ),
                )
            })
    }

    /// The run of a done recording.
    pub fn run(&self, id: &str) -> Result<Run, ApiError> {
        let json = self.run_json(id)?;
        Run::from_json(&json, Path::new(id)).map_err(|e| {
            ApiError::new(
                StatusCode::GONE,
                format!("the run file of recording {id} is damaged ({e}); record it again"),
            )
        })
    }

    /// Follows a recording's intervals; `None` once it has ended.
    pub fn subscribe(&self, id: &str) -> Result<Option<broadcast::Receiver<Arc<str>>>, ApiError> {
        let inner = self.lock();
        let recording = find(&inner, id)?;
        Ok(recording.events.as_ref().map(broadcast::Sender::subscribe))
    }

    /// Asks a recording to stop now; its run covers the time until then.
    pub fn cancel(&self, id: &str) -> Result<Status, ApiError> {
        let mut inner = self.lock();
        let key = find(&inner, id)?.id;
        let Some(recording) = inner.recordings.get_mut(&key) else {
            return Err(not_found(id));
        };
        let Some(stop) = &recording.stop else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("recording {id} has already ended"),
            ));
        };
        // The worker may have just ended and dropped its receiver; it stores its result anyway.
        let _ = stop.send(EndReason::Cancelled);
        recording.status.cancel_requested = true;
        Ok(current_status(recording))
    }

    /// Ends every recording in progress with `agent_stopped`.
    pub fn stop_all(&self) -> usize {
        let inner = self.lock();
        inner
            .recordings
            .values()
            .filter_map(|r| r.stop.as_ref())
            .filter(|stop| stop.send(EndReason::AgentStopped).is_ok())
            .count()
    }

    /// Waits until no recording is in progress (each has written its files), or `limit`.
    /// Returns whether they all ended.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.lock().recordings.values().all(|r| r.stop.is_none()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A target, the container in it (pods), a syscall.
type TrafficKey = (usize, Option<usize>, u32);

/// Per recording: what the previous interval's totals were, so each tick adds its difference
/// to the counters.
#[derive(Default)]
struct LiveFeed {
    /// (calls, bytes, errors, latency ns) by (target, container, syscall).
    last: HashMap<TrafficKey, [u64; 4]>,
    /// Samples per histogram bucket (by its largest value), by (target, container, syscall,
    /// kind).
    last_buckets: HashMap<(TrafficKey, u8), HashMap<u64, u64>>,
    last_losses: crate::run::Losses,
}

impl LiveFeed {
    fn observe(&mut self, metrics: &Metrics, id: Ulid, labels: &[TargetLabels], tick: &Tick) {
        for traffic in &tick.traffic {
            let Some(target) = labels.get(traffic.target) else {
                continue;
            };
            let now = [
                traffic.calls,
                traffic.bytes,
                traffic.errors,
                traffic.latency_total_ns,
            ];
            let before = self
                .last
                .insert((traffic.target, traffic.container, traffic.syscall), now)
                .unwrap_or_default();
            let delta: [u64; 4] = std::array::from_fn(|i| now[i].saturating_sub(before[i]));
            metrics.add_traffic(
                &target.in_container(traffic.container),
                traffic.syscall,
                &Delta {
                    calls: delta[0],
                    bytes: delta[1],
                    errors: delta[2],
                    latency_ns: delta[3],
                },
            );
        }
        for histogram in &tick.histograms {
            let Some(target) = labels.get(histogram.target) else {
                continue;
            };
            let key = (
                (histogram.target, histogram.container, histogram.syscall),
                histogram.kind,
            );
            let last = self.last_buckets.entry(key).or_default();
            let added: Vec<(u64, u64)> = histogram
                .buckets
                .iter()
                .map(|&(value, count)| {
                    let before = last.insert(value, count).unwrap_or(0);
                    (value, count.saturating_sub(before))
                })
                .filter(|&(_, count)| count > 0)
                .collect();
            metrics.add_histogram(
                &target.in_container(histogram.container),
                histogram.syscall,
                histogram.kind,
                &added,
            );
        }
        metrics.add_losses(&self.last_losses, &tick.losses);
        self.last_losses = tick.losses.clone();
        metrics.set_live(id, tick.fd_map_fill, tick.cores);
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

/// One of `"pids"`: its name, if given (`"client=1234"`), and the PID.
fn parse_pid(spec: &PidSpec) -> Result<(Option<String>, u32), ApiError> {
    let text = match spec {
        PidSpec::Pid(0) => {
            return Err(ApiError::bad_request(
                "\"pids\": 0 is not a process ID; give a positive number",
            ));
        }
        PidSpec::Pid(pid) => return Ok((None, *pid)),
        PidSpec::Named(text) => text,
    };
    let (name, pid) = match text.split_once('=') {
        Some((name, pid)) => (Some(name.to_owned()), pid),
        None => (None, text.as_str()),
    };
    let pid: u32 = pid.trim().parse().ok().filter(|&p| p > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "\"pids\": {text:?} is not a process ID; give a positive number, or \"NAME=PID\""
        ))
    })?;
    if let Some(name) = &name {
        crate::collect::check_label(name)
            .map_err(|reason| ApiError::bad_request(format!("\"pids\": {text:?}: {reason}")))?;
    }
    Ok((name, pid))
}

/// `"interval"`: default 1 s, at least [`MIN_INTERVAL`].
fn parse_interval(text: Option<&str>) -> Result<Duration, ApiError> {
    let interval = match text {
        Some(text) => parse_duration(text)
            .map_err(|reason| ApiError::bad_request(format!("\"interval\": {reason}")))?,
        None => Duration::from_secs(1),
    };
    if interval < MIN_INTERVAL {
        return Err(ApiError::bad_request(format!(
            "\"interval\" {} is shorter than this agent allows ({} ms); sample less often",
            text.unwrap_or_default(),
            MIN_INTERVAL.as_millis()
        )));
    }
    Ok(interval)
}

/// The command line's words in a message, as the API's JSON fields.
#[must_use]
pub fn in_api_terms(message: &str) -> String {
    [
        ("--pod wants", "each of \"pods\" must be"),
        ("--container wants", "each of \"containers\" must be"),
        ("--pod ", "\"pods\": "),
        ("--container ", "\"containers\": "),
        ("--cgroup and", "\"cgroups\" and"),
        ("--cgroup ", "\"cgroups\": "),
        ("--pid ", "\"pids\": "),
        ("--label", "\"label\""),
    ]
    .iter()
    .fold(message.to_owned(), |text, (cli, api)| {
        text.replace(cli, api)
    })
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn elapsed_ns(since: Instant) -> u64 {
    nanos(since.elapsed())
}

fn current_status(recording: &Recording) -> Status {
    let mut status = recording.status.clone();
    if status.state == State::Running
        && let Some(started) = recording.started
    {
        status.elapsed_ns = elapsed_ns(started).min(status.duration_ns.unwrap_or(u64::MAX));
    }
    status
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no recording {id} on this agent; GET /recordings lists them (finished ones are deleted oldest first)"
        ),
    )
}

fn find<'a>(inner: &'a Inner, id: &str) -> Result<&'a Recording, ApiError> {
    let key = Ulid::from_string(id).map_err(|_| not_found(id))?;
    inner.recordings.get(&key).ok_or_else(|| not_found(id))
}

impl ApiError {
    /// The HTTP status for an expected failure from the resolver or the recorder, its message
    /// in the API's terms.
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
        Self::new(status, in_api_terms(&crate::error::describe(&error).1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_json_fields_not_flags() {
        let reason = names::parse_pod_spec("fortio").unwrap_err();
        let said = in_api_terms(&reason);
        assert!(
            said.starts_with("each of \"pods\" must be NAMESPACE/NAME"),
            "{said}"
        );
        assert!(!said.contains("--"), "{said}");
    }
}
