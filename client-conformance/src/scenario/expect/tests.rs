//! Unit tests of `scenario::expect`.

use super::*;

fn event(seq: u64, minute: u64, endpoint: &str) -> ObservedEvent {
    ObservedEvent {
        seq,
        virtual_time_ms: minute * 60_000,
        endpoint: endpoint.to_owned(),
        method: "POST".to_owned(),
        path: format!("/{endpoint}"),
        status: Some(200),
        client_id: Some("c".to_owned()),
        ..ObservedEvent::default()
    }
}

fn grant(seq: u64, minute: u64, grant: &str, exp_minute: u64) -> ObservedEvent {
    ObservedEvent {
        grant_type: Some(grant.to_owned()),
        access_exp: Some(exp_minute * 60),
        ..event(seq, minute, "token")
    }
}

#[test]
fn a_whole_run_failure_shows_the_events_it_names_not_the_last_ones() {
    // A late renewal early on (#1 issues a token to minute 60, #3 renews at minute 61,
    // after a call at minute 60), then thirty more API calls.
    let mut events = vec![
        grant(1, 0, "client_credentials", 60),
        event(2, 60, "api"),
        grant(3, 61, "client_credentials", 121),
    ];
    events.extend((4..34).map(|seq| event(seq, 70, "api")));
    let verdict = refreshed_before_expiry(&events);
    assert!(!verdict.ok);
    assert!(verdict.why.contains("event #3"), "{}", verdict.why);
    assert!(verdict.why.contains("event #1"), "{}", verdict.why);
    let lines = verdict.refs(&events, 0, &|_| true).lines;
    assert!(lines.iter().any(|l| l.starts_with("#1 ")), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("#3 ")), "{lines:?}");
    assert!(!lines.iter().any(|l| l.starts_with("#33 ")), "{lines:?}");
}

fn api(seq: u64, minute: u64, exp_minute: u64) -> ObservedEvent {
    ObservedEvent {
        access_exp: Some(exp_minute * 60),
        token_expired: Some(minute >= exp_minute),
        ..event(seq, minute, "api")
    }
}

#[test]
fn an_on_demand_client_with_sparse_calls_refreshed_before_expiry() {
    // 60-minute tokens, a call every 90 minutes: each renewal comes after the old token
    // expired, but before the next call, which carries the new token.
    let events = vec![
        grant(1, 0, "client_credentials", 60),
        api(2, 0, 60),
        grant(3, 90, "client_credentials", 150),
        api(4, 90, 150),
        grant(5, 180, "client_credentials", 240),
        api(6, 180, 240),
    ];
    let verdict = refreshed_before_expiry(&events);
    assert!(verdict.ok, "{}", verdict.why);
    assert!(
        verdict
            .why
            .contains("after it but before the next API call"),
        "{}",
        verdict.why
    );
}

#[test]
fn a_call_with_an_expired_token_fails_refreshed_before_expiry() {
    let events = vec![
        grant(1, 0, "client_credentials", 60),
        api(2, 61, 60),
        grant(3, 62, "client_credentials", 122),
    ];
    let verdict = refreshed_before_expiry(&events);
    assert!(!verdict.ok);
    assert!(
        verdict
            .why
            .starts_with("event #2: an API call with an access token that had expired 60s earlier"),
        "{}",
        verdict.why
    );
    assert_eq!(verdict.about, vec![2]);
}

#[test]
fn a_late_renewal_after_a_call_in_between_fails_refreshed_before_expiry() {
    // The call at minute 61 carried no expired token (say, another token), yet the
    // renewal of the expired one came only after it.
    let events = vec![
        grant(1, 0, "client_credentials", 60),
        event(2, 61, "api"),
        grant(3, 62, "client_credentials", 122),
    ];
    let verdict = refreshed_before_expiry(&events);
    assert!(!verdict.ok);
    assert!(verdict.why.contains("after API call #2"), "{}", verdict.why);
    assert_eq!(verdict.about, vec![1, 2, 3]);
}

#[test]
fn long_event_lists_keep_the_first_and_last_and_say_how_many_are_left_out() {
    let events: Vec<ObservedEvent> = (1..=40).map(|seq| event(seq, 1, "api")).collect();
    let refs = event_refs(&events, 0, &|_| true);
    assert_eq!(
        refs.seqs,
        (1..=40).collect::<Vec<u64>>(),
        "every event, by number"
    );
    let lines = refs.lines;
    assert_eq!(lines.len(), MAX_EVENT_LINES + 1);
    assert!(lines[0].starts_with("#1 "), "{lines:?}");
    assert_eq!(lines[MAX_EVENT_LINES / 2], "… 24 more …");
    assert!(lines[MAX_EVENT_LINES].starts_with("#40 "), "{lines:?}");
}

fn run_expect(yaml: &str) -> RunExpect {
    serde_saphyr::from_str(yaml).expect("run expectations")
}

fn fault(yaml: &str) -> FaultRule {
    serde_saphyr::from_str(yaml).expect("fault rule")
}

