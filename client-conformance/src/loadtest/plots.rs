//! The HTML report's figures, SVG drawn with `plotters`: each endpoint has one colour in
//! every figure ([`endpoint_color`]), and the timelines mark where tokens expire (virtual
//! time) and where refresh storms begin.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::results::LoadReport;
use super::stats::Endpoint;

const SIZE: (u32, u32) = (960, 360);

/// Room above the highest point, so that the legend (upper right) does not cover the data.
const LEGEND_HEADROOM: f64 = 1.45;

/// Errors and markers: neutral colours no endpoint uses.
const ERRORS: RGBColor = RGBColor(90, 90, 90);
const EXPIRY: RGBColor = RGBColor(150, 150, 150);
const STORM: RGBColor = RGBColor(188, 189, 34);

/// The one colour of an endpoint, in every figure.
pub(super) fn endpoint_color(e: Endpoint) -> RGBColor {
    match e {
        Endpoint::Authorize => RGBColor(44, 160, 44),
        Endpoint::TokenAuthorizationCode => RGBColor(255, 127, 14),
        Endpoint::TokenRefresh => RGBColor(214, 39, 40),
        Endpoint::TokenClientCredentials => RGBColor(148, 103, 189),
        Endpoint::ApiResponses => RGBColor(31, 119, 180),
    }
}

/// The CSS colour of an endpoint (for the tables' swatches).
pub(super) fn css_color(e: Endpoint) -> String {
    let RGBColor(r, g, b) = endpoint_color(e);
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Where, in real seconds since the start, the timeline gets a marker.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Markers {
    /// Real seconds at which virtual time reached a multiple of the token lifetime: where
    /// tokens issued at the start (and their renewals, without jitter) expire.
    pub expiries: Vec<f64>,
    /// Seconds in which a refresh storm began: renewals rose to at least half the run's peak
    /// from below it.
    pub storms: Vec<f64>,
}

impl Markers {
    /// The markers of `r`'s timeline.
    pub(super) fn of(r: &LoadReport) -> Self {
        let ttl = r.json.settings.access_ttl_s.filter(|t| *t > 0.0);
        let mut expiries = Vec::new();
        if let Some(ttl) = ttl {
            let mut next = ttl;
            let mut before = (0.0, 0.0);
            for (i, s) in r.timeline.iter().enumerate() {
                let Some(v) = s.virtual_elapsed_s else {
                    continue;
                };
                let now = (i as f64 + 1.0, v);
                while v >= next && expiries.len() < 50 {
                    // Linear between the two samples around the crossing.
                    let share = (next - before.1) / (now.1 - before.1).max(1e-9);
                    expiries.push(before.0 + share * (now.0 - before.0));
                    next += ttl;
                }
                before = now;
            }
        }
        let peak = r.timeline.iter().map(|s| s.refreshes).max().unwrap_or(0);
        let mut storms = Vec::new();
        if peak > 0 {
            let mut was_high = false;
            for (i, s) in r.timeline.iter().enumerate() {
                let high = s.refreshes * 2 >= peak;
                if high && !was_high {
                    storms.push(i as f64);
                }
                was_high = high;
            }
        }
        Self { expiries, storms }
    }
}

/// Draw the markers on a timeline chart whose y axis ends at `max_y`.
fn draw_markers<'a>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    markers: &Markers,
    max_y: f64,
) -> Result<(), String> {
    for (xs, color, label) in [
        (&markers.expiries, EXPIRY, "tokens expire (virtual time)"),
        (&markers.storms, STORM, "refresh storm begins"),
    ] {
        if xs.is_empty() {
            continue;
        }
        chart
            .draw_series(
                xs.iter()
                    .map(|x| PathElement::new(vec![(*x, 0.0), (*x, max_y)], color.stroke_width(1))),
            )
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    Ok(())
}

/// p99 (solid) and p50 (faint) per second, per endpoint, in milliseconds.
pub(super) fn latency_over_time(r: &LoadReport, svg: &mut String) -> Result<(), String> {
    let ms = |us: u64| us as f64 / 1000.0;
    /// An endpoint, whether the line is its p99 (else its median), and the points.
    type Line = (Endpoint, bool, Vec<(f64, f64)>);
    let lines: Vec<Line> = Endpoint::ALL
        .iter()
        .flat_map(|e| [(*e, true), (*e, false)])
        .map(|(e, p99)| {
            let points = r
                .timeline
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let q = s.endpoints[e as usize]?;
                    Some((i as f64 + 0.5, ms(if p99 { q.p99 } else { q.p50 })))
                })
                .collect::<Vec<_>>();
            (e, p99, points)
        })
        .filter(|(_, _, p)| !p.is_empty())
        .collect();
    let max_y = lines
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y))
        .fold(1.0f64, f64::max)
        * LEGEND_HEADROOM;
    let max_x = r.timeline.len().max(1) as f64;
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..max_x, 0f64..max_y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("real seconds since start")
        .y_desc("latency (ms)")
        .draw()
        .map_err(err)?;
    draw_markers(&mut chart, &Markers::of(r), max_y)?;
    for (e, p99, points) in lines {
        let color = endpoint_color(e);
        let style = if p99 {
            color.stroke_width(2)
        } else {
            color.mix(0.4).stroke_width(1)
        };
        let series = chart
            .draw_series(LineSeries::new(points, style))
            .map_err(err)?;
        if p99 {
            series
                .label(e.name())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
    }
    finish(&mut chart, &root)
}

