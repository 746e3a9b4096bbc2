//! Numbers as people read them: thousands separators, adaptive time units, `2.00×`, `−25%`.
use crate::compare::model::{Change, Stat, Unit, Withheld};

/// `1234567` -> `1,234,567`.
#[must_use]
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Three significant figures, at most.
#[must_use]
pub fn number(value: f64) -> String {
    let magnitude = value.abs();
    // Decide on the rounded value, so 999.7 reads "1,000", not "1000".
    if magnitude.round() >= 1000.0 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "display of a non-negative magnitude"
        )]
        let whole = magnitude.round() as u64;
        let sign = if value < 0.0 { "-" } else { "" };
        format!("{sign}{}", thousands(whole))
    } else if magnitude >= 99.95 {
        format!("{value:.0}")
    } else if magnitude >= 9.995 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A duration in ns with a unit that keeps 3 significant figures: `850 ns`, `12.3 µs`, `1.20 ms`.
#[must_use]
pub fn duration_ns(ns: f64) -> String {
    let (value, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    format!("{} {unit}", number(value))
}

/// Request latency as the blog's tables write it: `0.89ms`, `36.63ms`.
#[must_use]
pub fn milliseconds(ns: f64) -> String {
    format!("{:.2}ms", ns / 1e6)
}

/// A value in its unit.
#[must_use]
pub fn value(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Count => {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "counts are whole and non-negative"
            )]
            let whole = value.round().max(0.0) as u64;
            // A mean over runs may not be whole.
            if (value - value.round()).abs() > 1e-9 {
                number(value)
            } else {
                thousands(whole)
            }
        }
        Unit::PerSecond => format!("{}/s", number(value)),
        Unit::RequestsPerSecond | Unit::PerRequest => number(value),
        Unit::Bytes => format!("{} B", number(value)),
        Unit::Factor => format!("{value:.2}×"),
        Unit::Share => format!("{:.1}%", value * 100.0),
        Unit::Nanoseconds => duration_ns(value),
        Unit::CoreSeconds => format!("{value:.3} core-s"),
        Unit::Cores => format!("{value:.3}"),
        Unit::MicrosecondsPerRequest => format!("{} µs", number(value)),
    }
}

/// A group's value: the mean, with `±` half the run-to-run range when there are several runs.
#[must_use]
pub fn stat(unit: Unit, stat: &Stat) -> String {
    let mean = value(unit, stat.mean);
    if stat.runs > 1 && stat.spread() > 0.0 {
        let half_range = stat.spread() / 2.0;
        let spread = match unit {
            Unit::Count => number(half_range),
            Unit::Factor => format!("{half_range:.2}"),
            _ => value(unit, half_range),
        };
        format!("{mean} ±{spread}")
    } else {
        mean
    }
}

/// The change column: `−60%`, `+2.0×`... with `(noise)` when within run-to-run spread.
#[must_use]
pub fn change(unit: Unit, change: &Change) -> String {
    if unit == Unit::Factor {
        return String::new();
    }
    match change.withheld {
        Some(Withheld::TooFewCalls) => return "too few calls".to_owned(),
        Some(Withheld::Idle) => return "idle".to_owned(),
        None => {}
    }
    let Some(percent) = change.percent else {
        return "new".to_owned();
    };
    let mut text = if percent.abs() < 0.5 {
        "same".to_owned()
    } else if let Some(factor) = change.factor.filter(|f| *f >= 2.0) {
        // "70×", not "+6918%"; decreases stay percentages ("−99%").
        crate::compare::verdict::factor(factor)
    } else {
        crate::compare::verdict::signed_percent(percent)
    };
    if change.within_noise == Some(true) {
        text.push_str(" (noise)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(number(4.0), "4.00");
        assert_eq!(number(179.4), "179");
        assert_eq!(number(12_345.0), "12,345");
        assert_eq!(number(999.7), "1,000");
        assert_eq!(number(99.97), "100");
        assert_eq!(number(9.999), "10.0");
        assert_eq!(duration_ns(850.0), "850 ns");
        assert_eq!(duration_ns(12_345.0), "12.3 µs");
        assert_eq!(milliseconds(890_000.0), "0.89ms");
        assert_eq!(value(Unit::Share, 0.125), "12.5%");
        assert_eq!(value(Unit::Count, 2.5), "2.50");
        let two_runs = Stat {
            mean: 10.0,
            min: 9.0,
            max: 11.0,
            runs: 2,
        };
        assert_eq!(stat(Unit::PerRequest, &two_runs), "10.0 ±1.00");
        let noisy = Change {
            percent: Some(-25.0),
            factor: Some(0.75),
            within_noise: Some(true),
            withheld: None,
        };
        assert_eq!(change(Unit::Count, &noisy), "−25% (noise)");
    }
}
