//! Inline SVG charts for the HTML report, drawn with plotters' SVG backend (no fonts, no
//! network): grouped bars for payload sizes, lines for CDFs and series over time.
use plotters::prelude::*;

/// Series colours, baseline first; distinct for the common colour-vision deficiencies.
const COLORS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

const SIZE: (u32, u32) = (760, 340);
const FONT: &str = "sans-serif";

fn color(index: usize) -> RGBColor {
    COLORS[index % COLORS.len()]
}

/// A named line.
pub(super) struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// How an axis' numbers are written.
#[derive(Clone, Copy)]
pub(super) enum Axis {
    Plain,
    /// Values are log10 of nanoseconds; labels show the duration.
    Log10Nanoseconds,
}

fn axis_label(axis: Axis, value: f64) -> String {
    match axis {
        Axis::Plain => {
            if value.abs() >= 1000.0 || (value - value.round()).abs() < 1e-9 {
                format!("{value:.0}")
            } else {
                format!("{value:.2}")
            }
        }
        Axis::Log10Nanoseconds => super::units::duration_ns(10f64.powf(value)),
    }
}

fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (low, high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if low > high {
        return None;
    }
    if (high - low).abs() < f64::EPSILON {
        Some((low - 0.5, high + 0.5))
    } else {
        Some((low, high))
    }
}

/// A line chart; `None` when there is nothing to draw.
pub(super) fn lines(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    x_axis: Axis,
    series: &[Series],
) -> Option<String> {
    let (x_low, x_high) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)))?;
    let y_high = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let y_high = if y_high > 0.0 { y_high } else { 1.0 };
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x_low..x_high, 0.0..y_high * 1.1)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|x| axis_label(x_axis, *x))
            .y_label_formatter(&|y| axis_label(Axis::Plain, *y))
            .draw()?;
        for (index, line) in series.iter().enumerate() {
            let style = color(index).stroke_width(2);
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style))?
                .label(line.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color(index).stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    })();
    drawn.ok().map(|()| svg)
}

/// Grouped bars: one cluster per category, one bar per series; values in percent.
pub(super) fn bars(
    title: &str,
    y_desc: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> Option<String> {
    if categories.is_empty() || series.is_empty() {
        return None;
    }
    // Headroom above the tallest bar for the legend.
    let y_high = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.3;
    let count = categories.len() as f64;
    let width = 0.8 / series.len() as f64;
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..(count - 0.5), 0.0..y_high)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(categories.len())
            .x_label_formatter(&|x| {
                let nearest = x.round();
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "checked in range"
                )]
                let index = nearest as usize;
                if (x - nearest).abs() < 1e-6 && nearest >= 0.0 && index < categories.len() {
                    categories[index].clone()
                } else {
                    String::new()
                }
            })
            .y_desc(y_desc)
            .draw()?;
        for (index, (label, values)) in series.iter().enumerate() {
            let offset = -0.4 + width * index as f64;
            let style = color(index).filled();
            chart
                .draw_series(values.iter().enumerate().map(|(category, value)| {
                    let x = category as f64 + offset;
                    Rectangle::new([(x, 0.0), (x + width * 0.95, *value)], style)
                }))?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color(index).filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    })();
    drawn.ok().map(|()| svg)
}
