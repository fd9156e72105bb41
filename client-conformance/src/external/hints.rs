//! Hints for an external run: the likely cause of a failure a new user meets first, and
//! warnings about a run that passed for the wrong reason — each read off the event log.

use crate::client::Flow;
use crate::scenario::observed::ObservedEvent;

/// The least API calls of a client before "renews before almost every call" is judged.
const MIN_CALLS_FOR_RENEWAL_WARNING: usize = 4;

/// What the hints are judged on, besides the events.
#[derive(Debug, Clone, Copy)]
pub(super) struct HintContext {
    /// Virtual seconds per real second of the server's clock.
    pub scale: f64,
    /// Whether the program runs on its own, real clock (`clock: real`)
    /// rather than on the server's.
    pub real_clock: bool,
    /// The flow the program was given credentials for.
    pub flow: Flow,
    /// Whether the run failed.
    pub failed: bool,
    /// The configured lifetime (server seconds) of the first access token issued, when the
    /// configuration says it (the event log can only estimate it: at a high scale the
    /// request's own real milliseconds are seconds of server time).
    pub lifetime: Option<u64>,
}

/// Every hint for this run, in the order they should be read.
pub(super) fn hints(ctx: HintContext, events: &[ObservedEvent]) -> Vec<String> {
    let mut out = Vec::new();
    if ctx.failed {
        out.extend(client_refused(ctx.flow, events));
        out.extend(scaled_real_clock(ctx, events));
    }
    out.extend(renewal_per_call(ctx, events));
    out
}

/// The token endpoint refused the program's client: it presented credentials for another
/// flow than the one the scenario gave it (typically client credentials without
/// `external.flow: client_credentials`).
fn client_refused(flow: Flow, events: &[ObservedEvent]) -> Option<String> {
    let e = events.iter().find(|e| {
        e.endpoint == "token"
            && matches!(
                e.error.as_deref(),
                Some("invalid_client" | "unauthorized_client")
            )
    })?;
    let (given, other) = match flow {
        Flow::AuthorizationCode => ("authorization_code", "client_credentials"),
        Flow::ClientCredentials => ("client_credentials", "authorization_code"),
    };
    Some(format!(
        "event #{}: the token endpoint answered {} to client {} (grant_type {}): the program was given the credentials of the {given} client (external.flow is {given}{}); if it uses {other}, set `client.external.flow: {other}` (or `client_id`/`client_secret`)",
        e.seq,
        e.error.as_deref().unwrap_or("?"),
        e.client_id.as_deref().unwrap_or("(none)"),
        e.grant_type.as_deref().unwrap_or("?"),
        if flow == Flow::AuthorizationCode {
            " by default"
        } else {
            ""
        },
    ))
}

/// The lifetime, in server seconds, of the first access token issued: as configured, else
/// estimated from its event.
fn first_lifetime(ctx: HintContext, events: &[ObservedEvent]) -> Option<u64> {
    if ctx.lifetime.is_some() {
        return ctx.lifetime;
    }
    events
        .iter()
        .find(|e| e.endpoint == "token" && e.succeeded() && e.access_exp.is_some())
        // `exp` counts from the whole second the token was issued in, like `expires_in`.
        .and_then(|e| Some(e.access_exp?.saturating_sub(e.virtual_time_ms / 1000)))
}

/// A failure with the server's clock scaled and the program on real time: the program was
/// told `expires_in` in server seconds, which pass `scale` times faster than its own.
fn scaled_real_clock(ctx: HintContext, events: &[ObservedEvent]) -> Option<String> {
    if !(ctx.real_clock && ctx.scale > 1.0) {
        return None;
    }
    let told = match first_lifetime(ctx, events) {
        Some(secs) => format!(
            "it was told expires_in={secs} server seconds = {} real s",
            real_seconds(secs as f64 / ctx.scale)
        ),
        None => "every expires_in it was told is in server seconds".to_owned(),
    };
    Some(format!(
        "likely cause: the server's clock ran {}× real time (time_scale: {}) while the program kept real time (clock: real): {told}; a program that believes expires_in (as it should in production) renews far too late. Run it on the server's clock (`clock: server`), or in real time with short lifetimes (e.g. `access_token_ttl: 10s` and no time_scale)",
        ctx.scale, ctx.scale
    ))
}

