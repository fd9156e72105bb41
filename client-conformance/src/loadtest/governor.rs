//! The scale governor of an in-process run: slows the virtual clock while the tool's own
//! queueing would age tokens by a noticeable share of the refresh buffer, and notes the
//! virtual time of every second for the timeline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fauxauth_server::Clock;

use super::results::ScaleRecord;
use super::stats::Stats;

/// How often the governor looks.
const LOOK: Duration = Duration::from_millis(250);

/// The share of the buffer a call's p99 service time, in virtual time, may take.
const SHARE: f64 = 1.0 / 8.0;

/// What the governor watches and steers.
pub(super) struct Governor {
    /// The run's clock (virtual in-process; the system clock with `--target`).
    pub clock: Clock,
    /// Where the calls' service times are.
    pub stats: Arc<Stats>,
    /// The scale asked for.
    pub requested: f64,
    /// The refresh buffer to protect (None: nothing to protect).
    pub buffer: Option<Duration>,
    /// Whether it may change the clock's scale.
    pub adaptive: bool,
}

impl Governor {
    /// Run until `deadline` (the end of the window started at `started`); the task returns
    /// the scale the run had.
    pub(super) fn start(
        self,
        started: Instant,
        deadline: tokio::time::Instant,
    ) -> tokio::task::JoinHandle<ScaleRecord> {
        tokio::spawn(async move {
            let virtual_start = self.clock.now();
            let elapsed = |clock: &Clock| {
                clock
                    .now()
                    .duration_since(virtual_start)
                    .unwrap_or_default()
                    .as_secs_f64()
            };
            let mut scale = self.requested;
            let mut lowest = scale;
            let floor = self.requested.min(1.0);
            let mut look = tokio::time::interval(LOOK);
            loop {
                tokio::select! {
                    _ = look.tick() => {}
                    _ = tokio::time::sleep_until(deadline) => break,
                }
                self.stats.virtual_elapsed(elapsed(&self.clock));
                let (Some(buffer), true) = (self.buffer, self.adaptive) else {
                    continue;
                };
                let Some(p99) = self.stats.take_recent_service() else {
                    continue;
                };
                let next = next_scale(scale, p99, buffer, self.requested, floor);
                if next != scale && self.clock.set_scale(next).is_ok() {
                    scale = next;
                    lowest = lowest.min(scale);
                }
            }
            let real = started.elapsed().as_secs_f64().max(1e-9);
            ScaleRecord {
                requested: self.requested,
                effective: elapsed(&self.clock) / real,
                lowest,
                adaptive: self.adaptive && self.buffer.is_some(),
            }
        })
    }
}

/// The scale after a look that saw `p99` service time: down at once to where `p99` takes
/// [`SHARE`] of the buffer (not below `floor`); up by a quarter, towards `requested`, when it
/// takes under a quarter of that.
fn next_scale(scale: f64, p99: Duration, buffer: Duration, requested: f64, floor: f64) -> f64 {
    let p99 = p99.as_secs_f64().max(1e-6);
    let allowed = buffer.as_secs_f64() * SHARE;
    if scale * p99 > allowed {
        (allowed / p99).max(floor).min(scale)
    } else if scale * p99 * 4.0 < allowed && scale < requested {
        (scale * 1.25).min(requested)
    } else {
        scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_falls_at_once_and_recovers_slowly() {
        let buffer = Duration::from_secs(300);
        let ms = Duration::from_millis;
        // 300 s buffer: an eighth is 37.5 virtual seconds.
        assert_eq!(next_scale(120.0, ms(100), buffer, 120.0, 1.0), 120.0);
        assert_eq!(next_scale(120.0, ms(750), buffer, 120.0, 1.0), 50.0);
        assert_eq!(next_scale(50.0, ms(100_000), buffer, 120.0, 1.0), 1.0);
        assert_eq!(next_scale(40.0, ms(100), buffer, 120.0, 1.0), 50.0);
        assert_eq!(next_scale(100.0, ms(10), buffer, 120.0, 1.0), 120.0);
    }
}
