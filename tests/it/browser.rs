//! The dashboard in real browsers: Debian's `chromium` (through `chromedriver`) and Firefox
//! (`firefox-esr`, through `geckodriver`), headless, driven over WebDriver with `fantoccini`.
//! Opt-in: set `FAUXAUTH_E2E_BROWSER=1` (`.ci/run` does, after installing `chromium` and
//! `chromium-driver`). Every test body runs once per browser in [`BROWSERS`]:
//! `FAUXAUTH_BROWSER=chromium`, `=firefox` or `=chromium,firefox` names them (each must be
//! there); unset, it is every browser whose driver is found. A driver is found through its
//! variable (`CHROMEDRIVER`, `GECKODRIVER`), then on `PATH`, then in `target/tools/bin/`
//! (where `cargo install geckodriver --locked --root target/tools` puts it). Screenshots are
//! saved to `target/screenshots/BROWSER/`.
//!
//! The client's side happens over plain HTTP from the test; the browser only watches and
//! clicks, as a person at the dashboard would. Time moves only by the dashboard's own
//! "advance 61m" button (the virtual clock), never by sleeping.

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use fauxauth_server::config::{ClientConfig, GrantType, builtin_clients};
use fauxauth_server::{Clock, MockServer, ServerConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{SEED_SCOPE, TempDir, TestServer, http_client, pkce};

/// How long a browser-side condition may take to show (the page updates within a second;
/// this only bounds a failure).
const UI_WAIT: Duration = Duration::from_secs(20);

/// The window every browser draws the page in (so that screenshots compare).
const WINDOW: (u32, u32) = (1400, 1500);

/// Where each browser's requests to anything but the loopback go: a proxy on the discard
/// port, which nothing serves here, so that whatever a browser fetches by itself (updates,
/// telemetry, suggestions, captive-portal checks) fails on this machine instead of leaving
/// it. Host names resolve to nothing (Chromium) or to the loopback (Firefox) for the same
/// reason: the tests only ever open `127.0.0.1` and `file:` URLs. (Checked by tracing the
/// drivers' process trees with `strace -f -e trace=connect,sendmmsg`: before, Chromium looked
/// up Google and DuckDuckGo hosts and Firefox its settings server; now there are loopback
/// connects only, besides Chromium's IPv6 probe, a UDP `connect` that sends nothing.)
const DEAD_PROXY_HOST: &str = "127.0.0.1";
const DEAD_PROXY_PORT: u16 = 9;
const DEAD_PROXY: &str = "127.0.0.1:9";

/// A browser the tests run in: how to start its WebDriver server and what session to ask for.
struct BrowserKind {
    /// Its name in `FAUXAUTH_BROWSER` and in the screenshots' folder.
    name: &'static str,
    /// The WebDriver server's program, and the variable that overrides it.
    driver: &'static str,
    driver_var: &'static str,
    /// How to get the driver, for the message when it is missing.
    install: &'static str,
    /// The driver's arguments, given its port and a profile directory the test removes.
    driver_args: fn(u16, &Path) -> Vec<String>,
    /// The session's capabilities, given that profile directory.
    capabilities: fn(&Path) -> Value,
}

/// The browsers the tests know, in the order they run.
const BROWSERS: [BrowserKind; 2] = [
    BrowserKind {
        name: "chromium",
        driver: "chromedriver",
        driver_var: "CHROMEDRIVER",
        install: "apt-get install chromium chromium-driver",
        driver_args: |port, _| vec![format!("--port={port}"), "--allowed-ips=127.0.0.1".into()],
        capabilities: chromium_capabilities,
    },
    BrowserKind {
        name: "firefox",
        driver: "geckodriver",
        driver_var: "GECKODRIVER",
        install: "apt-get install firefox-esr; cargo install geckodriver --locked --root target/tools",
        driver_args: |port, profile| {
            vec![
                format!("--port={port}"),
                "--host=127.0.0.1".into(),
                format!("--profile-root={}", profile.display()),
            ]
        },
        capabilities: firefox_capabilities,
    },
];

/// Headless Chromium (`CHROMIUM` overrides `/usr/bin/chromium`) with its background
/// networking off, behind [`DEAD_PROXY`].
fn chromium_capabilities(profile: &Path) -> Value {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": binary,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                format!("--proxy-server={DEAD_PROXY}"),
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                format!("--user-data-dir={}", profile.display()),
            ],
        },
    })
}

/// Headless Firefox (`FIREFOX` names the binary; otherwise geckodriver finds `firefox`):
/// geckodriver's own test preferences, plus [`DEAD_PROXY`], every host name resolved to the
/// loopback, and the background services that would call out turned off.
fn firefox_capabilities(_profile: &Path) -> Value {
    let mut options = json!({
        "args": ["-headless", format!("--width={}", WINDOW.0), format!("--height={}", WINDOW.1)],
        "prefs": {
            "network.proxy.type": 1,
            "network.proxy.http": DEAD_PROXY_HOST,
            "network.proxy.http_port": DEAD_PROXY_PORT,
            "network.proxy.ssl": DEAD_PROXY_HOST,
            "network.proxy.ssl_port": DEAD_PROXY_PORT,
            "network.proxy.share_proxy_settings": true,
            "network.proxy.allow_hijacking_localhost": false,
            "network.dns.forceResolve": "127.0.0.1",
            "network.dns.disablePrefetch": true,
            "services.settings.server": format!("http://{DEAD_PROXY}/v1"),
            "network.trr.mode": 5,
            "network.captive-portal-service.enabled": false,
            "network.connectivity-service.enabled": false,
            "datareporting.policy.dataSubmissionEnabled": false,
            "toolkit.telemetry.enabled": false,
            "app.normandy.enabled": false,
            "app.update.auto": false,
            "browser.safebrowsing.update.enabled": false,
        },
    });
    if let Ok(binary) = std::env::var("FIREFOX") {
        options["binary"] = Value::String(binary);
    }
    json!({"browserName": "firefox", "moz:firefoxOptions": options})
}

