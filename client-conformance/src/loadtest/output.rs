//! Two of the three ways a load run is reported: the terminal summary and the JSON contract
//! (the HTML page is `html.rs`).

use std::fmt::Write as _;
use std::path::Path;

use super::results::{LoadJson, LoadReport, Percentiles, SETTING_KEYS};

/// The terminal summary: settings, per-endpoint rate and latency, counters, errors.
pub(super) fn summary(r: &LoadReport) -> String {
    let j = &r.json;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fauxauth load: {} agents, {:.1} s — {}",
        j.agents,
        j.duration_s,
        j.verdict.status.as_str()
    );
    for reason in &j.verdict.reasons {
        let _ = writeln!(out, "  {reason}");
    }
    let _ = writeln!(out, "\n  settings");
    for (k, v) in r.details.iter().filter(|(k, _)| SETTING_KEYS.contains(k)) {
        let _ = writeln!(out, "  {k:<44} {v}");
    }
    let _ = writeln!(out, "\n  results");
    for (k, v) in r.details.iter().filter(|(k, _)| !SETTING_KEYS.contains(k)) {
        let _ = writeln!(out, "  {k:<44} {v}");
    }
    let _ = writeln!(
        out,
        "\n  {:<26} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "endpoint", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
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
    let _ = writeln!(
        out,
        "\n  saturation (API calls, from their scheduled start)"
    );
    let sat = &j.saturation;
    for (name, p) in [
        ("schedule lag", &sat.schedule_lag_us),
        ("service time", &sat.service_us),
        (
            "latency from the scheduled start",
            &sat.latency_from_schedule_us,
        ),
    ] {
        let _ = writeln!(
            out,
            "  {name:<44} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(p.p50),
            ms(p.p99),
            ms(p.max)
        );
    }
    let _ = writeln!(
        out,
        "  {:<44} p50 {:.1} s, p99 {:.1} s, max {:.1} s",
        "time in flight (virtual)",
        sat.in_flight_virtual_us.p50 as f64 / 1e6,
        sat.in_flight_virtual_us.p99 as f64 / 1e6,
        sat.in_flight_virtual_us.max as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "  {:<44} {} of {}",
        "calls started / scheduled", sat.calls_started, sat.calls_scheduled
    );
    let _ = writeln!(out, "\n  correctness");
    let _ = writeln!(
        out,
        "  {:<44} {} (client logic {}, aged in flight {})",
        "expired-token API calls",
        j.expired_token_calls,
        sat.expired_token_calls_client_logic,
        sat.expired_token_calls_aged_in_flight
            .map_or("unknown".to_owned(), |n| n.to_string())
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
    if let Some(peak) = j.server_peak_rss_bytes {
        let per_agent = j.rss_bytes_per_agent.map_or(String::new(), |b| {
            format!(", {:.1} KiB per agent", b as f64 / 1024.0)
        });
        let _ = writeln!(
            out,
            "  {:<44} {:.1} MiB{per_agent}",
            "server RSS, peak",
            peak as f64 / 1048576.0
        );
    }
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

/// Microseconds as milliseconds.
pub(super) fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The endpoints that had requests, with their percentiles (the JSON lists them all).
pub(super) fn used(j: &LoadJson) -> impl Iterator<Item = (&String, &Percentiles)> {
    j.latency_us
        .iter()
        .filter(|(name, _)| j.requests.get(*name).is_some_and(|n| *n > 0))
}

/// Write the JSON contract to `path`.
pub fn write_json(r: &LoadReport, path: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(&r.json).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}
