//! The dashboard and the run report in real browsers, headless Chromium and Firefox (see
//! `tests/common/webdriver.rs`: which browsers, how they are found, where screenshots go).
//! Opt-in: set `FAUXAUTH_E2E_BROWSER=1` (`.ci/run` does, after installing `chromium` and
//! `chromium-driver`; `FAUXAUTH_CI_FIREFOX=1 .ci/run` adds Firefox). Every test body runs
//! once in each browser.
//!
//! The client's side happens over plain HTTP from the test; the browser only watches and
//! clicks, as a person at the dashboard would. Time moves only by the dashboard's own
//! "advance 61m" button (the virtual clock), never by sleeping.

use std::time::Duration;

use fantoccini::Locator;
use fauxauth_server::config::{ClientConfig, GrantType, builtin_clients};
use fauxauth_server::{Clock, MockServer, ServerConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{SEED_SCOPE, TestServer, http_client, pkce};

#[path = "../common/webdriver.rs"]
mod webdriver;

use webdriver::with_browser;

async fn server(config: ServerConfig) -> TestServer {
    let handle = MockServer::builder()
        .config(config)
        .clock(Clock::virtual_now())
        .start()
        .await
        .expect("start the mock server");
    TestServer {
        handle,
        http: http_client(),
    }
}

async fn poll(server: &TestServer, device_code: &str) -> reqwest::Response {
    server
        .token(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "tv-app"),
            ("device_code", device_code),
        ])
        .await
}

async fn api_call(server: &TestServer, access: &str) -> StatusCode {
    server
        .http
        .get(server.url("/v1/models"))
        .bearer_auth(access)
        .send()
        .await
        .expect("model API call")
        .status()
}

