//! The progress bar of a run: calls, refreshes and errors as they happen, cleared at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::options::LoadOptions;
use super::stats::Stats;

/// The progress bar, cleared when dropped (at the end of the run, or when it is refused).
pub(super) struct Progress(Option<ProgressBar>);

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

pub(super) fn progress_bar(opts: &LoadOptions, stats: Arc<Stats>, started: Instant) -> Progress {
    if !opts.progress {
        return Progress(None);
    }
    let total_ms = opts.duration.as_millis() as u64;
    let bar = ProgressBar::new(total_ms);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let b = bar.clone();
    let in_process = opts.target.is_none();
    tokio::spawn(async move {
        let mut last = (Instant::now(), 0u64);
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = Instant::now();
            let requests = stats.total_requests();
            let rate = (requests - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-3);
            last = (now, requests);
            b.set_position((started.elapsed().as_millis() as u64).min(total_ms));
            b.set_message(format!(
                "{rate:>7.0} req/s · {requests} requests · {} refreshes · {} errors · {} expired-token calls",
                Stats::get(&stats.counters.refreshes),
                stats.total_errors(),
                Stats::get(if in_process {
                    &stats.counters.expired_token_calls
                } else {
                    &stats.counters.expired_token_calls_client
                }),
            ));
            if b.is_finished() {
                return;
            }
        }
    });
    Progress(Some(bar))
}
