//! The three ways a load run is reported: a terminal summary, the JSON contract, and a
//! self-contained HTML page whose plots are SVG drawn with `plotters` and inlined.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use super::results::{LoadJson, LoadReport, Percentiles};
use super::stats::Second;

/// The terminal summary: settings, per-endpoint rate and latency, counters, errors.
pub(super) fn summary(r: &LoadReport) -> String {
    let j = &r.json;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fauxauth load: {} agents, {:.1} s",
        j.agents, j.duration_s
    );
    for (k, v) in &r.details {
        let _ = writeln!(out, "  {k:<44} {v}");
    }
    let _ = writeln!(
        out,
        "\n  {:<26} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "endpoint", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    let ms = |us: u64| us as f64 / 1000.0;
    for (name, p) in used(j) {
        let _ = writeln!(
            out,
            "  {:<26} {:>9} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            name,
            j.requests.get(name).copied().unwrap_or(0),
            j.rps.get(name).copied().unwrap_or(0.0),
            ms(p.p50),
            ms(p.p90),
            ms(p.p99),
            ms(p.p99_9),
            ms(p.max)
        );
    }
    let _ = writeln!(
        out,
        "  {:<26} {:>9} {:>9.0}",
        "total",
        j.requests.get("total").copied().unwrap_or(0),
        j.rps.get("total").copied().unwrap_or(0.0)
    );
    let _ = writeln!(out, "\n  correctness");
    let _ = writeln!(
        out,
        "  {:<44} {}",
        "expired-token API calls", j.expired_token_calls
    );
    let _ = writeln!(
        out,
        "  {:<44} {}",
        "refresh-token reuse detected", j.refresh_reuse_detected
    );
    let _ = writeln!(out, "  {:<44} {}", "families revoked", j.families_revoked);
    let _ = writeln!(out, "  {:<44} {}", "sessions lost", j.sessions_lost);
    let rss = j
        .server_rss_bytes
        .map_or("unknown (pass --server-pid)".to_owned(), |b| {
            format!("{:.1} MiB", b as f64 / 1048576.0)
        });
    let _ = writeln!(out, "  {:<44} {}", "server RSS", rss);
    if j.errors.is_empty() {
        let _ = writeln!(out, "\n  errors: none");
    } else {
        let _ = writeln!(out, "\n  errors by kind");
        for (k, n) in &j.errors {
            let _ = writeln!(out, "  {k:<44} {n}");
        }
    }
    out
}

/// The endpoints that had requests, with their percentiles (the JSON lists them all).
fn used(j: &LoadJson) -> impl Iterator<Item = (&String, &Percentiles)> {
    j.latency_us
        .iter()
        .filter(|(name, _)| j.requests.get(*name).is_some_and(|n| *n > 0))
}

/// Write the JSON contract to `path`.
pub fn write_json(r: &LoadReport, path: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(&r.json).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}

