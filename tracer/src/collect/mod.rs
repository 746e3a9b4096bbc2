//! Recording: a [`Recorder`] attaches the probes, adds the targets (and a command started under
//! tracing), samples once per interval and ends in a [`Run`](crate::run::Run); `tracer record`
//! (`cmd::record`) and the node agent both drive it. Plus the parsers of durations and labels
//! both take from users.
mod assemble;
mod command;
mod cpu;
pub(crate) mod fds;
mod live;
mod recorder;
mod session;

use std::time::Duration;

pub use assemble::rfc3339;
pub use command::TracedCommand;
pub use live::LiveView;
pub use recorder::{CommandSpec, Recorder, Schedule};
pub use session::{Joined, LiveHistogram, Session, TargetSpec, Tick, Traffic, monotonic_ns};

/// A syscall's name, from its index in the syscall table.
#[must_use]
pub fn syscall_name(index: u32) -> &'static str {
    tracer_common::syscalls::NAMES
        .get(index as usize)
        .copied()
        .unwrap_or("unknown")
}

/// Parses `30s`, `500ms`, `2m`, `1h`, `1.5s` or a plain number of seconds, from 1 ms to
/// 31 days: recording durations and intervals.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_span(text, 1e-3)
}

/// Like [`parse_duration`], but also `0` and microseconds (`50us`): short pauses, such as the
/// demo's write delay and coalescing window.
pub fn parse_delay(text: &str) -> Result<Duration, String> {
    parse_span(text, 0.0)
}

fn parse_span(text: &str, min_seconds: f64) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration: write it like 30s, 500ms, 2m or 1h"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "'{text}' has an unknown unit '{unit}': use ms, s, m or h"
            ));
        }
    };
    // A floor, not just "more than 0": a tiny value rounds to nothing (found by fuzzing:
    // ".0…05" was accepted as a zero duration).
    if !(min_seconds..=31.0 * 86_400.0).contains(&seconds) {
        let floor = if min_seconds > 0.0 { "1ms" } else { "0" };
        return Err(format!(
            "'{text}' is not a usable duration: it must be between {floor} and 31 days"
        ));
    }
    let duration = Duration::from_secs_f64(seconds);
    if min_seconds > 0.0 && duration.is_zero() {
        return Err(format!("'{text}' is not a usable duration: it rounds to 0"));
    }
    Ok(duration)
}

/// Longest `--label` or `NAME=` accepted, in characters.
const MAX_NAME_CHARS: usize = 200;

/// A label or a target name (`--label`, `NAME=PID`, the agent's `"label"`) is shown in every
/// report: it must be some text on one line, without control characters.
pub fn check_label(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the label is empty; give a name such as no-mesh or ambient".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "the label is longer than {MAX_NAME_CHARS} characters; give a shorter name"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "the label '{}' holds a control character (a newline, tab or escape); give plain text",
            crate::report::escape::terminal(name)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_refuses_nonsense() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_mins(2)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in [
            "0",
            "-1",
            "10x",
            "",
            "s",
            "0ms",
            "1e9h",
            "nan",
            ".0000000000000000005",
            "0.5us",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(parse_delay("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_delay("50us"), Ok(Duration::from_micros(50)));
        assert_eq!(parse_delay("300µs"), Ok(Duration::from_micros(300)));
        for bad in ["-1", "10x", "nan"] {
            assert!(parse_delay(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
