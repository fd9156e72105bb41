//! The reference clients and the session against an in-process server with a virtual clock.

use std::time::Duration;

use fauxauth_conformance::client::{
    ClientError, ExpirySource, LoginOptions, Outcome, PkceAttack, RetryPolicy, Session,
    SessionConfig,
};
use fauxauth_server::{MockServer, ServerConfig, ServerHandle};

const MIN: u64 = 60;

fn advance(server: &ServerHandle, minutes: u64) {
    server
        .clock()
        .advance(Duration::from_secs(minutes * MIN))
        .expect("virtual clock");
}

fn session(server: &ServerHandle, config: SessionConfig) -> Session {
    Session::new(server.url(), config, server.clock().clone()).expect("valid session config")
}

#[tokio::test]
async fn client_credentials_gets_no_refresh_token_and_renews_inside_buffer() {
    let server = MockServer::start().await;
    let s = session(&server, SessionConfig::builtin_service());
    let tokens = s.login().await.expect("login");
    assert!(tokens.refresh_token.is_none());
    assert_eq!(s.call_api().await.expect("call").status, 200);
    advance(&server, 56);
    let answer = s.call_api().await.expect("call");
    assert_eq!(answer.status, 200);
    assert_eq!(s.stats().renewals, 1);
    assert_ne!(
        s.tokens().expect("tokens").access_token,
        tokens.access_token
    );
}

#[tokio::test]
async fn auth_code_pkce_refreshes_inside_the_buffer_and_rotates() {
    let server = MockServer::start().await;
    let s = session(&server, SessionConfig::builtin_agent());
    let first = s.login().await.expect("login");
    assert!(
        first.refresh_token.is_some(),
        "offline_access gives a refresh token"
    );
    advance(&server, 54);
    assert_eq!(s.call_api().await.expect("call").status, 200);
    assert_eq!(s.stats().refreshes, 0, "outside the 5-minute buffer");
    advance(&server, 2);
    assert_eq!(s.call_api().await.expect("call").status, 200);
    assert_eq!(s.stats().refreshes, 1);
    let second = s.tokens().expect("tokens");
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(second.refresh_token, first.refresh_token, "rotation");
}

#[tokio::test]
async fn auto_refresh_off_refuses_to_send_an_expired_token() {
    let server = MockServer::start().await;
    let s = session(
        &server,
        SessionConfig {
            token_auto_refresh: false,
            ..SessionConfig::builtin_agent()
        },
    );
    s.login().await.expect("login");
    advance(&server, 59);
    assert_eq!(s.call_api().await.expect("inside lifetime").status, 200);
    advance(&server, 2);
    let sent_before = s.stats().api_calls;
    let err = s.call_api().await.expect_err("expired");
    assert_eq!(err.outcome(), Outcome::TokenExpired, "{err}");
    assert_eq!(s.stats().api_calls, sent_before, "nothing was sent");
    assert_eq!(s.stats().refreshes, 0);
}

#[tokio::test]
async fn naive_client_without_local_check_gets_401_at_minute_60() {
    let server = MockServer::start().await;
    let s = session(
        &server,
        SessionConfig {
            token_auto_refresh: false,
            local_expiry_check: false,
            ..SessionConfig::builtin_agent()
        },
    );
    s.login().await.expect("login");
    advance(&server, 61);
    let answer = s.call_api().await.expect("an answer");
    assert_eq!(answer.status, 401);
    assert_eq!(answer.error.as_deref(), Some("invalid_token"));
}

#[tokio::test]
async fn without_offline_access_the_session_is_lost_and_does_not_loop() {
    let server = MockServer::start().await;
    let s = session(
        &server,
        SessionConfig {
            scopes: vec!["openid".into(), "model.request".into()],
            ..SessionConfig::builtin_agent()
        },
    );
    let tokens = s.login().await.expect("login");
    assert!(tokens.refresh_token.is_none());
    advance(&server, 61);
    let err = s.call_api().await.expect_err("lost");
    assert!(matches!(err, ClientError::NoRefreshToken { .. }), "{err}");
    assert_eq!(err.outcome(), Outcome::SessionLost);
    let attempts = s.attempts().len();
    let again = s.call_api().await.expect_err("still lost");
    assert_eq!(again.outcome(), Outcome::SessionLost);
    assert_eq!(
        s.attempts().len(),
        attempts,
        "no request after the session is lost"
    );
}

