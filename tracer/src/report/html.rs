//! One self-contained HTML page: the same tables as the text report plus inline SVG charts
//! (payload sizes side by side, syscall- and request-latency CDFs, syscall rate and CPU over
//! time). No scripts, no external style sheets, fonts or images: it opens offline.
use std::fmt::Write as _;

use super::{
    charts::{self, Axis, Chart, Series},
    escape::html as escape,
    grid::{self, Grid, Tone},
    units,
};
use crate::{
    compare::{
        analyze,
        model::{Comparison, Section},
    },
    hist::{Histogram, Shares},
};

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1em 1.5em; max-width: 72em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; margin: 0.3em 0; overflow-wrap: anywhere; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; overflow-wrap: anywhere; }
h3 { font-size: 1.05em; margin: 1.5em 0 0.4em; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #eee; text-align: right; vertical-align: top; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; white-space: normal; min-width: 8em; }
th { background: #f4f4f4; }
th.words, td.words { text-align: left; white-space: normal; min-width: 14em; overflow-wrap: anywhere; }
td.good { color: #087f23; font-weight: 600; } td.bad { color: #b00020; font-weight: 600; }
td.noise, td.withheld { color: #777; }
header table.context th:first-child { background: none; }
header table.context th, header table.context td { text-align: left; white-space: normal; overflow-wrap: anywhere; }
header table.context td:first-child { overflow-wrap: normal; color: #555; }
.note { color: #666; font-size: 0.85em; margin-top: -0.5em; }
.verdict li { margin: 0.3em 0; font-weight: 600; }
nav.toc ol { columns: 2; margin: 0.3em 0; }
nav.toc a { color: #0b57a0; }
figure { margin: 0.3em 0 1.2em; max-width: 42em; }
figure svg { display: block; width: 100%; height: auto; }
ul.legend { list-style: none; margin: 0.2em 0 0 4.5em; padding: 0; display: flex; flex-wrap: wrap; gap: 0.2em 1.5em; font-size: 0.85em; }
ul.legend .swatch { display: inline-block; width: 1.5em; height: 0.6em; margin-right: 0.4em; vertical-align: middle; }
figcaption { color: #666; font-size: 0.85em; margin: 0.2em 0 0 4.5em; }
@media (max-width: 40em) {
  body { padding: 0.5em; }
  table { font-size: 0.85em; }
  th, td { padding: 0.15em 0.3em; white-space: normal; }
  th:first-child, td:first-child { min-width: 0; }
  nav.toc ol { columns: 1; }
  ul.legend, figcaption { margin-left: 0; }
}
@media (max-width: 64em) {
  table.wide, table.wide tbody, table.wide tr, table.wide td { display: block; }
  table.wide tr.head { display: none; }
  table.wide tr { border-bottom: 1px solid #ccc; padding: 0.3em 0; }
  table.wide td { text-align: left; white-space: normal; border: 0; padding: 0.05em 0.3em; overflow-wrap: anywhere; min-width: 0; }
  table.wide td:first-child { font-weight: 600; }
  table.wide td[data-label]:not(:first-child)::before { content: attr(data-label) \": \"; color: #666; }
}
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav.toc { display: none; }
  h2, h3 { break-after: avoid; }
  table, figure, header { break-inside: avoid; }
  figure { max-width: 40em; }
  td.good, td.bad { color: inherit; text-decoration: underline; }
}
";

/// Columns of words (wrapped, left-aligned) rather than numbers.
const WORD_COLUMNS: [&str; 2] = ["Differences", "file"];

/// A table wider than this many columns is laid out row by row on screens (and paper)
/// narrower than 64em.
const NARROW_COLUMNS: usize = 4;

/// The page as it is written: headings get ids (and the level-2 ones a line in the table of
/// contents), figures point at their heading.
#[derive(Default)]
struct Page {
    body: String,
    contents: Vec<(String, String)>,
    ids: usize,
}

impl Page {
    /// A heading; returns its id.
    fn heading(&mut self, level: u8, text: &str) -> String {
        self.ids += 1;
        let id = format!("h{}", self.ids);
        let _ = writeln!(
            self.body,
            "<h{level} id=\"{id}\">{}</h{level}>",
            escape(text)
        );
        if level == 2 {
            self.contents.push((id.clone(), text.to_owned()));
        }
        id
    }

    /// A table under its own heading (when the grid has a title) or under the last one.
    fn table(&mut self, grid: &Grid, level: Option<u8>) {
        if let Some(level) = level.filter(|_| !grid.title.is_empty()) {
            self.heading(level, &grid.title);
        }
        table(&mut self.body, grid, "");
    }

    /// A chart under a heading of its own, with its legend and a caption.
    /// Whether there was a chart to draw.
    fn figure(&mut self, title: &str, chart: Option<Chart>, caption: Option<&str>) -> bool {
        let Some(chart) = chart else {
            return false;
        };
        let id = self.heading(3, title);
        let _ = write!(
            self.body,
            "<figure aria-labelledby=\"{id}\">{}<ul class=\"legend\">",
            chart.svg
        );
        for (label, color) in &chart.legend {
            let _ = write!(
                self.body,
                "<li><span class=\"swatch\" style=\"background:{color}\"></span>{}</li>",
                escape(label)
            );
        }
        self.body.push_str("</ul>");
        if let Some(caption) = caption {
            let _ = write!(self.body, "<figcaption>{}</figcaption>", escape(caption));
        }
        self.body.push_str("</figure>\n");
        true
    }
}

fn table(out: &mut String, grid: &Grid, class: &str) {
    let wide = grid.header.len() > NARROW_COLUMNS;
    let classes: Vec<&str> = [class, if wide { "wide" } else { "" }]
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect();
    let words: Vec<bool> = grid
        .header
        .iter()
        .map(|h| WORD_COLUMNS.contains(&h.as_str()))
        .collect();
    let _ = write!(
        out,
        "<table class=\"{}\">\n<tr class=\"head\">",
        classes.join(" ")
    );
    for (title, words) in grid.header.iter().zip(&words) {
        let class = if *words { " class=\"words\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape(title));
    }
    out.push_str("</tr>\n");
    for row in &grid.rows {
        out.push_str("<tr>");
        for (index, cell) in row.iter().enumerate() {
            let mut classes = Vec::new();
            match cell.tone {
                Tone::Plain => {}
                Tone::Good => classes.push("good"),
                Tone::Bad => classes.push("bad"),
                Tone::Noise => classes.push("noise"),
            }
            if matches!(cell.text.as_str(), "too few calls" | "idle") {
                classes.push("withheld");
            }
            if words.get(index).copied().unwrap_or(false) {
                classes.push("words");
            }
            let class = if classes.is_empty() {
                String::new()
            } else {
                format!(" class=\"{}\"", classes.join(" "))
            };
            let label = grid.header.get(index).map_or("", String::as_str);
            let _ = write!(
                out,
                "<td{class} data-label=\"{}\">{}</td>",
                escape(label),
                escape(&cell.text)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    if let Some(note) = &grid.note {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(note));
    }
}

/// Cumulative percent of samples at each bucket's upper end, x in ns.
fn cdf(histogram: &Histogram) -> Vec<(f64, f64)> {
    let mut points = Vec::with_capacity(histogram.buckets.len() + 1);
    let mut seen: u64 = 0;
    if let Some(first) = histogram.buckets.first() {
        points.push((first.low.max(1) as f64, 0.0));
    }
    for bucket in &histogram.buckets {
        seen = seen.saturating_add(bucket.count);
        points.push((
            bucket.low.saturating_add(bucket.width) as f64,
            (seen as f64 / histogram.count as f64 * 100.0).min(100.0),
        ));
    }
    points
}

/// Size buckets shown in a chart (the largest shares; a chart of dozens is unreadable).
const CHART_SIZE_BUCKETS: usize = 8;

fn size_chart(title: &str, histograms: &[Histogram], labels: &[String]) -> Option<Chart> {
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
        .zip(histograms)
        .zip(labels)
        .map(|((s, h), label)| {
            (
                label.clone(),
                if h.count == 0 {
                    Vec::new()
                } else {
                    buckets.iter().map(|&(low, _)| share(s, low)).collect()
                },
            )
        })
        .collect();
    charts::bars(title, "% of calls", &categories, &series)
}

pub(super) fn render(comparison: &Comparison) -> String {
    let title = grid::title(comparison);
    let mut page = Page::default();
    if !comparison.verdict.is_empty() {
        page.heading(2, "Verdict");
        page.body.push_str("<ul class=\"verdict\">\n");
        for sentence in &comparison.verdict {
            let _ = writeln!(page.body, "<li>{}</li>", escape(sentence));
        }
        page.body.push_str("</ul>\n");
    }
    page.heading(2, "Runs");
    page.table(&grid::runs(comparison), None);
    request_latency(&mut page, comparison);
    over_time(&mut page, comparison);
    for section in &comparison.sections {
        process_section(&mut page, comparison, section);
    }
    if !comparison.notes.is_empty() {
        page.heading(2, "Notes");
        page.body.push_str("<ul>\n");
        for note in &comparison.notes {
            let _ = writeln!(page.body, "<li>{}</li>", escape(note));
        }
        page.body.push_str("</ul>\n");
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n<h1>{}</h1>",
        escape(&title),
        escape(&title)
    );
    let _ = writeln!(
        out,
        "<p class=\"note\">Compared by {}.</p>",
        escape(&comparison.tool)
    );
    table(&mut out, &grid::context(comparison), "context");
    out.push_str(
        "</header>\n<nav class=\"toc\" aria-label=\"Contents\">\n<h2>Contents</h2>\n<ol>\n",
    );
    for (id, text) in &page.contents {
        let _ = writeln!(out, "<li><a href=\"#{id}\">{}</a></li>", escape(text));
    }
    out.push_str("</ol>\n</nav>\n<main>\n");
    out.push_str(&page.body);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// The load generator's table in the blog's shape and a CDF drawn from its percentiles.
fn request_latency(page: &mut Page, comparison: &Comparison) {
    if let Some(latency) = grid::latency_runs(comparison) {
        page.heading(2, "Request latency");
        page.table(&latency, None);
        let series: Vec<Series> = comparison
            .groups
            .iter()
            .flat_map(|g| &g.runs)
            .map(|run| {
                let points = run
                    .load
                    .as_ref()
                    .filter(|l| analyze::has_latency(l))
                    .map(|load| {
                        let l = &load.latency;
                        vec![
                            (l.min_ns as f64, 0.0),
                            (l.p50_ns as f64, 50.0),
                            (l.p75_ns as f64, 75.0),
                            (l.p90_ns as f64, 90.0),
                            (l.p99_ns as f64, 99.0),
                            (l.p999_ns as f64, 99.9),
                            (l.max_ns as f64, 100.0),
                        ]
                    })
                    .unwrap_or_default();
                Series {
                    label: run.label.clone(),
                    points: points.into_iter().filter(|p| p.0 > 0.0).collect(),
                }
            })
            .collect();
        let _ = page.figure(
            "Request latency CDF",
            charts::lines(
                "Request latency CDF (load generator percentiles)",
                "request latency (log scale)",
                Axis::LogNanoseconds,
                "% of requests",
                Axis::Percent,
                &series,
            ),
            Some("From the load generator's percentiles: min, P50, P75, P90, P99, P99.9, max."),
        );
    }
}

/// Syscall rate and CPU per interval, one line per run. Rates are over each interval's true
/// length; a final interval in which a traced process exited is left out of the CPU chart
/// (its CPU after the last sample is missing, which would draw a dive that did not happen).
fn over_time(page: &mut Page, comparison: &Comparison) {
    let runs: Vec<_> = comparison
        .groups
        .iter()
        .flat_map(|g| &g.runs)
        .filter(|r| !r.intervals.is_empty())
        .collect();
    if runs.is_empty() {
        return;
    }
    page.heading(2, "Over time");
    // A final interval shorter than half the first is left out of the rate: a rate over a few
    // milliseconds (a command writing its output as it exits) would set the chart's scale.
    let mut short = Vec::new();
    let rate: Vec<Series> = runs
        .iter()
        .map(|r| {
            let mut intervals: &[_] = &r.intervals;
            if let (Some(first), Some((last, rest))) = (intervals.first(), intervals.split_last())
                && !rest.is_empty()
                && last.end_s - last.start_s < (first.end_s - first.start_s) / 2.0
            {
                short.push(format!(
                    "{} ({:.2} s, {} calls/s)",
                    r.label,
                    last.end_s - last.start_s,
                    units::number(last.syscalls_per_s)
                ));
                intervals = rest;
            }
            Series {
                label: r.label.clone(),
                points: intervals
                    .iter()
                    .map(|p| (p.end_s, p.syscalls_per_s))
                    .collect(),
            }
        })
        .collect();
    let rate_caption = if short.is_empty() {
        "Each point is an interval's calls over the interval's true length.".to_owned()
    } else {
        format!(
            "Each point is an interval's calls over the interval's true length. Left out: the short last interval of {}.",
            short.join(", ")
        )
    };
    let _ = page.figure(
        "I/O syscalls per second",
        charts::lines(
            "I/O syscalls per second (all traced processes)",
            "seconds since the start of the run",
            Axis::Plain,
            "syscalls/s",
            Axis::Plain,
            &rate,
        ),
        Some(&rate_caption),
    );
    let mut left_out = Vec::new();
    let cpu: Vec<Series> = runs
        .iter()
        .map(|r| {
            let mut intervals: &[_] = &r.intervals;
            if let Some((last, rest)) = intervals.split_last()
                && last.exits
                && !rest.is_empty()
            {
                left_out.push(format!(
                    "{} ({:.1}–{:.1} s)",
                    r.label, last.start_s, last.end_s
                ));
                intervals = rest;
            }
            Series {
                label: r.label.clone(),
                points: intervals.iter().map(|p| (p.end_s, p.cores)).collect(),
            }
        })
        .collect();
    let cpu_caption = if left_out.is_empty() {
        "CPU time of the targets per interval, over the interval's length.".to_owned()
    } else {
        format!(
            "CPU time of the targets per interval, over the interval's length. Left out: the last interval of {}, in which a traced process exited, so its CPU was not sampled to the end.",
            left_out.join(", ")
        )
    };
    let _ = page.figure(
        "CPU (cores used by the targets)",
        charts::lines(
            "CPU (cores used by the targets)",
            "seconds since the start of the run",
            Axis::Plain,
            "cores",
            Axis::Plain,
            &cpu,
        ),
        Some(&cpu_caption),
    );
}

/// One traced process: its table, payload sizes (chart and table), latency CDF, per syscall.
fn process_section(page: &mut Page, comparison: &Comparison, section: &Section) {
    let labels: Vec<String> = comparison.groups.iter().map(|g| g.label.clone()).collect();
    page.heading(2, &grid::section_title(section));
    page.table(
        &grid::metrics(
            "I/O, write coalescing and CPU",
            &section.table,
            &comparison.groups,
        ),
        Some(3),
    );
    for (name, histograms) in [
        ("read", &section.read_sizes),
        ("write", &section.write_sizes),
    ] {
        let title = format!("{}: {name} payload sizes", section.name);
        let drawn = page.figure(&title, size_chart(&title, histograms, &labels), None);
        if let Some(sizes) = grid::sizes(&title, histograms, &comparison.groups) {
            page.table(&sizes, (!drawn).then_some(3));
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
    let title = format!("{}: syscall latency CDF", section.name);
    let _ = page.figure(
        &title,
        charts::lines(
            &title,
            "syscall latency (log scale)",
            Axis::LogNanoseconds,
            "% of calls",
            Axis::Percent,
            &latency,
        ),
        None,
    );
    if let Some(syscalls) = grid::syscalls(section, &comparison.groups) {
        page.table(&syscalls, Some(3));
    }
}
