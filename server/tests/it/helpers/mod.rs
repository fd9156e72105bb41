//! The server tests' one helpers module: start a server on port 0, drive the
//! authorization-code flow headlessly, small request shortcuts, decode a JWT (`jwt`), golden
//! files (`golden`), temporary directories and the HTTP client (files shared with the root
//! test binary, in `tests/common/`). Every test gets its own server.

#![allow(dead_code)] // not every test module uses every helper

mod golden;
#[path = "../../../../tests/common/http.rs"]
mod http;
#[path = "../../../../tests/common/https.rs"]
mod https;
mod jwt;
#[path = "../../../../tests/common/temp.rs"]
mod temp;
#[path = "../../../../tests/common/test_server.rs"]
mod test_server;

pub(crate) use golden::{assert_golden, normalise};
pub(crate) use http::{http_client, json};
pub(crate) use https::{discovery_and_token, trusting};
pub(crate) use jwt::{jwt_claims, jwt_header};
pub(crate) use temp::TempDir;
pub(crate) use test_server::*;
