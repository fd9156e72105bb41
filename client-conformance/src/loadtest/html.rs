//! The self-contained HTML report: an askama template (`templates/load_report.html`, on the
//! shared `templates/layout.html`; escaping is the engine's) around the SVG figures of
//! `plots.rs`. The verdict comes first, the settings apart from the results, and each figure
//! has one sentence saying what it means.

use std::path::Path;

use askama::Template;

use super::output::{ms, used};
use super::plots;
use super::results::{LoadReport, SETTING_KEYS as SETTINGS};
use super::stats::Endpoint;

/// One endpoint's row.
struct EndpointRow {
    name: String,
    color: String,
    requests: u64,
    rps: String,
    p50: String,
    p90: String,
    p99: String,
    p99_9: String,
    max: String,
}

#[derive(Template)]
#[template(path = "load_report.html")]
struct Page {
    agents: usize,
    duration: String,
    verdict: &'static str,
    reasons: Vec<String>,
    command: String,
    version: &'static str,
    date: String,
    machine: String,
    settings: Vec<(String, String)>,
    correctness: Vec<(String, String)>,
    saturation: Vec<(String, String)>,
    endpoints: Vec<EndpointRow>,
    errors: Vec<(String, u64)>,
    latency_over_time: Figure,
    histogram: Figure,
    refreshes: Figure,
}

/// Cores, OS and architecture, and the host name when it can be read.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    format!(
        "{}{cores} cores, {}/{}",
        host.map_or(String::new(), |h| format!("{h}: ")),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// A drawn figure (SVG markup from `plotters`, inlined as is), or why it could not be drawn
/// (text, escaped by the template).
struct Figure {
    svg: Option<String>,
    error: String,
}

fn figure(r: &LoadReport, draw: fn(&LoadReport, &mut String) -> Result<(), String>) -> Figure {
    let mut svg = String::new();
    match draw(r, &mut svg) {
        Ok(()) => Figure {
            svg: Some(svg),
            error: String::new(),
        },
        Err(error) => Figure { svg: None, error },
    }
}

fn page(r: &LoadReport) -> Page {
    let j = &r.json;
    let sat = &j.saturation;
    let msf = |us: u64| format!("{:.2}", ms(us));
    let row = |k: &str, v: String| (k.to_owned(), v);
    let percentiles = |p: &super::results::Percentiles| {
        format!(
            "p50 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
            ms(p.p50),
            ms(p.p99),
            ms(p.max)
        )
    };
    Page {
        agents: j.agents,
        duration: format!("{:.1} s", j.duration_s),
        verdict: j.verdict.status.as_str(),
        reasons: j.verdict.reasons.clone(),
        command: if j.command.is_empty() {
            "(run as a library)".to_owned()
        } else {
            j.command.clone()
        },
        version: j.version,
        date: fauxauth_server::clock::rfc3339_seconds(std::time::SystemTime::now()),
        machine: machine(),
        settings: r
            .details
            .iter()
            .filter(|(k, _)| SETTINGS.contains(k))
            .map(|(k, v)| row(k, v.clone()))
            .chain([row(
                "thresholds (expired-token calls, sessions lost, duplicate refreshes)",
                format!(
                    "{}, {}, {}",
                    j.settings.thresholds.max_expired_token_calls,
                    j.settings.thresholds.max_sessions_lost,
                    j.settings.thresholds.max_duplicate_refreshes
                ),
            )])
            .collect(),
        correctness: [
            row("expired-token API calls", j.expired_token_calls.to_string()),
            row(
                "… client logic (token past exp when chosen)",
                sat.expired_token_calls_client_logic.to_string(),
            ),
            row(
                "… aged in flight under saturation",
                sat.expired_token_calls_aged_in_flight
                    .map_or("unknown (--target)".to_owned(), |n| n.to_string()),
            ),
            row(
                "refresh-token reuse detected",
                j.refresh_reuse_detected.to_string(),
            ),
            row("families revoked", j.families_revoked.to_string()),
            row("sessions lost", j.sessions_lost.to_string()),
            row(
                "server RSS",
                j.server_rss_bytes.map_or("unknown".into(), |b| {
                    format!("{:.1} MiB", b as f64 / 1048576.0)
                }),
            ),
            row(
                "server RSS, peak",
                j.server_peak_rss_bytes.map_or("unknown".into(), |b| {
                    let per_agent = j.rss_bytes_per_agent.map_or(String::new(), |a| {
                        format!(", {:.1} KiB per agent", a as f64 / 1024.0)
                    });
                    format!("{:.1} MiB{per_agent}", b as f64 / 1048576.0)
                }),
            ),
        ]
        .into_iter()
        .chain(
            r.details
                .iter()
                .filter(|(k, _)| !SETTINGS.contains(k))
                .map(|(k, v)| row(k, v.clone())),
        )
        .collect(),
        saturation: vec![
            row(
                "API calls started / scheduled",
                format!("{} / {}", sat.calls_started, sat.calls_scheduled),
            ),
            row("schedule lag", percentiles(&sat.schedule_lag_us)),
            row("service time", percentiles(&sat.service_us)),
            row(
                "latency from the scheduled start",
                percentiles(&sat.latency_from_schedule_us),
            ),
            row(
                "time in flight (virtual)",
                format!(
                    "p50 {:.1} s · p99 {:.1} s · max {:.1} s",
                    sat.in_flight_virtual_us.p50 as f64 / 1e6,
                    sat.in_flight_virtual_us.p99 as f64 / 1e6,
                    sat.in_flight_virtual_us.max as f64 / 1e6
                ),
            ),
        ],
        endpoints: used(j)
            .map(|(name, p)| EndpointRow {
                color: Endpoint::ALL
                    .into_iter()
                    .find(|e| e.name() == name)
                    .map_or("#000".to_owned(), plots::css_color),
                name: name.clone(),
                requests: j.requests.get(name).copied().unwrap_or(0),
                rps: format!("{:.0}", j.rps.get(name).copied().unwrap_or(0.0)),
                p50: msf(p.p50),
                p90: msf(p.p90),
                p99: msf(p.p99),
                p99_9: msf(p.p99_9),
                max: msf(p.max),
            })
            .collect(),
        errors: j.errors.iter().map(|(k, n)| (k.clone(), *n)).collect(),
        latency_over_time: figure(r, plots::latency_over_time),
        histogram: figure(r, plots::latency_histogram),
        refreshes: figure(r, plots::refreshes_per_second),
    }
}

/// Write the self-contained HTML report to `path`.
pub fn write_html(r: &LoadReport, path: &Path) -> std::io::Result<()> {
    let html = page(r).render().map_err(std::io::Error::other)?;
    std::fs::write(path, html)
}
