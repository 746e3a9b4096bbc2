//! The comparison in plain words, phrased as the mesh blog phrases its tables: "60% fewer I/O
//! syscalls per request (4.0 → 1.6)", "11% slower on average and 5% slower on P90".
use super::model::{Change, Comparison, Section, Stat, Table};

/// A difference of less than this many percent is called "the same".
const SAME_PERCENT: f64 = 0.5;

/// Per non-baseline group: one sentence for the first section (the first process traced on
/// every side) with the request latency, and one for the total over all traced processes when
/// there is one (the mesh's own proxies count too).
#[must_use]
pub fn sentences(comparison: &Comparison) -> Vec<String> {
    let Some(base) = comparison.groups.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (index, group) in comparison.groups.iter().enumerate().skip(1) {
        let mut parts: Vec<String> = Vec::new();
        if let Some(first) = comparison
            .sections
            .first()
            .filter(|s| s.present(0) && s.present(index))
        {
            let io = io_parts(first, index);
            if !io.is_empty() {
                parts.push(format!("{}: {}", first.name, io.join("; ")));
            }
        }
        if let Some(load) = &comparison.load
            && let Some(latency) = latency_phrase(load, index)
        {
            parts.push(format!("request latency {latency}"));
        }
        if !parts.is_empty() {
            out.push(format!(
                "{} vs {}: {}.",
                group.label,
                base.label,
                parts.join("; ")
            ));
        }
        if comparison.sections.len() > 1
            && let Some(total) = comparison.sections.last()
        {
            let io = io_parts(total, index);
            if !io.is_empty() {
                out.push(format!(
                    "{} vs {}, {}: {}.",
                    group.label,
                    base.label,
                    total.name,
                    io.join("; ")
                ));
            }
        }
    }
    out
}

fn pair(table: &Table, metric: &str, group: usize) -> Option<(Stat, Stat, Change)> {
    let row = table.row(metric)?;
    let base = row.values.first().copied().flatten()?;
    let other = row.values.get(group).copied().flatten()?;
    let change = row.changes.get(group).copied().flatten()?;
    Some((base, other, change))
}

fn noise(change: &Change) -> &'static str {
    if change.within_noise == Some(true) {
        " (within run-to-run noise)"
    } else {
        ""
    }
}

