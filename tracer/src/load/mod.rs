//! Load-generator results: imports a Fortio (`-json FILE`) or oha (`--output-format json`)
//! result file into [`LoadResult`], so runs carry the request count and request latency that
//! "per request" values and latency comparisons need.
//!
//! The format is told by its fields, not by the file name. Parsing is strict: a field a report
//! relies on that is missing or of the wrong type is named in a one-sentence error (exit code of
//! [`ErrorKind::BadInput`]) rather than being read as zero.
mod fortio;
mod oha;

use std::path::Path;

use serde_json::Value;

use crate::{
    error::{ErrorKind, user},
    run::LoadResult,
};

/// Reads a Fortio or oha JSON result file.
pub fn import(path: &Path) -> anyhow::Result<LoadResult> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        user(
            ErrorKind::BadInput,
            format!(
                "cannot read load-generator result {}: {error}",
                path.display()
            ),
        )
    })?;
    let mut result = parse(&text, path)?;
    result.source = Some(path.display().to_string());
    Ok(result)
}

/// Parses the text of a load-generator result; `path` only names it in errors.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<LoadResult> {
    let root: Value = serde_json::from_str(text).map_err(|error| {
        user(
            ErrorKind::BadInput,
            format!(
                "load-generator result {} is not valid JSON ({error}): pass the file written by \
                 `fortio load -json FILE` or `oha --output-format json`",
                path.display()
            ),
        )
    })?;
    let doc = |tool| Doc {
        path,
        tool,
        root: &root,
    };
    if root.get("DurationHistogram").is_some() {
        fortio::parse(&doc("Fortio"))
    } else if root.get("summary").is_some() && root.get("latencyPercentiles").is_some() {
        oha::parse(&doc("oha"))
    } else {
        Err(user(
            ErrorKind::BadInput,
            format!(
                "{} is neither a Fortio result (no \"DurationHistogram\") nor an oha result (no \
                 \"summary\" and \"latencyPercentiles\"): pass the file written by `fortio load \
                 -json FILE` or `oha --output-format json`",
                path.display()
            ),
        ))
    }
}

/// A parsed result file with the context its error messages need.
struct Doc<'a> {
    path: &'a Path,
    tool: &'static str,
    root: &'a Value,
}

impl Doc<'_> {
    /// The value at a dotted path of object keys (`DurationHistogram.Count`).
    fn value(&self, dotted: &str) -> anyhow::Result<&Value> {
        let mut value = self.root;
        for key in dotted.split('.') {
            value = value
                .get(key)
                .ok_or_else(|| self.bad(dotted, "is missing"))?;
        }
        Ok(value)
    }

    fn number(&self, dotted: &str) -> anyhow::Result<f64> {
        self.value(dotted)?
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| self.bad(dotted, "is not a non-negative number"))
    }

    /// A number under a key that itself contains a dot (oha's `p99.9`).
    fn number_in(&self, parent: &str, key: &str) -> anyhow::Result<f64> {
        let field = format!("{parent}.{key}");
        self.object(parent)?
            .get(key)
            .ok_or_else(|| self.bad(&field, "is missing"))?
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| self.bad(&field, "is not a non-negative number"))
    }

    fn count(&self, dotted: &str) -> anyhow::Result<u64> {
        self.value(dotted)?
            .as_u64()
            .ok_or_else(|| self.bad(dotted, "is not a whole number"))
    }

    fn object(&self, dotted: &str) -> anyhow::Result<&serde_json::Map<String, Value>> {
        self.value(dotted)?
            .as_object()
            .ok_or_else(|| self.bad(dotted, "is not an object"))
    }

    /// An error naming the file and the field.
    fn bad(&self, field: &str, problem: &str) -> anyhow::Error {
        user(
            ErrorKind::BadInput,
            format!(
                "{} is not a usable {} result: field \"{field}\" {problem}",
                self.path.display(),
                self.tool
            ),
        )
    }

    /// `status code -> count` from a JSON object whose values must be counts.
    fn status_codes(
        &self,
        dotted: &str,
    ) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
        self.object(dotted)?
            .iter()
            .map(|(code, count)| {
                count
                    .as_u64()
                    .map(|count| (code.clone(), count))
                    .ok_or_else(|| self.bad(&format!("{dotted}.{code}"), "is not a whole number"))
            })
            .collect()
    }
}

/// Adds counts without overflowing on a hostile file.
fn total<'a>(counts: impl IntoIterator<Item = &'a u64>) -> u64 {
    counts.into_iter().fold(0, |sum, n| sum.saturating_add(*n))
}

/// Seconds (as load generators write them) to whole ns.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "checked non-negative, far below u64::MAX ns"
)]
fn seconds_to_ns(seconds: f64) -> u64 {
    (seconds * 1e9).round() as u64
}

