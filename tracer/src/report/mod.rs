//! Renderers: a [`Comparison`] (of several runs, or of one run for `tracer report`) as text for
//! the terminal, Markdown tables in the blog's shape, versioned JSON, or one self-contained HTML
//! page with inline SVG charts; and [`summary_text`], the summary `tracer record` prints.
//!
//! Renderers are pure (`&Comparison -> String`); writing them is `cmd`'s job.
mod charts;
pub mod escape;
mod grid;
mod html;
mod markdown;
mod summary;
mod text;
pub mod units;

pub use summary::summary_text;

use crate::compare::Comparison;

/// A report's format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for the terminal, coloured when it is one.
    #[default]
    Text,
    /// Markdown tables, ready for an issue or a blog post.
    Markdown,
    /// Versioned JSON (`"kind": "tracer-comparison"`), for scripts.
    Json,
    /// One self-contained HTML page with charts (no network fetches).
    Html,
}

impl Format {
    pub const ALL: [Self; 4] = [Self::Text, Self::Markdown, Self::Json, Self::Html];

    /// The name `--format` takes.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Markdown => "markdown",
            Self::Json => "json",
            Self::Html => "html",
        }
    }

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.name() == name)
    }

    /// The format a file name's extension stands for (`md`, `json`, `html`), if any.
    #[must_use]
    pub fn from_extension(extension: &str) -> Option<Self> {
        match extension.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(Self::Markdown),
            "json" => Some(Self::Json),
            "html" | "htm" => Some(Self::Html),
            _ => None,
        }
    }
}

/// Renders a comparison in one format; `color` only affects text.
#[must_use]
pub fn render(comparison: &Comparison, format: Format, color: bool) -> String {
    match format {
        Format::Text => text::render(comparison, color),
        Format::Markdown => markdown::render(comparison),
        Format::Json => json(comparison),
        Format::Html => html::render(comparison),
    }
}

