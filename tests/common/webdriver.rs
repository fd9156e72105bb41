//! Real browsers for the root tests (`tests/it/browser.rs`): Debian's `chromium` (through
//! `chromedriver`) and Firefox (`firefox-esr`, through `geckodriver`), headless, driven over
//! WebDriver with `fantoccini`. [`with_browser`] runs a test body once per browser in
//! [`BROWSERS`]: `FAUXAUTH_BROWSER=chromium`, `=firefox` or `=chromium,firefox` names them
//! (each must be there); unset, it is every browser whose driver is found. A driver is found
//! through its variable (`CHROMEDRIVER`, `GECKODRIVER`), then on `PATH`, then in
//! `target/tools/bin/` (where `cargo install geckodriver --locked --root target/tools` puts
//! it). Nothing runs unless `FAUXAUTH_E2E_BROWSER=1`. Screenshots are saved to
//! `target/screenshots/BROWSER/`.

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::TempDir;

/// How long a browser-side condition may take to show (the page updates within a second;
/// this only bounds a failure).
pub(crate) const UI_WAIT: Duration = Duration::from_secs(20);

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
pub(crate) struct Browser {
    /// The WebDriver session.
    pub(crate) client: Client,
    /// Which browser it is ([`BrowserKind::name`]).
    pub(crate) name: &'static str,
}

/// Run `body` once in each browser [`browsers`] chooses, each time with a fresh headless
/// browser; the WebDriver session is closed (and with it the browser) whether the body passes
/// or panics, so that a failing test leaves no browser behind.
pub(crate) async fn with_browser<F, Fut>(body: F)
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
    pub(crate) async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(UI_WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css} on the dashboard: {e}"))
    }

    /// Click the element `css` matches. The page redraws live, so an element found a moment
    /// ago may have been replaced: find it again then.
    pub(crate) async fn click(&self, css: &str) {
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
    pub(crate) async fn text(&self, css: &str) -> String {
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
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
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
