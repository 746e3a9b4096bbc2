//! Inline SVG charts for the HTML report: grouped bars for payload sizes, lines for CDFs and
//! series over time. Written by hand rather than with a plotting crate so that every axis has
//! round, distinct ticks (1-2-5 steps, also on log axes), percent axes stop at 100%, the
//! chart scales to the page (a `viewBox`, no fixed size), and the parts are marked
//! (`axis x`, `axis y`, `tick`) for the page's tests. Legends are the page's, in HTML under
//! the chart, so they never cover data and list only series that have some.
use std::fmt::Write as _;

use super::escape::html as escape;

/// Series colours, baseline first; distinct for the common colour-vision deficiencies
/// (Okabe–Ito).
const COLORS: [&str; 6] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
];

/// The drawing's own units; the page scales it to its width.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 46.0;
/// Ticks an axis aims at.
const TICKS: f64 = 5.0;

/// The colour of series `index`.
#[must_use]
pub(super) fn color(index: usize) -> &'static str {
    COLORS[index % COLORS.len()]
}

/// A named line.
pub(super) struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// How an axis maps and writes its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Axis {
    /// Linear from zero, plain numbers.
    Plain,
    /// Linear, 0 to at most 100, written `40%`.
    Percent,
    /// Log scale of nanoseconds, written as durations (`200 µs`, `1 ms`).
    LogNanoseconds,
}

/// A drawn chart: the `<svg>` and the legend entries (label, colour) of the series drawn.
pub(super) struct Chart {
    pub svg: String,
    pub legend: Vec<(String, &'static str)>,
}

/// A tick: where, and its label.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Tick {
    pub value: f64,
    pub label: String,
}

/// The round step nearest `raw` from 1, 2, 5 times a power of ten.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction < 1.5 {
        1.0
    } else if fraction < 3.0 {
        2.0
    } else if fraction < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// `1234567` -> `1,234,567`; decimals as asked.
fn grouped(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut out = String::new();
    if value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('−');
    }
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// Round ticks from 0 (or below `low` when it is negative) past `high`: steps of 1, 2 or 5
/// times a power of ten, written with the decimals the step needs, so no two read alike.
/// A percent axis ends at 100% at most.
#[must_use]
pub(super) fn linear_ticks(low: f64, high: f64, axis: Axis) -> Vec<Tick> {
    let low = low.min(0.0);
    let mut high = if high > low { high } else { low + 1.0 };
    if axis == Axis::Percent {
        high = high.min(100.0);
    }
    let step = nice_step((high - low) / TICKS);
    if !(step >= 1e-9 && high < 1e15 && low > -1e15 && (high - low) / step < 100.0) {
        // Values a damaged file can hold (subnormal, huge): the two ends, no arithmetic.
        return [low, high]
            .into_iter()
            .map(|value| Tick {
                value,
                label: format!("{value:e}"),
            })
            .collect();
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a step's decimals: a small whole non-negative number"
    )]
    let decimals = (-step.log10().floor()).clamp(0.0, 12.0) as usize;
    let first = (low / step).floor();
    // A value a hair past a round tick (8.0005 s) does not earn another tick.
    let last = (high / step - 0.01).ceil();
    let mut ticks = Vec::new();
    let mut n = first;
    while n <= last + 1e-9 {
        let value = n * step;
        let number = grouped(value, decimals);
        ticks.push(Tick {
            value,
            label: if axis == Axis::Percent {
                format!("{number}%")
            } else {
                number
            },
        });
        n += 1.0;
    }
    ticks
}

