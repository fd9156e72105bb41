//! Integration tests of the harness: one test binary, one module per area.

mod runner;
mod session;
