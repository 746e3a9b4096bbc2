//! The live view while recording: one redrawn line with a progress bar on a terminal, plain
//! lines otherwise (logs, pipes). Written to stderr so stdout stays the summary.
use std::{
    io::{IsTerminal as _, Write as _},
    time::Duration,
};

use super::Tick;

pub struct LiveView {
    quiet: bool,
    terminal: bool,
    duration: Option<Duration>,
    drawn: bool,
}

impl LiveView {
    #[must_use]
    pub fn new(quiet: bool, duration: Option<Duration>) -> Self {
        Self {
            quiet,
            terminal: std::io::stderr().is_terminal(),
            duration,
            drawn: false,
        }
    }

    pub fn show(&mut self, tick: &Tick) {
        if self.quiet {
            return;
        }
        let top = tick
            .top
            .iter()
            // A process sets its own name: shown, never sent to the terminal raw.
            .map(|(name, pid, rate)| {
                format!(
                    "{}({pid}) {}/s",
                    crate::report::escape::terminal(name),
                    si(*rate)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let line = format!(
            "{:>6.1}s  {:>8} calls/s  {:>8}B/s  {}",
            tick.elapsed.as_secs_f64(),
            si(tick.calls_per_s),
            si(tick.bytes_per_s),
            if top.is_empty() {
                "(no I/O syscalls)".into()
            } else {
                top
            }
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let bar = self.duration.map(|d| {
                let done = (tick.elapsed.as_secs_f64() / d.as_secs_f64()).clamp(0.0, 1.0);
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "0..=20"
                )]
                let filled = (done * 20.0).round() as usize;
                format!("[{}{}] ", "#".repeat(filled), "-".repeat(20 - filled))
            });
            let _ = write!(err, "\r\x1b[2K{}{line}", bar.unwrap_or_default());
            self.drawn = true;
        } else {
            let _ = writeln!(err, "tracer: {line}");
        }
    }

    pub fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// 1234567 -> "1.23M".
#[must_use]
pub fn si(value: f64) -> String {
    match value {
        v if v >= 1e9 => format!("{:.2}G", v / 1e9),
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e4 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}
