//! The agent's Prometheus metrics (OpenMetrics text): live traffic of every recording and
//! watch, moved every interval and labelled by `node`, `namespace`, `pod`, `container` (pod
//! and container targets) or `process` (PID and cgroup targets), `syscall` and `direction`;
//! payload-size and latency histograms (classic buckets, from the kernel's histograms read
//! every interval); tracer's own health (losses, map fill,
//! the probes' kernel time when cost sampling is on) and the agent process's CPU and memory
//! (`process_*`).
use std::{
    collections::HashSet,
    sync::{Mutex, atomic::AtomicU64},
};

use prometheus_client::{
    collector::Collector,
    encoding::{
        DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet, text::encode,
    },
    metrics::{
        MetricType, TypedMetric, counter::Counter, family::Family, gauge::Gauge, info::Info,
    },
    registry::{Registry, Unit},
};
use ulid::Ulid;

use crate::{
    collect::TargetSpec,
    run::{Direction, EndReason, Losses, Run},
};

/// What one interval added to one target's syscall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub calls: u64,
    pub bytes: u64,
    pub errors: u64,
    /// Entry-to-exit time of those calls.
    pub latency_ns: u64,
}

/// What a target is called in metrics.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct TargetLabels {
    /// Display name (events and statuses).
    pub name: String,
    pub namespace: String,
    pub pod: String,
    /// 12 hex digits, for container targets.
    pub container: String,
    /// For PID and cgroup targets.
    pub process: String,
    /// A pod's containers (12 hex digits), by their index in its cgroup target.
    pub containers: Vec<String>,
}

impl TargetLabels {
    /// The labels of the calls made in container `index` of this pod (the pod's own labels
    /// when the process is in none of them).
    #[must_use]
    pub fn in_container(&self, index: Option<usize>) -> Self {
        let container = index
            .and_then(|i| self.containers.get(i))
            .cloned()
            .unwrap_or_else(|| self.container.clone());
        Self {
            container,
            containers: Vec::new(),
            ..self.clone()
        }
    }

