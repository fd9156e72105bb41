//! `ServerHandle::in_memory`: requests without a socket go through the same layers as over
//! HTTP — the same answers, the event log, faults (a `drop` is a connection error, a `hang`
//! ends when the caller gives up) — and stop at shutdown.

use std::time::Duration;

use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fauxauth_server::config::{DEFAULT_SERVICE_CLIENT_ID, DEFAULT_SERVICE_CLIENT_SECRET};
use fauxauth_server::{InMemory, InMemoryError, MockServer, ServerHandle};
use serde_json::{Value, json};

/// A client-credentials token request to `server`'s token endpoint, by absolute URL (as the
/// load generator sends them).
fn token_request(server: &ServerHandle) -> Request<Vec<u8>> {
    let basic = STANDARD.encode(format!(
        "{DEFAULT_SERVICE_CLIENT_ID}:{DEFAULT_SERVICE_CLIENT_SECRET}"
    ));
    Request::post(format!("{}/oauth/token", server.url()))
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(b"grant_type=client_credentials&scope=model.request".to_vec())
        .expect("request")
}

async fn add_fault(client: &InMemory, rule: Value) {
    let request = Request::post("/_fauxauth/faults")
        .header(header::CONTENT_TYPE, "application/json")
        .body(rule.to_string().into_bytes())
        .expect("request");
    let answer = client.send(request).await.expect("answer");
    assert_eq!(answer.status(), StatusCode::CREATED);
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("JSON body")
}

#[tokio::test]
async fn in_memory_answers_as_over_http_and_records_events() {
    let server = MockServer::start().await;
    let client = server.in_memory();
    let path = "/.well-known/openid-configuration";
    let over_http: Value = reqwest::get(format!("{}{path}", server.url()))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let in_memory = client
        .send(Request::get(path).body(Vec::new()).expect("request"))
        .await
        .expect("answer");
    assert_eq!(in_memory.status(), StatusCode::OK);
    assert_eq!(json_of(in_memory.body()), over_http);

    let answer = client.send(token_request(&server)).await.expect("answer");
    assert_eq!(answer.status(), StatusCode::OK);
    let body = json_of(answer.body());
    assert_eq!(body["token_type"], "Bearer", "{body}");
    // The token it issued is good for the model API, also in memory.
    let access = body["access_token"].as_str().expect("access_token");
    let api = Request::post(format!("{}/v1/responses", server.url()))
        .header(header::AUTHORIZATION, format!("Bearer {access}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(br#"{"model":"gpt-4o-mini","input":"hi"}"#.to_vec())
        .expect("request");
    let answer = client.send(api).await.expect("answer");
    assert_eq!(answer.status(), StatusCode::OK);
    let statuses: Vec<_> = server.events().all().iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [Some(200), Some(200), Some(200), Some(200)],
        "one event per request, whichever way it came"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_drop_fault_is_a_connection_error_and_a_hang_ends_when_the_caller_gives_up() {
    let server = MockServer::start().await;
    let client = server.in_memory();
    add_fault(
        &client,
        json!({"match": {"endpoint": "token"}, "times": 1, "action": "drop"}),
    )
    .await;
    let dropped = client.send(token_request(&server)).await;
    assert_eq!(dropped.map(|_| ()), Err(InMemoryError::ConnectionDropped));
    let answer = client.send(token_request(&server)).await.expect("answer");
    assert_eq!(answer.status(), StatusCode::OK, "times: 1");

    add_fault(
        &client,
        json!({"match": {"endpoint": "token"}, "times": 1, "action": "hang"}),
    )
    .await;
    let hung = tokio::time::timeout(
        Duration::from_millis(200),
        client.send(token_request(&server)),
    );
    assert!(hung.await.is_err(), "no answer: the caller times out");
    // Giving up is the client closing its connection: the hang ends and its event is
    // recorded without a status.
    let hang = loop {
        let found = server
            .events()
            .all()
            .into_iter()
            .find(|e| e.fault.as_ref().is_some_and(|f| f.action == "hang"));
        match found {
            Some(event) => break event,
            None => tokio::task::yield_now().await,
        }
    };
    assert_eq!(hang.status, None, "no response was sent");
    server.shutdown().await;
}

#[tokio::test]
async fn after_shutdown_in_memory_requests_are_refused() {
    let server = MockServer::start().await;
    let client = server.in_memory();
    let request = token_request(&server);
    server.shutdown().await;
    assert_eq!(
        client.send(request).await.map(|_| ()),
        Err(InMemoryError::ShutDown)
    );
}
