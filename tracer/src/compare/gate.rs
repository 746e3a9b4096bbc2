//! CI gates on a comparison, as benchmark tools gate regressions:
//! `compare --fail-if 'io_calls_per_request>+5%'` fails when a compared group's value is more
//! than 5% above the baseline's. Metric names are the `metric` keys of the JSON comparison.
//!
//! A gate reads `[SCOPE:]METRIC OP THRESHOLD`:
//! - `SCOPE`: a section by target or process name (`client:read_calls_per_request<...`), or
//!   `load` for the load generator's table; without it, the total over all traced processes
//!   (the only process when there is one), else the load table.
//! - `OP`: `>`, `>=`, `<`, `<=`: the gate fails when the value satisfies it.
//! - `THRESHOLD`: a change against the baseline in percent (`+5%`, `-10%`, `5%`), or a value
//!   in the metric's JSON unit (ns, bytes, counts: `p99_ns>2000000`).
//!
//! Every group but the baseline is checked. A value that is not there (no request count for a
//! per-request metric, a process missing from a run) fails the gate: a gate that cannot be
//! checked must not pass a build silently.
use std::{fmt, str::FromStr};

use super::model::{Comparison, Row, Table};

/// One `--fail-if` condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Gate {
    /// As written, for messages.
    text: String,
    scope: Option<String>,
    metric: String,
    op: Op,
    threshold: Threshold,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Above,
    AtLeast,
    Below,
    AtMost,
}

impl Op {
    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Self::Above => value > limit,
            Self::AtLeast => value >= limit,
            Self::Below => value < limit,
            Self::AtMost => value <= limit,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Threshold {
    /// A change against the baseline, in percent.
    Percent(f64),
    /// A value in the metric's unit.
    Value(f64),
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Gate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let wanted = "write METRIC>+5%, METRIC<=-10% or METRIC>2000 (optionally SCOPE:METRIC), with a metric name from the JSON comparison";
        let at = text
            .find(['<', '>'])
            .ok_or_else(|| format!("'{text}' has no comparison (> >= < <=): {wanted}"))?;
        let (left, rest) = text.split_at(at);
        let (op, right) = match rest.as_bytes() {
            [b'>', b'=', ..] => (Op::AtLeast, &rest[2..]),
            [b'<', b'=', ..] => (Op::AtMost, &rest[2..]),
            [b'>', ..] => (Op::Above, &rest[1..]),
            _ => (Op::Below, &rest[1..]),
        };
        let left = left.trim();
        let (scope, metric) = match left.rsplit_once(':') {
            Some((scope, metric)) => (Some(scope.trim().to_owned()), metric.trim()),
            None => (None, left),
        };
        if metric.is_empty()
            || !metric
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            || scope.as_deref().is_some_and(str::is_empty)
        {
            return Err(format!("'{text}' names no metric: {wanted}"));
        }
        let right = right.trim();
        let (number, percent) = match right.strip_suffix('%') {
            Some(number) => (number.trim(), true),
            None => (right, false),
        };
        let number: f64 = number
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite())
            .ok_or_else(|| format!("'{text}': '{right}' is not a number: {wanted}"))?;
        // The report says "I/O syscalls"; the JSON's keys say `io_calls`: both names work.
        let metric = match metric.strip_prefix("io_syscalls") {
            Some(rest) => format!("io_calls{rest}"),
            None => metric.to_owned(),
        };
        Ok(Self {
            text: text.trim().to_owned(),
            scope,
            metric,
            op,
            threshold: if percent {
                Threshold::Percent(number)
            } else {
                Threshold::Value(number)
            },
        })
    }
}

/// The scope the gate's metric is read in.
const LOAD_SCOPE: &str = "load";