/// A duration of a 1-2-5 tick: `200 µs`, `1 ms`, `5 s` (whole numbers in the unit chosen).
fn tick_duration(ns: f64) -> String {
    let (value, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    let decimals = usize::from((value - value.round()).abs() >= 1e-6);
    format!("{value:.decimals$} {unit}")
}

/// Ticks of a log axis of nanoseconds at 1, 2 and 5 times powers of ten (only the powers of
/// ten when that would make too many), from the one at or below `low` to the one at or
/// above `high`.
#[must_use]
pub(super) fn log_ticks(low: f64, high: f64) -> Vec<Tick> {
    let low = low.max(1.0);
    let high = high.max(low * 1.000_001);
    #[expect(
        clippy::cast_possible_truncation,
        reason = "powers of ten of nanoseconds that fit in f64: small whole numbers"
    )]
    let (first, last) = (
        low.log10().floor().clamp(-30.0, 30.0) as i32 - 1,
        high.log10().ceil().clamp(-30.0, 30.0) as i32 + 1,
    );
    let candidates = |multipliers: &[f64]| -> Vec<f64> {
        let mut values = Vec::new();
        for power in first..=last {
            for m in multipliers {
                values.push(m * 10f64.powi(power));
            }
        }
        let start = values
            .iter()
            .rposition(|v| *v <= low * (1.0 + 1e-9))
            .unwrap_or(0);
        let end = values
            .iter()
            .position(|v| *v >= high * (1.0 - 1e-9))
            .unwrap_or(values.len() - 1);
        values[start..=end].to_vec()
    };
    let mut values = candidates(&[1.0, 2.0, 5.0]);
    if values.len() > 9 {
        values = candidates(&[1.0]);
    }
    if values.len() > 9 {
        // Every other decade; the ends stay ticks so the axis still spans the data.
        let last = values.len() - 1;
        values = values
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == 0 || *i == last)
            .map(|(_, v)| v)
            .collect();
    }
    values
        .into_iter()
        .map(|value| Tick {
            value,
            label: tick_duration(value),
        })
        .collect()
}

/// Maps values to the drawing's coordinates along one axis.
struct Scale {
    low: f64,
    high: f64,
    log: bool,
    from: f64,
    to: f64,
}

impl Scale {
    fn new(ticks: &[Tick], log: bool, from: f64, to: f64) -> Self {
        let map = |v: f64| if log { v.log10() } else { v };
        let low = ticks.first().map_or(0.0, |t| map(t.value));
        let high = ticks.last().map_or(1.0, |t| map(t.value));
        Self {
            low,
            high: if high > low { high } else { low + 1.0 },
            log,
            from,
            to,
        }
    }

    fn at(&self, value: f64) -> f64 {
        let v = if self.log {
            value.max(1e-12).log10()
        } else {
            value
        };
        let share = ((v - self.low) / (self.high - self.low)).clamp(0.0, 1.0);
        self.from + share * (self.to - self.from)
    }
}

fn ticks_for(axis: Axis, low: f64, high: f64) -> Vec<Tick> {
    match axis {
        Axis::LogNanoseconds => log_ticks(low, high),
        Axis::Plain | Axis::Percent => linear_ticks(low, high, axis),
    }
}

/// The frame: grid lines and tick labels of both axes, and the axis titles.
#[expect(
    clippy::too_many_arguments,
    reason = "the two axes' ticks, scales and titles"
)]
fn frame(
    svg: &mut String,
    x_ticks: &[Tick],
    x: &Scale,
    x_title: &str,
    y_ticks: &[Tick],
    y: &Scale,
    y_title: &str,
    x_labels_between: bool,
) {
    let (left, right, top, bottom) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
    svg.push_str("<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">");
    for tick in y_ticks {
        let at = y.at(tick.value);
        let _ = write!(
            svg,
            "<line x1=\"{left:.1}\" y1=\"{at:.1}\" x2=\"{right:.1}\" y2=\"{at:.1}\"/>"
        );
    }
    if !x_labels_between {
        for tick in x_ticks {
            let at = x.at(tick.value);
            let _ = write!(
                svg,
                "<line x1=\"{at:.1}\" y1=\"{top:.1}\" x2=\"{at:.1}\" y2=\"{bottom:.1}\"/>"
            );
        }
    }
    svg.push_str("</g>");
    let _ = write!(
        svg,
        "<g class=\"axis x\" font-size=\"13\" text-anchor=\"middle\" fill=\"#333\">\
         <line x1=\"{left:.1}\" y1=\"{bottom:.1}\" x2=\"{right:.1}\" y2=\"{bottom:.1}\" stroke=\"#555\"/>"
    );
    for tick in x_ticks {
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x.at(tick.value),
            bottom + 16.0,
            escape(&tick.label)
        );
    }
    let _ = write!(
        svg,
        "<text class=\"title\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
        f64::midpoint(left, right),
        HEIGHT - 6.0,
        escape(x_title)
    );
    let _ = write!(
        svg,
        "<g class=\"axis y\" font-size=\"13\" text-anchor=\"end\" fill=\"#333\">\
         <line x1=\"{left:.1}\" y1=\"{top:.1}\" x2=\"{left:.1}\" y2=\"{bottom:.1}\" stroke=\"#555\"/>"
    );
    for tick in y_ticks {
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            left - 6.0,
            y.at(tick.value) + 4.0,
            escape(&tick.label)
        );
    }
    let middle = f64::midpoint(top, bottom);
    let _ = write!(
        svg,
        "<text class=\"title\" text-anchor=\"middle\" transform=\"translate(14 {middle:.1}) rotate(-90)\">{}</text></g>",
        escape(y_title)
    );
}

