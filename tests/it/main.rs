//! The integration tests of the `fauxauth` binary and the harness as a user runs them: one
//! binary, one module per area — the CLI, `fauxauth serve`, `run`, `load`, and the end-to-end
//! tests with the real Codex CLI. The server's HTTP behaviour is tested in `server/tests/it`.

mod browser;
mod cli;
mod codex_cli;
mod helpers;
mod load;
mod openclaw;
mod packages;
mod run;
mod serve;
