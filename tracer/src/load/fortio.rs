//! Fortio's `-json` result: `DurationHistogram` (seconds), `ActualDuration` (ns), `RetCodes`.
use super::{Doc, is_success, seconds_to_ns, total};
use crate::run::{LoadResult, RequestLatency};

/// The percentiles a report shows, as Fortio names them.
const PERCENTILES: [f64; 5] = [50.0, 75.0, 90.0, 99.0, 99.9];

pub(super) fn parse(doc: &Doc<'_>) -> anyhow::Result<LoadResult> {
    let requests = doc.count("DurationHistogram.Count")?;
    let percentiles = doc
        .value("DurationHistogram.Percentiles")?
        .as_array()
        .ok_or_else(|| doc.bad("DurationHistogram.Percentiles", "is not a list"))?;
    let mut values = [0u64; PERCENTILES.len()];
    for (slot, wanted) in values.iter_mut().zip(PERCENTILES) {
        let found = percentiles
            .iter()
            .find(|p| {
                p.get("Percentile")
                    .and_then(serde_json::Value::as_f64)
                    .is_some_and(|p| (p - wanted).abs() < 1e-6)
            })
            .ok_or_else(|| {
                doc.bad(
                    "DurationHistogram.Percentiles",
                    &format!("has no {wanted} percentile: run fortio with -p \"50,75,90,99,99.9\""),
                )
            })?;
        let seconds = found
            .get("Value")
            .and_then(serde_json::Value::as_f64)
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                doc.bad(
                    &format!("DurationHistogram.Percentiles[{wanted}].Value"),
                    "is not a non-negative number",
                )
            })?;
        *slot = seconds_to_ns(seconds);
    }
    let [p50_ns, p75_ns, p90_ns, p99_ns, p99_9_ns] = values;
    let status_codes = doc.status_codes("RetCodes")?;
    // gRPC runs report health states instead of HTTP codes.
    let grpc_ok = |code: &str| matches!(code, "SERVING" | "OK" | "1");
    let errors = total(
        status_codes
            .iter()
            .filter(|(code, _)| !is_success(code) && !grpc_ok(code))
            .map(|(_, count)| count),
    );
    // "max" (or absent in old versions) means no rate limit.
    let target_qps = doc
        .root
        .get("RequestedQPS")
        .and_then(|qps| {
            qps.as_str()
                .map(str::parse::<f64>)
                .and_then(Result::ok)
                .or_else(|| qps.as_f64())
        })
        .filter(|qps| *qps > 0.0);
    Ok(LoadResult {
        tool: "fortio".into(),
        source: None,
        requests,
        errors,
        duration_ns: doc.count("ActualDuration")?,
        qps: doc.number("ActualQPS")?,
        target_qps,
        connections: doc
            .root
            .get("NumThreads")
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
        latency: RequestLatency {
            average_ns: doc.number("DurationHistogram.Avg")? * 1e9,
            min_ns: seconds_to_ns(doc.number("DurationHistogram.Min")?),
            max_ns: seconds_to_ns(doc.number("DurationHistogram.Max")?),
            p50_ns,
            p75_ns,
            p90_ns,
            p99_ns,
            p999_ns: p99_9_ns,
        },
        status_codes,
    })
}
