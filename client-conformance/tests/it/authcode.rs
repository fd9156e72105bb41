//! The authorization-code client checks the redirect before trusting it: `state` must be the
//! one sent, and `iss` (RFC 9207) must be the issuer — and must be there when the server's
//! metadata advertises `authorization_response_iss_parameter_supported`. fauxauth always sends
//! both correctly, so these tests use a fake authorization endpoint that answers as told.

use std::time::SystemTime;

use fauxauth_conformance::client::{ClientError, Outcome, Session, SessionConfig};
use fauxauth_server::Clock;

use crate::fake;

#[derive(Debug, Clone, Copy)]
enum Iss {
    Right,
    Wrong,
    Missing,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Echo,
    Wrong,
    Missing,
}

/// A fake server: metadata that does or does not advertise `iss`, and an authorization
/// endpoint that redirects with a code and the `iss` and `state` asked for.
async fn fake(advertise: bool, iss: Iss, state: State) -> String {
    let (base, _) = fake::start(move |issuer, request| match request.path() {
        "/.well-known/oauth-authorization-server" => fake::Response::json(format!(
            r#"{{"issuer":"{issuer}","authorization_response_iss_parameter_supported":{advertise}}}"#
        )),
        "/oauth/authorize" => {
            let mut back = url::Url::parse(&request.param("redirect_uri").unwrap_or_default())
                .expect("redirect_uri");
            {
                let mut pairs = back.query_pairs_mut();
                pairs.append_pair("code", "fake-code");
                match state {
                    State::Echo => {
                        pairs.append_pair("state", &request.param("state").unwrap_or_default());
                    }
                    State::Wrong => {
                        pairs.append_pair("state", "someone-elses-state");
                    }
                    State::Missing => {}
                }
                match iss {
                    Iss::Right => {
                        pairs.append_pair("iss", issuer);
                    }
                    Iss::Wrong => {
                        pairs.append_pair("iss", "https://attacker.example");
                    }
                    Iss::Missing => {}
                }
            }
            fake::Response::redirect(back.to_string())
        }
        _ => fake::Response::status(404),
    })
    .await;
    base
}

async fn login(advertise: bool, iss: Iss, state: State) -> Result<bool, ClientError> {
    let base = fake(advertise, iss, state).await;
    let session = Session::new(
        &base,
        SessionConfig::builtin_agent(),
        Clock::frozen_at(SystemTime::now()),
    )
    .expect("session");
    session
        .login_with(Default::default())
        .await
        .map(|l| l.iss_checked)
}

fn refused_redirect(result: Result<bool, ClientError>) -> String {
    match result {
        Err(e @ ClientError::AuthorizationResponse(_)) => {
            assert_eq!(e.outcome(), Outcome::AuthorizationError);
            e.to_string()
        }
        other => panic!("the redirect must be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_iss_is_refused() {
    for advertise in [true, false] {
        let message = refused_redirect(login(advertise, Iss::Wrong, State::Echo).await);
        assert!(message.contains("is not the issuer"), "{message}");
        assert!(message.contains("attacker.example"), "{message}");
    }
}

#[tokio::test]
async fn a_missing_iss_is_refused_when_the_server_advertises_it() {
    let message = refused_redirect(login(true, Iss::Missing, State::Echo).await);
    assert!(message.contains("carries no iss"), "{message}");
    assert!(
        message.contains("authorization_response_iss_parameter_supported"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_iss_is_accepted_when_the_server_does_not_advertise_it() {
    // The checks pass; the login then fails at the fake's (missing) token endpoint.
    match login(false, Iss::Missing, State::Echo).await {
        Err(ClientError::AuthorizationResponse(m)) => panic!("refused the redirect: {m}"),
        Err(_) => {}
        Ok(_) => panic!("the fake has no token endpoint"),
    }
}

#[tokio::test]
async fn a_wrong_or_missing_state_is_refused() {
    let message = refused_redirect(login(true, Iss::Right, State::Wrong).await);
    assert!(message.contains("state does not match"), "{message}");
    let message = refused_redirect(login(true, Iss::Right, State::Missing).await);
    assert!(message.contains("no state"), "{message}");
}
