//! The one source of "now" for the server and everything that shares its clock.
//!
//! A [`Clock`] is either the system clock or a *virtual* clock. A virtual clock starts at a
//! given instant and runs at `scale` × real time; it can be frozen, advanced and set, and every
//! reader sees the change at once. Advancing 61 minutes is an instant operation, which is how a
//! 60-minute token expiry is reproduced in milliseconds.
//!
//! Two small hooks serve whoever mirrors the clock outside the process (the conformance
//! harness hands it to external programs through libfaketime): [`Clock::changes`] is told of
//! every change (advance, set, scale, freeze), and while a [`ForwardOnly`] guard from
//! [`Clock::forward_only`] is alive, setting the clock into the past is refused with
//! [`ClockError::Backwards`] (a mirrored monotonic clock would run backwards).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use serde::Serialize;

/// The fastest virtual time may run: a million virtual seconds per real second.
pub const MAX_SCALE: f64 = 1_000_000.0;

/// The latest instant a virtual clock reaches (9999-12-31T23:59:59Z); it stops there.
fn latest() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(253_402_300_799)
}

/// A shareable clock. Cloning it shares the same time source.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<RwLock<ClockState>>,
    /// Bumped on every change; [`Clock::changes`] subscribes to it.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
    /// How many [`ForwardOnly`] guards are alive.
    forward_only: Arc<AtomicUsize>,
}

/// While alive, the clock refuses to be set into the past ([`ClockError::Backwards`]).
/// Dropping it lifts the refusal (once every guard is gone).
#[derive(Debug)]
pub struct ForwardOnly(Arc<AtomicUsize>);

impl Drop for ForwardOnly {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Clone, Copy)]
enum ClockState {
    System,
    Virtual(VirtualTime),
}

/// Virtual time: `anchor_virtual + (real_now - anchor_real) * scale`, or `anchor_virtual`
/// while frozen.
#[derive(Debug, Clone, Copy)]
struct VirtualTime {
    anchor_real: Instant,
    anchor_virtual: SystemTime,
    scale: f64,
    frozen: bool,
}

impl VirtualTime {
    fn now(&self) -> SystemTime {
        self.at(Instant::now())
    }

    /// Virtual time at the real instant `real`: the arithmetic of the clock, apart from the
    /// one reading of the real clock (so that it can be tested with chosen instants).
    fn at(&self, real: Instant) -> SystemTime {
        if self.frozen {
            return self.anchor_virtual;
        }
        let run = real
            .saturating_duration_since(self.anchor_real)
            .as_secs_f64()
            * self.scale;
        Duration::try_from_secs_f64(run)
            .ok()
            .and_then(|d| self.anchor_virtual.checked_add(d))
            .map_or(latest(), |t| t.min(latest()))
    }

    /// Re-anchor at the current instant so that a change of scale or freeze applies from now.
    fn rebased(self) -> Self {
        self.rebased_at(Instant::now())
    }

    fn rebased_at(self, real: Instant) -> Self {
        Self {
            anchor_real: real,
            anchor_virtual: self.at(real),
            ..self
        }
    }
}

/// Why a clock operation was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClockError {
    /// The clock follows the system time and cannot be moved.
    #[error("the clock follows the system time; start the server with a virtual clock to move it")]
    NotVirtual,
    /// A scale must be a finite number greater than zero, at most [`MAX_SCALE`].
    #[error("scale must be a number greater than 0 and at most 1000000")]
    InvalidScale,
    /// The requested instant is before the Unix epoch or after the year 9999.
    #[error("instant out of range: the clock runs from 1970 to the end of 9999")]
    OutOfRange,
    /// The clock was asked to go back while a program mirrors it (see [`Clock::forward_only`]).
    #[error(
        "the clock cannot be set into the past while an external program runs on it \
         (its monotonic clock would run backwards); advance it, or set it before the program starts"
    )]
    Backwards,
}

/// A snapshot of the clock, as reported over the control API.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClockSnapshot {
    /// `"system"` or `"virtual"`.
    pub kind: &'static str,
    /// Current time in Unix seconds (fractional).
    pub now_unix: f64,
    /// Current time in RFC 3339.
    pub now: String,
    /// Virtual seconds per real second.
    pub scale: f64,
    /// Whether virtual time stands still.
    pub frozen: bool,
}

impl Clock {
    /// The system clock: "now" is the wall clock and cannot be moved.
    pub fn system() -> Self {
        Self::from_state(ClockState::System)
    }