fn open(svg: &mut String, title: &str) {
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"{}\" font-family=\"system-ui, sans-serif\">",
        escape(title)
    );
}

/// A line chart of the series that have points; `None` when none has.
pub(super) fn lines(
    title: &str,
    x_title: &str,
    x_axis: Axis,
    y_title: &str,
    y_axis: Axis,
    series: &[Series],
) -> Option<Chart> {
    let drawn: Vec<(usize, &Series)> = series
        .iter()
        .enumerate()
        .filter(|(_, s)| s.points.iter().any(|p| p.0.is_finite() && p.1.is_finite()))
        .collect();
    if drawn.is_empty() {
        return None;
    }
    let points = || {
        drawn
            .iter()
            .flat_map(|(_, s)| &s.points)
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    };
    let (x_low, x_high) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let y_high = points().fold(0.0, |hi: f64, p| hi.max(p.1));
    let x_ticks = match x_axis {
        Axis::LogNanoseconds => log_ticks(x_low, x_high),
        // Time and other linear x axes start at zero.
        Axis::Plain | Axis::Percent => linear_ticks(x_low.min(0.0), x_high, x_axis),
    };
    let y_ticks = ticks_for(y_axis, 0.0, y_high);
    let x = Scale::new(
        &x_ticks,
        x_axis == Axis::LogNanoseconds,
        LEFT,
        WIDTH - RIGHT,
    );
    let y = Scale::new(&y_ticks, false, HEIGHT - BOTTOM, TOP);
    let mut svg = String::new();
    open(&mut svg, title);
    frame(
        &mut svg, &x_ticks, &x, x_title, &y_ticks, &y, y_title, false,
    );
    svg.push_str("<g class=\"series\" fill=\"none\" stroke-width=\"2\">");
    let mut legend = Vec::new();
    for (index, line) in drawn {
        let colour = color(index);
        let coordinates: Vec<String> = line
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|&(px, py)| format!("{:.1},{:.1}", x.at(px), y.at(py)))
            .collect();
        let _ = write!(
            svg,
            "<polyline stroke=\"{colour}\" points=\"{}\"><title>{}</title></polyline>",
            coordinates.join(" "),
            escape(&line.label)
        );
        if coordinates.len() <= 40 {
            for point in &coordinates {
                if let Some((cx, cy)) = point.split_once(',') {
                    let _ = write!(
                        svg,
                        "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"2.5\" fill=\"{colour}\" stroke=\"none\"/>"
                    );
                }
            }
        }
        legend.push((line.label.clone(), colour));
    }
    svg.push_str("</g></svg>");
    Some(Chart { svg, legend })
}

