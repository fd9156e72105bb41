//! The HTTP client every integration test uses and the JSON-body shortcut.
//!
//! One file shared by the root test binary (`tests/it`) and the server's (`server/tests/it`)
//! through `#[path]`.

#![allow(dead_code)] // not every test binary uses every helper

use std::time::Duration;

use serde_json::Value;

/// A client that never follows redirects and never waits forever.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("build reqwest client")
}

/// The JSON body (panics with the text on anything else).
pub(crate) async fn json(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("read body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
