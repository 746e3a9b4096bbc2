//! The comparison in plain words, phrased as the mesh blog phrases its tables: "60% fewer I/O
//! syscalls per request (4.0 → 1.6)", "11% slower on average and 5% slower on P90".
use super::model::{Change, Comparison, Role, Section, Stat, Table};

/// A difference of less than this many percent is called "the same".
const SAME_PERCENT: f64 = 0.5;

/// Per non-baseline group, one sentence per role: the client (the `--focus` process, else
/// the traced command or load generator) with the request latency, each server, the proxies
/// (what the mesh adds: its cost), then the total over all traced processes. A process idle
/// on one side gets no ratios, only the word.
#[must_use]
pub fn sentences(comparison: &Comparison) -> Vec<String> {
    let Some(base) = comparison.groups.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let processes = || comparison.sections.iter().filter(|s| s.role.is_some());
    for (index, group) in comparison.groups.iter().enumerate().skip(1) {
        let head = format!("{} vs {}", group.label, base.label);
        let latency = comparison
            .load
            .as_ref()
            .and_then(|load| latency_phrase(load, index))
            .map(|latency| format!("request latency {latency}"));
        // The headline: the `--focus` process, else the client; with the request latency.
        let headline = comparison.sections.first().filter(|s| {
            s.role == Some(Role::Client) || (comparison.focus.is_some() && s.role.is_some())
        });
        match headline {
            Some(first) => {
                let mut parts = role_parts(first, comparison, index);
                parts.extend(latency);
                if !parts.is_empty() {
                    out.push(format!("{head}, {}: {}.", who(first), parts.join("; ")));
                }
            }
            None => {
                if let Some(latency) = latency {
                    out.push(format!("{head}: {latency}."));
                }
            }
        }
        let is_headline = |s: &Section| headline.is_some_and(|h| std::ptr::eq(h, s));
        for other in processes()
            .filter(|s| !is_headline(s) && matches!(s.role, Some(Role::Client | Role::Server)))
        {
            let parts = role_parts(other, comparison, index);
            if !parts.is_empty() {
                out.push(format!("{head}, {}: {}.", who(other), parts.join("; ")));
            }
        }
        let proxies: Vec<String> = processes()
            .filter(|s| s.role == Some(Role::Proxy) && !is_headline(s))
            .filter_map(|proxy| {
                let parts = if proxy.present(0) {
                    role_parts(proxy, comparison, index)
                } else {
                    cost_parts(proxy, comparison, index)
                };
                (!parts.is_empty()).then(|| format!("{} {}", proxy.name, parts.join(", ")))
            })
            .collect();
        if !proxies.is_empty() {
            out.push(format!(
                "{head}, proxies (the mesh's cost): {}.",
                proxies.join("; ")
            ));
        }
        if comparison.sections.len() > 1
            && let Some(total) = comparison.sections.last().filter(|s| s.role.is_none())
        {
            let io = io_parts(total, index);
            if !io.is_empty() {
                out.push(format!("{head}, {}: {}.", total.name, io.join("; ")));
            }
        }
    }
    out
}

/// "client", or "server ruby (target server)": the role, then the name unless it is the
/// role's own word.
fn who(section: &Section) -> String {
    let role = section.role.map_or("", Role::name);
    if section.name == role {
        role.to_owned()
    } else {
        format!("{role} {}", section.name)
    }
}

/// I/O syscalls of a section in a group (mean over its runs).
fn io_calls(section: &Section, group: usize) -> Option<f64> {
    section
        .row("io_calls")
        .and_then(|r| r.values.get(group).copied().flatten())
        .map(|s| s.mean)
}

/// "idle in ambient (3 I/O syscalls)" when either side is idle, else the changes.
fn role_parts(section: &Section, comparison: &Comparison, group: usize) -> Vec<String> {
    if !(section.present(0) && section.present(group)) {
        return Vec::new();
    }
    for side in [0, group] {
        if section.idle.get(side).copied().unwrap_or(false) {
            let label = comparison.groups.get(side).map_or("", |g| g.label.as_str());
            let calls = io_calls(section, side).map_or_else(String::new, |c| {
                format!(" ({} I/O syscalls)", short_number(c))
            });
            return vec![format!("idle in {label}{calls}, no ratios")];
        }
    }
    io_parts(section, group)
}

