//! # fauxauth-conformance
//!
//! The conformance harness of fauxauth: reference OAuth clients on the `oauth2` crate, a
//! token manager with the seed's agent knobs, scenario files that drive a client through
//! expiry, refresh and failure, and reports like a test runner's.
//!
//! ## Layout
//! Each module imports only from the ones listed before it, and no two files import each
//! other (no import cycles):
//! - [`client`]: the reference clients and the [`client::Session`] token manager.
//!   `types.rs` holds the leaf types every client file shares (the client-auth method, the
//!   login flow; grant types and PKCE methods are the server's [`fauxauth_server::config`]
//!   types); `transport.rs`, `error.rs` and `oauth.rs` sit on it; the
//!   clients `credentials.rs` and `authcode.rs` on those; `session/` on top: `config.rs`
//!   (knobs, counters), `renewal.rs` (plan, single-flight renewal, expiry sources), `api.rs`
//!   (model API calls, challenges), `revoke.rs` (client revocation).
//! - [`scenario`]: `model/` (the file format: steps, expectations, counts; durations are the
//!   server's [`fauxauth_server::duration`] types),
//!   `file.rs` (file → [`scenario::Scenario`] with `file:line:col` errors),
//!   [`scenario::records`] (what a run leaves behind), `expect.rs` (judging records and
//!   events), `control_plane.rs` (the scenario's control-plane adapter: the only contact with
//!   the server's control plane), `client_config.rs`, and `run.rs` (the runner), which hands
//!   external programs to `external`.
//! - `external/`: running your own client program and judging it by the event log:
//!   `environment.rs` (its `FAUXAUTH_*` variables), `spawn.rs` (`sh -c`, its process group),
//!   `judge.rs` (its exit, output and the run's `expect`).
//! - [`report`]: terminal, JSON, JUnit XML and HTML reports of [`scenario::records`]. The
//!   HTML one (`html.rs`) renders `templates/run_report.html` (askama), which extends
//!   `templates/layout.html`, the harness's one page layout (blocks `title`, `head`,
//!   `content`; its style `layout.css` inlined), and draws its timelines with the server's
//!   `fauxauth_server::assets::TIMELINE_JS`.
//! - [`loadtest`]: `fauxauth load`, many simulated agents refreshing tokens under
//!   concurrency: `options.rs` (with the verdict's thresholds), `target.rs` (in-process
//!   server or `--target`), `agent.rs` (calls on a fixed schedule, each timed from it),
//!   `stats.rs`, `tap.rs`, `rss.rs`, `governor.rs` (slows virtual time under saturation),
//!   `verdict.rs` (PASS, FAIL or INVALID), `results.rs` (the JSON contract), `output.rs`
//!   (terminal and JSON), `plots.rs` (SVG figures), `html.rs` (the askama report on
//!   `templates/`), `progress.rs`, and the run itself in `mod.rs`.

#![warn(missing_docs)]

pub mod client;
pub(crate) mod external;
pub mod loadtest;
pub mod report;
pub mod scenario;