/// Draw the legend and write the plot out: the same closing for every chart.
fn finish<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    root: &DrawingArea<SVGBackend<'a>, plotters::coord::Shift>,
) -> Result<(), String>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Share of requests per logarithmic latency bucket, per endpoint.
pub(super) fn latency_histogram(r: &LoadReport, svg: &mut String) -> Result<(), String> {
    // Buckets 10 µs .. 10 s, 8 per decade; the axis spans the decades that hold requests.
    let edges: Vec<f64> = (0..=48).map(|i| 10f64.powf(1.0 + i as f64 / 8.0)).collect();
    let curves: Vec<(Endpoint, Vec<(f64, f64)>)> = r
        .histograms
        .iter()
        .filter_map(|(name, h)| {
            let e = Endpoint::ALL.into_iter().find(|e| e.name() == *name)?;
            let total = h.len().max(1) as f64;
            let points = edges
                .windows(2)
                .map(|w| {
                    let n = h.count_between(w[0] as u64, w[1] as u64 - 1);
                    ((w[0] * w[1]).sqrt(), n as f64 / total)
                })
                .collect();
            Some((e, points))
        })
        .collect();
    let occupied = || curves.iter().flat_map(|(_, p)| p).filter(|(_, y)| *y > 0.0);
    let decade = |x: f64, round: fn(f64) -> f64| 10f64.powf(round(x.log10()));
    let min_x = occupied()
        .map(|(x, _)| decade(*x, f64::floor))
        .fold(1e7, f64::min)
        .max(10.0);
    let max_x = occupied()
        .map(|(x, _)| decade(*x, f64::ceil))
        .fold(min_x * 10.0, f64::max)
        .min(1e7);
    let max_y = (occupied().map(|(_, y)| *y).fold(0.0, f64::max) * LEGEND_HEADROOM).min(1.0);
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d((min_x..max_x).log_scale(), 0f64..max_y.max(0.1))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("latency (log scale)")
        .y_desc("share of requests")
        .x_label_formatter(&|us| human_latency(*us))
        .draw()
        .map_err(err)?;
    for (e, points) in curves {
        let color = endpoint_color(e);
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(e.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    finish(&mut chart, &root)
}

/// `250` → "250 µs", `1500` → "1.5 ms", `2_000_000` → "2 s".
fn human_latency(us: f64) -> String {
    let (value, unit) = if us >= 1e6 {
        (us / 1e6, "s")
    } else if us >= 1e3 {
        (us / 1e3, "ms")
    } else {
        (us, "µs")
    };
    let text = format!("{value:.1}");
    format!("{} {unit}", text.strip_suffix(".0").unwrap_or(&text))
}

/// Successful renewals (in the renewing endpoint's colour) and errors per second.
pub(super) fn refreshes_per_second(r: &LoadReport, svg: &mut String) -> Result<(), String> {
    let max_y = r
        .timeline
        .iter()
        .map(|s| s.refreshes.max(s.errors))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * LEGEND_HEADROOM;
    let max_x = r.timeline.len().max(1) as f64;
    let renewal = endpoint_color(if r.json.settings.flow == "client_credentials" {
        Endpoint::TokenClientCredentials
    } else {
        Endpoint::TokenRefresh
    });
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..max_x, 0f64..max_y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("real seconds since start")
        .y_desc("per second")
        .draw()
        .map_err(err)?;
    draw_markers(&mut chart, &Markers::of(r), max_y)?;
    let bars = |pick: fn(&super::stats::Second) -> u64, color: RGBColor, offset: f64| {
        r.timeline
            .iter()
            .enumerate()
            .map(move |(i, s)| {
                let x = i as f64 + offset;
                Rectangle::new([(x, 0.0), (x + 0.45, pick(s) as f64)], color.filled())
            })
            .collect::<Vec<_>>()
    };
    chart
        .draw_series(bars(|s| s.refreshes, renewal, 0.05))
        .map_err(err)?
        .label("renewals")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], renewal.filled()));
    chart
        .draw_series(bars(|s| s.errors, ERRORS, 0.5))
        .map_err(err)?
        .label("errors")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], ERRORS.filled()));
    finish(&mut chart, &root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_axis_labels_read_in_their_unit() {
        assert_eq!(human_latency(10.0), "10 µs");
        assert_eq!(human_latency(250.0), "250 µs");
        assert_eq!(human_latency(1000.0), "1 ms");
        assert_eq!(human_latency(1500.0), "1.5 ms");
        assert_eq!(human_latency(2_000_000.0), "2 s");
    }

    #[test]
    fn every_endpoint_has_its_own_colour() {
        let mut colours: Vec<String> = Endpoint::ALL.iter().map(|e| css_color(*e)).collect();
        colours.sort();
        colours.dedup();
        assert_eq!(colours.len(), Endpoint::ALL.len());
    }
}