#[tokio::test]
async fn refused_refresh_reports_reauthentication_required_once() {
    let server = MockServer::start().await;
    let s = session(&server, SessionConfig::builtin_agent());
    s.login().await.expect("login");
    server
        .control()
        .revoke(&fauxauth_server::RevokeTarget::All)
        .expect("revoke all");
    advance(&server, 58);
    let err = s.call_api().await.expect_err("refresh refused");
    match &err {
        ClientError::ReauthenticationRequired { error, status, .. } => {
            assert_eq!(error, "invalid_grant");
            assert_eq!(*status, 400);
        }
        other => panic!("expected re-authentication required, got {other}"),
    }
    assert!(
        err.to_string().contains("re-authentication required"),
        "{err}"
    );
    let attempts = s.attempts().len();
    assert!(s.refresh().await.is_err());
    assert_eq!(s.attempts().len(), attempts, "no retry loop");
    assert!(s.is_lost());
    s.login().await.expect("a new login recovers");
    assert!(!s.is_lost());
}

#[tokio::test]
async fn single_flight_refreshes_once_for_concurrent_callers() {
    let server = MockServer::start().await;
    let s = session(&server, SessionConfig::builtin_agent());
    s.login().await.expect("login");
    advance(&server, 61);
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.call_api().await })
        })
        .collect();
    for call in calls {
        let answer = call.await.expect("task").expect("call");
        assert_eq!(answer.status, 200);
    }
    assert_eq!(s.stats().refresh_attempts, 1);
}

#[tokio::test]
async fn without_single_flight_concurrent_refreshes_trip_reuse_detection() {
    let server = MockServer::start().await;
    let s = session(
        &server,
        SessionConfig {
            single_flight: false,
            ..SessionConfig::builtin_agent()
        },
    );
    s.login().await.expect("login");
    advance(&server, 61);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let s = s.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                s.call_api_after(async move {
                    barrier.wait().await;
                })
                .await
            })
        })
        .collect();
    let mut lost = 0;
    for call in calls {
        if let Err(e) = call.await.expect("task") {
            assert_eq!(e.outcome(), Outcome::SessionLost, "{e}");
            lost += 1;
        }
    }
    let stats = s.stats();
    assert_eq!(
        stats.refresh_attempts, 20,
        "every caller refreshed: {stats:?}"
    );
    assert_eq!(
        stats.refresh_duplicates, 19,
        "all with one token: {stats:?}"
    );
    assert_eq!(stats.refresh_reuse_refused, 1, "once per token: {stats:?}");
    assert_eq!(stats.families_lost_to_reuse, 1, "{stats:?}");
    assert!(lost > 0, "reuse was detected");
    assert_eq!(
        server.control().counts().live_families,
        0,
        "{:?}",
        server.control().counts()
    );
}

#[tokio::test]
async fn wrong_verifier_and_downgrade_are_refused() {
    let server = MockServer::start().await;
    let s = session(&server, SessionConfig::builtin_agent());
    for attack in [PkceAttack::WrongVerifier, PkceAttack::OmitVerifier] {
        let err = s
            .login_with(LoginOptions {
                pkce_attack: Some(attack),
                replay_code: false,
            })
            .await
            .expect_err("refused");
        assert_eq!(
            err.oauth_error(),
            Some("invalid_grant"),
            "{attack:?}: {err}"
        );
    }
    let err = s
        .login_with(LoginOptions {
            pkce_attack: Some(PkceAttack::Downgrade),
            replay_code: false,
        })
        .await
        .expect_err("public client needs PKCE at the authorization endpoint");
    assert_eq!(err.outcome(), Outcome::AuthorizationError, "{err}");
}

#[tokio::test]
async fn code_replay_is_refused_and_revokes_the_tokens() {
    let server = MockServer::start().await;
    let s = session(&server, SessionConfig::builtin_agent());
    let login = s
        .login_with(LoginOptions {
            pkce_attack: None,
            replay_code: true,
        })
        .await
        .expect("first exchange");
    assert!(login.iss_checked, "fauxauth sends iss and advertises it");
    let replay = login.replay.expect("replayed").expect_err("refused");
    assert_eq!(replay.oauth_error(), Some("invalid_grant"));
    let answer = s.call_api().await.expect("an answer");
    assert_eq!(
        answer.status, 401,
        "tokens from a replayed code are revoked"
    );
}

