//! The root tests' one helpers module: the `fauxauth` binary (path, a command for it, its
//! ready line), and — in files shared with the server's test binary (`tests/common/`) — the
//! HTTP client, the HTTPS round trip, and temporary directories.

#![allow(dead_code)] // not every test module uses every helper

use std::time::Duration;

#[path = "../../common/http.rs"]
mod http;
#[path = "../../common/https.rs"]
mod https;
#[path = "../../common/temp.rs"]
mod temp;
#[path = "../../common/test_server.rs"]
mod test_server;

pub(crate) use http::http_client;
pub(crate) use https::{discovery_and_token, trusting};
pub(crate) use temp::{TempDir, TempFile};
pub(crate) use test_server::{SEED_SCOPE, TestServer, pkce};

/// The `fauxauth` binary Cargo built for these tests.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_fauxauth");

/// A blocking command running the `fauxauth` binary (add the subcommand and arguments).
pub(crate) fn fauxauth() -> std::process::Command {
    std::process::Command::new(BIN)
}

/// `fauxauth serve --addr 127.0.0.1:0` (add more arguments) as a child to spawn: stdin closed,
/// stdout piped (for [`ready_url`]), stderr discarded, killed if dropped.
pub(crate) fn serve_command() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// Send `signal` (`"TERM"`, `"INT"`, `"KILL"`) to process `pid`; whether that succeeded.
pub(crate) fn signal(pid: u32, signal: &str) -> bool {
    use nix::sys::signal::{Signal, kill};
    let signal = match signal {
        "TERM" => Signal::SIGTERM,
        "INT" => Signal::SIGINT,
        "KILL" => Signal::SIGKILL,
        other => panic!("not a signal these tests send: {other}"),
    };
    i32::try_from(pid).is_ok_and(|pid| kill(nix::unistd::Pid::from_raw(pid), signal).is_ok())
}

/// Wait (at most 30 s) for `fauxauth serve`'s ready line on `stdout` and return the URL it
/// announces. Panics with the line if it is not `fauxauth listening on URL`.
pub(crate) async fn ready_url<R>(stdout: &mut R) -> String
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    use tokio::io::AsyncBufReadExt as _;
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line))
        .await
        .expect("a ready line in time")
        .expect("read stdout");
    line.strip_suffix('\n')
        .and_then(|l| l.strip_prefix("fauxauth listening on "))
        .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
        .to_owned()
}
