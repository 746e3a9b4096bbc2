//! The summary printed at the end of `tracer record` and by `tracer report` (plain text).
use std::{io::Write as _, path::Path};

use crate::run::{Direction, Run};

/// Prints the summary to stdout; a closed stdout (`| head`) is not an error.
pub fn print(run: &Run, path: &Path) {
    let text = render(run, path);
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// The summary as text.
#[must_use]
pub fn render(run: &Run, path: &Path) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let seconds = run.duration_ns as f64 / 1e9;
    let _ = writeln!(
        out,
        "run {} — {:.2} s, {} probes, ended: {:?}{}",
        path.display(),
        seconds,
        run.probe.mechanism,
        run.end_reason,
        run.label
            .as_ref()
            .map(|l| format!(", label {l}"))
            .unwrap_or_default()
    );
    for process in &run.processes {
        let reads = process.totals(Direction::Read);
        let writes = process.totals(Direction::Write);
        let cpu = process
            .cpu
            .as_ref()
            .map(|c| {
                format!(
                    ", CPU {:.3} s ({:.2} cores avg)",
                    c.on_cpu_ns as f64 / 1e9,
                    c.average_cores
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\n{} (pid {}){}{}",
            process.name,
            process.pid,
            cpu,
            process
                .exited_after_ns
                .map(|ns| format!(", exited after {:.2} s", ns as f64 / 1e9))
                .unwrap_or_default()
        );
        let per_call = |b: Option<f64>| b.map_or("-".into(), |b| format!("{b:.1}"));
        let _ = writeln!(
            out,
            "  reads:  {:>9} calls {:>12} B  {:>8} B/read",
            reads.calls,
            reads.bytes,
            per_call(reads.bytes_per_call())
        );
        let _ = writeln!(
            out,
            "  writes: {:>9} calls {:>12} B  {:>8} B/write",
            writes.calls,
            writes.bytes,
            per_call(writes.bytes_per_call())
        );
        let _ = writeln!(
            out,
            "  {:<10} {:>9} {:>12} {:>7} {:>7} {:>10} {:>10}",
            "syscall", "calls", "bytes", "errors", "eagain", "p50 lat", "p99 lat"
        );
        for s in &process.syscalls {
            let _ = writeln!(
                out,
                "  {:<10} {:>9} {:>12} {:>7} {:>7} {:>10} {:>10}",
                s.syscall,
                s.calls,
                s.bytes,
                s.errors,
                s.eagain,
                format_ns(s.latency.percentiles.p50),
                format_ns(s.latency.percentiles.p99)
            );
        }
        for fd in process.fds.iter().take(5) {
            let _ = writeln!(
                out,
                "  fd {:>4} {:<9} {:>9} calls {:>12} B  {}",
                fd.fd, fd.syscall, fd.calls, fd.bytes, fd.description
            );
        }
    }
    if !run.losses.is_complete() {
        let _ = writeln!(
            out,
            "\nWARNING: the kernel could not record everything: {:?}",
            run.losses
        );
    }
    out
}

fn format_ns(ns: u64) -> String {
    match ns {
        n if n >= 1_000_000 => format!("{:.2}ms", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1}µs", n as f64 / 1e3),
        n => format!("{n}ns"),
    }
}
