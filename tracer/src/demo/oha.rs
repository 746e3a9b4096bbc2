//! Reads just what the demo needs from oha's JSON (`oha --output-format json`).
//!
//! Stop-gap: the full Fortio/oha importer lives in `crate::load` (being written on another
//! branch); once it is merged the demo calls it instead and this file goes away.
use std::{collections::BTreeMap, path::Path};

use serde_json::Value;

use crate::{
    error::{ErrorKind, user},
    run::{LoadResult, RequestLatency},
};

/// Imports an oha JSON result file.
pub fn import(path: &Path) -> anyhow::Result<LoadResult> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        user(
            ErrorKind::BadInput,
            format!("cannot read oha's result {}: {error}", path.display()),
        )
    })?;
    parse(&text).ok_or_else(|| {
        user(
            ErrorKind::BadInput,
            format!(
                "{} is not an oha JSON result (oha --output-format json)",
                path.display()
            ),
        )
    })
}

/// Seconds (oha's unit) to ns.
fn ns(seconds: f64) -> u64 {
    let ns = (seconds * 1e9).round();
    if ns.is_finite() && ns > 0.0 {
        // In range: checked above, and u64 holds 584 years of ns.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked positive and finite"
        )]
        let ns = ns as u64;
        ns
    } else {
        0
    }
}

fn parse(text: &str) -> Option<LoadResult> {
    let root: Value = serde_json::from_str(text).ok()?;
    let summary = root.get("summary")?;
    let percentiles = root.get("latencyPercentiles")?;
    let seconds = |value: &Value, key: &str| value.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let mut status_codes = BTreeMap::new();
    if let Some(codes) = root
        .get("statusCodeDistribution")
        .and_then(Value::as_object)
    {
        for (code, count) in codes {
            status_codes.insert(code.clone(), count.as_u64().unwrap_or(0));
        }
    }
    // Requests still in flight when `-z` ran out are "aborted due to deadline": not sent to
    // completion, not failures (oha's own success rate leaves them out too).
    let transport_errors: u64 = root
        .get("errorDistribution")
        .and_then(Value::as_object)
        .map_or(0, |errors| {
            errors
                .iter()
                .filter(|(name, _)| !name.contains("aborted due to deadline"))
                .filter_map(|(_, count)| count.as_u64())
                .sum()
        });
    let non_2xx: u64 = status_codes
        .iter()
        .filter(|(code, _)| !code.starts_with('2'))
        .map(|(_, count)| count)
        .sum();
    let requests = status_codes.values().sum::<u64>() + transport_errors;
    let duration_ns = ns(seconds(summary, "total"));
    Some(LoadResult {
        tool: "oha".into(),
        source: None,
        requests,
        errors: non_2xx + transport_errors,
        duration_ns,
        qps: seconds(summary, "requestsPerSec"),
        target_qps: None,
        connections: None,
        latency: RequestLatency {
            average_ns: seconds(summary, "average") * 1e9,
            min_ns: ns(seconds(summary, "fastest")),
            max_ns: ns(seconds(summary, "slowest")),
            p50_ns: ns(seconds(percentiles, "p50")),
            p75_ns: ns(seconds(percentiles, "p75")),
            p90_ns: ns(seconds(percentiles, "p90")),
            p99_ns: ns(seconds(percentiles, "p99")),
            p999_ns: ns(seconds(percentiles, "p99.9")),
        },
        status_codes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_the_demo_shows() {
        let text = r#"{"summary":{"successRate":1.0,"total":2.0,"slowest":0.004,"fastest":0.0002,
            "average":0.0008,"requestsPerSec":100.0},
            "latencyPercentiles":{"p50":0.0006,"p75":0.0007,"p90":0.0009,"p99":0.002,"p99.9":0.003},
            "statusCodeDistribution":{"200":199,"503":1},
            "errorDistribution":{"connection reset":2,"aborted due to deadline":3}}"#;
        let result = parse(text).unwrap();
        assert_eq!(result.requests, 202);
        assert_eq!(result.errors, 3);
        assert_eq!(result.latency.p90_ns, 900_000);
        assert_eq!(result.duration_ns, 2_000_000_000);
        assert!(parse(r#"{"DurationHistogram":{}}"#).is_none());
    }
}
