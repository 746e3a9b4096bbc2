//! The summary `tracer record` prints at the end of every recording: per process, calls, bytes
//! and bytes per call per direction, a per-syscall table with latency, the busiest fds, CPU;
//! then losses (if any) and the probe mechanism.
use std::fmt::Write as _;

use super::{
    escape::terminal as shown,
    grid::{Cell, Grid, Tone},
    text, units,
};
use crate::run::{Direction, Process, Run};

/// Busiest fds listed per process.
const TOP_FDS: usize = 5;

/// The end-of-recording summary of one run; `color` adds ANSI escapes for a terminal.
#[must_use]
pub fn summary_text(run: &Run, color: bool) -> String {
    let mut out = String::new();
    let label = run
        .label
        .as_deref()
        .map(|l| format!(" \"{}\"", shown(l)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "tracer: run{label} lasted {} (ended: {:?}), {} process(es), probe mechanism {}",
        units::duration_ns(run.duration_ns as f64),
        run.end_reason,
        run.processes.len(),
        run.probe.mechanism
    );
    if run.processes.is_empty() {
        let _ = writeln!(out, "  no traced process made an I/O syscall");
    }
    for process in &run.processes {
        process_summary(&mut out, run, process, color);
    }
    if let Some(load) = &run.load {
        let _ = write!(
            out,
            "load ({}): {} requests, {} failed, {} req/s",
            shown(&load.tool),
            units::thousands(load.requests),
            units::thousands(load.errors),
            units::number(load.qps),
        );
        if crate::compare::analyze::has_latency(load) {
            let _ = write!(
                out,
                ", average {}, P50 {}, P90 {}, P99 {}",
                units::milliseconds(load.latency.average_ns),
                units::milliseconds(load.latency.p50_ns as f64),
                units::milliseconds(load.latency.p90_ns as f64),
                units::milliseconds(load.latency.p99_ns as f64),
            );
        }
        out.push('\n');
    }
    if run.losses.is_complete() {
        let _ = writeln!(out, "losses: none (every call was counted)");
    } else {
        let l = &run.losses;
        let _ = writeln!(
            out,
            "losses: calls not counted {}, calls without fd detail {}, histogram samples dropped {}, \
             entries not remembered {}, children not traced {}, exits not recorded {}",
            l.calls_lost,
            l.fd_keys_overflowed,
            l.histogram_samples_lost,
            l.in_flight_full,
            l.children_not_traced,
            l.exits_not_recorded
        );
    }
    if let Some(overhead) = &run.probe.overhead {
        if overhead.measured_share >= 1.0 {
            let _ = writeln!(
                out,
                "probe overhead: {} in {} program runs ({:.0} ns each)",
                units::duration_ns(overhead.run_time_ns as f64),
                units::thousands(overhead.run_count),
                overhead.ns_per_run
            );
        } else {
            let _ = writeln!(
                out,
                "probe overhead: {:.0} ns per program run ({} runs timed in {:.0}% of the run); about {} in all",
                overhead.ns_per_run,
                units::thousands(overhead.run_count),
                overhead.measured_share * 100.0,
                units::duration_ns(overhead.estimated_total_ns())
            );
        }
    }
    out
}

fn process_summary(out: &mut String, run: &Run, process: &Process, color: bool) {
    let target = run
        .targets
        .get(process.target)
        .map_or("?", |t| t.name.as_str());
    let target = shown(target);
    let exited = process
        .exited_after_ns
        .map(|ns| format!(", exited after {}", units::duration_ns(ns as f64)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\n{} (pid {}, target {target}{exited})",
        shown(&process.name),
        process.pid
    );
    for (direction, name) in [(Direction::Read, "reads "), (Direction::Write, "writes")] {
        let totals = process.totals(direction);
        if totals.calls == 0 {
            continue;
        }
        let per_call = crate::compare::analyze::bytes_per_call(&totals).map_or_else(
            || "—".to_owned(),
            |b| format!("{} B/call", units::number(b)),
        );
        let _ = writeln!(
            out,
            "  {name} {} calls, {} B, {per_call}, {} errors ({} EAGAIN), {} returned 0",
            units::thousands(totals.calls),
            units::thousands(totals.bytes),
            units::thousands(totals.errors),
            units::thousands(totals.eagain),
            units::thousands(totals.zero_returns),
        );
    }
    syscall_table(out, process, color);
    let mut fds: Vec<_> = process.fds.iter().collect();
    fds.sort_by_key(|fd| std::cmp::Reverse(fd.calls));
    if !fds.is_empty() {
        let _ = writeln!(out, "  busiest fds:");
        for fd in fds.iter().take(TOP_FDS) {
            let _ = writeln!(
                out,
                "    fd {} {} {}: {} calls, {} B",
                fd.fd,
                shown(&fd.syscall),
                shown(&fd.description),
                units::thousands(fd.calls),
                units::thousands(fd.bytes)
            );
        }
    }
    if let Some(cpu) = &process.cpu {
        let _ = writeln!(
            out,
            "  CPU: {:.3} core-s, average {:.3} cores, peak {:.3} cores ({})",
            cpu.on_cpu_ns as f64 / 1e9,
            cpu.average_cores,
            cpu.peak_cores,
            cpu.source
        );
    }
}

/// Per syscall: calls, bytes, B/call, errors by errno, latency p50 and p99.
fn syscall_table(out: &mut String, process: &Process, color: bool) {
    if process.syscalls.is_empty() {
        return;
    }
    let mut error: f64 = 0.0;
    let rows = process
        .syscalls
        .iter()
        .map(|s| {
            error = error.max(s.latency.max_relative_error);
            let successful = s.calls.saturating_sub(s.errors + s.zero_returns);
            let per_call = if successful > 0 {
                units::number(s.bytes as f64 / successful as f64)
            } else {
                "—".to_owned()
            };
            let errors = if s.errnos.is_empty() {
                units::thousands(s.errors)
            } else {
                let names: Vec<String> = s
                    .errnos
                    .iter()
                    .map(|e| format!("{} {}", e.name, e.count))
                    .collect();
                format!("{} ({})", units::thousands(s.errors), names.join(", "))
            };
            let cells = [
                s.syscall.clone(),
                units::thousands(s.calls),
                units::thousands(s.bytes),
                per_call,
                errors,
                units::duration_ns(s.latency.percentiles.p50 as f64),
                units::duration_ns(s.latency.percentiles.p99 as f64),
            ];
            cells
                .into_iter()
                .map(|text| Cell {
                    text,
                    tone: Tone::Plain,
                })
                .collect()
        })
        .collect();
    text::grid(
        out,
        &Grid {
            title: String::new(),
            header: [
                "syscall", "calls", "bytes", "B/call", "errors", "p50", "p99",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows,
            note: Some(format!("latency percentiles within ±{:.1}%", error * 100.0)),
        },
        color,
    );
    // The grid starts with an empty title line and ends with a blank line; keep it compact.
    if out.ends_with("\n\n") {
        out.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_overhead_timed_in_part_of_the_run_is_scaled_up_and_says_so() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/real/client-direct-1.run.json");
        let mut run = Run::read(&path).unwrap();
        run.probe.overhead = Some(crate::run::ProbeOverhead {
            run_time_ns: 2_000_000,
            run_count: 10_000,
            ns_per_run: 200.0,
            measured_share: 0.1,
        });
        let summary = summary_text(&run, false);
        assert!(
            summary.contains(
                "probe overhead: 200 ns per program run (10,000 runs timed in 10% of the run); \
                 about 20.0 ms in all"
            ),
            "{summary}"
        );
        run.probe.overhead.as_mut().unwrap().measured_share = 1.0;
        let summary = summary_text(&run, false);
        assert!(
            summary.contains("probe overhead: 2.00 ms in 10,000 program runs (200 ns each)"),
            "{summary}"
        );
    }

    #[test]
    fn summarizes_a_real_recording() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/real/client-direct-1.run.json");
        let run = Run::read(&path).unwrap();
        let summary = summary_text(&run, false);
        let client = run
            .processes
            .iter()
            .find(|p| p.name == "python3" && p.target == 1)
            .unwrap();
        let recv = client.syscall("recvfrom").unwrap();
        let row = summary
            .lines()
            .find(|l| {
                l.trim_start().starts_with("recvfrom") && l.contains(&units::thousands(recv.bytes))
            })
            .unwrap();
        assert!(row.contains(&units::thousands(recv.calls)), "{row}");
        let reads = client.totals(Direction::Read);
        assert!(
            summary.contains(&format!(
                "reads  {} calls, {} B",
                units::thousands(reads.calls),
                units::thousands(reads.bytes)
            )),
            "{summary}"
        );
        assert!(summary.contains(&format!("probe mechanism {}", run.probe.mechanism)));
        // A bare request count (`record --requests`) has no latency to show.
        let load = summary
            .lines()
            .find(|l| l.starts_with("load (manual)"))
            .unwrap();
        assert_eq!(load, "load (manual): 3,000 requests, 0 failed, 999 req/s");
    }
}
