//! oha's `--output-format json` result: `summary` and `latencyPercentiles` in seconds,
//! `statusCodeDistribution` and `errorDistribution` (transport errors by message).
use super::{Doc, is_success, seconds_to_ns, total};
use crate::error::{ErrorKind, user};
use crate::run::{LoadResult, RequestLatency};

pub(super) fn parse(doc: &Doc<'_>) -> anyhow::Result<LoadResult> {
    let status_codes = doc.status_codes("statusCodeDistribution")?;
    let transport_errors = total(doc.status_codes("errorDistribution")?.values());
    let answered = total(status_codes.values());
    if answered == 0 {
        // oha writes null latencies then; a run without one response has nothing to compare.
        let errors = doc.status_codes("errorDistribution")?;
        let common = errors
            .iter()
            .max_by_key(|(_, count)| **count)
            .map_or("none", |(message, _)| message.as_str());
        return Err(user(
            ErrorKind::BadInput,
            format!(
                "{}: oha got no response to any of its {transport_errors} requests (most common error: {common}): check the URL and the server, then run the load again",
                doc.path.display()
            ),
        ));
    }
    let failed_statuses = total(
        status_codes
            .iter()
            .filter(|(code, _)| !is_success(code))
            .map(|(_, count)| count),
    );
    let percentile = |name: &str| doc.number_in("latencyPercentiles", name).map(seconds_to_ns);
    Ok(LoadResult {
        tool: "oha".into(),
        source: None,
        requests: answered.saturating_add(transport_errors),
        errors: failed_statuses.saturating_add(transport_errors),
        duration_ns: seconds_to_ns(doc.number("summary.total")?),
        qps: doc.number("summary.requestsPerSec")?,
        target_qps: None,
        connections: None,
        latency: RequestLatency {
            average_ns: doc.number("summary.average")? * 1e9,
            min_ns: seconds_to_ns(doc.number("summary.fastest")?),
            max_ns: seconds_to_ns(doc.number("summary.slowest")?),
            p50_ns: percentile("p50")?,
            p75_ns: percentile("p75")?,
            p90_ns: percentile("p90")?,
            p99_ns: percentile("p99")?,
            p999_ns: percentile("p99.9")?,
        },
        status_codes,
    })
}
