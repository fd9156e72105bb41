//! Integration tests of the harness: one test binary, one module per area.

mod authcode;
mod external;
mod fake;
mod revocation;
mod runner;
mod session;