/// Write the self-contained HTML report to `path`.
pub fn write_html(r: &LoadReport, path: &Path) -> std::io::Result<()> {
    let plot = |f: fn(&LoadReport, &mut String) -> Result<(), String>| {
        let mut svg = String::new();
        match f(r, &mut svg) {
            Ok(()) => svg,
            Err(e) => format!("<p>plot unavailable: {}</p>", escape(&e)),
        }
    };
    let latency_over_time = plot(latency_over_time);
    let histogram = plot(latency_histogram);
    let refreshes = plot(refreshes_per_second);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>fauxauth load report</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1000px}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}h2{{margin-top:2em}}</style></head><body>\
         <h1>fauxauth load: {} agents, {:.1} s</h1><table>",
        r.json.agents, r.json.duration_s
    );
    for (k, v) in &r.details {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    html.push_str("</table><h2>Correctness</h2><table>");
    let j = &r.json;
    for (k, v) in [
        ("expired-token API calls", j.expired_token_calls.to_string()),
        (
            "refresh-token reuse detected",
            j.refresh_reuse_detected.to_string(),
        ),
        ("families revoked", j.families_revoked.to_string()),
        ("sessions lost", j.sessions_lost.to_string()),
        (
            "server RSS",
            j.server_rss_bytes.map_or("unknown".into(), |b| {
                format!("{:.1} MiB", b as f64 / 1048576.0)
            }),
        ),
    ] {
        let _ = write!(html, "<tr><td>{k}</td><td>{v}</td></tr>");
    }
    html.push_str(
        "</table><h2>Endpoints</h2><table><tr><th>endpoint</th><th>requests</th><th>req/s</th>\
         <th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>",
    );
    let ms = |us: u64| us as f64 / 1000.0;
    for (name, p) in used(j) {
        let _ = write!(
            html,
            "<tr><td>{name}</td><td>{}</td><td>{:.0}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>",
            j.requests.get(name).copied().unwrap_or(0),
            j.rps.get(name).copied().unwrap_or(0.0),
            ms(p.p50),
            ms(p.p90),
            ms(p.p99),
            ms(p.p99_9),
            ms(p.max)
        );
    }
    html.push_str("</table><h2>Errors</h2><table>");
    if j.errors.is_empty() {
        html.push_str("<tr><td>none</td></tr>");
    }
    for (k, n) in &j.errors {
        let _ = write!(html, "<tr><td>{}</td><td>{n}</td></tr>", escape(k));
    }
    let _ = writeln!(
        html,
        "</table><h2>Latency over time</h2>{latency_over_time}\
         <h2>Latency histogram</h2>{histogram}\
         <h2>Refreshes and errors per second</h2>{refreshes}</body></html>"
    );
    std::fs::write(path, html)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const SIZE: (u32, u32) = (960, 360);

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// p50 and p99 per second, for API calls and token requests (milliseconds).
fn latency_over_time(r: &LoadReport, svg: &mut String) -> Result<(), String> {
    let ms = |us: u64| us as f64 / 1000.0;
    type Series = (&'static str, RGBColor, Vec<(f64, f64)>);
    let series: Vec<Series> = [
        ("API p50", BLUE, false, true),
        ("API p99", CYAN, true, true),
        ("token p50", RED, false, false),
        ("token p99", MAGENTA, true, false),
    ]
    .into_iter()
    .map(|(name, color, p99, api)| {
        let points = r
            .timeline
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let q = if api { s.api } else { s.token }?;
                Some((i as f64 + 0.5, ms(if p99 { q.p99 } else { q.p50 })))
            })
            .collect();
        (name, color, points)
    })
    .collect();
    let max_y = series
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
        .x_desc("seconds since start")
        .y_desc("latency (ms)")
        .draw()
        .map_err(err)?;
    for (name, color, points) in series {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
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
fn latency_histogram(r: &LoadReport, svg: &mut String) -> Result<(), String> {
    // Buckets 10 µs .. 10 s, 8 per decade; the axis spans the decades that hold requests.
    let edges: Vec<f64> = (0..=48).map(|i| 10f64.powf(1.0 + i as f64 / 8.0)).collect();
    let colors = [BLUE, RED, GREEN, MAGENTA, CYAN];
    let curves: Vec<(&str, Vec<(f64, f64)>)> = r
        .histograms
        .iter()
        .map(|(name, h)| {
            let total = h.len().max(1) as f64;
            let points = edges
                .windows(2)
                .map(|w| {
                    let n = h.count_between(w[0] as u64, w[1] as u64 - 1);
                    ((w[0] * w[1]).sqrt(), n as f64 / total)
                })
                .collect();
            (*name, points)
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
    for (k, (name, points)) in curves.into_iter().enumerate() {
        let color = colors[k % colors.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    finish(&mut chart, &root)
}

/// Room above the highest point, so that the legend (upper right) does not cover the data.
const LEGEND_HEADROOM: f64 = 1.45;

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

/// Successful renewals and errors per second: synchronised expiry shows up as spikes.
fn refreshes_per_second(r: &LoadReport, svg: &mut String) -> Result<(), String> {
    let max_y = r
        .timeline
        .iter()
        .map(|s| s.refreshes.max(s.errors))
        .max()
        .unwrap_or(1)
        .max(1) as f64
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
        .x_desc("seconds since start")
        .y_desc("per second")
        .draw()
        .map_err(err)?;
    let bars = |pick: fn(&Second) -> u64, color: RGBColor, offset: f64| {
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
        .draw_series(bars(|s| s.refreshes, BLUE, 0.05))
        .map_err(err)?
        .label("renewals")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLUE.filled()));
    chart
        .draw_series(bars(|s| s.errors, RED, 0.5))
        .map_err(err)?
        .label("errors")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], RED.filled()));
    finish(&mut chart, &root)
}

#[cfg(test)]
mod tests {
    use super::human_latency;

    #[test]
    fn latency_axis_labels_read_in_their_unit() {
        assert_eq!(human_latency(10.0), "10 µs");
        assert_eq!(human_latency(250.0), "250 µs");
        assert_eq!(human_latency(1000.0), "1 ms");
        assert_eq!(human_latency(1500.0), "1.5 ms");
        assert_eq!(human_latency(2_000_000.0), "2 s");
    }
}