#[tokio::test]
async fn trailing_slash_redirect_is_a_400_without_redirect() {
    let server = MockServer::start().await;
    let s = session(
        &server,
        SessionConfig::authorization_code(
            "fauxauth-agent",
            "http://localhost:8080/openclaw/oauth/callback/codex/",
        ),
    );
    let err = s.login().await.expect_err("refused");
    assert!(
        matches!(err, ClientError::AuthorizationPage { status: 400, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not registered"), "{err}");
}

#[tokio::test]
async fn reactive_refresh_recovers_from_client_clock_skew() {
    let server = MockServer::start().await;
    let config = SessionConfig {
        clock_skew_secs: -10 * 60,
        expiry_source: ExpirySource::JwtExp,
        ..SessionConfig::builtin_agent()
    };
    let naive = session(&server, config.clone());
    let reactive = session(
        &server,
        SessionConfig {
            reactive_refresh: true,
            ..config
        },
    );
    naive.login().await.expect("login");
    reactive.login().await.expect("login");
    advance(&server, 61);
    assert_eq!(naive.call_api().await.expect("answer").status, 401);
    let answer = reactive.call_api().await.expect("answer");
    assert_eq!(answer.status, 200);
    assert!(answer.reactive_refresh);
    assert_eq!(reactive.stats().refreshes, 1);
}

#[tokio::test]
async fn retries_are_off_by_default_and_time_out_clearly() {
    // A listener that accepts and never answers stands in for a hanging token endpoint.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = SessionConfig {
        request_timeout: Duration::from_millis(200),
        ..SessionConfig::builtin_service()
    };
    let s = Session::new(
        &format!("http://{addr}"),
        config.clone(),
        fauxauth_server::Clock::virtual_now(),
    )
    .expect("config");
    let err = s.login().await.expect_err("times out");
    assert_eq!(err.outcome(), Outcome::Timeout, "{err}");
    assert_eq!(s.attempts().len(), 1);
    let retrying = Session::new(
        &format!("http://{addr}"),
        SessionConfig {
            retry: RetryPolicy {
                retries: 2,
                backoff: Duration::from_millis(1),
            },
            ..config
        },
        fauxauth_server::Clock::virtual_now(),
    )
    .expect("config");
    assert!(retrying.login().await.is_err());
    assert_eq!(retrying.attempts().len(), 3);
    hold.abort();
}

#[tokio::test]
async fn interactive_or_unknown_client_pages_are_typed() {
    let server = MockServer::builder()
        .config(ServerConfig::default())
        .start()
        .await
        .expect("start");
    let s = session(
        &server,
        SessionConfig::authorization_code("nobody", "http://127.0.0.1:8765/callback"),
    );
    let err = s.login().await.expect_err("unknown client");
    assert_eq!(err.outcome(), Outcome::AuthorizationError);
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn client_secret_post_and_basic_both_authenticate_and_a_wrong_secret_is_invalid_client() {
    use fauxauth_conformance::client::ClientAuthMethod;
    let server = MockServer::start().await;
    for method in [ClientAuthMethod::Basic, ClientAuthMethod::Post] {
        let s = session(
            &server,
            SessionConfig {
                auth_method: method,
                ..SessionConfig::builtin_service()
            },
        );
        s.login().await.expect("authenticated");
    }
    let wrong = session(
        &server,
        SessionConfig::client_credentials("fauxauth-service", "not-the-secret"),
    );
    let err = wrong.login().await.expect_err("refused");
    assert_eq!(err.oauth_error(), Some("invalid_client"), "{err}");
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn a_confidential_auth_code_client_logs_in_with_basic_and_pkce() {
    let server = MockServer::builder()
        .config(ServerConfig {
            require_https_redirects: false,
            ..ServerConfig::default()
        })
        .start()
        .await
        .expect("start");
    let s = session(
        &server,
        SessionConfig {
            client_secret: Some("fauxauth-web-secret".into()),
            auth_method: fauxauth_conformance::client::ClientAuthMethod::Basic,
            ..SessionConfig::authorization_code(
                "fauxauth-web",
                "https://app.fauxauth.test/openclaw/oauth/callback/codex",
            )
        },
    );
    let tokens = s.login().await.expect("login");
    assert!(tokens.refresh_token.is_some());
    s.refresh()
        .await
        .expect("refresh with Basic authentication");
}

#[tokio::test]
async fn a_stale_refresh_token_refused_as_reuse_is_counted_once_and_does_not_lose_the_session() {
    let server = MockServer::start().await;
    let s = session(
        &server,
        SessionConfig {
            single_flight: false,
            ..SessionConfig::builtin_agent()
        },
    );
    s.login().await.expect("login");
    advance(&server, 61);
    // The late caller reads the tokens (refresh token RT1), then waits until the first
    // caller has refreshed with RT1 and installed RT2; only then does it send RT1 again.
    let (read_tx, read_rx) = tokio::sync::oneshot::channel::<()>();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let late = {
        let s = s.clone();
        tokio::spawn(async move {
            s.call_api_after(async move {
                let _ = read_tx.send(());
                let _ = go_rx.await;
            })
            .await
        })
    };
    read_rx.await.expect("the late caller read the tokens");
    let first = s.call_api().await.expect("first caller refreshes");
    assert_eq!(first.status, 200);
    assert!(first.renewed);
    let _ = go_tx.send(());
    let err = late.await.expect("task").expect_err("RT1 reused");
    assert_eq!(err.outcome(), Outcome::SessionLost, "{err}");
    let stats = s.stats();
    assert_eq!(stats.refresh_attempts, 2, "{stats:?}");
    assert_eq!(stats.refresh_duplicates, 1, "{stats:?}");
    assert_eq!(stats.refresh_reuse_refused, 1, "{stats:?}");
    assert_eq!(stats.families_lost_to_reuse, 1, "{stats:?}");
    assert_eq!(stats.losses, 0, "RT1 is no longer the session's: {stats:?}");
    assert!(!s.is_lost());
    // The server revoked the whole family on the reuse: RT2, sent once, is refused too. That
    // loses the session, and is not reuse.
    let err = s.refresh().await.expect_err("family revoked");
    assert_eq!(err.outcome(), Outcome::SessionLost, "{err}");
    assert!(s.is_lost() && s.needs_login());
    let stats = s.stats();
    assert_eq!(stats.losses, 1, "{stats:?}");
    assert_eq!(stats.refresh_reuse_refused, 1, "{stats:?}");
    assert_eq!(stats.refresh_duplicates, 1, "{stats:?}");
    s.login().await.expect("a new login recovers");
    assert!(!s.needs_login());
}

#[tokio::test]
async fn sessions_on_a_shared_transport_report_every_attempt_and_keep_none() {
    use fauxauth_conformance::client::{Attempt, AttemptObserver, Endpoints, Exchange, Transport};
    use fauxauth_server::config::GrantType;

    #[derive(Debug, Default)]
    struct Seen(parking_lot::Mutex<Vec<(Exchange, Option<u16>)>>);
    impl AttemptObserver for Seen {
        fn observe(&self, attempt: &Attempt, _took: Duration) {
            self.0.lock().push((attempt.exchange, attempt.status));
        }
    }

    let server = MockServer::start().await;
    let seen = std::sync::Arc::new(Seen::default());
    let transport = Transport::shared(4, seen.clone()).expect("transport");
    let sessions: Vec<Session> = (0..3)
        .map(|_| {
            Session::with_transport(
                Endpoints::for_issuer(server.url()),
                SessionConfig::builtin_agent(),
                server.clock().clone(),
                &transport,
            )
            .expect("session")
        })
        .collect();
    for s in &sessions {
        s.login().await.expect("login");
    }
    advance(&server, 58);
    for s in &sessions {
        assert!(s.call_api().await.expect("call").renewed);
    }
    let seen_handle = seen.clone();
    let seen_now = |h: &std::sync::Arc<Seen>| h.0.lock().len();
    let seen = seen.0.lock().clone();
    let count = |e: Exchange| seen.iter().filter(|(x, s)| *x == e && s.is_some()).count();
    assert_eq!(count(Exchange::Authorize), 3, "{seen:?}");
    assert_eq!(
        count(Exchange::Token(GrantType::AuthorizationCode)),
        3,
        "{seen:?}"
    );
    assert_eq!(
        count(Exchange::Token(GrantType::RefreshToken)),
        3,
        "{seen:?}"
    );
    assert_eq!(count(Exchange::Api), 3, "{seen:?}");
    // The server's metadata (does it promise `iss`?), read once per setup: once for each of
    // these sessions, and not again for a sibling (below).
    assert_eq!(count(Exchange::Other), 3, "{seen:?}");
    assert_eq!(seen.len(), 15, "{seen:?}");
    assert!(
        sessions.iter().all(|s| s.attempts().is_empty()),
        "none kept"
    );
    let tokens: std::collections::HashSet<_> = sessions
        .iter()
        .map(|s| s.tokens().expect("tokens").refresh_token)
        .collect();
    assert_eq!(tokens.len(), 3, "each session holds its own tokens");
    // A sibling shares the setup and the transport, not the tokens or the counters.
    let sibling = sessions[0].sibling();
    assert!(sibling.needs_login());
    sibling.login().await.expect("login");
    assert_ne!(sibling.tokens(), sessions[0].tokens());
    assert_eq!(sibling.stats().logins, 1);
    assert_eq!(sessions[0].stats().logins, 1);
    assert_eq!(
        seen.len() + 2,
        seen_now(&seen_handle),
        "its requests are observed too (authorize and token; the metadata is the setup's)"
    );
}

#[tokio::test]
async fn expires_in_counts_from_when_the_request_was_sent() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A token endpoint that takes 10 virtual minutes to answer: the answer says the token
    // lives an hour, so it expires 50 minutes after it arrived, not 60.
    let clock = fauxauth_server::Clock::virtual_now();
    clock.freeze().expect("freeze");
    let sent = clock.now_unix();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server_clock = clock.clone();
    let slow = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&request).contains("grant_type=client_credentials") {
            let n = socket.read(&mut buf).await.expect("read");
            assert!(n > 0, "the request came whole");
            request.extend_from_slice(&buf[..n]);
        }
        server_clock
            .advance(Duration::from_secs(10 * MIN))
            .expect("advance");
        let body = r#"{"access_token":"t","token_type":"Bearer","expires_in":3600}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).await.expect("answer");
    });
    let s = Session::new(
        &format!("http://{addr}"),
        SessionConfig::builtin_service(),
        clock.clone(),
    )
    .expect("config");
    let tokens = s.login().await.expect("login");
    slow.await.expect("server");
    assert_eq!(clock.now_unix(), sent + 10 * MIN);
    assert_eq!(tokens.expires_at, Some(sent + 60 * MIN));
}

