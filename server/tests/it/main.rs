//! The server's behaviour over real HTTP (RFC 6749, 6750, 7009, 7636, 7662, 8414, 8628, OpenID
//! Connect, the openai profile, the control plane): one binary, one module per area, using only
//! `fauxauth_server`'s public API. Every test starts its own server on `127.0.0.1:0`.

mod api;
mod authorize;
mod control;
mod dashboard;
mod device;
mod discovery;
mod hardening;
mod helpers;
mod in_memory;
mod openai;
mod proxy;
mod redirects;
mod refresh;
mod robustness;
mod signing;
mod tls;
mod token;