/// A count with as many decimals as it needs to be read: 4.0, 1.6, 0.25.
#[must_use]
pub fn short_number(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 0.95 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// "−25%" / "+10%" with a real minus sign.
#[must_use]
pub fn signed_percent(percent: f64) -> String {
    if percent < 0.0 {
        format!("−{:.0}%", -percent)
    } else {
        format!("+{percent:.0}%")
    }
}

fn io_parts(section: &Section, group: usize) -> Vec<String> {
    let table = &section.table;
    let mut parts = Vec::new();
    let (metric, what) = if table
        .row("io_calls_per_request")
        .is_some_and(|r| r.values.iter().all(Option::is_some))
    {
        ("io_calls_per_request", "I/O syscalls per request")
    } else {
        ("io_calls_per_s", "I/O syscalls per second")
    };
    if let Some((base, other, change)) = pair(table, metric, group)
        && let Some(percent) = change.percent
    {
        let numbers = format!(
            "({} → {})",
            short_number(base.mean),
            short_number(other.mean)
        );
        parts.push(if percent.abs() < SAME_PERCENT {
            format!("the same {what} {numbers}{}", noise(&change))
        } else {
            let more = if percent < 0.0 { "fewer" } else { "more" };
            format!(
                "{:.0}% {more} {what} {numbers}{}",
                percent.abs(),
                noise(&change)
            )
        });
    }
    let reads = pair(table, "socket_read_bytes_per_call", group)
        .map(|p| ("socket reads", p))
        .or_else(|| pair(table, "read_bytes_per_call", group).map(|p| ("reads", p)));
    if let Some((reads, (base, other, change))) = reads
        && let Some(factor) = change.factor
    {
        let numbers = format!("({:.0} → {:.0} B)", base.mean, other.mean);
        parts.push(if (factor - 1.0).abs() < 0.05 {
            format!(
                "{reads} carry about the same bytes {numbers}{}",
                noise(&change)
            )
        } else if factor > 1.0 {
            format!(
                "{reads} carry {factor:.1}× more bytes {numbers}{}",
                noise(&change)
            )
        } else {
            format!(
                "{reads} carry {:.0}% fewer bytes {numbers}{}",
                (1.0 - factor) * 100.0,
                noise(&change)
            )
        });
    }
    let cpu = pair(table, "cpu_us_per_request", group)
        .map(|p| ("CPU per request", p))
        .or_else(|| pair(table, "cpu_core_seconds", group).map(|p| ("CPU time", p)));
    if let Some((what, (_, _, change))) = cpu
        && let Some(percent) = change.percent
    {
        parts.push(if percent.abs() < SAME_PERCENT {
            format!("{what} unchanged{}", noise(&change))
        } else {
            format!("{what} {}{}", signed_percent(percent), noise(&change))
        });
    }
    parts
}

/// "slower"/"faster" with the blog's percentage: how much longer the slower side takes than
/// the faster one.
fn speed(base: f64, other: f64) -> Option<(f64, &'static str)> {
    if base <= 0.0 || other <= 0.0 {
        return None;
    }
    Some(if other >= base {
        ((other / base - 1.0) * 100.0, "slower")
    } else {
        ((base / other - 1.0) * 100.0, "faster")
    })
}

/// "11% faster on average and 5% faster on P90" for group `group` against the baseline,
/// from the load table; `None` without latency on both sides.
#[must_use]
pub fn latency_phrase(load: &Table, group: usize) -> Option<String> {
    let mut parts = Vec::new();
    for (metric, name) in [
        ("average_ns", "on average"),
        ("p90_ns", "on P90"),
        ("p99_ns", "on P99"),
    ] {
        let Some((base, other, change)) = pair(load, metric, group) else {
            continue;
        };
        let Some((percent, word)) = speed(base.mean, other.mean) else {
            continue;
        };
        // P99 only when it tells something the others do not (as in the blog's third table).
        if metric == "p99_ns" && percent < 10.0 {
            continue;
        }
        let phrase = if percent < 1.0 {
            if percent < SAME_PERCENT {
                format!("the same {name}")
            } else {
                format!("less than 1% {word} {name}")
            }
        } else {
            format!("{percent:.0}% {word} {name}")
        };
        parts.push(format!("{phrase}{}", noise(&change)));
    }
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => {
            let last = parts.pop()?;
            Some(format!("{} and {last}", parts.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::model::{Better, Row, Unit};

    fn row(metric: &str, values: &[&[f64]]) -> Row {
        let values: Vec<Option<Stat>> = values.iter().map(|v| Stat::of(v)).collect();
        Row {
            metric: metric.into(),
            label: metric.into(),
            unit: Unit::Nanoseconds,
            better: Better::Lower,
            changes: values
                .iter()
                .enumerate()
                .map(|(i, v)| (i > 0).then(|| Change::between(&values[0].unwrap(), &v.unwrap())))
                .collect(),
            values,
        }
    }

    #[test]
    fn latency_is_phrased_like_the_blog() {
        // The blog's first table, run 1: no mesh 0.89 ms avg / 0.85 ms P90, ambient 0.80 / 0.81.
        let load = Table {
            rows: vec![
                row("average_ns", &[&[890_000.0], &[800_000.0]]),
                row("p90_ns", &[&[850_000.0], &[810_000.0]]),
                row("p99_ns", &[&[2_670_000.0], &[1_400_000.0]]),
            ],
        };
        assert_eq!(
            latency_phrase(&load, 1).unwrap(),
            "11% faster on average, 5% faster on P90 and 91% faster on P99"
        );
        let slower = Table {
            rows: vec![
                row("average_ns", &[&[1_900_000.0], &[2_060_000.0]]),
                row("p90_ns", &[&[2_770_000.0], &[2_940_000.0]]),
            ],
        };
        assert_eq!(
            latency_phrase(&slower, 1).unwrap(),
            "8% slower on average and 6% slower on P90"
        );
    }

    #[test]
    fn differences_inside_the_run_to_run_spread_are_called_noise() {
        // Blog table 3 P90: no mesh 0.81/0.82/0.80, ambient 0.76/0.80/0.81: ranges 0.02 and 0.05.
        let load = Table {
            rows: vec![row(
                "p90_ns",
                &[&[810.0, 820.0, 800.0], &[760.0, 800.0, 810.0]],
            )],
        };
        let phrase = latency_phrase(&load, 1).unwrap();
        assert_eq!(phrase, "3% faster on P90 (within run-to-run noise)");
        // Blog table 1 average: 0.89/0.86/0.90 vs 0.80/0.81/0.82 is a real difference.
        let load = Table {
            rows: vec![row(
                "average_ns",
                &[&[890.0, 860.0, 900.0], &[800.0, 810.0, 820.0]],
            )],
        };
        assert_eq!(latency_phrase(&load, 1).unwrap(), "9% faster on average");
    }
}
