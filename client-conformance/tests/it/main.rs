//! Integration tests of the harness: one test binary, one module per area.

mod authcode;
mod external;
mod runner;
mod session;