/// How many of `sessions` renewed before this API call.
async fn renewed(sessions: &[Session]) -> usize {
    let mut n = 0;
    for s in sessions {
        n += usize::from(s.call_api().await.expect("call").renewed);
    }
    n
}

#[tokio::test]
async fn refresh_jitter_spreads_renewals_within_its_bounds() {
    let server = MockServer::start().await;
    let first = session(
        &server,
        SessionConfig {
            token_refresh_jitter: Duration::from_secs(10 * MIN),
            ..SessionConfig::builtin_service()
        },
    );
    let sessions: Vec<Session> = std::iter::once(first.clone())
        .chain((1..40).map(|_| first.sibling()))
        .collect();
    for s in &sessions {
        s.login().await.expect("login");
    }
    // 60-minute tokens, 5-minute buffer, up to 10 minutes of jitter: due between 15 and 5
    // minutes before expiry.
    advance(&server, 44);
    assert_eq!(renewed(&sessions).await, 0, "16 minutes left: none due");
    advance(&server, 6);
    let halfway = renewed(&sessions).await;
    // Each session is due at 10 minutes left with probability 1/2: all 40 alike has odds
    // of 2^-39.
    assert!(0 < halfway && halfway < 40, "{halfway} of 40 renewed");
    advance(&server, 6);
    assert_eq!(
        renewed(&sessions).await,
        40 - halfway,
        "4 minutes left: the rest are due"
    );
}
