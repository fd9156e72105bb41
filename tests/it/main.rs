//! The integration tests of the `fauxauth` package: one binary, one module per area.

mod device;
mod openai;
