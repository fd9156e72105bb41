//! # fauxauth-conformance
//!
//! The conformance harness of fauxauth: reference OAuth clients on the `oauth2` crate, a
//! token manager with the seed's agent knobs, scenario files that drive a client through
//! expiry, refresh and failure, and reports like a test runner's.
//!
//! ## Layout
//! Each module imports only from the ones listed before it (no import cycles):
//! - [`client`]: the reference clients and the [`client::Session`] token manager.
//!   `client/types.rs` holds the leaf types every client file shares (grant kind, client-auth
//!   and PKCE methods, the login flow); `transport`, `error` and `oauth` sit on it; the
//!   credentials and authorization-code clients on those; `session/` (the token manager:
//!   configuration, renewal with single-flight, API calls, revocation) on top.
//! - [`scenario`]: the scenario file format ([`scenario::model`]), reading a file with
//!   positions (`scenario::file`), what a run leaves behind ([`scenario::records`]), judging
//!   (`scenario::expect`), the scenario's control-plane adapter (`scenario::control_plane`)
//!   and the runner (`scenario::run`), which hands external programs to `external`.
//! - `external`: running your own client program and judging it by the event log: its
//!   environment, spawning it in a process group, judging its exit and the log.
//! - [`report`]: terminal, JSON and JUnit XML reports of [`scenario::records`].
//! - [`loadtest`]: `fauxauth load`, many simulated agents refreshing tokens under concurrency.

#![warn(missing_docs)]

pub mod client;
pub(crate) mod external;
pub mod loadtest;
pub mod report;
pub mod scenario;