impl Gate {
    /// The row this gate reads, or why there is none (one sentence naming what is known).
    fn row<'a>(&self, comparison: &'a Comparison) -> Result<&'a Row, String> {
        let total = comparison
            .sections
            .iter()
            .find(|s| s.target.is_none())
            .or_else(|| comparison.sections.first());
        let tables: Vec<&Table> = match self.scope.as_deref() {
            None => total
                .map(|s| &s.table)
                .into_iter()
                .chain(&comparison.load)
                .collect(),
            Some(LOAD_SCOPE) => {
                if comparison.load.is_none() {
                    return Err(format!(
                        "--fail-if {self}: these runs carry no load-generator result (record with --load, or give compare --load FILE per run)"
                    ));
                }
                comparison.load.iter().collect()
            }
            Some(scope) => {
                let section = comparison
                    .sections
                    .iter()
                    .find(|s| {
                        s.target.as_deref() == Some(scope)
                            || s.process.as_deref() == Some(scope)
                            || s.name == scope
                    })
                    .ok_or_else(|| {
                        let known: Vec<&str> = comparison
                            .sections
                            .iter()
                            .filter_map(|s| s.process.as_deref())
                            .chain(comparison.load.as_ref().map(|_| LOAD_SCOPE))
                            .collect();
                        format!(
                            "--fail-if {self}: no process or target '{scope}' in these runs; known scopes: {}",
                            known.join(", ")
                        )
                    })?;
                vec![&section.table]
            }
        };
        tables
            .iter()
            .find_map(|table| table.row(&self.metric))
            .ok_or_else(|| {
                let mut known: Vec<&str> = Vec::new();
                for row in tables.iter().flat_map(|t| &t.rows) {
                    if !known.contains(&row.metric.as_str()) {
                        known.push(&row.metric);
                    }
                }
                format!(
                    "--fail-if {self}: unknown metric '{}'; known metrics here: {}",
                    self.metric,
                    known.join(", ")
                )
            })
    }

    /// Why the gate fails for group `group`, or `None` if it passes there.
    fn failure(&self, row: &Row, group: usize, label: &str) -> Option<String> {
        let Some(value) = row.values.get(group).copied().flatten() else {
            return Some(format!("{label}: {} was not measured", self.metric));
        };
        let base = row.values.first().copied().flatten();
        let shown = |v: f64| format!("{}", (v * 1000.0).round() / 1000.0);
        match self.threshold {
            Threshold::Value(limit) => self
                .op
                .holds(value.mean, limit)
                .then(|| format!("{label}: {} is {}", self.metric, shown(value.mean))),
            Threshold::Percent(limit) => {
                let Some(base) = base else {
                    return Some(format!(
                        "{label}: {} was not measured in the baseline",
                        self.metric
                    ));
                };
                // A change from 0 is infinitely large in its direction.
                let percent = row
                    .changes
                    .get(group)
                    .copied()
                    .flatten()
                    .and_then(|c| c.percent)
                    .unwrap_or(if value.mean > base.mean {
                        f64::INFINITY
                    } else {
                        f64::NEG_INFINITY
                    });
                self.op.holds(percent, limit).then(|| {
                    format!(
                        "{label}: {} changed {percent:+.1}% ({} → {})",
                        self.metric,
                        shown(base.mean),
                        shown(value.mean)
                    )
                })
            }
        }
    }
}

/// Checks every gate against every group but the baseline: the failures, one sentence each
/// (`io_calls_per_request>+5%: ambient: io_calls_per_request changed +33.3% (3 → 4)`), or
/// the first gate that names no metric of this comparison.
pub fn check(comparison: &Comparison, gates: &[Gate]) -> Result<Vec<String>, String> {
    let mut failures = Vec::new();
    for gate in gates {
        let row = gate.row(comparison)?;
        for (group, info) in comparison.groups.iter().enumerate().skip(1) {
            if let Some(why) = gate.failure(row, group, &info.label) {
                failures.push(format!("{gate}: {why}"));
            }
        }
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::sample;

    fn gates(texts: &[&str]) -> Vec<Gate> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn gates_parse_operators_scopes_and_thresholds() {
        let spelled_out: Gate = "io_syscalls_per_request>+5%".parse().unwrap();
        assert_eq!(spelled_out.metric, "io_calls_per_request");
        let gate: Gate = "client:io_calls_per_request >= +5%".parse().unwrap();
        assert_eq!(gate.scope.as_deref(), Some("client"));
        assert_eq!(gate.metric, "io_calls_per_request");
        assert_eq!(gate.op, Op::AtLeast);
        assert_eq!(gate.threshold, Threshold::Percent(5.0));
        let gate: Gate = "p99_ns<=2000000".parse().unwrap();
        assert_eq!(
            (gate.scope, gate.op, gate.threshold),
            (None, Op::AtMost, Threshold::Value(2e6))
        );
        let gate: Gate = "cpu_us_per_request<-10%".parse().unwrap();
        assert_eq!(
            (gate.op, gate.threshold),
            (Op::Below, Threshold::Percent(-10.0))
        );
        for bad in [
            "",
            "io_calls",
            ">5%",
            "io_calls>",
            "io_calls>x%",
            "a b>1",
            ":x>1",
        ] {
            assert!(bad.parse::<Gate>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_gate_fails_only_past_its_threshold() {
        let comparison = sample::blog_like();
        // The client: 3.0 → 2.0 I/O syscalls per request (−33%); ambient's latency 0.80 ms.
        let passing = gates(&[
            "client:io_calls_per_request>+5%",
            "client:io_calls_per_request<-40%",
            "load:average_ns>900000",
        ]);
        assert_eq!(check(&comparison, &passing).unwrap(), Vec::<String>::new());
        let failing = gates(&["client:io_calls_per_request<-20%", "load:average_ns>700000"]);
        assert_eq!(
            check(&comparison, &failing).unwrap(),
            [
                "client:io_calls_per_request<-20%: ambient: io_calls_per_request changed -33.3% (3 → 2)",
                "load:average_ns>700000: ambient: average_ns is 800000",
            ]
        );
    }

    #[test]
    fn an_unknown_metric_or_scope_is_named_with_what_is_known() {
        let comparison = sample::blog_like();
        let error = check(&comparison, &gates(&["io_calls_per_requests>+5%"])).unwrap_err();
        assert!(
            error.starts_with("--fail-if io_calls_per_requests>+5%: unknown metric 'io_calls_per_requests'; known metrics here: io_calls, io_calls_per_s, io_calls_per_request,"),
            "{error}"
        );
        assert!(error.contains("p99_ns"), "{error}");
        let error = check(&comparison, &gates(&["nginx:io_calls>1"])).unwrap_err();
        assert!(
            error.contains("no process or target 'nginx' in these runs; known scopes: "),
            "{error}"
        );
    }
}
