//! Integration tests of the harness: one test binary, one module per area.

mod authcode;
mod external;
mod fake;
mod helpers;
mod reports;
mod revocation;
mod runner;
mod session;
