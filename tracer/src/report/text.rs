//! Text for the terminal: aligned columns, deltas coloured green (better) or red (worse),
//! dimmed when within run-to-run noise; no escape codes when `color` is false.
use std::fmt::Write as _;

use super::{
    escape::terminal as shown,
    grid::{self, Grid, Tone},
};
use crate::compare::model::Comparison;

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn width(text: &str) -> usize {
    text.chars().count()
}

/// Appends a grid: title, header, rows; first column left-aligned, the others right-aligned.
/// Every string is shown with its control characters escaped.
pub(super) fn grid(out: &mut String, grid: &Grid, color: bool) {
    let columns = grid.header.len();
    let header: Vec<_> = grid.header.iter().map(|h| shown(h)).collect();
    let rows: Vec<Vec<_>> = grid
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .take(columns)
                .map(|cell| (shown(&cell.text), cell.tone))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in &rows {
        for (index, (text, _)) in row.iter().enumerate() {
            widths[index] = widths[index].max(width(text));
        }
    }
    let (bold, reset) = if color { (BOLD, RESET) } else { ("", "") };
    if !grid.title.is_empty() {
        let _ = writeln!(out, "{bold}{}{reset}", shown(&grid.title));
    }
    let mut line = String::new();
    for (index, title) in header.iter().enumerate() {
        pad(&mut line, title, widths[index], index == 0);
    }
    let _ = writeln!(out, "{bold}{}{reset}", line.trim_end());
    for row in &rows {
        let mut line = String::new();
        for (index, (text, tone)) in row.iter().enumerate() {
            let code = match (color, tone) {
                (false, _) | (_, Tone::Plain) => None,
                (true, Tone::Good) => Some(GREEN),
                (true, Tone::Bad) => Some(RED),
                (true, Tone::Noise) => Some(DIM),
            };
            if let Some(code) = code {
                line.push_str(code);
                pad(&mut line, text, widths[index], index == 0);
                line.push_str(RESET);
            } else {
                pad(&mut line, text, widths[index], index == 0);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if let Some(note) = &grid.note {
        let (dim, reset) = if color { (DIM, RESET) } else { ("", "") };
        let _ = writeln!(out, "  {dim}({}){reset}", shown(note));
    }
    out.push('\n');
}

fn pad(line: &mut String, text: &str, width: usize, left: bool) {
    let fill = width.saturating_sub(self::width(text));
    if left {
        line.push_str("  ");
        line.push_str(text);
        line.extend(std::iter::repeat_n(' ', fill));
    } else {
        line.push_str("   ");
        line.extend(std::iter::repeat_n(' ', fill));
        line.push_str(text);
    }
}

pub(super) fn render(comparison: &Comparison, color: bool) -> String {
    let mut out = String::new();
    let (bold, reset) = if color { (BOLD, RESET) } else { ("", "") };
    let title = grid::title(comparison);
    let _ = writeln!(out, "{bold}{}{reset}\n", shown(&title));
    grid(&mut out, &grid::context(comparison), color);
    grid(&mut out, &grid::runs(comparison), color);
    if !comparison.verdict.is_empty() {
        let _ = writeln!(out, "{bold}Verdict{reset}");
        for sentence in &comparison.verdict {
            let _ = writeln!(out, "  {}", shown(sentence));
        }
        out.push('\n');
    }
    if let Some(latency) = grid::latency_runs(comparison) {
        grid(&mut out, &latency, color);
    }
    // With one run the blog-shaped table above says it all.
    if let Some(load) = comparison
        .load
        .as_ref()
        .filter(|_| comparison.groups.len() > 1)
    {
        grid(
            &mut out,
            &grid::metrics(
                "Request latency and rate, per group",
                load,
                &comparison.groups,
            ),
            color,
        );
    }
    for section in &comparison.sections {
        let pids = section
            .pids
            .iter()
            .zip(&comparison.groups)
            .filter(|(pids, _)| !pids.is_empty())
            .map(|(pids, group)| {
                format!(
                    "{} {}",
                    group.label,
                    pids.iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let title = if pids.is_empty() {
            grid::section_title(section)
        } else {
            format!("{} (pids: {pids})", grid::section_title(section))
        };
        grid(
            &mut out,
            &grid::metrics(&title, &section.table, &comparison.groups),
            color,
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
                grid(&mut out, &sizes, color);
            }
        }
        if let Some(syscalls) = grid::syscalls(section, &comparison.groups) {
            grid(&mut out, &syscalls, color);
        }
    }
    if !comparison.notes.is_empty() {
        let _ = writeln!(out, "{bold}Notes{reset}");
        for note in &comparison.notes {
            let _ = writeln!(out, "  - {}", shown(note));
        }
    }
    out
}