/// True for HTTP status codes that count as success (2xx and 3xx).
fn is_success(code: &str) -> bool {
    code.parse::<u16>()
        .is_ok_and(|code| (200..400).contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORTIO: &str = include_str!("../../tests/fixtures/fortio-http.json");
    const OHA: &str = include_str!("../../tests/fixtures/oha.json");

    fn message(error: &anyhow::Error) -> String {
        let (code, message) = crate::error::describe(error);
        assert_eq!(code, ErrorKind::BadInput.exit_code());
        message
    }

    #[test]
    fn fortio_result_is_read_in_ns_with_status_code_errors() {
        let load = parse(FORTIO, Path::new("f.json")).unwrap();
        let value: Value = serde_json::from_str(FORTIO).unwrap();
        let hist = &value["DurationHistogram"];
        assert_eq!(load.tool, "fortio");
        assert_eq!(load.requests, hist["Count"].as_u64().unwrap());
        let avg_ns = hist["Avg"].as_f64().unwrap() * 1e9;
        assert!((load.latency.average_ns - avg_ns).abs() < 1.0);
        let p90 = hist["Percentiles"][2]["Value"].as_f64().unwrap();
        assert_eq!(hist["Percentiles"][2]["Percentile"].as_f64(), Some(90.0));
        assert_eq!(load.latency.p90_ns, seconds_to_ns(p90));
        assert!(
            load.latency.p50_ns <= load.latency.p75_ns
                && load.latency.p99_ns <= load.latency.p999_ns
        );
        let non_200: u64 = value["RetCodes"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(code, _)| *code != "200")
            .map(|(_, n)| n.as_u64().unwrap())
            .sum();
        assert!(non_200 > 0, "fixture should have some failed requests");
        assert_eq!(load.errors, non_200);
        assert_eq!(load.duration_ns, value["ActualDuration"].as_u64().unwrap());
        assert_eq!(
            load.target_qps,
            value["RequestedQPS"].as_str().unwrap().parse().ok()
        );
        assert_eq!(
            load.connections,
            Some(u32::try_from(value["NumThreads"].as_u64().unwrap()).unwrap())
        );
    }

    #[test]
    fn oha_result_counts_requests_from_status_codes_and_errors() {
        let load = parse(OHA, Path::new("o.json")).unwrap();
        let value: Value = serde_json::from_str(OHA).unwrap();
        let statuses: u64 = value["statusCodeDistribution"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        let errors: u64 = value["errorDistribution"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(load.tool, "oha");
        assert_eq!(load.requests, statuses + errors);
        assert!(load.requests > 0);
        let p99 = value["latencyPercentiles"]["p99"].as_f64().unwrap();
        assert_eq!(load.latency.p99_ns, seconds_to_ns(p99));
        assert!(
            load.latency.min_ns <= load.latency.p50_ns
                && load.latency.p50_ns <= load.latency.max_ns
        );
        assert!((load.qps - value["summary"]["requestsPerSec"].as_f64().unwrap()).abs() < 1e-9);
    }

    #[test]
    fn missing_or_mistyped_fields_are_named() {
        let mut value: Value = serde_json::from_str(FORTIO).unwrap();
        value["DurationHistogram"]
            .as_object_mut()
            .unwrap()
            .remove("Count");
        let error = parse(&value.to_string(), Path::new("f.json")).unwrap_err();
        assert_eq!(
            message(&error),
            "f.json is not a usable Fortio result: field \"DurationHistogram.Count\" is missing"
        );

        let mut value: Value = serde_json::from_str(FORTIO).unwrap();
        value["DurationHistogram"]["Percentiles"]
            .as_array_mut()
            .unwrap()
            .remove(0);
        let text = message(&parse(&value.to_string(), Path::new("f.json")).unwrap_err());
        assert!(text.contains("50"), "{text}");

        let mut value: Value = serde_json::from_str(OHA).unwrap();
        value["latencyPercentiles"]["p90"] = "fast".into();
        let text = message(&parse(&value.to_string(), Path::new("o.json")).unwrap_err());
        assert!(
            text.contains("\"latencyPercentiles.p90\" is not a non-negative number"),
            "{text}"
        );
    }

    #[test]
    fn foreign_and_truncated_files_are_refused() {
        let text = message(&parse(r#"{"kind":"tracer-run"}"#, Path::new("run.json")).unwrap_err());
        assert!(
            text.starts_with("run.json is neither a Fortio result"),
            "{text}"
        );
        let text = message(&parse(&FORTIO[..FORTIO.len() / 2], Path::new("f.json")).unwrap_err());
        assert!(
            text.starts_with("load-generator result f.json is not valid JSON"),
            "{text}"
        );
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.json");
        assert!(
            message(&import(&missing).unwrap_err())
                .starts_with("cannot read load-generator result")
        );
    }

    #[test]
    fn an_oha_run_without_any_response_is_refused() {
        let text = include_str!("../../tests/fixtures/oha-all-failed.json");
        let message = message(&parse(text, Path::new("o.json")).unwrap_err());
        assert!(
            message.starts_with("o.json: oha got no response to any of its 20 requests"),
            "{message}"
        );
        assert!(message.contains("Connection refused"), "{message}");
    }

    #[test]
    fn import_records_the_source_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oha.json");
        std::fs::write(&path, OHA).unwrap();
        assert_eq!(
            import(&path).unwrap().source,
            Some(path.display().to_string())
        );
    }
}