/// What a process the baseline did not have costs in `group`, per request when known.
fn cost_parts(section: &Section, comparison: &Comparison, group: usize) -> Vec<String> {
    if !section.present(group) {
        return Vec::new();
    }
    if section.idle.get(group).copied().unwrap_or(false) {
        return role_parts(section, comparison, group);
    }
    let value = |metric: &str| {
        section
            .row(metric)
            .and_then(|r| r.values.get(group).copied().flatten())
            .map(|s| s.mean)
    };
    let calls = value("io_calls_per_request");
    let cpu = value("cpu_us_per_request");
    let mut parts = Vec::new();
    if let (Some(calls), Some(cpu)) = (calls, cpu) {
        parts.push(format!(
            "{} I/O syscalls and {} µs CPU per request",
            short_number(calls),
            short_number(cpu)
        ));
    } else {
        if let Some(calls) = calls {
            parts.push(format!("{} I/O syscalls per request", short_number(calls)));
        } else if let Some(calls) = value("io_calls_per_s") {
            parts.push(format!("{} I/O syscalls per second", short_number(calls)));
        }
        if let Some(cores) = value("cpu_average_cores") {
            parts.push(format!("{cores:.3} cores of CPU"));
        }
    }
    parts
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

/// How much slower or faster `other` is than `base`: `(percent, words)`, where percent is how
/// much longer the slower side takes (the blog's "11% faster"); from twice as long on it is
/// said as a factor ("70× faster"), never as "6918% faster".
fn speed(base: f64, other: f64) -> Option<(f64, String)> {
    if base <= 0.0 || other <= 0.0 {
        return None;
    }
    let (ratio, word) = if other >= base {
        (other / base, "slower")
    } else {
        (base / other, "faster")
    };
    let percent = (ratio - 1.0) * 100.0;
    Some((
        percent,
        if ratio >= 2.0 {
            format!("{} {word}", factor(ratio))
        } else if percent < 1.0 {
            format!("less than 1% {word}")
        } else {
            format!("{percent:.0}% {word}")
        },
    ))
}

/// A ratio of two or more: `2.5×`, `70×`.
#[must_use]
pub fn factor(ratio: f64) -> String {
    if ratio < 9.95 {
        format!("{ratio:.1}×")
    } else {
        format!("{ratio:.0}×")
    }
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
        if change.withheld.is_some() {
            continue;
        }
        let Some((percent, words)) = speed(base.mean, other.mean) else {
            continue;
        };
        // P99 only when it tells something the others do not (as in the blog's third table).
        if metric == "p99_ns" && percent < 10.0 {
            continue;
        }
        let phrase = if percent < SAME_PERCENT {
            format!("the same {name}")
        } else {
            format!("{words} {name}")
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

    fn compare_with(
        runs: Vec<crate::run::Run>,
        focus: Option<&str>,
    ) -> Result<Comparison, crate::compare::CompareError> {
        let inputs: Vec<_> = runs
            .into_iter()
            .map(crate::compare::sample::input)
            .collect();
        crate::compare::compare(
            &inputs,
            &crate::compare::Options {
                focus: focus.map(str::to_owned),
                ..crate::compare::Options::default()
            },
        )
    }

    #[test]
    fn the_headline_speaks_about_the_traced_command_and_each_role_gets_a_line() {
        let comparison = compare_with(
            vec![
                crate::compare::sample::ruby_and_python("direct", false, None, 70.0),
                crate::compare::sample::ruby_and_python("mesh", true, Some(2000), 1.0),
            ],
            None,
        )
        .unwrap();
        let verdict = &comparison.verdict;
        // Not "ruby: the same I/O syscalls": the client is the traced command.
        assert_eq!(
            verdict[0],
            "mesh vs direct, client python3 (target client): 33% fewer I/O syscalls per request \
             (3.0 → 2.0); reads carry 2.1× more bytes (183 → 377 B); CPU per request unchanged; \
             request latency 70× faster on average, 70× faster on P90 and 70× faster on P99.",
            "{verdict:#?}"
        );
        assert!(
            verdict[1].starts_with(
                "mesh vs direct, server ruby (target server): the same I/O syscalls per request (9.0 → 9.0)"
            ),
            "{verdict:#?}"
        );
        assert_eq!(
            verdict[2],
            "mesh vs direct, proxies (the mesh's cost): ztunnel 4.0 I/O syscalls and 1.0 µs CPU per request."
        );
        assert!(verdict[3].starts_with("mesh vs direct, all traced processes:"));
        assert_eq!(verdict.len(), 4);
        let roles: Vec<_> = comparison.sections.iter().map(|s| s.role).collect();
        assert_eq!(
            roles,
            [
                Some(Role::Client),
                Some(Role::Server),
                Some(Role::Proxy),
                None
            ]
        );
    }

    #[test]
    fn focus_names_the_headline_by_process_target_or_spec() {
        let runs = || {
            vec![
                crate::compare::sample::ruby_and_python("direct", false, None, 1.0),
                crate::compare::sample::ruby_and_python("mesh", true, None, 1.0),
            ]
        };
        for focus in ["ruby", "server", "pid:10", "10"] {
            let comparison = compare_with(runs(), Some(focus)).unwrap();
            assert_eq!(
                comparison.sections[0].name, "ruby (target server)",
                "{focus}"
            );
            assert!(
                comparison.verdict[0].starts_with("mesh vs direct, server ruby (target server): "),
                "{focus}: {:?}",
                comparison.verdict
            );
            assert!(comparison.verdict[0].contains("request latency the same on average"));
            // The client still has its line.
            assert!(
                comparison.verdict[1]
                    .starts_with("mesh vs direct, client python3 (target client): ")
            );
        }
        let error = compare_with(runs(), Some("nginx")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--focus nginx: no traced process, target or pod has that name (traced: ruby (target server), python3 (target client))"
        );
    }

    #[test]
    fn a_process_idle_on_one_side_gets_no_ratios() {
        // A node proxy that forwarded 3 keep-alive frames in the baseline.
        let comparison = compare_with(
            vec![
                crate::compare::sample::ruby_and_python("direct", false, Some(3), 1.0),
                crate::compare::sample::ruby_and_python("mesh", true, Some(2000), 1.0),
            ],
            None,
        )
        .unwrap();
        let proxy = comparison
            .sections
            .iter()
            .find(|s| s.name == "ztunnel")
            .unwrap();
        assert_eq!(proxy.idle, [true, false]);
        assert_eq!(proxy.role, Some(Role::Proxy));
        for row in proxy
            .table
            .rows
            .iter()
            .filter(|r| r.metric != "coalescing_factor")
        {
            assert_eq!(
                row.changes[1].and_then(|c| c.withheld),
                Some(crate::compare::model::Withheld::Idle),
                "{}",
                row.metric
            );
        }
        assert!(proxy.row("coalescing_factor").is_none());
        let line = comparison
            .verdict
            .iter()
            .find(|l| l.contains("proxies"))
            .unwrap();
        assert_eq!(
            line,
            "mesh vs direct, proxies (the mesh's cost): ztunnel idle in direct (6.0 I/O syscalls), no ratios."
        );
    }

    #[test]
    fn changes_from_too_few_calls_are_withheld_and_left_out_of_the_verdict() {
        let comparison = compare_with(
            vec![
                crate::compare::sample::ruby_and_python("direct", false, None, 1.0),
                crate::compare::sample::ruby_and_python("mesh", true, None, 1.0),
            ],
            None,
        )
        .unwrap();
        let client = &comparison.sections[0];
        let pread = client
            .syscalls
            .iter()
            .find(|s| s.syscall == "pread64")
            .unwrap();
        for row in &pread.table.rows {
            let change = row.changes[1].unwrap();
            assert_eq!(
                change.withheld,
                Some(crate::compare::model::Withheld::TooFewCalls),
                "{}",
                row.metric
            );
            assert_eq!(change.is_better(row.better), None);
        }
        // 2 → 5 calls would be "+150%": nowhere in the verdict.
        assert!(
            comparison
                .verdict
                .iter()
                .all(|l| !l.contains("pread64") && !l.contains("150%"))
        );
        // 1000 recvfrom calls are plenty.
        let recv = client
            .syscalls
            .iter()
            .find(|s| s.syscall == "recvfrom")
            .unwrap();
        assert_eq!(
            recv.table.row("calls").unwrap().changes[1]
                .unwrap()
                .withheld,
            None
        );
        assert_eq!(comparison.min_calls, 30);
    }
}