fn json(comparison: &Comparison) -> String {
    // Serializing plain structs of numbers and strings cannot fail; keep a readable fallback
    // rather than a panic all the same.
    let mut text = serde_json::to_string_pretty(comparison)
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Input, Options, analyze, compare, sample};

    #[test]
    fn text_aligns_columns_and_colours_only_when_asked() {
        let comparison = sample::blog_like();
        let plain = render(&comparison, Format::Text, false);
        assert!(!plain.contains('\x1b'));
        let width = |start: &str| {
            plain
                .lines()
                .find(|l| l.starts_with(start))
                .map(|l| l.chars().count())
                .unwrap_or_default()
        };
        assert!(width("  I/O syscalls per request") > 0);
        assert_eq!(
            width("  I/O syscalls per request"),
            width("  bytes per read"),
            "{plain}"
        );
        let colored = render(&comparison, Format::Text, true);
        // Fewer syscalls per request is better (green), more CPU in total is worse (red).
        assert!(colored.contains("\x1b[32m"), "{colored}");
        assert!(colored.contains("\x1b[31m"), "{colored}");
        assert_eq!(strip_ansi(&colored), plain);
    }

    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn markdown_has_the_blog_table_and_sizes_side_by_side() {
        let markdown = render(&sample::blog_like(), Format::Markdown, false);
        assert!(markdown.contains(
            "| fortio run | Average | P50 | P75 | P90 | P99 | P99.9 | QPS | Errors | Differences |"
        ));
        assert!(markdown.contains("| ambient | 0.80ms | 0.64ms | 0.72ms | 0.81ms | 1.62ms | 2.43ms | 100 | 0 | 11% faster on average and 5% faster on P90 |"), "{markdown}");
        assert!(markdown.contains("| 178 B | 1,000 (50%) | 0 (0%) |"));
        assert!(markdown.contains("| 180 B | 1,000 (50%) | 0 (0%) |"));
        assert!(markdown.contains("| 358–359 B | 0 (0%) | 1,000 (100%) |"));
        assert!(markdown.contains("| coalescing factor (B/read ÷ baseline) | 1.00× | 2.00× |  |"));
        assert!(markdown.contains("| CPU per request | 400 µs | 300 µs | −25% |"));
    }

    #[test]
    fn json_is_versioned_and_carries_the_numbers() {
        let value: serde_json::Value =
            serde_json::from_str(&render(&sample::blog_like(), Format::Json, false)).unwrap();
        assert_eq!(value["kind"], "tracer-comparison");
        assert_eq!(value["schema"], 1);
        assert_eq!(
            value["tool"],
            format!("tracer {}", env!("CARGO_PKG_VERSION"))
        );
        let rows = value["sections"][0]["table"]["rows"].as_array().unwrap();
        let factor = rows
            .iter()
            .find(|r| r["metric"] == "coalescing_factor")
            .unwrap();
        assert_eq!(factor["values"][1]["mean"], 2.0);
        assert_eq!(value["groups"][1]["runs"][0]["requests"], 1000);
        assert!(
            value["verdict"][0]
                .as_str()
                .unwrap()
                .starts_with("ambient vs no-mesh")
        );
    }

    #[test]
    fn html_is_self_contained_with_svg_charts() {
        let html = render(&sample::blog_like(), Format::Html, false);
        assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
        // Request CDF, syscalls over time, CPU over time; per section read and write sizes and a latency CDF.
        let charts = html.matches("<svg").count();
        assert_eq!(charts, 3 + 3 * 3, "{charts} charts");
        assert!(
            html.contains("no-mesh: read payload sizes")
                || html.contains("client: read payload sizes")
        );
        // Bars of both groups in their colours, and lines.
        assert!(html.contains("fill=\"#0072B2\"") && html.contains("fill=\"#D55E00\""));
        assert!(html.contains("<polyline"));
        for fetch in ["src=", "<script", "@import", "url("] {
            assert!(!html.contains(fetch), "HTML would fetch something: {fetch}");
        }
        // Links only within the page (the table of contents).
        assert_eq!(
            html.matches("href=").count(),
            html.matches("href=\"#").count()
        );
    }

    #[test]
    fn summary_lists_directions_syscalls_cpu_losses_and_probe() {
        let mut run = sample::proxied("ambient", 1000, 300_000_000);
        let summary = summary_text(&run, false);
        assert!(
            summary.contains("probe mechanism raw_tracepoint"),
            "{summary}"
        );
        assert!(
            summary.contains("client (pid 200, target client)"),
            "{summary}"
        );
        assert!(
            summary.contains("reads  1,000 calls, 358,000 B, 358 B/call"),
            "{summary}"
        );
        assert!(summary.contains("recvfrom"), "{summary}");
        assert!(summary.contains("CPU: 0.300 core-s"), "{summary}");
        assert!(summary.contains("losses: none"), "{summary}");
        run.losses.calls_lost = 7;
        assert!(summary_text(&run, false).contains("calls not counted 7"));
        assert!(!summary.contains('\x1b'));
    }

    #[test]
    fn grouped_runs_get_a_row_each_and_a_mean_row_in_the_blog_table() {
        // The blog's first table: average and P90 of three runs a side.
        let runs = [
            ("no-mesh run 1", 0.89, 0.85),
            ("no-mesh run 2", 0.86, 0.86),
            ("no-mesh run 3", 0.90, 0.88),
            ("ambient run 1", 0.80, 0.81),
            ("ambient run 2", 0.81, 0.83),
            ("ambient run 3", 0.82, 0.84),
        ];
        let inputs: Vec<Input> = runs
            .iter()
            .map(|&(label, average, p90)| {
                let mut run = sample::direct(label, 1000, 1_000_000);
                run.load = Some(sample::load(1000, average, p90));
                Input {
                    file: format!("{label}.json"),
                    run,
                }
            })
            .collect();
        let options = Options {
            group_by_label: true,
            requests: None,
            focus: None,
        };
        let markdown = render(
            &compare(&inputs, &options).unwrap(),
            Format::Markdown,
            false,
        );
        assert!(
            markdown.contains("| no-mesh run 2 | 0.86ms |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| no-mesh (mean of 3) | 0.88ms |"),
            "{markdown}"
        );
        // Run 1 against the no-mesh mean (0.8833 ms, P90 0.8633 ms).
        assert!(
            markdown.contains("| ambient run 1 | 0.80ms | 0.64ms | 0.72ms | 0.81ms | 1.62ms | 2.43ms | 100 | 0 | 10% faster on average and 7% faster on P90 |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| ambient (mean of 3) | 0.81ms |")
                && markdown.contains("9% faster on average and 4% faster on P90 |"),
            "{markdown}"
        );
    }

    #[test]
    fn counters_that_do_not_add_up_do_not_panic() {
        // A hand-edited or damaged run file: more errors than calls, a histogram whose count
        // is below its buckets' sum.
        let mut damaged = sample::direct("damaged", 10, 1);
        let read = &mut damaged.processes[0].syscalls[0];
        read.errors = read.calls + 5;
        read.size.count = 1;
        let inputs = [
            Input {
                file: "a.json".into(),
                run: sample::direct("direct", 10, 1),
            },
            Input {
                file: "b.json".into(),
                run: damaged.clone(),
            },
        ];
        let comparison = compare(&inputs, &Options::default()).unwrap();
        for format in [Format::Text, Format::Markdown, Format::Json, Format::Html] {
            assert!(!render(&comparison, format, false).is_empty());
        }
        assert!(summary_text(&damaged, false).contains("damaged"));
    }

    #[test]
    fn a_single_run_report_renders_in_every_format() {
        let input = Input {
            file: "one.json".into(),
            run: sample::direct("direct", 10, 1_000_000),
        };
        let summary = analyze::summarize(
            &input,
            &Options {
                group_by_label: false,
                requests: Some(10),
                focus: None,
            },
        );
        for format in [Format::Text, Format::Markdown, Format::Json, Format::Html] {
            let out = render(&summary, format, false);
            assert!(out.contains("direct"), "{format:?}: {out}");
            if format != Format::Json {
                assert!(!out.contains("change"), "{format:?}: {out}");
            }
        }
    }

    #[test]
    fn every_format_says_too_few_calls_idle_and_factors_alike() {
        let inputs = [
            Input {
                file: "direct.json".into(),
                run: sample::ruby_and_python("direct", false, Some(3), 70.0),
            },
            Input {
                file: "mesh.json".into(),
                run: sample::ruby_and_python("mesh", true, Some(2000), 1.0),
            },
        ];
        let comparison = compare(&inputs, &Options::default()).unwrap();
        let text = render(&comparison, Format::Text, true);
        let line = |text: &str, start: &str| -> String {
            text.lines()
                .find(|l| l.trim_start().starts_with(start))
                .unwrap_or_else(|| panic!("no {start} in {text}"))
                .to_owned()
        };
        // 2 → 5 pread64 calls: not "+150%", and not coloured.
        let pread = line(&text, "pread64 calls ");
        assert!(
            pread.ends_with("too few calls") && !pread.contains('\x1b'),
            "{pread:?}"
        );
        // 70 ms → 1 ms: a factor in words, a percentage in the change column.
        assert!(
            text.contains("request latency 70× faster on average"),
            "{text}"
        );
        assert!(line(&text, "average ").contains("−99%"), "{text}");
        // The node proxy idle in the baseline: "idle" instead of ratios.
        let ztunnel = &text[text.find("ztunnel — proxy (pids").unwrap()..];
        assert!(
            line(ztunnel, "I/O syscalls per request").ends_with("idle"),
            "{ztunnel}"
        );
        assert!(text.contains("fewer than 30 calls"), "{text}");

        let markdown = render(&comparison, Format::Markdown, false);
        assert!(
            markdown.contains("| pread64 calls | 2 | 5 | too few calls |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| I/O syscalls per request | 0.01 | 4.00 | idle |"),
            "{markdown}"
        );
        assert!(markdown.contains(&format!("- **{}**", comparison.verdict[0])));
        assert!(markdown.contains("| kernel | 6.12 | 6.12 |"), "{markdown}");

        let html = render(&comparison, Format::Html, false);
        assert!(html.contains("<td class=\"withheld\" data-label=\"change\">too few calls</td>"));
        assert!(html.contains("<td class=\"withheld\" data-label=\"change\">idle</td>"));
        assert!(html.contains(&format!("<li>{}</li>", comparison.verdict[0])));

        let json: serde_json::Value =
            serde_json::from_str(&render(&comparison, Format::Json, false)).unwrap();
        assert_eq!(json["min_calls"], 30);
        assert_eq!(json["sections"][0]["role"], "client");
        let pread = json["sections"][0]["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["syscall"] == "pread64")
            .unwrap();
        assert_eq!(
            pread["table"]["rows"][0]["changes"][1]["withheld"],
            "too_few_calls"
        );
        assert_eq!(json["groups"][1]["runs"][0]["context"]["kernel"], "6.12");
        assert_eq!(json["verdict"][0], comparison.verdict[0]);
    }

    #[test]
    fn the_last_interval_does_not_draw_a_dive() {
        // The client exits 9.5 s into a 10.2 s run: the last interval is 0.2 s long and its
        // CPU is missing the exited client's.
        // A schema-1 file: no interval lengths, no CPU from the kernel at exits.
        let shorten = |mut run: crate::run::Run| {
            run.schema = 1;
            run.duration_ns = 10_200_000_000;
            run.intervals.push(crate::run::Interval {
                end_ns: 10_200_000_000,
                duration_ns: 0,
                read_calls: 10,
                write_calls: 0,
                read_bytes: 0,
                write_bytes: 0,
                cores: 0.0,
            });
            run.processes[0].exited_after_ns = Some(10_100_000_000);
            Input {
                file: format!("{}.json", run.label.clone().unwrap_or_default()),
                run,
            }
        };
        let comparison = compare(
            &[
                shorten(sample::direct("direct", 1000, 1)),
                shorten(sample::proxied("proxy", 1000, 1)),
            ],
            &Options::default(),
        )
        .unwrap();
        let run = &comparison.groups[0].runs[0];
        let last = run.intervals.last().unwrap();
        assert!(last.exits && (last.end_s - last.start_s - 0.2).abs() < 1e-9);
        // 10 calls over the interval's true 0.2 s.
        assert!((last.syscalls_per_s - 50.0).abs() < 1e-9);
        let html = render(&comparison, Format::Html, false);
        assert!(
            html.contains("Left out: the short last interval of direct (0.20 s, 50.0 calls/s), proxy (0.20 s, 50.0 calls/s).")
        );
        assert!(html.contains("Left out: the last interval of direct (10.0–10.2 s), proxy (10.0–10.2 s), in which a traced process exited"));
        // Ten points a run in both charts, not eleven.
        let cpu = &html[html.find("CPU (cores used by the targets)</h3>").unwrap()..];
        let polyline = &cpu[cpu.find("points=\"").unwrap() + 8..];
        let points = &polyline[..polyline.find('"').unwrap()];
        assert_eq!(points.split(' ').count(), 10, "{points}");

        // Schema 2: exiting threads' CPU comes from the kernel, so the last interval's CPU is
        // whole and stays in the chart, over the length the run file gives it.
        let exact = |input: Input| {
            let mut run = input.run;
            run.schema = crate::run::SCHEMA;
            let last = run.intervals.last_mut().unwrap();
            last.duration_ns = 200_000_000;
            Input { run, ..input }
        };
        let comparison = compare(
            &[
                exact(shorten(sample::direct("direct", 1000, 1))),
                exact(shorten(sample::proxied("proxy", 1000, 1))),
            ],
            &Options::default(),
        )
        .unwrap();
        let last = comparison.groups[0].runs[0].intervals.last().unwrap();
        assert!(!last.exits);
        assert!((last.syscalls_per_s - 50.0).abs() < 1e-9);
        let html = render(&comparison, Format::Html, false);
        assert!(!html.contains("in which a traced process exited"));
        let cpu = &html[html.find("CPU (cores used by the targets)</h3>").unwrap()..];
        let polyline = &cpu[cpu.find("points=\"").unwrap() + 8..];
        let points = &polyline[..polyline.find('"').unwrap()];
        assert_eq!(points.split(' ').count(), 11, "{points}");
    }
}