fn real_seconds(secs: f64) -> String {
    if secs >= 10.0 {
        format!("{secs:.0}")
    } else {
        let text = format!("{secs:.2}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A client that renews about as often as it calls the API: its refresh buffer is longer
/// than the token's lifetime, so every token looks due at once. It passes
/// `refreshed_before_expiry`, and in production it would hammer the token endpoint.
fn renewal_per_call(ctx: HintContext, events: &[ObservedEvent]) -> Option<String> {
    let mut clients: Vec<(&str, usize, usize)> = Vec::new();
    let mut seen_grant: Vec<&str> = Vec::new();
    for e in events {
        let client = e.client_id.as_deref().unwrap_or("");
        let slot = match clients.iter().position(|(c, _, _)| *c == client) {
            Some(i) => i,
            None => {
                clients.push((client, 0, 0));
                clients.len() - 1
            }
        };
        if e.endpoint == "api" {
            clients[slot].2 += 1;
        } else if e.endpoint == "token" && e.succeeded() {
            let renewal = e.is_grant("refresh_token")
                || (e.is_grant("client_credentials") && seen_grant.contains(&client));
            if renewal {
                clients[slot].1 += 1;
            }
            seen_grant.push(client);
        }
    }
    let (client, renewals, calls) = clients.into_iter().find(|&(_, renewals, calls)| {
        calls >= MIN_CALLS_FOR_RENEWAL_WARNING && renewals * 5 >= calls * 4
    })?;
    let lifetime = first_lifetime(ctx, events)
        .map(|secs| {
            if ctx.scale > 1.0 {
                format!(
                    " ({secs} server seconds = {} real s here)",
                    real_seconds(secs as f64 / ctx.scale)
                )
            } else {
                format!(" ({secs} s here)")
            }
        })
        .unwrap_or_default();
    Some(format!(
        "warning: client {client} renewed its token {renewals} times for {calls} API calls: it renews before almost every call, as when its refresh buffer is longer than the token's lifetime{lifetime}; one renewal per lifetime is enough"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, second: u64, endpoint: &str) -> ObservedEvent {
        ObservedEvent {
            seq,
            virtual_time_ms: second * 1000,
            endpoint: endpoint.to_owned(),
            method: "POST".to_owned(),
            path: format!("/{endpoint}"),
            status: Some(200),
            client_id: Some("fauxauth-agent".to_owned()),
            ..ObservedEvent::default()
        }
    }

    fn grant(seq: u64, second: u64, grant: &str, lifetime: u64) -> ObservedEvent {
        ObservedEvent {
            grant_type: Some(grant.to_owned()),
            access_exp: Some(second + lifetime),
            ..event(seq, second, "token")
        }
    }

    fn ctx(scale: f64, failed: bool) -> HintContext {
        HintContext {
            scale,
            real_clock: true,
            flow: Flow::AuthorizationCode,
            failed,
            lifetime: None,
        }
    }

    #[test]
    fn a_refused_client_suggests_external_flow() {
        let events = vec![ObservedEvent {
            status: Some(401),
            error: Some("invalid_client".to_owned()),
            grant_type: Some("client_credentials".to_owned()),
            ..event(1, 0, "token")
        }];
        let hints = hints(ctx(1.0, true), &events);
        assert_eq!(hints.len(), 1, "{hints:?}");
        assert!(
            hints[0].starts_with(
                "event #1: the token endpoint answered invalid_client to client fauxauth-agent"
            ),
            "{}",
            hints[0]
        );
        assert!(
            hints[0].contains("set `client.external.flow: client_credentials`"),
            "{}",
            hints[0]
        );
        // A passing run (say, one that expects the refusal) gets no such hint.
        assert!(hints_of(ctx(1.0, false), &events).is_empty());
    }

    fn hints_of(ctx: HintContext, events: &[ObservedEvent]) -> Vec<String> {
        hints(ctx, events)
    }

    #[test]
    fn a_failure_on_a_scaled_clock_names_expires_in_in_real_seconds() {
        let events = vec![
            grant(1, 0, "authorization_code", 3600),
            event(2, 3700, "api"),
        ];
        let hints = hints(ctx(1800.0, true), &events);
        assert_eq!(hints.len(), 1, "{hints:?}");
        assert!(
            hints[0].contains("told expires_in=3600 server seconds = 2 real s"),
            "{}",
            hints[0]
        );
        assert!(hints[0].contains("`clock: server`"), "{}", hints[0]);
        // In real time, or on the server's clock, the cause is something else.
        assert!(hints_of(ctx(1.0, true), &events).is_empty());
        let server_clock = HintContext {
            real_clock: false,
            ..ctx(1800.0, true)
        };
        assert!(hints_of(server_clock, &events).is_empty());
        assert!(hints_of(ctx(1800.0, false), &events).is_empty());
    }

    #[test]
    fn renewing_before_almost_every_call_is_warned_about_even_when_the_run_passes() {
        // 60-second tokens, a buffer longer than that: a refresh before each of 5 calls.
        let mut events = vec![grant(1, 0, "authorization_code", 60)];
        for i in 0..5 {
            events.push(grant(2 + 2 * i, 10 * i, "refresh_token", 60));
            events.push(event(3 + 2 * i, 10 * i, "api"));
        }
        let hints = hints(ctx(1.0, false), &events);
        assert_eq!(hints.len(), 1, "{hints:?}");
        assert!(
            hints[0].starts_with(
                "warning: client fauxauth-agent renewed its token 5 times for 5 API calls"
            ),
            "{}",
            hints[0]
        );
        assert!(hints[0].contains("(60 s here)"), "{}", hints[0]);

        // One renewal per lifetime: no warning.
        let mut sane = vec![grant(1, 0, "authorization_code", 60)];
        for i in 0..8 {
            sane.push(event(2 + i, 10 * i, "api"));
        }
        sane.push(grant(20, 55, "refresh_token", 60));
        assert!(hints_of(ctx(1.0, false), &sane).is_empty());
    }
}