#[tokio::test]
async fn timeline_shows_the_expired_call_and_the_refresh_after_advance_61m() {
    with_browser(|browser| async move {
        let server = server(ServerConfig::default()).await;
        browser
            .client
            .goto(&server.url("/_fauxauth/ui"))
            .await
            .expect("open the dashboard");
        browser.element("#live[data-state='live']").await;

        // The agent logs in (authorization code + PKCE) and calls the model API.
        let pair = pkce();
        let code = server.agent_code(SEED_SCOPE, &pair).await;
        let tokens: Value = server
            .agent_exchange(&code, &pair.verifier)
            .await
            .json()
            .await
            .expect("tokens");
        let access = tokens["access_token"].as_str().expect("access").to_owned();
        let refresh = tokens["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned();
        assert_eq!(api_call(&server, &access).await, StatusCode::OK);
        let family = "article.family[data-client='fauxauth-agent']";
        browser
            .element(&format!(
                "{family} .bar[data-kind='access'][data-expired='false']"
            ))
            .await;
        browser
            .element(&format!(
                "{family} .mark[data-kind='api'][data-outcome='200']"
            ))
            .await;

        // A person clicks "advance 61m": the token has expired for the server and the page.
        let before = server.handle.clock().now();
        browser.click("button[aria-label='advance 61m']").await;
        let mut advanced = false;
        for _ in 0..200 {
            if server.handle.clock().now() >= before + Duration::from_secs(61 * 60) {
                advanced = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(advanced, "the button did not advance the server's clock");
        assert_eq!(api_call(&server, &access).await, StatusCode::UNAUTHORIZED);
        let expired = browser
            .text(&format!(
                "{family} .mark[data-kind='api'][data-outcome='401-expired']"
            ))
            .await;
        assert_eq!(expired, "401 expired");
        browser
            .element(&format!(
                "{family} .bar[data-kind='access'][data-expired='true']"
            ))
            .await;
        browser.screenshot("dashboard-expired").await;

        // The client refreshes: a refresh mark, a second bar, and the rotation chain.
        let refreshed = server
            .token(&[
                ("grant_type", "refresh_token"),
                ("client_id", "fauxauth-agent"),
                ("refresh_token", &refresh),
            ])
            .await;
        assert_eq!(refreshed.status(), StatusCode::OK);
        let refreshed: Value = refreshed.json().await.expect("json");
        let new_access = refreshed["access_token"].as_str().expect("access");
        assert_eq!(api_call(&server, new_access).await, StatusCode::OK);
        let mark = browser
            .text(&format!("{family} .mark[data-kind='refresh']"))
            .await;
        assert_eq!(mark, "refresh");
        browser
            .element(&format!(
                "{family} .bar[data-kind='access'][data-expired='false'][data-grant='refresh_token']"
            ))
            .await;
        let chain = browser.text(&format!("{family} .chain")).await;
        assert!(chain.contains(" → "), "a rotation chain of two: {chain}");
        // The event log lists the calls; its filter narrows it to the model API's.
        browser
            .element("#events-table tr[data-endpoint='api'][data-status='401']")
            .await;
        browser
            .element("#events-table tr[data-endpoint='token']")
            .await;
        browser
            .element("#filter-endpoint")
            .await
            .select_by_value("api")
            .await
            .expect("choose the api endpoint");
        let mut narrowed = false;
        for _ in 0..200 {
            let rows = browser
                .client
                .find_all(Locator::Css("#events-table tbody tr"))
                .await
                .expect("rows");
            let token_rows = browser
                .client
                .find_all(Locator::Css("#events-table tr[data-endpoint='token']"))
                .await
                .expect("rows");
            if rows.len() == 3 && token_rows.is_empty() {
                narrowed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            narrowed,
            "the endpoint filter shows the three API calls only"
        );
        browser
            .element("#filter-endpoint")
            .await
            .select_by_value("")
            .await
            .expect("all endpoints again");
        // Each filter is as wide as its longest choice, which came after the page was laid
        // out (Firefox, left alone, keeps a select as wide as its first options): a fresh copy
        // of the select, laid out now, is no wider.
        for id in ["filter-client", "filter-endpoint"] {
            let widths = browser
                .client
                .execute(
                    "const select = document.getElementById(arguments[0]);
                     const shown = select.offsetWidth;
                     const fresh = select.cloneNode(true);
                     fresh.removeAttribute('id');
                     document.body.append(fresh);
                     const widths = [shown, fresh.offsetWidth];
                     fresh.remove();
                     return widths;",
                    vec![json!(id)],
                )
                .await
                .expect("measure the select");
            let (shown, fresh) = (widths[0].as_u64(), widths[1].as_u64());
            assert!(
                shown.is_some() && shown >= fresh,
                "#{id} is {shown:?} px wide, narrower than its choices ({fresh:?} px) in {}",
                browser.name
            );
        }
        browser
            .element("#events-table tr[data-endpoint='token']")
            .await;
        // The operator revokes the new token: the next call is marked revoked.
        let revoked = server
            .http
            .post(server.url("/_fauxauth/tokens/revoke"))
            .json(&json!({"access_token": new_access}))
            .send()
            .await
            .expect("revoke");
        assert_eq!(revoked.status(), StatusCode::OK);
        assert_eq!(
            api_call(&server, new_access).await,
            StatusCode::UNAUTHORIZED
        );
        let revoked = browser
            .text(&format!(
                "{family} .mark[data-kind='api'][data-outcome='401-revoked']"
            ))
            .await;
        assert_eq!(revoked, "401 revoked");
        let path = browser.screenshot("dashboard-timeline").await;
        eprintln!("screenshot: {}", path.display());
        server.handle.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn approve_button_completes_a_pending_device_login() {
    with_browser(|browser| async move {
        let mut config = ServerConfig::default();
        config.device.auto_approve_after_polls = None;
        let mut clients = builtin_clients();
        clients.push(ClientConfig {
            client_id: "tv-app".into(),
            client_secret: None,
            redirect_uris: vec![],
            grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
            scopes: vec![
                "openid".into(),
                "offline_access".into(),
                "model.request".into(),
            ],
            require_pkce: true,
            allow_plain_pkce: false,
            access_token_ttl: None,
            refresh_token_ttl: None,
        });
        config.clients = Some(clients);
        let server = server(config).await;
        browser
            .client
            .goto(&server.url("/_fauxauth/ui"))
            .await
            .expect("open the dashboard");
        browser.element("#live[data-state='live']").await;

        let start: Value = server
            .http
            .post(server.url("/oauth/device/code"))
            .form(&[
                ("client_id", "tv-app"),
                ("scope", "openid offline_access model.request"),
            ])
            .send()
            .await
            .expect("device code")
            .json()
            .await
            .expect("json");
        let user_code = start["user_code"].as_str().expect("user_code").to_owned();
        let device_code = start["device_code"]
            .as_str()
            .expect("device_code")
            .to_owned();
        let pending: Value = poll(&server, &device_code)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(pending["error"], "authorization_pending");

        let row = format!("#devices-table tr[data-user-code='{user_code}']");
        browser.element(&row).await;
        browser
            .element("article.family[data-client='tv-app'] .mark[data-kind='device']")
            .await;
        browser.screenshot("dashboard-device-pending").await;
        browser
            .click(&format!("{row} button[data-action='approve']"))
            .await;
        // The row leaves the pending list once the server has the approval.
        let mut gone = false;
        for _ in 0..200 {
            if browser.client.find(Locator::Css(&row)).await.is_err() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(gone, "the approved login is still listed as pending");
        // The next poll, after the interval on the virtual clock, gets the tokens.
        server
            .handle
            .clock()
            .advance(Duration::from_secs(6))
            .expect("virtual");
        let done = poll(&server, &device_code).await;
        assert_eq!(done.status(), StatusCode::OK);
        let tokens: Value = done.json().await.expect("json");
        assert!(tokens["access_token"].is_string(), "{tokens}");
        browser
            .element("article.family[data-client='tv-app'] .bar[data-kind='access']")
            .await;
        browser.screenshot("dashboard-device-approved").await;

        // Faults: the form adds the rule shown in it; the row's button removes it.
        browser.click("#fault-add").await;
        browser.element("#faults-table tr[data-fault='1']").await;
        assert_eq!(server.handle.control().faults().list().len(), 1);
        browser.screenshot("dashboard-fault").await;
        browser
            .click("#faults-table button[data-action='remove-fault'][data-fault='1']")
            .await;
        let mut removed = false;
        for _ in 0..200 {
            if server.handle.control().faults().list().is_empty() {
                removed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(removed, "the remove button did not remove the fault");

        // The clock: freeze and unfreeze from the page.
        browser.click("#freeze").await;
        browser.element("#clock-frozen[data-frozen='true']").await;
        assert!(server.handle.clock().snapshot().frozen);
        browser.click("#unfreeze").await;
        browser.element("#clock-frozen[data-frozen='false']").await;
        assert!(!server.handle.clock().snapshot().frozen);
        server.handle.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn run_report_shows_the_failed_expectation_and_the_bar_that_ran_out() {
    let dir = crate::helpers::TempDir::new("browser-run-report");
    let (_, html, _) = crate::run::run_with_html_report(&dir);
    let url = url::Url::from_file_path(&html).expect("an absolute path");
    with_browser(|browser| {
        let url = url.clone();
        async move {
            // Opened as a file, with no server behind it: everything it shows is in the file.
            browser
                .client
                .goto(url.as_str())
                .await
                .expect("open the report");
            let failing = "section.scenario[data-scenario='naive-agent-misses-expiry']";
            assert_eq!(
                browser
                    .text(&format!("{failing} tr.check.unmet td.expected"))
                    .await,
                "refreshed before expiry: true"
            );
            let actual = browser
                .text(&format!("{failing} tr.check.unmet td.actual"))
                .await;
            assert!(
                actual.contains("an API call with an access token that had expired"),
                "{actual}"
            );
            // The timeline: the access token's bar ran out, and the call that hit it is marked,
            // both emphasised as what the failure names.
            browser
                .element(&format!(
                    "{failing} .bar.highlight[data-kind='access'][data-expired='true']"
                ))
                .await;
            let mark = browser
                .text(&format!(
                    "{failing} .mark.highlight[data-kind='api'][data-outcome='401-expired']"
                ))
                .await;
            assert_eq!(mark, "401 expired");
            browser
                .element(&format!(
                    "{failing} .mark[data-kind='api'][data-outcome='200']"
                ))
                .await;
            // The passing scenario's timeline shows its refreshes and no failure.
            let passing = "section.scenario[data-scenario='auto-refresh-on'][data-passed='true']";
            browser
                .element(&format!("{passing} .mark[data-kind='refresh']"))
                .await;
            assert!(
                browser
                    .client
                    .find(Locator::Css(&format!("{passing} tr.check.unmet")))
                    .await
                    .is_err(),
                "the passing scenario has no unmet expectation"
            );
            let verdict = browser.text("#verdict .counts").await;
            assert!(verdict.starts_with("1 passed · 1 failed"), "{verdict}");
            let path = browser.screenshot("run-report").await;
            eprintln!("screenshot: {}", path.display());
        }
    })
    .await;
}
