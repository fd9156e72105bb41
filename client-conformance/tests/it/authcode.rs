//! The authorization-code client checks the redirect before trusting it: `state` must be the
//! one sent, and `iss` (RFC 9207) must be the issuer — and must be there when the server's
//! metadata advertises `authorization_response_iss_parameter_supported`. fauxauth always sends
//! both correctly, so these tests use a fake authorization endpoint that answers as told.

use std::time::SystemTime;

use fauxauth_conformance::client::{ClientError, Outcome, Session, SessionConfig};
use fauxauth_server::Clock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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

/// A fake server on port 0: metadata that does or does not advertise `iss`, and an
/// authorization endpoint that redirects with a code and the `iss` and `state` asked for.
async fn fake(advertise: bool, iss: Iss, state: State) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let issuer = base.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let issuer = issuer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let url = url::Url::parse(&format!("{issuer}{target}")).expect("request URL");
                let query = |name: &str| {
                    url.query_pairs()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.into_owned())
                };
                let response = match url.path() {
                    "/.well-known/oauth-authorization-server" => {
                        let body = format!(
                            r#"{{"issuer":"{issuer}","authorization_response_iss_parameter_supported":{advertise}}}"#
                        );
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    "/oauth/authorize" => {
                        let mut back = url::Url::parse(&query("redirect_uri").unwrap_or_default())
                            .expect("redirect_uri");
                        {
                            let mut pairs = back.query_pairs_mut();
                            pairs.append_pair("code", "fake-code");
                            match state {
                                State::Echo => {
                                    pairs.append_pair("state", &query("state").unwrap_or_default());
                                }
                                State::Wrong => {
                                    pairs.append_pair("state", "someone-elses-state");
                                }
                                State::Missing => {}
                            }
                            match iss {
                                Iss::Right => {
                                    pairs.append_pair("iss", &issuer);
                                }
                                Iss::Wrong => {
                                    pairs.append_pair("iss", "https://attacker.example");
                                }
                                Iss::Missing => {}
                            }
                        }
                        format!(
                            "HTTP/1.1 302 Found\r\nlocation: {back}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                    }
                    _ => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        .to_owned(),
                };
                let _ = conn.write_all(response.as_bytes()).await;
            });
        }
    });
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
