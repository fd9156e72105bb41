//! The integration tests of fauxauth: one binary, one module per area. Every test starts its
//! own server on `127.0.0.1:0` and talks to it over real HTTP.

mod api;
mod authorize;
mod cli;
mod codex_cli;
mod control;
mod device;
mod discovery;
mod hardening;
mod helpers;
mod load;
mod openai;
mod readme;
mod redirects;
mod refresh;
mod robustness;
mod run;
mod signing;
mod tls;
mod token;
