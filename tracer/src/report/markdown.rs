//! Markdown: the blog's request-latency table (| run | Average | P50 | P75 | P90 | P99 | ... |
//! Differences |) and one table per traced process, ready to paste into an issue or post.
use std::fmt::Write as _;

use super::{
    escape::markdown as escape,
    grid::{self, Grid},
};
use crate::compare::model::Comparison;

fn grid(out: &mut String, grid: &Grid, level: &str) {
    let _ = writeln!(out, "{level} {}\n", escape(&grid.title));
    let header: Vec<String> = grid.header.iter().map(|h| escape(h)).collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    // Words left, numbers right.
    let words = ["Differences", "group", "file", "probe"];
    let rule: Vec<&str> = grid
        .header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == 0 || words.contains(&h.as_str()) {
                "---"
            } else {
                "---:"
            }
        })
        .collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for row in &grid.rows {
        let cells: Vec<String> = row.iter().map(|c| escape(&c.text)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    if let Some(note) = &grid.note {
        let _ = writeln!(out, "\n_{}_", escape(note));
    }
    out.push('\n');
}

pub(super) fn render(comparison: &Comparison) -> String {
    let mut out = String::new();
    let title = grid::title(comparison);
    let _ = writeln!(out, "## {}\n", escape(&title));
    if !comparison.verdict.is_empty() {
        for sentence in &comparison.verdict {
            let _ = writeln!(out, "- **{}**", escape(sentence));
        }
        out.push('\n');
    }
    grid(&mut out, &grid::context(comparison), "###");
    grid(&mut out, &grid::runs(comparison), "###");
    if let Some(latency) = grid::latency_runs(comparison) {
        grid(&mut out, &latency, "###");
    }
    for section in &comparison.sections {
        grid(
            &mut out,
            &grid::metrics(
                &grid::section_title(section),
                &section.table,
                &comparison.groups,
            ),
            "###",
        );
        for (name, histograms) in [
            ("read", &section.read_sizes),
            ("write", &section.write_sizes),
        ] {
            if let Some(sizes) = grid::sizes(
                &format!("{}: {name} payload sizes", section.name),
                histograms,
                &comparison.groups,
            ) {
                grid(&mut out, &sizes, "####");
            }
        }
        if let Some(syscalls) = grid::syscalls(section, &comparison.groups) {
            grid(&mut out, &syscalls, "####");
        }
    }
    if !comparison.notes.is_empty() {
        let _ = writeln!(out, "### Notes\n");
        for note in &comparison.notes {
            let _ = writeln!(out, "- {}", escape(note));
        }
    }
    out
}
