//! # fauxauth-conformance
//!
//! The conformance harness of fauxauth: reference OAuth clients on the `oauth2` crate, a
//! token manager with the seed's agent knobs, scenario files that drive a client through
//! expiry, refresh and failure, and reports like a test runner's.
//!
//! ## Layout
//! - [`client`]: the reference clients and the [`client::Session`] token manager.
//! - [`scenario`]: the scenario file format, loading with positions, running, judging.
//! - [`external`]: running your own client program and judging it by the event log.
//! - [`report`]: terminal, JSON and JUnit XML reports.
//! - [`load`]: `fauxauth load`, many simulated agents refreshing tokens under concurrency.

#![warn(missing_docs)]

pub mod client;
pub mod external;
pub mod load;
pub mod report;
pub mod scenario;
