//! Integration tests of fauxauth over real HTTP: one test binary, one module per area.

mod control;
mod load;
