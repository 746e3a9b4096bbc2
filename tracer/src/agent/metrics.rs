//! The agent's Prometheus metrics (text exposition): its own state, and the traffic of every
//! finished recording, per target and direction, so dashboards can follow runs over time.
use std::{collections::HashSet, sync::Mutex};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, info::Info},
    registry::Registry,
};

use crate::run::{Direction, EndReason, Run};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    /// `duration`, `cancelled`, `targets_exited` or `failed`.
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TrafficLabels {
    /// Target display name, e.g. `default/fortio-7d9`.
    target: String,
    /// `read` or `write`.
    direction: String,
}

/// Distinct `target` label values kept; pods come and go with new names, and a label set
/// once created is served forever, so later names are folded into `target="other"`.
const MAX_TARGET_LABELS: usize = 200;

/// Every metric the agent serves.
pub struct Metrics {
    /// Target names that have their own label value.
    target_labels: Mutex<HashSet<String>>,
    registry: Registry,
    started: Counter,
    ended: Family<EndLabels, Counter>,
    active: Gauge,
    calls: Family<TrafficLabels, Counter>,
    bytes: Family<TrafficLabels, Counter>,
}

impl Metrics {
    /// `node` is the node name (from `NODE_NAME`), shown in `tracer_agent_info`.
    #[must_use]
    pub fn new(node: &str) -> Self {
        let mut registry = Registry::default();
        let info = Info::new(vec![
            ("version", env!("CARGO_PKG_VERSION").to_owned()),
            ("node", node.to_owned()),
        ]);
        registry.register("tracer_agent", "The tracer agent on this node", info);
        let (started, active) = (Counter::default(), Gauge::default());
        let ended = Family::<EndLabels, Counter>::default();
        let (calls, bytes) = (
            Family::<TrafficLabels, Counter>::default(),
            Family::<TrafficLabels, Counter>::default(),
        );
        registry.register(
            "tracer_recordings_started",
            "Recordings accepted by the API",
            started.clone(),
        );
        registry.register(
            "tracer_recordings_ended",
            "Recordings ended, by reason",
            ended.clone(),
        );
        registry.register(
            "tracer_recordings_active",
            "Recordings starting or running now",
            active.clone(),
        );
        registry.register(
            "tracer_traced_syscalls",
            "I/O syscalls counted in finished recordings, per target and direction",
            calls.clone(),
        );
        registry.register(
            "tracer_traced_bytes",
            "Payload bytes of I/O syscalls in finished recordings, per target and direction",
            bytes.clone(),
        );
        Self {
            target_labels: Mutex::default(),
            registry,
            started,
            ended,
            active,
            calls,
            bytes,
        }
    }

    pub fn recording_started(&self) {
        self.started.inc();
        self.active.inc();
    }

    /// A recording ended; `run` is its result, `None` when it failed.
    pub fn recording_ended(&self, run: Option<&Run>) {
        self.active.dec();
        let reason = run.map_or("failed", |run| match run.end_reason {
            EndReason::Duration => "duration",
            EndReason::Cancelled => "cancelled",
            EndReason::TargetsExited => "targets_exited",
            EndReason::Interrupted | EndReason::Terminated => "terminated",
            EndReason::CommandExited => "command_exited",
        });
        self.ended
            .get_or_create(&EndLabels {
                reason: reason.to_owned(),
            })
            .inc();
        let Some(run) = run else { return };
        for process in &run.processes {
            let name = run
                .targets
                .get(process.target)
                .map_or("unknown", |t| t.name.as_str());
            let target = self.target_label(name);
            for syscall in &process.syscalls {
                let direction = match syscall.direction {
                    Direction::Read => "read",
                    Direction::Write => "write",
                };
                let labels = TrafficLabels {
                    target: target.clone(),
                    direction: direction.to_owned(),
                };
                self.calls.get_or_create(&labels).inc_by(syscall.calls);
                self.bytes.get_or_create(&labels).inc_by(syscall.bytes);
            }
        }
    }

    /// `name`, or `other` once [`MAX_TARGET_LABELS`] names have their own label.
    fn target_label(&self, name: &str) -> String {
        let mut known = self
            .target_labels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.contains(name)
            || (known.len() < MAX_TARGET_LABELS && known.insert(name.to_owned()))
        {
            name.to_owned()
        } else {
            "other".to_owned()
        }
    }

    /// The text exposition, as Prometheus scrapes it.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_recordings_and_their_traffic() {
        let metrics = Metrics::new("node-1");
        metrics.recording_started();
        metrics.recording_started();
        metrics.recording_ended(None);
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
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn target_labels_are_bounded() {
        let metrics = Metrics::new("node-1");
        for n in 0..MAX_TARGET_LABELS {
            assert_eq!(
                metrics.target_label(&format!("default/pod-{n}")),
                format!("default/pod-{n}")
            );
        }
        assert_eq!(metrics.target_label("default/one-too-many"), "other");
        assert_eq!(
            metrics.target_label("default/pod-7"),
            "default/pod-7",
            "known names keep their label"
        );
    }
}
