//! One self-contained HTML page: the same tables as the text report plus inline SVG charts
//! (payload sizes side by side, syscall- and request-latency CDFs, syscall rate and CPU over
//! time). No scripts, no external style sheets, fonts or images: it opens offline.
use std::fmt::Write as _;

use super::{
    charts::{self, Axis, Series},
    escape::html as escape,
    grid::{self, Grid, Tone},
};
use crate::{
    compare::{
        analyze,
        model::{Comparison, Section},
    },
    hist::{Histogram, Shares},
};

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
td.good { color: #087f23; font-weight: 600; } td.bad { color: #b00020; font-weight: 600; }
td.noise { color: #888; }
.note { color: #666; font-size: 0.85em; margin-top: -1em; }
.verdict li { margin: 0.3em 0; font-weight: 600; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
";

fn table(out: &mut String, grid: &Grid) {
    let _ = writeln!(out, "<h3>{}</h3>\n<table>\n<tr>", escape(&grid.title));
    for title in &grid.header {
        let _ = write!(out, "<th>{}</th>", escape(title));
    }
    out.push_str("</tr>\n");
    for row in &grid.rows {
        out.push_str("<tr>");
        for cell in row {
            let class = match cell.tone {
                Tone::Plain => "",
                Tone::Good => " class=\"good\"",
                Tone::Bad => " class=\"bad\"",
                Tone::Noise => " class=\"noise\"",
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(&cell.text));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    if let Some(note) = &grid.note {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(note));
    }
}

fn figure(out: &mut String, svg: Option<String>) {
    if let Some(svg) = svg {
        // plotters writes an XML-less <svg> element, fit to inline in HTML.
        let _ = writeln!(out, "<figure>{svg}</figure>");
    }
}

/// Cumulative share of samples at each bucket's upper end, x as log10(ns).
fn cdf(histogram: &Histogram) -> Vec<(f64, f64)> {
    let mut points = Vec::with_capacity(histogram.buckets.len() + 1);
    let mut seen: u64 = 0;
    if let Some(first) = histogram.buckets.first() {
        points.push(((first.low.max(1) as f64).log10(), 0.0));
    }
    for bucket in &histogram.buckets {
        seen = seen.saturating_add(bucket.count);
        points.push((
            (bucket.low.saturating_add(bucket.width) as f64).log10(),
            seen as f64 / histogram.count as f64,
        ));
    }
    points
}

/// Size buckets shown in a chart (the largest shares; a chart of dozens is unreadable).
const CHART_SIZE_BUCKETS: usize = 8;

fn size_chart(title: &str, histograms: &[Histogram], labels: &[String]) -> Option<String> {
    if histograms.iter().all(|h| h.count == 0) {
        return None;
    }
    let shares: Vec<Shares> = histograms.iter().map(Histogram::shares).collect();
    let share = |s: &Shares, low: u64| s.fraction(low) * 100.0;
    // Sizes under 1% of every group's calls are left out: unreadable as bars.
    let buckets = grid::largest_buckets(histograms, &shares, 0.01, CHART_SIZE_BUCKETS, true);
    let categories: Vec<String> = buckets
        .iter()
        .map(|&(low, width)| {
            if width <= 1 {
                format!("{low} B")
            } else {
                format!("{low}–{} B", low.saturating_add(width).saturating_sub(1))
            }
        })
        .collect();
    let series: Vec<(String, Vec<f64>)> = shares
        .iter()
        .zip(labels)
        .map(|(s, label)| {
            (
                label.clone(),
                buckets.iter().map(|&(low, _)| share(s, low)).collect(),
            )
        })
        .collect();
    charts::bars(title, "% of calls", &categories, &series)
}

pub(super) fn render(comparison: &Comparison) -> String {
    let title = grid::title(comparison);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>",
        escape(&title),
        escape(&title)
    );
    if !comparison.verdict.is_empty() {
        out.push_str("<ul class=\"verdict\">\n");
        for sentence in &comparison.verdict {
            let _ = writeln!(out, "<li>{}</li>", escape(sentence));
        }
        out.push_str("</ul>\n");
    }
    table(&mut out, &grid::runs(comparison));
    request_latency(&mut out, comparison);
    over_time(&mut out, comparison);
    for section in &comparison.sections {
        process_section(&mut out, comparison, section);
    }
    if !comparison.notes.is_empty() {
        out.push_str("<h2>Notes</h2>\n<ul>\n");
        for note in &comparison.notes {
            let _ = writeln!(out, "<li>{}</li>", escape(note));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The load generator's table in the blog's shape and a CDF drawn from its percentiles.
fn request_latency(out: &mut String, comparison: &Comparison) {
    if let Some(latency) = grid::latency_runs(comparison) {
        out.push_str("<h2>Request latency</h2>\n");
        table(out, &latency);
        let series: Vec<Series> = comparison
            .groups
            .iter()
            .flat_map(|g| &g.runs)
            .filter_map(|run| {
                let l = &run
                    .load
                    .as_ref()
                    .filter(|l| analyze::has_latency(l))?
                    .latency;
                let points = [
                    (l.min_ns as f64, 0.0),
                    (l.p50_ns as f64, 0.5),
                    (l.p75_ns as f64, 0.75),
                    (l.p90_ns as f64, 0.9),
                    (l.p99_ns as f64, 0.99),
                    (l.p999_ns as f64, 0.999),
                    (l.max_ns as f64, 1.0),
                ];
                Some(Series {
                    label: run.label.clone(),
                    points: points
                        .iter()
                        .map(|&(ns, q)| (ns.max(1.0).log10(), q))
                        .collect(),
                })
            })
            .collect();
        figure(
            out,
            charts::lines(
                "Request latency CDF (load generator percentiles)",
                "latency",
                "share of requests",
                Axis::Log10Nanoseconds,
                &series,
            ),
        );
    }
}

/// Syscall rate and CPU per interval, one line per run.
fn over_time(out: &mut String, comparison: &Comparison) {
    let runs: Vec<_> = comparison
        .groups
        .iter()
        .flat_map(|g| &g.runs)
        .filter(|r| !r.intervals.is_empty())
        .collect();
    if !runs.is_empty() {
        out.push_str("<h2>Over time</h2>\n");
        let rate: Vec<Series> = runs
            .iter()
            .map(|r| Series {
                label: r.label.clone(),
                points: r
                    .intervals
                    .iter()
                    .map(|p| (p.end_s, p.syscalls_per_s))
                    .collect(),
            })
            .collect();
        figure(
            out,
            charts::lines(
                "I/O syscalls per second (all traced processes)",
                "seconds",
                "syscalls/s",
                Axis::Plain,
                &rate,
            ),
        );
        let cpu: Vec<Series> = runs
            .iter()
            .map(|r| Series {
                label: r.label.clone(),
                points: r.intervals.iter().map(|p| (p.end_s, p.cores)).collect(),
            })
            .collect();
        figure(
            out,
            charts::lines(
                "CPU (cores used by the targets)",
                "seconds",
                "cores",
                Axis::Plain,
                &cpu,
            ),
        );
    }
}

/// One traced process: its table, payload sizes (chart and table), latency CDF, per syscall.
fn process_section(out: &mut String, comparison: &Comparison, section: &Section) {
    let labels: Vec<String> = comparison.groups.iter().map(|g| g.label.clone()).collect();
    let _ = writeln!(out, "<h2>{}</h2>", escape(&section.name));
    table(
        out,
        &grid::metrics(
            "I/O, write coalescing and CPU",
            &section.table,
            &comparison.groups,
        ),
    );
    for (name, histograms) in [
        ("read", &section.read_sizes),
        ("write", &section.write_sizes),
    ] {
        figure(
            out,
            size_chart(
                &format!("{}: {name} payload sizes", section.name),
                histograms,
                &labels,
            ),
        );
        if let Some(sizes) = grid::sizes(
            &format!("{name} payload sizes"),
            histograms,
            &comparison.groups,
        ) {
            table(out, &sizes);
        }
    }
    let mut latency: Vec<Series> = Vec::new();
    for (name, histograms) in [
        ("reads", &section.read_latency),
        ("writes", &section.write_latency),
    ] {
        for (histogram, label) in histograms.iter().zip(&labels) {
            if histogram.count > 0 {
                latency.push(Series {
                    label: format!("{label} {name}"),
                    points: cdf(histogram),
                });
            }
        }
    }
    figure(
        out,
        charts::lines(
            &format!("{}: syscall latency CDF", section.name),
            "latency",
            "share of calls",
            Axis::Log10Nanoseconds,
            &latency,
        ),
    );
    if let Some(syscalls) = grid::syscalls(section, &comparison.groups) {
        table(out, &syscalls);
    }
}
