//! Integration tests of fauxauth over real HTTP: one test binary, one module per area. Every
//! test starts its own server on `127.0.0.1:0`.

mod api;
mod authorize;
mod cli;
mod control;
mod discovery;
mod helpers;
mod readme;
mod redirects;
mod refresh;
mod robustness;
mod signing;
mod tls;
mod token;