    /// A virtual clock starting at the current wall-clock time, running at real speed.
    pub fn virtual_now() -> Self {
        Self::virtual_at(SystemTime::now())
    }

    /// A virtual clock starting at `start`, running at real speed.
    pub fn virtual_at(start: SystemTime) -> Self {
        Self::from_state(ClockState::Virtual(VirtualTime {
            anchor_real: Instant::now(),
            anchor_virtual: start,
            scale: 1.0,
            frozen: false,
        }))
    }

    /// A frozen virtual clock at `start`: time moves only when advanced or set.
    pub fn frozen_at(start: SystemTime) -> Self {
        Self::from_state(ClockState::Virtual(VirtualTime {
            anchor_real: Instant::now(),
            anchor_virtual: start,
            scale: 1.0,
            frozen: true,
        }))
    }

    fn from_state(state: ClockState) -> Self {
        Self {
            inner: Arc::new(RwLock::new(state)),
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
            forward_only: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A receiver told of every change of this clock (advance, set, scale, freeze, unfreeze):
    /// its value is a change counter; read the clock itself for the new time and scale.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Refuse [`Clock::set`] into the past until the returned guard is dropped.
    pub fn forward_only(&self) -> ForwardOnly {
        self.forward_only.fetch_add(1, Ordering::SeqCst);
        ForwardOnly(Arc::clone(&self.forward_only))
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        match *self.inner.read() {
            ClockState::System => SystemTime::now(),
            ClockState::Virtual(v) => v.now(),
        }
    }

    /// The current time in whole Unix seconds (what JWT `iat`/`exp` use).
    pub fn now_unix(&self) -> u64 {
        unix_seconds(self.now())
    }

    /// Whether this clock is virtual (can be advanced, set, scaled, frozen).
    pub fn is_virtual(&self) -> bool {
        matches!(*self.inner.read(), ClockState::Virtual(_))
    }

    /// Move virtual time forward by `by`. Takes effect at once for every reader.
    pub fn advance(&self, by: Duration) -> Result<SystemTime, ClockError> {
        self.update(|v| {
            let now = v.now();
            let target = now.checked_add(by).ok_or(ClockError::OutOfRange)?;
            Ok(VirtualTime {
                anchor_real: Instant::now(),
                anchor_virtual: target,
                ..v
            })
        })
    }

    /// Set virtual time to `instant` (refused into the past while a [`ForwardOnly`] guard lives).
    pub fn set(&self, instant: SystemTime) -> Result<SystemTime, ClockError> {
        let forward_only = self.forward_only.load(Ordering::SeqCst) > 0;
        self.update(|v| {
            if forward_only && instant < v.now() {
                return Err(ClockError::Backwards);
            }
            Ok(VirtualTime {
                anchor_real: Instant::now(),
                anchor_virtual: instant,
                ..v
            })
        })
    }

    /// Run virtual time `scale` times faster than real time (1.0 = real speed).
    pub fn set_scale(&self, scale: f64) -> Result<SystemTime, ClockError> {
        if !scale.is_finite() || scale <= 0.0 || scale > MAX_SCALE {
            return Err(ClockError::InvalidScale);
        }
        self.update(|v| {
            Ok(VirtualTime {
                scale,
                ..v.rebased()
            })
        })
    }

    /// Stop virtual time; it moves only when advanced or set.
    pub fn freeze(&self) -> Result<SystemTime, ClockError> {
        self.update(|v| {
            Ok(VirtualTime {
                frozen: true,
                ..v.rebased()
            })
        })
    }

    /// Let virtual time run again at its scale, from where it stands.
    pub fn unfreeze(&self) -> Result<SystemTime, ClockError> {
        self.update(|v| {
            Ok(VirtualTime {
                frozen: false,
                ..v.rebased()
            })
        })
    }

    /// A serialisable description of the clock.
    pub fn snapshot(&self) -> ClockSnapshot {
        let state = *self.inner.read();
        let now = match state {
            ClockState::System => SystemTime::now(),
            ClockState::Virtual(v) => v.now(),
        };
        let (kind, scale, frozen) = match state {
            ClockState::System => ("system", 1.0, false),
            ClockState::Virtual(v) => ("virtual", v.scale, v.frozen),
        };
        ClockSnapshot {
            kind,
            now_unix: now
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            now: rfc3339_millis(now),
            scale,
            frozen,
        }
    }

    fn update(
        &self,
        change: impl FnOnce(VirtualTime) -> Result<VirtualTime, ClockError>,
    ) -> Result<SystemTime, ClockError> {
        let mut state = self.inner.write();
        match *state {
            ClockState::System => Err(ClockError::NotVirtual),
            ClockState::Virtual(v) => {
                let next = change(v)?;
                if next.anchor_virtual < UNIX_EPOCH || next.anchor_virtual > latest() {
                    return Err(ClockError::OutOfRange);
                }
                *state = ClockState::Virtual(next);
                drop(state);
                self.changes.send_modify(|n| *n = n.wrapping_add(1));
                Ok(next.now())
            }
        }
    }
}

impl Default for Clock {
    /// A virtual clock starting now: tests and scenarios can move it.
    fn default() -> Self {
        Self::virtual_now()
    }
}

/// Whole Unix seconds of `t` (0 before the epoch).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The `exp` (whole Unix seconds) of something issued at the precise instant `now` that
/// lives `ttl` seconds: `now + ttl` rounded **up**, so that it stays valid for at least the
/// `ttl` (the `expires_in`) it was issued with, by this clock, whatever the fraction of the
/// second it was issued in. Saturating.
pub fn expiry_after(now: SystemTime, ttl: u64) -> u64 {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let up = since.as_secs() + u64::from(since.subsec_nanos() > 0);
    up.saturating_add(ttl)
}

/// Whether `exp` (whole Unix seconds) has passed at the precise instant `now`: `Some(whole
/// seconds since it passed)`, or `None` while it is still valid. Something is valid while
/// `now < exp`, judged on the precise instant (not a truncated second).
pub fn expired_for(now: SystemTime, exp: u64) -> Option<u64> {
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(exp))?;
    now.duration_since(at).ok().map(|ago| ago.as_secs())
}

/// `2026-11-25T10:47:30.012Z`: an instant in RFC 3339, UTC, to the millisecond.
pub(crate) fn rfc3339_millis(t: SystemTime) -> String {
    rfc3339(
        t,
        time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ),
    )
}