/// The driver program for `kind`: its variable, else on `PATH`, else in `target/tools/bin/`.
fn find_driver(kind: &BrowserKind) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(kind.driver_var) {
        return Some(PathBuf::from(path));
    }
    let tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tools/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(std::iter::once(tools))
        .map(|dir| dir.join(kind.driver))
        .find(|candidate| candidate.is_file())
}

/// The browsers to run in, each with its driver: the ones `FAUXAUTH_BROWSER` names (a
/// missing driver fails the test), or every one whose driver is found. Empty when the browser
/// tests are not turned on.
fn browsers() -> Vec<(&'static BrowserKind, PathBuf)> {
    if std::env::var("FAUXAUTH_E2E_BROWSER").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set FAUXAUTH_E2E_BROWSER=1 to run the browser tests (needs chromium and \
             chromium-driver, or firefox-esr and geckodriver)"
        );
        return Vec::new();
    }
    let chosen = std::env::var("FAUXAUTH_BROWSER").unwrap_or_default();
    let chosen: Vec<&str> = chosen
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    for name in &chosen {
        assert!(
            BROWSERS.iter().any(|kind| kind.name == *name),
            "FAUXAUTH_BROWSER names {name:?}; the browsers are {:?}",
            BROWSERS.map(|kind| kind.name)
        );
    }
    let mut found = Vec::new();
    for kind in &BROWSERS {
        let wanted = chosen.is_empty() || chosen.contains(&kind.name);
        match (wanted, find_driver(kind)) {
            (false, _) => {}
            (true, Some(driver)) => found.push((kind, driver)),
            (true, None) if chosen.is_empty() => eprintln!(
                "{} not found: the browser tests skip {} ({})",
                kind.driver, kind.name, kind.install
            ),
            (true, None) => panic!(
                "FAUXAUTH_BROWSER names {}, but {} is not found ({})",
                kind.name, kind.driver, kind.install
            ),
        }
    }
    assert!(
        !found.is_empty(),
        "FAUXAUTH_E2E_BROWSER=1, but no browser driver is found: {}",
        BROWSERS
            .map(|kind| format!("{} ({})", kind.driver, kind.install))
            .join("; ")
    );
    found
}

/// A running WebDriver server, killed on drop, and the browser profile directory it used.
struct Driver {
    child: Child,
    _profile: TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless browser session, as the test body sees it (a cheap handle).
#[derive(Clone)]
struct Browser {
    client: Client,
    /// Which browser it is ([`BrowserKind::name`]).
    name: &'static str,
}

/// Run `body` once in each browser [`browsers`] chooses, each time with a fresh headless
/// browser; the WebDriver session is closed (and with it the browser) whether the body passes
/// or panics, so that a failing test leaves no browser behind.
async fn with_browser<F, Fut>(body: F)
where
    F: Fn(Browser) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for (kind, driver_bin) in browsers() {
        let (driver, client) = start(kind, &driver_bin).await;
        let outcome = tokio::spawn(body(Browser {
            client: client.clone(),
            name: kind.name,
        }))
        .await;
        let closed = client.close().await;
        drop(driver);
        if let Err(failure) = outcome {
            eprintln!("the browser test failed in {}", kind.name);
            match failure.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(failure) => panic!(
                    "the browser test did not finish in {}: {failure}",
                    kind.name
                ),
            }
        }
        closed.unwrap_or_else(|e| panic!("close the WebDriver session with {}: {e}", kind.name));
    }
}

/// Start `kind`'s driver on a free loopback port and open a session with its browser.
async fn start(kind: &BrowserKind, driver_bin: &Path) -> (Driver, Client) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let profile = TempDir::new(&format!("{}-profile", kind.name));
    let child = Command::new(driver_bin)
        .args((kind.driver_args)(port, profile.path()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({}): {e}",
                driver_bin.display(),
                kind.install
            )
        });
    let capabilities = (kind.capabilities)(profile.path());
    let driver = Driver {
        child,
        _profile: profile,
    };
    // Wait until the driver listens (start-up, not a timing assumption about the test).
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut ready = false;
    for _ in 0..200 {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "{} did not listen on {addr}", kind.driver);
    let Value::Object(capabilities) = capabilities else {
        unreachable!("an object literal");
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://{addr}"))
        .await
        .unwrap_or_else(|e| panic!("a WebDriver session with {}: {e}", kind.name));
    (driver, client)
}

impl Browser {
    /// Wait until `css` matches an element, and return it.
    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(UI_WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css} on the dashboard: {e}"))
    }

    /// Click the element `css` matches. The page redraws live, so an element found a moment
    /// ago may have been replaced: find it again then.
    async fn click(&self, css: &str) {
        let mut last = None;
        for _ in 0..10 {
            match self.element(css).await.click().await {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
        }
        panic!("cannot click {css}: {last:?}");
    }

    /// The text of the element `css` matches (found again if it was redrawn meanwhile).
    async fn text(&self, css: &str) -> String {
        let mut last = None;
        for _ in 0..10 {
            match self.element(css).await.text().await {
                Ok(text) => return text,
                Err(e) => last = Some(e),
            }
        }
        panic!("cannot read {css}: {last:?}");
    }

    /// Save a screenshot as `target/screenshots/BROWSER/NAME.png`.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/screenshots")
            .join(self.name);
        std::fs::create_dir_all(&dir).expect("create target/screenshots/BROWSER");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }
}

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
