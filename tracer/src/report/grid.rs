//! The tables every format shows, as rows of cells with a tone (better, worse, noise), so text,
//! Markdown and HTML lay out the same content each in their own way.
use crate::{
    compare::{
        analyze,
        model::{Comparison, Group, Row, RunInfo, Stat, Table, Unit},
        verdict,
    },
    hist::{Histogram, Shares},
    run::LoadResult,
};

use super::units;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Bad,
    Noise,
}

#[derive(Clone, Debug)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl Cell {
    fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            tone: Tone::Plain,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Grid {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// A line under the table (error bounds, what counts mean).
    pub note: Option<String>,
}

const MISSING: &str = "—";

/// A section's heading: its name and its role, e.g. `nginx — proxy`.
#[must_use]
pub fn section_title(section: &crate::compare::model::Section) -> String {
    match section.role {
        Some(role) => format!("{} — {}", section.name, role.name()),
        None => section.name.clone(),
    }
}

/// "tracer compare: no-mesh (baseline) vs ambient", or "tracer report: no-mesh" for one run.
#[must_use]
pub fn title(comparison: &Comparison) -> String {
    match comparison.groups.as_slice() {
        [only] => format!("tracer report: {}", only.label),
        [base, others @ ..] => format!(
            "tracer compare: {} (baseline) vs {}",
            base.label,
            others
                .iter()
                .map(|g| g.label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        [] => "tracer report".to_owned(),
    }
}

fn header(first: &str, groups: &[Group]) -> Vec<String> {
    let mut header = vec![first.to_owned()];
    for (index, group) in groups.iter().enumerate() {
        header.push(group.label.clone());
        if index > 0 {
            header.push("change".to_owned());
        }
    }
    header
}

fn row_cells(label: String, row: &Row) -> Vec<Cell> {
    let mut cells = vec![Cell::plain(label)];
    for (index, value) in row.values.iter().enumerate() {
        cells.push(Cell::plain(
            value
                .as_ref()
                .map_or_else(|| MISSING.to_owned(), |s| units::stat(row.unit, s)),
        ));
        if index > 0 {
            cells.push(match row.changes.get(index).copied().flatten() {
                Some(change) => Cell {
                    text: units::change(row.unit, &change),
                    tone: if change.within_noise == Some(true) {
                        Tone::Noise
                    } else {
                        match change.is_better(row.better) {
                            Some(true) => Tone::Good,
                            Some(false) => Tone::Bad,
                            None => Tone::Plain,
                        }
                    },
                },
                None => Cell::plain(""),
            });
        }
    }
    cells
}

/// A metrics table: one row per metric, a column per group and a change column per other group.
#[must_use]
pub fn metrics(title: &str, table: &Table, groups: &[Group]) -> Grid {
    Grid {
        title: title.to_owned(),
        header: header("", groups),
        rows: table
            .rows
            .iter()
            .map(|row| row_cells(row.label.clone(), row))
            .collect(),
        note: None,
    }
}

/// Per-syscall rows of a section in one table: `read calls`, `read latency p50`, ...
#[must_use]
pub fn syscalls(section: &crate::compare::model::Section, groups: &[Group]) -> Option<Grid> {
    if section.syscalls.is_empty() {
        return None;
    }
    let mut rows = Vec::new();
    let mut error: f64 = 0.0;
    for table in &section.syscalls {
        error = error.max(table.latency_max_relative_error);
        for row in &table.table.rows {
            rows.push(row_cells(format!("{} {}", table.syscall, row.label), row));
        }
    }
    Some(Grid {
        title: format!("{}: per syscall", section.name),
        header: header("", groups),
        rows,
        note: Some(format!(
            "latency percentiles are histogram bucket midpoints, within ±{:.1}% of the true value",
            error * 100.0
        )),
    })
}

/// Share of a group's calls below which a size is summed into "other sizes" when there are
/// more sizes than rows.
const MIN_SHARE: f64 = 0.01;
/// Buckets shown one per row; the rest are summed in an "other sizes" row.
const MAX_SIZE_ROWS: usize = 24;

/// The `(low, width)` buckets shown as rows: all of them when few, else the ones that hold at
/// least 1% of some group's calls, at most [`MAX_SIZE_ROWS`], in size order.
fn size_rows(histograms: &[Histogram], shares: &[Shares]) -> Vec<(u64, u64)> {
    largest_buckets(histograms, shares, MIN_SHARE, MAX_SIZE_ROWS, false)
}

/// The `(low, width)` buckets of `histograms` that hold at least `min_fraction` of some
/// histogram's samples (all of them when at most `most` and not `always_filter`), at most
/// `most` of the largest, in size order. A crafted run file may hold any number of buckets:
/// the work is one ordered walk per histogram, and a sort.
pub(super) fn largest_buckets(
    histograms: &[Histogram],
    shares: &[Shares],
    min_fraction: f64,
    most: usize,
    always_filter: bool,
) -> Vec<(u64, u64)> {
    let mut buckets: Vec<(u64, u64)> = histograms
        .iter()
        .flat_map(|h| h.buckets.iter().map(|b| (b.low, b.width)))
        .collect();
    buckets.sort_unstable();
    buckets.dedup();
    if !always_filter && buckets.len() <= most {
        return buckets;
    }
    let lows: Vec<u64> = buckets.iter().map(|&(low, _)| low).collect();
    let mut top = vec![0.0; lows.len()];
    for shares in shares {
        for (top, fraction) in top.iter_mut().zip(shares.fractions(&lows)) {
            *top = f64::max(*top, fraction);
        }
    }
    let mut ranked: Vec<(f64, (u64, u64))> = top
        .into_iter()
        .zip(buckets)
        .filter(|&(top, _)| top >= min_fraction)
        .collect();
    if ranked.len() > most {
        // Keep the sizes that matter most to any group.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.truncate(most);
    }
    let mut buckets: Vec<(u64, u64)> = ranked.into_iter().map(|(_, b)| b).collect();
    buckets.sort_unstable();
    buckets
}

/// Payload sizes side by side: calls per size, and their share of the group's calls.
#[must_use]
pub fn sizes(title: &str, histograms: &[Histogram], groups: &[Group]) -> Option<Grid> {
    if histograms.iter().all(|h| h.count == 0) {
        return None;
    }
    let shares: Vec<Shares> = histograms.iter().map(Histogram::shares).collect();
    let buckets = size_rows(histograms, &shares);
    let mut rows: Vec<Vec<Cell>> = buckets
        .iter()
        .map(|&(low, width)| {
            let label = if width <= 1 {
                format!("{low} B")
            } else {
                format!("{low}–{} B", low.saturating_add(width).saturating_sub(1))
            };
            let mut cells = vec![Cell::plain(label)];
            for (h, shares) in histograms.iter().zip(&shares) {
                cells.push(Cell::plain(if h.count == 0 {
                    MISSING.to_owned()
                } else {
                    format!(
                        "{} ({:.0}%)",
                        units::thousands(shares.count(low)),
                        shares.fraction(low) * 100.0
                    )
                }));
            }
            cells
        })
        .collect();
    let shown: Vec<u64> = shares
        .iter()
        .map(|shares| {
            buckets
                .iter()
                .fold(0u64, |sum, &(low, _)| sum.saturating_add(shares.count(low)))
        })
        .collect();
    if shown
        .iter()
        .zip(histograms)
        .any(|(shown, h)| *shown < h.count)
    {
        let mut cells = vec![Cell::plain("other sizes")];
        for (shown, h) in shown.iter().zip(histograms) {
            cells.push(Cell::plain(units::thousands(
                h.count.saturating_sub(*shown),
            )));
        }
        rows.push(cells);
    }
    Some(Grid {
        title: title.to_owned(),
        header: std::iter::once("size".to_owned())
            .chain(groups.iter().map(|g| g.label.clone()))
            .collect(),
        rows,
        note: Some(
            "calls that moved bytes, summed over each group's runs; sizes below 256 B are exact"
                .to_owned(),
        ),
    })
}

/// Where, when and how each run was recorded, one column per run: the report's header.
#[must_use]
pub fn context(comparison: &Comparison) -> Grid {
    let runs: Vec<&RunInfo> = comparison.groups.iter().flat_map(|g| &g.runs).collect();
    let field = |name: &str, of: &dyn Fn(&RunInfo) -> String| -> Vec<Cell> {
        std::iter::once(Cell::plain(name))
            .chain(runs.iter().map(|run| Cell::plain(of(run))))
            .collect()
    };
    let rows = vec![
        field("recorded (UTC)", &|r| {
            r.context.started_at.replace('T', " ").replace('Z', "")
        }),
        field("host", &|r| {
            format!(
                "{} ({}, {} CPUs)",
                r.context.hostname, r.context.arch, r.context.cpus
            )
        }),
        field("kernel", &|r| r.context.kernel.clone()),
        field("tracer version", &|r| r.context.recorded_by.clone()),
        field("attach mechanism", &|r| r.mechanism.clone()),
        field("probe overhead", &|r| {
            r.context.probe_ns_per_run.map_or_else(
                || "not measured (record --cost-sampling)".to_owned(),
                |ns| format!("{ns:.0} ns per program run"),
            )
        }),
        field("duration", &|r| {
            format!(
                "{} ({})",
                units::duration_ns(r.duration_ns as f64),
                r.context.end_reason
            )
        }),
        field("command / targets", &|r| r.context.targets.join("; ")),
        field("label", &|r| {
            r.context
                .label
                .clone()
                .unwrap_or_else(|| MISSING.to_owned())
        }),
    ];
    Grid {
        title: "Context".to_owned(),
        header: std::iter::once(String::new())
            .chain(runs.iter().map(|r| r.label.clone()))
            .collect(),
        rows,
        note: None,
    }
}

/// The run list: label, file, duration, requests and how they were counted, probe mechanism.
#[must_use]
pub fn runs(comparison: &Comparison) -> Grid {
    let baseline = comparison.groups.len() > 1;
    let rows: Vec<Vec<Cell>> = comparison
        .groups
        .iter()
        .enumerate()
        .flat_map(|(index, group)| {
            group.runs.iter().map(move |run| {
                let label = if baseline && index == 0 {
                    format!("{} (baseline)", run.label)
                } else {
                    run.label.clone()
                };
                let requests = match (&run.requests, &run.requests_from) {
                    (Some(n), Some(from)) => format!("{} ({from})", units::thousands(*n)),
                    (Some(n), None) => units::thousands(*n),
                    _ => MISSING.to_owned(),
                };
                vec![
                    Cell::plain(label),
                    Cell::plain(group.label.clone()),
                    Cell::plain(run.file.clone()),
                    Cell::plain(units::duration_ns(run.duration_ns as f64)),
                    Cell::plain(requests),
                    Cell::plain(run.mechanism.clone()),
                ]
            })
        })
        .collect();
    // A group column only when --group put several runs in one.
    let grouped = comparison.groups.iter().any(|g| g.runs.len() > 1);
    let mut header: Vec<String> = ["run", "group", "file", "duration", "requests", "probe"]
        .map(str::to_owned)
        .to_vec();
    let mut rows = rows;
    if !grouped {
        header.remove(1);
        for row in &mut rows {
            row.remove(1);
        }
    }
    Grid {
        title: "Runs".to_owned(),
        header,
        rows,
        note: None,
    }
}

/// One run's row in the blog's request-latency table; differences against the baseline mean.
fn run_latency_row(load: &Table, run: &RunInfo, result: &LoadResult, index: usize) -> Vec<Cell> {
    let base_stats = |metric: &str| {
        load.row(metric)
            .and_then(|r| r.values.first().copied().flatten())
    };
    let latency = &result.latency;
    let values = [
        ("average_ns", latency.average_ns),
        ("p90_ns", latency.p90_ns as f64),
        ("p99_ns", latency.p99_ns as f64),
    ];
    let differences = if index == 0 {
        String::new()
    } else {
        // This run against the baseline group's mean.
        let table = Table {
            rows: values
                .iter()
                .filter_map(|&(metric, value)| {
                    let base = base_stats(metric)?;
                    let other = Stat::of(&[value])?;
                    let mut row = load.row(metric)?.clone();
                    row.values = vec![Some(base), Some(other)];
                    row.changes = vec![
                        None,
                        Some(crate::compare::model::Change::between(&base, &other)),
                    ];
                    Some(row)
                })
                .collect(),
        };
        verdict::latency_phrase(&table, 1).unwrap_or_default()
    };
    vec![
        Cell::plain(run.label.clone()),
        Cell::plain(units::milliseconds(latency.average_ns)),
        Cell::plain(units::milliseconds(latency.p50_ns as f64)),
        Cell::plain(units::milliseconds(latency.p75_ns as f64)),
        Cell::plain(units::milliseconds(latency.p90_ns as f64)),
        Cell::plain(units::milliseconds(latency.p99_ns as f64)),
        Cell::plain(units::milliseconds(latency.p999_ns as f64)),
        Cell::plain(units::number(result.qps)),
        Cell::plain(units::thousands(result.errors)),
        Cell::plain(differences),
    ]
}

/// Request latency in the blog's shape: a row per run (and per group mean when a group has
/// several runs) with Average, P50, P75, P90, P99 and the differences against the baseline.
#[must_use]
pub fn latency_runs(comparison: &Comparison) -> Option<Grid> {
    let load = comparison
        .load
        .as_ref()
        .filter(|load| load.row("p50_ns").is_some())?;
    let tool = comparison
        .groups
        .iter()
        .flat_map(|g| &g.runs)
        .find_map(|r| r.load.as_ref().map(|l| l.tool.clone()))
        .unwrap_or_else(|| "load".to_owned());
    let mut rows = Vec::new();
    for (index, group) in comparison.groups.iter().enumerate() {
        for run in &group.runs {
            let Some(result) = run.load.as_ref().filter(|l| analyze::has_latency(l)) else {
                let mut cells = vec![Cell::plain(run.label.clone())];
                cells.extend((0..8).map(|_| Cell::plain(MISSING)));
                cells.push(Cell::plain("no request latency"));
                rows.push(cells);
                continue;
            };
            rows.push(run_latency_row(load, run, result, index));
        }
        if group.runs.len() > 1 {
            let mean = |metric: &str| {
                load.row(metric)
                    .and_then(|r| r.values.get(index).copied().flatten())
                    .map_or_else(|| MISSING.to_owned(), |s| units::milliseconds(s.mean))
            };
            let mean_plain = |metric: &str, unit: Unit| {
                load.row(metric)
                    .and_then(|r| r.values.get(index).copied().flatten())
                    .map_or_else(|| MISSING.to_owned(), |s| units::value(unit, s.mean))
            };
            let differences = if index == 0 {
                String::new()
            } else {
                verdict::latency_phrase(load, index).unwrap_or_default()
            };
            rows.push(vec![
                Cell::plain(format!("{} (mean of {})", group.label, group.runs.len())),
                Cell::plain(mean("average_ns")),
                Cell::plain(mean("p50_ns")),
                Cell::plain(mean("p75_ns")),
                Cell::plain(mean("p90_ns")),
                Cell::plain(mean("p99_ns")),
                Cell::plain(mean("p999_ns")),
                Cell::plain(mean_plain("qps", Unit::RequestsPerSecond)),
                Cell::plain(mean_plain("errors", Unit::Count)),
                Cell::plain(differences),
            ]);
        }
    }
    let first = format!("{tool} run");
    Some(Grid {
        title: format!("Request latency ({tool})"),
        header: [
            first.as_str(),
            "Average",
            "P50",
            "P75",
            "P90",
            "P99",
            "P99.9",
            "QPS",
            "Errors",
            "Differences",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows,
        note: None,
    })
}