#[test]
fn a_fault_rule_that_matched_nothing_is_reported_as_such_not_as_a_missing_503() {
    // The rule waits for a refresh; the program only ever used client credentials.
    let rule = fault(
        "match: { endpoint: token, grant_type: refresh_token }\ntimes: 1\naction: { oauth_error: { error: temporarily_unavailable, status: 503 } }\n",
    );
    let events = vec![
        grant(1, 0, "client_credentials", 60),
        grant(2, 50, "client_credentials", 110),
    ];
    let ctx = RunContext {
        events: &events,
        start_ms: 0,
        output: None,
        faults: vec![&rule],
        client_clock: ClientClock::Real,
    };
    let (failures, _) = check_run(&run_expect("backed_off_after_503: true"), &ctx);
    assert_eq!(failures.len(), 1, "{failures:?}");
    let actual = &failures[0].actual;
    assert!(
        actual.starts_with("no fault fired: the fault rule (match {"),
        "{actual}"
    );
    assert!(
        actual.contains("\"grant_type\":\"refresh_token\""),
        "{actual}"
    );
    assert!(
        actual.contains("2× grant_type=client_credentials client=c"),
        "{actual}"
    );
    assert!(!actual.contains("never answered 503"), "{actual}");

    // Without fault rules, the old verdict stands.
    let ctx = RunContext {
        faults: Vec::new(),
        ..ctx
    };
    let (failures, _) = check_run(&run_expect("backed_off_after_503: true"), &ctx);
    assert_eq!(failures[0].actual, "the token endpoint never answered 503");
}

#[test]
fn a_fired_fault_is_not_reported_as_unmatched() {
    let rule = fault(
        "match: { endpoint: token }\naction: { oauth_error: { error: temporarily_unavailable, status: 503 } }\n",
    );
    let events = vec![ObservedEvent {
        fault: Some("oauth_error".to_owned()),
        status: Some(503),
        ..grant(1, 0, "client_credentials", 60)
    }];
    assert_eq!(unmatched_faults(&[&rule], &events), None);
}

fn shared_home_events() -> Vec<ObservedEvent> {
    let token = |seq: u64, grant: &str, status: u16| ObservedEvent {
        grant_type: Some(grant.to_owned()),
        family: Some("F".to_owned()),
        status: Some(status),
        ..event(seq, 0, "token")
    };
    vec![
        ObservedEvent {
            issued_refresh: Some("r0".to_owned()),
            ..token(1, "device_code", 200)
        },
        ObservedEvent {
            presented_refresh: Some("r0".to_owned()),
            issued_refresh: Some("r1".to_owned()),
            refresh_reuse: Some(false),
            ..token(2, "refresh_token", 200)
        },
        ObservedEvent {
            presented_refresh: Some("r0".to_owned()),
            refresh_reuse: Some(true),
            error: Some("refresh_token_reused".to_owned()),
            error_detail: Some("refresh_token_reused".to_owned()),
            ..token(3, "refresh_token", 401)
        },
    ]
}

#[test]
fn fleet_expectations_count_revoked_families_and_lost_sessions_from_the_log() {
    let events = shared_home_events();
    let ctx = RunContext {
        events: &events,
        start_ms: 0,
        output: None,
        faults: Vec::new(),
        client_clock: ClientClock::Real,
    };
    let (unmet, met) = check_run(
        &run_expect("refresh_reuse_detected: true\nfamilies_revoked: 1\nsessions_lost: 1"),
        &ctx,
    );
    assert!(unmet.is_empty(), "{unmet:?}");
    assert_eq!(met.len(), 3, "{met:?}");
    // The sequential run's expectations fail on this log, and say why.
    let (unmet, _) = check_run(
        &run_expect("refresh_reuse_detected: false\nfamilies_revoked: 0\nsessions_lost: 0"),
        &ctx,
    );
    assert_eq!(unmet.len(), 3, "{unmet:?}");
    assert_eq!(unmet[1].expected, "families revoked: 0");
    assert!(
        unmet[1].actual.starts_with("families revoked: 1: 1 family"),
        "{}",
        unmet[1].actual
    );
    assert!(
        unmet[0]
            .actual
            .contains("event #3 presented refresh token r0")
            && unmet[0].actual.contains("event #2 had already redeemed"),
        "{}",
        unmet[0].actual
    );
    assert!(
        unmet[2].events.iter().any(|l| l.starts_with("#3 ")),
        "{:?}",
        unmet[2].events
    );
}

/// A 503 and the retry `real_ms` real and `virtual_ms` virtual milliseconds later.
fn retried(real_ms: u64, virtual_ms: u64) -> Vec<ObservedEvent> {
    let token = |seq, real, virt, status| ObservedEvent {
        seq,
        real_time_ms: real,
        virtual_time_ms: virt,
        endpoint: "token".to_owned(),
        client_id: Some("c".to_owned()),
        status: Some(status),
        ..ObservedEvent::default()
    };
    vec![
        token(1, 1_000, 5_000, 503),
        token(2, 1_000 + real_ms, 5_000 + virtual_ms, 200),
    ]
}

#[test]
fn backing_off_is_judged_on_the_clients_own_clock() {
    // At ×600 a 60 s pause on the program's (server) clock is 100 real ms, and a 1 s pause
    // is under 2 real ms: under `clock: server` only the virtual gap says what it waited.
    let slept_on_the_server_clock = retried(2, 1_000);
    assert!(!backed_off_after_503(&slept_on_the_server_clock, ClientClock::Real).ok);
    assert!(backed_off_after_503(&slept_on_the_server_clock, ClientClock::Server).ok);
    // A pause in real time while the server's clock crawled (frozen: 0.001×) is none on
    // the server's clock.
    let crawled = retried(200, 0);
    assert!(backed_off_after_503(&crawled, ClientClock::Real).ok);
    let verdict = backed_off_after_503(&crawled, ClientClock::Server);
    assert!(!verdict.ok);
    assert_eq!(
        verdict.why,
        "event #2 came 0 ms of server time after the 503 of event #1 (less than 50 ms of server time)"
    );
}
