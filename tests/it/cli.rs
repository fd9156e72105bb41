//! The `fauxauth` binary and configuration files: the ready line, graceful shutdown, and
//! errors that name `file:line:column`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fauxauth_server::ServerConfig;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::process::Command;

use crate::helpers::http_client;

const BIN: &str = env!("CARGO_BIN_EXE_fauxauth");

/// A file in a fresh temporary directory, removed on drop.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let mut nonce = [0u8; 8];
        aws_lc_rs::rand::fill(&mut nonce).expect("random");
        let dir = std::env::temp_dir().join(format!("fauxauth-it-{}", hex(&nonce)));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write temp file");
        Self { dir, path }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const BAD_KEY: &str = "access_token_ttl: 60m\nacess_token_ttl: 1h\n";

#[test]
fn config_file_with_a_bad_key_names_file_line_and_column() {
    let file = TempFile::new("bad.yaml", BAD_KEY);
    let err = ServerConfig::from_file(&file.path).expect_err("unknown key");
    let text = err.to_string();
    let expected = format!("{}:2:1", file.path.display());
    assert!(text.starts_with(&expected), "{text}");
    assert!(text.contains("acess_token_ttl"), "{text}");
    assert!(
        !text.contains("at line"),
        "the position once, in front: {text}"
    );
}

#[test]
fn config_file_with_a_bad_value_names_its_position() {
    let file = TempFile::new(
        "clients.yaml",
        "clients:\n  - client_id: a\n    grant_types: [client_credentials]\n",
    );
    let text = ServerConfig::from_file(&file.path)
        .expect_err("public client with client credentials")
        .to_string();
    assert!(
        text.starts_with(&format!("{}:3:", file.path.display())),
        "{text}"
    );
    assert!(
        text.contains("client_secret"),
        "says what to change: {text}"
    );
}

#[tokio::test]
async fn serve_with_a_bad_config_exits_non_zero_and_prints_the_position() {
    let file = TempFile::new("bad.yaml", BAD_KEY);
    let output = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--config"])
        .arg(&file.path)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run fauxauth");
    assert!(!output.status.success(), "{:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:2:1", file.path.display())),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no ready line");
}

#[tokio::test]
async fn serve_prints_exactly_one_ready_line_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn fauxauth");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut line))
        .await
        .expect("a ready line in time")
        .expect("read stdout");
    let url = line
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix("fauxauth listening on "))
        .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with(":0"), "the real port: {url}");

    let doc: serde_json::Value = http_client()
        .get(format!("{url}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("JSON");
    assert_eq!(doc["issuer"], url.as_str());

    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    assert!(status.success(), "graceful exit: {status:?}");
    let mut rest = String::new();
    reader
        .read_to_string(&mut rest)
        .await
        .expect("rest of stdout");
    assert_eq!(rest, "", "exactly one line on stdout");
}