/// Grouped bars: one cluster per category, one bar per series; values in percent. Series
/// with no value above zero are left out (and out of the legend).
pub(super) fn bars(
    title: &str,
    y_title: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> Option<Chart> {
    let drawn: Vec<(usize, &(String, Vec<f64>))> = series
        .iter()
        .enumerate()
        .filter(|(_, (_, values))| values.iter().any(|v| *v > 0.0))
        .collect();
    if categories.is_empty() || drawn.is_empty() {
        return None;
    }
    let y_high = drawn
        .iter()
        .flat_map(|(_, (_, v))| v.iter().copied())
        .fold(0.0, f64::max);
    let y_ticks = linear_ticks(0.0, y_high, Axis::Percent);
    let y = Scale::new(&y_ticks, false, HEIGHT - BOTTOM, TOP);
    let count = categories.len() as f64;
    let x_ticks: Vec<Tick> = categories
        .iter()
        .enumerate()
        .map(|(index, label)| Tick {
            value: index as f64 + 0.5,
            label: label.clone(),
        })
        .collect();
    let x = Scale {
        low: 0.0,
        high: count,
        log: false,
        from: LEFT,
        to: WIDTH - RIGHT,
    };
    let mut svg = String::new();
    open(&mut svg, title);
    frame(
        &mut svg,
        &x_ticks,
        &x,
        "payload size",
        &y_ticks,
        &y,
        y_title,
        true,
    );
    let cluster = (WIDTH - RIGHT - LEFT) / count;
    // At most 50 units a bar, so that one or two sizes do not fill the chart.
    let bar = (cluster * 0.8 / drawn.len() as f64).min(50.0);
    let spare = cluster * 0.8 - bar * drawn.len() as f64;
    svg.push_str("<g class=\"series\">");
    let mut legend = Vec::new();
    for (slot, (index, (label, values))) in drawn.into_iter().enumerate() {
        let colour = color(index);
        for (category, value) in values.iter().enumerate() {
            if *value <= 0.0 {
                continue;
            }
            let left = LEFT + cluster * (category as f64 + 0.1) + spare / 2.0 + bar * slot as f64;
            let top = y.at(*value);
            let _ = write!(
                svg,
                "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\">\
                 <title>{}: {value:.1}%</title></rect>",
                (bar * 0.92).max(1.0),
                (HEIGHT - BOTTOM - top).max(0.0),
                escape(label)
            );
        }
        legend.push((label.clone(), colour));
    }
    svg.push_str("</g></svg>");
    Some(Chart { svg, legend })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(ticks: &[Tick]) -> Vec<&str> {
        ticks.iter().map(|t| t.label.as_str()).collect()
    }

    #[test]
    fn small_core_counts_get_distinct_round_ticks() {
        // The CPU chart that read "0.04, 0.04, 0.04": 0 to 0.0406 cores.
        let ticks = linear_ticks(0.0, 0.0406, Axis::Plain);
        assert_eq!(
            labels(&ticks),
            ["0.00", "0.01", "0.02", "0.03", "0.04", "0.05"]
        );
        let ticks = linear_ticks(0.0, 1153.0, Axis::Plain);
        assert_eq!(
            labels(&ticks),
            ["0", "200", "400", "600", "800", "1,000", "1,200"]
        );
    }

    #[test]
    fn values_a_damaged_file_can_hold_still_get_two_distinct_ends() {
        for high in [1e-320, f64::MAX] {
            let ticks = linear_ticks(0.0, high, Axis::Plain);
            assert_eq!(ticks.len(), 2, "{ticks:?}");
            assert_ne!(ticks[0].label, ticks[1].label);
        }
        assert!(log_ticks(1e30, 1e31).len() >= 2);
    }

    #[test]
    fn percent_axes_stop_at_100() {
        assert_eq!(
            labels(&linear_ticks(0.0, 100.0, Axis::Percent)),
            ["0%", "20%", "40%", "60%", "80%", "100%"]
        );
        assert_eq!(
            labels(&linear_ticks(0.0, 50.0, Axis::Percent)),
            ["0%", "10%", "20%", "30%", "40%", "50%"]
        );
    }

    #[test]
    fn log_ticks_are_one_two_five() {
        // The request CDF that read 158 µs, 251 µs, 398 µs: 100 µs to 4.8 ms.
        let ticks = log_ticks(100_000.0, 4_809_000.0);
        assert_eq!(
            labels(&ticks),
            ["100 µs", "200 µs", "500 µs", "1 ms", "2 ms", "5 ms"]
        );
        // Wide ranges keep the decades only.
        let ticks = log_ticks(300.0, 99_600_000.0);
        assert_eq!(
            labels(&ticks),
            [
                "100 ns", "1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms"
            ]
        );
    }

    #[test]
    fn series_without_data_get_no_legend_entry() {
        let chart = bars(
            "sizes",
            "% of calls",
            &["178 B".to_owned()],
            &[
                ("no-mesh".to_owned(), vec![50.0]),
                ("mesh".to_owned(), vec![0.0]),
            ],
        )
        .unwrap();
        assert_eq!(chart.legend.len(), 1);
        assert_eq!(chart.svg.matches("<rect").count(), 1);
        let none = lines(
            "t",
            "s",
            Axis::Plain,
            "y",
            Axis::Plain,
            &[Series {
                label: "empty".into(),
                points: vec![],
            }],
        );
        assert!(none.is_none());
    }
}