    /// The labels of a resolved target.
    #[must_use]
    pub fn of(target: &TargetSpec) -> Self {
        let name = target.name.clone();
        match target.cgroup.as_ref() {
            Some(cgroup) if cgroup.pod.is_some() => {
                let pod = cgroup
                    .pod
                    .as_ref()
                    .map(|p| (p.namespace.clone(), p.name.clone()));
                let (namespace, pod) = pod.unwrap_or_default();
                let containers: Vec<String> = cgroup
                    .containers
                    .iter()
                    .map(|c| c.id.chars().take(12).collect())
                    .collect();
                let container = if containers.len() == 1 {
                    containers[0].clone()
                } else {
                    String::new()
                };
                Self {
                    name,
                    namespace,
                    pod,
                    container,
                    process: String::new(),
                    containers,
                }
            }
            _ => Self {
                process: name.clone(),
                name,
                ..Self::default()
            },
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyscallLabels {
    node: String,
    namespace: String,
    pod: String,
    container: String,
    process: String,
    syscall: String,
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    /// `duration`, `cancelled`, `targets_exited`, `agent_stopped`, `failed`, ...
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LossLabels {
    /// A field of the run file's `losses`.
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordingLabels {
    recording: String,
}

/// Distinct targets with their own label values; pods come and go with new names, and a label
/// set once created is served forever, so later ones are folded into `process="other"`.
const MAX_TARGET_LABELS: usize = 200;

/// Upper bounds of the payload-size buckets, bytes (the last is `+Inf`).
const SIZE_BOUNDS: [f64; 11] = [
    16.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    f64::INFINITY,
];

/// Upper bounds of the latency buckets, seconds (the last is `+Inf`).
const LATENCY_BOUNDS: [f64; 13] = [
    1e-6,
    5e-6,
    1e-5,
    5e-5,
    1e-4,
    5e-4,
    1e-3,
    5e-3,
    1e-2,
    5e-2,
    0.1,
    1.0,
    f64::INFINITY,
];

type GaugeF64 = Gauge<f64, AtomicU64>;

/// Every metric the agent serves.
pub struct Metrics {
    node: String,
    /// Targets that have their own label values.
    known_targets: Mutex<HashSet<TargetLabels>>,
    registry: Registry,
    started: Counter,
    ended: Family<EndLabels, Counter>,
    active: Gauge,
    calls: Family<SyscallLabels, Counter>,
    bytes: Family<SyscallLabels, Counter>,
    errors: Family<SyscallLabels, Counter>,
    sizes: Family<SyscallLabels, ClassicHistogram, fn() -> ClassicHistogram>,
    latencies: Family<SyscallLabels, ClassicHistogram, fn() -> ClassicHistogram>,
    losses: Family<LossLabels, Counter>,
    map_fill: Family<RecordingLabels, GaugeF64>,
    cores: Family<RecordingLabels, GaugeF64>,
    probe_seconds: Counter<f64, AtomicU64>,
    watch_gap: Counter<f64, AtomicU64>,
}

impl Metrics {
    /// `node` is the node name (from `NODE_NAME`), a label of every traffic metric.
    #[must_use]
    pub fn new(node: &str) -> Self {
        let mut registry = Registry::default();
        let info = Info::new(vec![
            ("version", env!("CARGO_PKG_VERSION").to_owned()),
            ("node", node.to_owned()),
        ]);
        registry.register("tracer_agent", "The tracer agent on this node", info);
        let mut metrics = Self {
            node: node.to_owned(),
            known_targets: Mutex::default(),
            started: Counter::default(),
            ended: Family::default(),
            active: Gauge::default(),
            calls: Family::default(),
            bytes: Family::default(),
            errors: Family::default(),
            sizes: Family::new_with_constructor(size_histogram),
            latencies: Family::new_with_constructor(latency_histogram),
            losses: Family::default(),
            map_fill: Family::default(),
            cores: Family::default(),
            probe_seconds: Counter::default(),
            watch_gap: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "tracer_recordings_started",
            "Recordings and watches accepted by the API",
            metrics.started.clone(),
        );
        registry.register(
            "tracer_recordings_ended",
            "Recordings ended, by reason",
            metrics.ended.clone(),
        );
        registry.register(
            "tracer_recordings_active",
            "Recordings and watches starting or running now",
            metrics.active.clone(),
        );
        registry.register(
            "tracer_syscalls",
            "I/O syscalls the targets made, counted in the kernel; moves every interval",
            metrics.calls.clone(),
        );
        registry.register_with_unit(
            "tracer_syscall_payload",
            "Payload bytes the targets' I/O syscalls moved (sum of positive return values)",
            Unit::Bytes,
            metrics.bytes.clone(),
        );
        registry.register(
            "tracer_syscall_errors",
            "I/O syscalls that returned an error (EAGAIN included)",
            metrics.errors.clone(),
        );
        registry.register_with_unit(
            "tracer_syscall_payload_size",
            "Payload size per I/O syscall that moved bytes; moves every interval",
            Unit::Bytes,
            metrics.sizes.clone(),
        );
        registry.register_with_unit(
            "tracer_syscall_latency",
            "Time from syscall entry to exit; moves every interval",
            Unit::Seconds,
            metrics.latencies.clone(),
        );
        registry.register(
            "tracer_losses",
            "What the kernel maps could not hold, by kind (zero in complete recordings)",
            metrics.losses.clone(),
        );
        registry.register_with_unit(
            "tracer_probe_fd_map_fill",
            "How full the per-fd counter map of a running recording is (past 1, calls are kept per syscall only)",
            Unit::Other("ratio".to_owned()),
            metrics.map_fill.clone(),
        );
        registry.register(
            "tracer_traced_cpu_cores",
            "On-CPU cores of a running recording's traced processes in its last interval",
            metrics.cores.clone(),
        );
        registry.register_with_unit(
            "tracer_probe_run_time",
            "Kernel time spent in tracer's programs, from recordings with cost sampling",
            Unit::Seconds,
            metrics.probe_seconds.clone(),
        );
        registry.register_with_unit(
            "tracer_watch_gap",
            "Time between a watch's segments in which nothing was counted (probes reloading)",
            Unit::Seconds,
            metrics.watch_gap.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        metrics.registry = registry;
        metrics
    }

    pub fn recording_started(&self) {
        self.started.inc();
        self.active.inc();
    }

    /// A recording ended; `run` is its result, `None` when it failed.
    pub fn recording_ended(&self, id: Ulid, run: Option<&Run>) {
        self.active.dec();
        let reason = run.map_or("failed", |run| match run.end_reason {
            EndReason::Duration => "duration",
            EndReason::Cancelled => "cancelled",
            EndReason::TargetsExited => "targets_exited",
            EndReason::Interrupted | EndReason::Terminated => "terminated",
            EndReason::CommandExited => "command_exited",
            EndReason::AgentStopped => "agent_stopped",
        });
        self.ended
            .get_or_create(&EndLabels {
                reason: reason.to_owned(),
            })
            .inc();
        let recording = RecordingLabels {
            recording: id.to_string(),
        };
        self.map_fill.remove(&recording);
        self.cores.remove(&recording);
        if let Some(overhead) = run.and_then(|run| run.probe.overhead.as_ref()) {
            self.probe_seconds
                .inc_by(overhead.estimated_total_ns() / 1e9);
        }
    }

    /// One interval's difference of one target's syscall; the sums of its histograms too
    /// (their buckets come from [`Self::add_histogram`]).
    pub fn add_traffic(&self, target: &TargetLabels, syscall: u32, delta: &Delta) {
        if *delta == Delta::default() {
            return;
        }
        let labels = self.syscall_labels(target, syscall);
        self.calls.get_or_create(&labels).inc_by(delta.calls);
        self.bytes.get_or_create(&labels).inc_by(delta.bytes);
        self.errors.get_or_create(&labels).inc_by(delta.errors);
        self.sizes
            .get_or_create(&labels)
            .add(delta.bytes as f64, std::iter::empty());
        self.latencies
            .get_or_create(&labels)
            .add(delta.latency_ns as f64 / 1e9, std::iter::empty());
    }

    /// Samples added to one target's size or latency histogram of one syscall: (largest
    /// value of the kernel's bucket, samples), sizes in bytes, latencies in ns.
    pub fn add_histogram(
        &self,
        target: &TargetLabels,
        syscall: u32,
        kind: u8,
        added: &[(u64, u64)],
    ) {
        if added.is_empty() {
            return;
        }
        let labels = self.syscall_labels(target, syscall);
        match kind {
            tracer_common::hist_kind::SIZE => self.sizes.get_or_create(&labels).add(
                0.0,
                added.iter().map(|&(value, count)| (value as f64, count)),
            ),
            tracer_common::hist_kind::LATENCY => self.latencies.get_or_create(&labels).add(
                0.0,
                added.iter().map(|&(ns, count)| (ns as f64 / 1e9, count)),
            ),
            _ => {}
        }
    }

    /// Loss counters: what grew from `before` to `now`.
    pub fn add_losses(&self, before: &Losses, now: &Losses) {
        let kinds = [
            (
                "fd_keys_overflowed",
                before.fd_keys_overflowed,
                now.fd_keys_overflowed,
            ),
            ("calls_lost", before.calls_lost, now.calls_lost),
            (
                "histogram_samples_lost",
                before.histogram_samples_lost,
                now.histogram_samples_lost,
            ),
            ("in_flight_full", before.in_flight_full, now.in_flight_full),
            (
                "children_not_traced",
                before.children_not_traced,
                now.children_not_traced,
            ),
            (
                "exits_not_recorded",
                before.exits_not_recorded,
                now.exits_not_recorded,
            ),
        ];
        for (kind, before, now) in kinds {
            // Every kind is shown, zero while nothing is lost.
            self.losses
                .get_or_create(&LossLabels {
                    kind: kind.to_owned(),
                })
                .inc_by(now.saturating_sub(before));
        }
    }

    /// A watch did not count for `gap` between two segments.
    pub fn watch_gap(&self, gap: std::time::Duration) {
        self.watch_gap.inc_by(gap.as_secs_f64());
    }

    /// A running recording's gauges, each interval.
    pub fn set_live(&self, id: Ulid, fd_map_fill: f64, cores: f64) {
        let recording = RecordingLabels {
            recording: id.to_string(),
        };
        self.map_fill.get_or_create(&recording).set(fd_map_fill);
        self.cores.get_or_create(&recording).set(cores);
    }

    fn syscall_labels(&self, target: &TargetLabels, syscall: u32) -> SyscallLabels {
        let target = self.bounded(&target.in_container(None));
        let direction = if tracer_common::syscalls::is_read_like(syscall) {
            Direction::Read
        } else {
            Direction::Write
        };
        SyscallLabels {
            node: self.node.clone(),
            namespace: target.namespace,
            pod: target.pod,
            container: target.container,
            process: target.process,
            syscall: crate::collect::syscall_name(syscall).to_owned(),
            direction: match direction {
                Direction::Read => "read",
                Direction::Write => "write",
            }
            .to_owned(),
        }
    }

    /// `target`, or `process="other"` once [`MAX_TARGET_LABELS`] targets have their own.
    fn bounded(&self, target: &TargetLabels) -> TargetLabels {
        let mut known = self
            .known_targets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.contains(target)
            || (known.len() < MAX_TARGET_LABELS && known.insert(target.clone()))
        {
            target.clone()
        } else {
            TargetLabels {
                process: "other".to_owned(),
                ..TargetLabels::default()
            }
        }
    }

    /// The OpenMetrics text exposition, as Prometheus scrapes it.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// A histogram with fixed (classic) buckets that takes many samples at once: the kernel's
/// histograms arrive as counts per bucket, not as single observations.
#[derive(Debug)]
pub struct ClassicHistogram {
    bounds: &'static [f64],
    inner: Mutex<HistogramState>,
}

#[derive(Debug, Default)]
struct HistogramState {
    sum: f64,
    count: u64,
    buckets: Vec<u64>,
}

fn size_histogram() -> ClassicHistogram {
    ClassicHistogram::new(&SIZE_BOUNDS)
}

fn latency_histogram() -> ClassicHistogram {
    ClassicHistogram::new(&LATENCY_BOUNDS)
}

impl ClassicHistogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            inner: Mutex::new(HistogramState {
                buckets: vec![0; bounds.len()],
                ..HistogramState::default()
            }),
        }
    }

    /// Adds `count` samples at most `value` for each pair, and their exact `sum`.
    fn add(&self, sum: f64, samples: impl IntoIterator<Item = (f64, u64)>) {
        let mut state = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.sum += sum;
        for (value, count) in samples {
            let bucket = self
                .bounds
                .iter()
                .position(|&bound| value <= bound)
                .unwrap_or(self.bounds.len() - 1);
            state.buckets[bucket] += count;
            state.count += count;
        }
    }
}

impl TypedMetric for ClassicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for ClassicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let state = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .zip(state.buckets.iter().copied())
            .collect();
        encoder.encode_histogram::<NoLabelSet>(state.sum, state.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The agent process's own CPU, memory and file descriptors, read from `/proc/self` at each
/// scrape, under the names every Prometheus client library uses (`process_*`).
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(figures) = process_figures() else {
            return Ok(());
        };
        encoder
            .encode_descriptor(
                "process_cpu",
                "User and system CPU time the agent spent",
                Some(&Unit::Seconds),
                MetricType::Counter,
            )?
            .encode_counter::<NoLabelSet, _, f64>(&figures.cpu_seconds, None)?;
        let gauges = [
            (
                "process_resident_memory",
                "Resident memory of the agent",
                figures.resident_bytes,
            ),
            (
                "process_virtual_memory",
                "Virtual memory of the agent",
                figures.virtual_bytes,
            ),
        ];
        for (name, help, value) in gauges {
            encoder
                .encode_descriptor(name, help, Some(&Unit::Bytes), MetricType::Gauge)?
                .encode_gauge(&value)?;
        }
        encoder
            .encode_descriptor(
                "process_start_time",
                "When the agent started, since the Unix epoch",
                Some(&Unit::Seconds),
                MetricType::Gauge,
            )?
            .encode_gauge(&figures.start_time_seconds)?;
        encoder
            .encode_descriptor(
                "process_open_fds",
                "File descriptors the agent has open",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&figures.open_fds)?;
        encoder
            .encode_descriptor(
                "process_max_fds",
                "The agent's open file limit",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&figures.max_fds)?;
        Ok(())
    }
}

struct ProcessFigures {
    cpu_seconds: f64,
    resident_bytes: i64,
    virtual_bytes: i64,
    start_time_seconds: f64,
    open_fds: i64,
    max_fds: i64,
}

fn process_figures() -> Option<ProcessFigures> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
    let whole = |n: usize| -> Option<i64> { fields.get(n - 3)?.parse().ok() };
    // SAFETY: sysconf and getrlimit only read values; the struct is passed by reference.
    let (ticks, page, max_fds) = unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit);
        (
            libc::sysconf(libc::_SC_CLK_TCK).max(1) as f64,
            libc::sysconf(libc::_SC_PAGESIZE).max(1),
            limit.rlim_cur,
        )
    };
    let boot_time: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count);
    Some(ProcessFigures {
        cpu_seconds: (field(14)? + field(15)?) / ticks,
        virtual_bytes: whole(23)?,
        resident_bytes: whole(24)?.saturating_mul(page),
        start_time_seconds: boot_time + field(22)? / ticks,
        open_fds: i64::try_from(open_fds).unwrap_or(i64::MAX),
        max_fds: i64::try_from(max_fds).unwrap_or(i64::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_recordings_and_names_units() {
        let metrics = Metrics::new("node-1");
        metrics.recording_started();
        metrics.recording_started();
        metrics.recording_ended(Ulid::new(), None);
        let target = TargetLabels {
            name: "default/web".into(),
            namespace: "default".into(),
            pod: "web".into(),
            ..TargetLabels::default()
        };
        let delta = Delta {
            calls: 3,
            bytes: 12,
            ..Delta::default()
        };
        metrics.add_traffic(&target, tracer_common::syscalls::WRITE, &delta);
        let text = metrics.encode();
        assert!(
            text.contains("tracer_agent_info{version=\"0.1.0\",node=\"node-1\"} 1"),
            "{text}"
        );
        assert!(text.contains("tracer_recordings_started_total 2"), "{text}");
        assert!(text.contains("tracer_recordings_active 1"), "{text}");
        assert!(
            text.contains("tracer_recordings_ended_total{reason=\"failed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tracer_syscall_payload_bytes_total{node=\"node-1\",namespace=\"default\",pod=\"web\",container=\"\",process=\"\",syscall=\"write\",direction=\"write\"} 12"),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn histograms_take_bucket_counts() {
        let histogram = ClassicHistogram::new(&SIZE_BOUNDS);
        histogram.add(3.0 * 180.0 + 358.0, [(180.0, 3), (358.0, 1), (1e12, 1)]);
        let state = histogram.inner.lock().unwrap();
        assert_eq!(state.count, 5);
        assert_eq!(state.buckets[2], 3, "180 B is in le=256");
        assert_eq!(state.buckets[3], 1, "358 B is in le=1024");
        assert_eq!(state.buckets[10], 1, "past the last bound is +Inf");
    }

    #[test]
    fn target_labels_are_bounded() {
        let metrics = Metrics::new("node-1");
        let target = |n: usize| TargetLabels {
            process: format!("p{n}"),
            ..TargetLabels::default()
        };
        for n in 0..MAX_TARGET_LABELS {
            assert_eq!(metrics.bounded(&target(n)), target(n));
        }
        assert_eq!(metrics.bounded(&target(9999)).process, "other");
        assert_eq!(
            metrics.bounded(&target(7)),
            target(7),
            "known ones keep theirs"
        );
    }
}