/// `2026-11-25T10:47:30Z`: an instant in RFC 3339, UTC, to the second.
pub fn rfc3339_seconds(t: SystemTime) -> String {
    rfc3339(
        t,
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
    )
}

fn rfc3339(t: SystemTime, format: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
    // Only an instant outside the years -9999..=9999 cannot be written: it is clamped.
    let epoch = time::OffsetDateTime::UNIX_EPOCH;
    let instant = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => time::Duration::try_from(after)
            .ok()
            .and_then(|d| epoch.checked_add(d)),
        Err(before) => time::Duration::try_from(before.duration())
            .ok()
            .and_then(|d| epoch.checked_sub(d)),
    };
    instant
        .and_then(|i| i.format(format).ok())
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_owned())
}

/// Read an RFC 3339 timestamp (`2026-11-25T10:47:30Z`, with a fraction or an offset).
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_written_to_the_millisecond_or_second_and_read_back() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_067_650_012);
        assert_eq!(rfc3339_millis(t), "2025-11-25T10:47:30.012Z");
        assert_eq!(rfc3339_seconds(t), "2025-11-25T10:47:30Z");
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse_rfc3339("2025-11-25T10:47:30.012Z"), Some(t));
        assert_eq!(parse_rfc3339("2025-11-25T11:47:30.012+01:00"), Some(t));
        assert_eq!(parse_rfc3339("yesterday"), None);
        // Past the year 9999: clamped, never a panic.
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(rfc3339_seconds(far), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let clock = Clock::frozen_at(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(3660)).expect("virtual");
        assert_eq!(clock.now_unix(), 1_003_660);
    }

    #[test]
    fn clones_share_time() {
        let clock = Clock::frozen_at(UNIX_EPOCH + Duration::from_secs(10));
        let other = clock.clone();
        clock.advance(Duration::from_secs(5)).expect("virtual");
        assert_eq!(other.now_unix(), 15);
    }

    #[test]
    fn system_clock_refuses_to_move() {
        let clock = Clock::system();
        assert_eq!(
            clock.advance(Duration::from_secs(1)),
            Err(ClockError::NotVirtual)
        );
    }

    /// `scale` really speeds time up, tested on the clock's arithmetic with chosen real
    /// instants (no sleeping, no timing).
    #[test]
    fn scaled_time_runs_scale_times_faster_from_the_moment_it_is_set() {
        let t0 = Instant::now();
        let secs = |s: u64| Duration::from_secs(s);
        let start = UNIX_EPOCH + secs(1_000_000);
        let real_speed = VirtualTime {
            anchor_real: t0,
            anchor_virtual: start,
            scale: 1.0,
            frozen: false,
        };
        assert_eq!(real_speed.at(t0 + secs(10)), start + secs(10));
        // Scale 60 from t0 + 10 s: the first 10 s ran at real speed, the rest 60 times faster.
        let fast = VirtualTime {
            scale: 60.0,
            ..real_speed.rebased_at(t0 + secs(10))
        };
        assert_eq!(fast.at(t0 + secs(10)), start + secs(10));
        assert_eq!(fast.at(t0 + secs(11)), start + secs(10 + 60));
        assert_eq!(fast.at(t0 + secs(70)), start + secs(10 + 3600));
        // A real instant before the anchor never moves time backwards.
        assert_eq!(fast.at(t0), start + secs(10));
        // Frozen, real time passing changes nothing; unfrozen, it runs on at the scale.
        let frozen = VirtualTime {
            frozen: true,
            ..fast.rebased_at(t0 + secs(70))
        };
        assert_eq!(frozen.at(t0 + secs(1000)), start + secs(3610));
        let thawed = VirtualTime {
            frozen: false,
            ..frozen.rebased_at(t0 + secs(1000))
        };
        assert_eq!(thawed.at(t0 + secs(1001)), start + secs(3610 + 60));
    }

    #[test]
    fn scale_must_be_positive() {
        let clock = Clock::virtual_now();
        assert_eq!(clock.set_scale(0.0), Err(ClockError::InvalidScale));
        assert_eq!(clock.set_scale(f64::NAN), Err(ClockError::InvalidScale));
        assert_eq!(clock.set_scale(1e308), Err(ClockError::InvalidScale));
        assert!(clock.set_scale(60.0).is_ok());
        assert_eq!(clock.snapshot().scale, 60.0);
    }

    #[test]
    fn time_never_overflows() {
        let clock = Clock::virtual_at(latest());
        clock.set_scale(MAX_SCALE).expect("virtual");
        assert_eq!(
            clock.now(),
            latest(),
            "stops at the end of 9999 instead of panicking"
        );
        assert_eq!(
            clock.advance(Duration::from_secs(3600)),
            Err(ClockError::OutOfRange)
        );
        assert_eq!(
            clock.set(UNIX_EPOCH + Duration::from_secs(u64::MAX / 4)),
            Err(ClockError::OutOfRange)
        );
    }

    #[test]
    fn changes_are_announced_and_forward_only_refuses_the_past() {
        let clock = Clock::frozen_at(UNIX_EPOCH + Duration::from_secs(1000));
        let mut changes = clock.changes();
        assert!(!changes.has_changed().expect("sender alive"));
        clock.advance(Duration::from_secs(60)).expect("virtual");
        assert!(changes.has_changed().expect("sender alive"));
        changes.mark_unchanged();
        let guard = clock.forward_only();
        assert_eq!(
            clock.set(UNIX_EPOCH + Duration::from_secs(500)),
            Err(ClockError::Backwards)
        );
        assert!(
            !changes.has_changed().expect("sender alive"),
            "a refusal changes nothing"
        );
        assert!(clock.set(UNIX_EPOCH + Duration::from_secs(5000)).is_ok());
        drop(guard);
        assert!(clock.set(UNIX_EPOCH + Duration::from_secs(500)).is_ok());
        assert_eq!(clock.now_unix(), 500);
    }

    #[test]
    fn set_moves_to_instant_and_unfreeze_keeps_position() {
        let clock = Clock::frozen_at(UNIX_EPOCH + Duration::from_secs(100));
        clock
            .set(UNIX_EPOCH + Duration::from_secs(5000))
            .expect("virtual");
        clock.unfreeze().expect("virtual");
        assert!(clock.now_unix() >= 5000);
        assert!(!clock.snapshot().frozen);
    }

    /// Issued at x.9 s with a 2 s lifetime, a token is valid until at least x.9 + 2 s,
    /// judged on the precise instant.
    #[test]
    fn expiry_rounds_up_and_is_judged_on_the_precise_instant() {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(expiry_after(at(1_000_900), 2), 1003);
        assert_eq!(
            expiry_after(at(1_000_000), 2),
            1002,
            "a whole second stays whole"
        );
        assert_eq!(expiry_after(at(1_000_900), u64::MAX), u64::MAX);
        assert_eq!(expired_for(at(1_002_899), 1003), None);
        assert_eq!(expired_for(at(1_002_999), 1003), None);
        assert_eq!(expired_for(at(1_003_000), 1003), Some(0));
        assert_eq!(expired_for(at(1_064_500), 1003), Some(61));
        assert_eq!(expired_for(at(1_000_000), u64::MAX), None);
    }
}
