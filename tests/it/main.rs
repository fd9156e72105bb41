//! The integration tests of the `fauxauth` package: one binary, one module per area.

mod codex_cli;
mod device;
mod openai;
