//! The `fauxauth` binary and configuration files: the ready line, graceful shutdown, and
//! errors that name `file:line:column`.

use std::process::Stdio;
use std::time::Duration;

use fauxauth_server::ServerConfig;
use tokio::io::{AsyncReadExt as _, BufReader};
use tokio::process::Command;

use crate::helpers::{BIN, TempFile, http_client, ready_url, serve_command, signal};

const BAD_KEY: &str = "access_token_ttl: 60m\nacess_token_ttl: 1h\n";

#[test]
fn config_file_with_a_bad_key_names_file_line_and_column() {
    let file = TempFile::new("bad.yaml", BAD_KEY);
    let err = ServerConfig::from_file(file.path()).expect_err("unknown key");
    let text = err.to_string();
    let expected = format!("{}:2:1", file.path().display());
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
    let text = ServerConfig::from_file(file.path())
        .expect_err("public client with client credentials")
        .to_string();
    assert!(
        text.starts_with(&format!("{}:3:", file.path().display())),
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
        .arg(file.path())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run fauxauth");
    assert!(!output.status.success(), "{:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:2:1", file.path().display())),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no ready line");
}

/// A failure is one line that says what and why, once: no "Caused by" repeating the cause the
/// message already names, and no backtrace even where RUST_BACKTRACE is set.
#[tokio::test]
async fn a_missing_config_file_is_one_line_naming_the_file_and_the_cause() {
    let missing =
        std::env::temp_dir().join(format!("fauxauth-missing-{}.yaml", std::process::id()));
    let output = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--config"])
        .arg(&missing)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run fauxauth");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "Error: {}: cannot read the config file: ",
            missing.display()
        )),
        "{stderr}"
    );
    assert_eq!(lines[0].matches("No such file").count(), 1, "{stderr}");
}

#[tokio::test]
async fn serve_refuses_an_event_capacity_of_zero() {
    let output = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--event-capacity", "0"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run fauxauth");
    assert!(!output.status.success(), "{:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--event-capacity must be at least 1"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no ready line");
}

#[tokio::test]
async fn serve_prints_exactly_one_ready_line_and_stops_on_sigterm() {
    let mut child = serve_command().spawn().expect("spawn fauxauth");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let url = ready_url(&mut reader).await;
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

    assert!(signal(child.id().expect("pid"), "TERM"), "kill -TERM");
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

/// SIGINT (Ctrl-C) stops `fauxauth serve` as gracefully as SIGTERM: exit status 0, and the
/// `--events` file holds every request made before the signal.
#[tokio::test]
async fn serve_stops_gracefully_on_sigint_with_a_complete_event_file() {
    let events = TempFile::new("events.jsonl", "");
    let mut child = serve_command()
        .arg("--events")
        .arg(events.path())
        .spawn()
        .expect("spawn fauxauth");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let url = ready_url(&mut reader).await;
    let http = http_client();
    const N: usize = 5;
    for _ in 0..N {
        let status = http
            .get(format!("{url}/.well-known/jwks.json"))
            .send()
            .await
            .expect("jwks")
            .status();
        assert_eq!(status, 200);
    }
    assert!(signal(child.id().expect("pid"), "INT"), "kill -INT");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after SIGINT")
        .expect("wait");
    assert!(status.success(), "graceful exit: {status:?}");
    let text = std::fs::read_to_string(events.path()).expect("event file");
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON line")["seq"]
                .as_u64()
                .expect("seq")
        })
        .collect();
    assert_eq!(seqs, (1..=N as u64).collect::<Vec<_>>());
}

#[test]
fn the_complete_example_in_docs_config_is_valid() {
    let doc = include_str!("../../docs/CONFIG.md");
    let start = doc.find("```yaml\n").expect("a YAML example") + "```yaml\n".len();
    let end = start + doc[start..].find("```").expect("end of the example");
    let config = ServerConfig::from_yaml(&doc[start..end], "docs/CONFIG.md")
        .unwrap_or_else(|e| panic!("the documented example is invalid: {e}"));
    assert_eq!(config.effective_clients().len(), 2);
    assert_eq!(config.access_token_ttl.as_secs(), 3600);
}

/// The keys the parser accepts at one level, from its "unknown key" message.
fn accepted_keys(yaml: &str) -> Vec<String> {
    let err = ServerConfig::from_yaml(yaml, "probe.yaml")
        .expect_err("unknown key")
        .to_string();
    let list = err
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("no key list in {err}"));
    list.split(", ").map(|k| k.trim().to_owned()).collect()
}

#[test]
fn every_config_key_is_documented_in_docs_config() {
    let doc = include_str!("../../docs/CONFIG.md");
    for (level, probe) in [
        ("top level", "no_such_key: 1\n"),
        ("user", "user:\n  no_such_key: 1\n"),
        ("control", "control:\n  no_such_key: 1\n"),
        ("device", "device:\n  no_such_key: 1\n"),
        (
            "clients[]",
            "clients:\n  - client_id: a\n    no_such_key: 1\n",
        ),
    ] {
        let keys = accepted_keys(probe);
        assert!(keys.len() > 2, "{level}: {keys:?}");
        for key in keys {
            assert!(
                doc.contains(&format!("| `{key}` |")),
                "{level} key `{key}` has no row in docs/CONFIG.md"
            );
        }
    }
    // The documented error example has the real shape.
    let err = ServerConfig::from_yaml(
        "issuer: http://127.0.0.1:8080\nacess_token_ttl: 1h\n",
        "bad.yaml",
    )
    .expect_err("unknown key")
    .to_string();
    let head = "bad.yaml:2:1: unknown key `acess_token_ttl`, expected one of profile,";
    assert!(err.starts_with(head), "{err}");
    assert!(doc.contains(&format!("Error: {head}")));
}

/// Run `fauxauth serve` with `RUST_LOG=log_level`, drive a few flows, stop it, and return
/// (stderr, secrets that must not appear in it).
async fn serve_and_collect_logs(log_level: &str) -> (String, Vec<String>) {
    let mut child = serve_command()
        .env("RUST_LOG", log_level)
        .env("RUST_BACKTRACE", "0")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fauxauth");
    let mut stderr = child.stderr.take().expect("stderr");
    let collect = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let url = ready_url(&mut reader).await;
    let http = http_client();
    let mut secrets = vec!["fauxauth-service-secret".to_owned()];
    let token: serde_json::Value = http
        .post(format!("{url}/oauth/token"))
        .basic_auth("fauxauth-service", Some("fauxauth-service-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    let access = token["access_token"].as_str().expect("access").to_owned();
    let signature = access.rsplit('.').next().expect("signature").to_owned();
    let _ = http
        .post(format!("{url}/v1/responses"))
        .bearer_auth(&access)
        .json(&serde_json::json!({"input": "hi"}))
        .send()
        .await
        .expect("api");
    // A wrong secret, and a forged token, must not be logged either.
    let _ = http
        .post(format!("{url}/oauth/token"))
        .basic_auth("fauxauth-service", Some("wrong-secret-value"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    let _ = http
        .post(format!("{url}/oauth/introspect"))
        .basic_auth("fauxauth-service", Some("fauxauth-service-secret"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .expect("introspect");
    secrets.push("wrong-secret-value".to_owned());
    secrets.push(signature);
    let _ = signal(child.id().expect("pid"), "TERM");
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits");
    let logs = collect.await.expect("stderr task");
    (logs, secrets)
}

#[tokio::test]
async fn logs_never_contain_secrets_or_tokens() {
    for level in ["debug", "fauxauth=trace,fauxauth_server=trace"] {
        let (logs, secrets) = serve_and_collect_logs(level).await;
        assert!(!logs.is_empty(), "{level}: some logs were written");
        for secret in &secrets {
            assert!(
                !logs.contains(secret.as_str()),
                "{level}: {secret:?} appears in the logs:\n{logs}"
            );
        }
    }
}

#[tokio::test]
async fn logs_to_a_pipe_are_plain_text() {
    let (logs, _) = serve_and_collect_logs("info").await;
    assert!(logs.contains("fauxauth listening"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "no ANSI escapes: {logs:?}");
}

/// The ready line is honest: the default RS256 key (generated at start) exists when it is
/// printed, so the very first request gets a token signed with a 2048-bit key that verifies
/// with the published JWKS.
#[tokio::test]
async fn serve_signs_with_its_rs256_key_as_soon_as_it_is_ready() {
    use base64::Engine as _;
    use jsonwebtoken::jwk::JwkSet;

    let mut child = serve_command().spawn().expect("spawn fauxauth");
    let url = ready_url(&mut BufReader::new(child.stdout.take().expect("stdout"))).await;
    let http = http_client();
    let token: serde_json::Value = http
        .post(format!("{url}/oauth/token"))
        .basic_auth("fauxauth-service", Some("fauxauth-service-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    let access = token["access_token"].as_str().expect("access token");
    let jwks: JwkSet = http
        .get(format!("{url}/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("JWKS");
    let header = jsonwebtoken::decode_header(access).expect("JWT header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("the token's kid is published");
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        panic!("an RSA JWK: {jwk:?}");
    };
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&rsa.n)
        .expect("base64url modulus");
    assert_eq!(n.len() * 8 - n[0].leading_zeros() as usize, 2048);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("usable JWK");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[format!("{url}/v1")]);
    jsonwebtoken::decode::<serde_json::Value>(access, &key, &validation).expect("verifies");

    let _ = signal(child.id().expect("pid"), "TERM");
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
}

/// Run `fauxauth serve` with `args` until its ready line, stop it with SIGTERM, and return the
/// URL it announced and everything it wrote to stderr.
async fn serve_once(args: &[&str]) -> (String, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn fauxauth");
    let mut stderr = child.stderr.take().expect("stderr");
    let collect = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let url = ready_url(&mut BufReader::new(child.stdout.take().expect("stdout"))).await;
    let _ = signal(child.id().expect("pid"), "TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    assert!(status.success(), "graceful exit: {status:?}");
    (url, collect.await.expect("stderr task"))
}

/// Run the binary to completion with `args`.
async fn fauxauth(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run fauxauth")
}

#[tokio::test]
async fn serve_issuer_names_the_issuer_in_discovery_and_tokens() {
    let issuer = "http://auth.fauxauth.test:8443";
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--issuer", issuer])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn fauxauth");
    // The ready line names where to connect; the issuer is what clients are told.
    let url = ready_url(&mut BufReader::new(child.stdout.take().expect("stdout"))).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let doc: serde_json::Value = http_client()
        .get(format!("{url}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("JSON");
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["token_endpoint"], format!("{issuer}/oauth/token"));
    let _ = child.start_kill();
}

#[tokio::test]
async fn serve_refuses_an_issuer_that_is_not_an_origin() {
    for bad in ["auth.example", "http://auth.example/", "ftp://auth.example"] {
        let output = fauxauth(&["serve", "--addr", "127.0.0.1:0", "--issuer", bad]).await;
        assert_eq!(output.status.code(), Some(1), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("issuer"), "{bad}: {stderr}");
        assert!(stderr.contains(&format!("{bad:?}")), "{bad}: {stderr}");
        assert!(output.stdout.is_empty(), "{bad}: no ready line");
    }
}

#[tokio::test]
async fn serve_accepts_localhost_as_the_loopback_address() {
    let (url, stderr) = serve_once(&["--addr", "localhost:0"]).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with(":0"), "{url}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[tokio::test]
async fn serve_refuses_addresses_it_cannot_listen_on_with_what_to_write() {
    for (bad, says) in [
        ("localhost", "no port"),
        ("localhost:http", "not a number"),
        ("auth.example:8080", "not an IP address or localhost"),
        ("127.0.0.1", "no port"),
    ] {
        let output = fauxauth(&["serve", "--addr", bad]).await;
        assert_eq!(output.status.code(), Some(2), "{bad}: a usage error");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{bad}: {stderr}");
        assert!(stderr.contains("localhost:PORT"), "{bad}: {stderr}");
    }
}

#[tokio::test]
async fn serve_warns_when_remote_clients_would_be_sent_to_a_loopback_issuer() {
    for (args, warns) in [
        (&["--addr", "0.0.0.0:0", "--admin-token", "t0ken"][..], true),
        (
            &[
                "--addr",
                "0.0.0.0:0",
                "--admin-token",
                "t0ken",
                "--issuer",
                "http://localhost:8080",
            ][..],
            true,
        ),
        (
            &[
                "--addr",
                "0.0.0.0:0",
                "--admin-token",
                "t0ken",
                "--issuer",
                "http://auth.fauxauth.test:8080",
            ][..],
            false,
        ),
        (&["--addr", "127.0.0.1:0"][..], false),
    ] {
        let (_, stderr) = serve_once(args).await;
        let warned = stderr.contains("warning: listening on 0.0.0.0:");
        assert_eq!(warned, warns, "{args:?}: {stderr}");
        if warns {
            assert!(stderr.contains("--issuer http://HOST:"), "{stderr}");
        }
        assert!(!stderr.contains("t0ken"), "the admin token is never shown");
    }
}

#[tokio::test]
async fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef fauxauth"),
        ("fish", "complete -c fauxauth"),
    ] {
        let output = fauxauth(&["completions", shell]).await;
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        for word in ["serve", "completions", "--issuer", "authorization_code"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    let output = fauxauth(&["completions", "tcsh"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("possible values"));
}

#[tokio::test]
async fn man_prints_a_man_page() {
    let output = fauxauth(&["man"]).await;
    assert!(output.status.success(), "{output:?}");
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(page.contains(".TH fauxauth 1"), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "{section}: {page}");
    }
    assert!(page.contains("serve"), "{page}");
}

/// Flag values are spelled as in the files (`authorization_code`, `single_flight`); the
/// kebab-case spelling is accepted too, and the help shows the file spelling.
#[tokio::test]
async fn load_flag_values_are_spelled_as_in_the_files() {
    let help = fauxauth(&["load", "--help"]).await;
    let help = String::from_utf8_lossy(&help.stdout);
    for shown in [
        "[default: authorization_code]",
        "client_credentials",
        "[default: single_flight]",
        "RS256",
        "EdDSA",
    ] {
        assert!(help.contains(shown), "{shown}: {help}");
    }
    for (flow, refresh, reported) in [
        ("client_credentials", "single_flight", "client_credentials"),
        ("client-credentials", "single-flight", "client_credentials"),
        ("authorization_code", "naive", "authorization_code"),
        ("authorization-code", "none", "authorization_code"),
    ] {
        let output = fauxauth(&[
            "load",
            "--agents",
            "1",
            "--duration",
            "200ms",
            "--quiet",
            "--alg",
            "ES256",
            "--flow",
            flow,
            "--refresh",
            refresh,
        ])
        .await;
        // A verdict (0 PASS, 2 FAIL, 3 INVALID: 200 ms may measure nothing), not an error.
        assert!(
            matches!(output.status.code(), Some(0 | 2 | 3)),
            "{flow} {refresh}: {output:?}"
        );
        // The summary names the flow the agents used, as the flags and files spell it.
        let summary = String::from_utf8_lossy(&output.stdout);
        let line = summary
            .lines()
            .find(|l| l.trim_start().starts_with("flow "))
            .unwrap_or_else(|| panic!("no flow line: {summary}"));
        assert_eq!(line.split_whitespace().last(), Some(reported), "{flow}");
    }
    let output = fauxauth(&["load", "--flow", "password"]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[possible values: authorization_code, client_credentials]"),
        "{stderr}"
    );
}

/// Duration flags take the files' grammar: what a configuration file refuses (`1.5h`, a
/// negative, an unknown unit) a flag refuses with the same message, and what it accepts
/// (`1h30m`, a bare number of seconds) a flag accepts.
#[tokio::test]
async fn duration_flags_use_the_files_grammar_and_its_messages() {
    for flag in ["--duration", "--buffer", "--access-ttl"] {
        for bad in ["1.5h", "-5m", "3 fortnights", "10x"] {
            let file = TempFile::new("ttl.yaml", &format!("access_token_ttl: {bad:?}\n"));
            let from_file = ServerConfig::from_file(file.path())
                .expect_err("a file refuses it")
                .to_string();
            let message = fauxauth_server::duration::parse_duration(bad)
                .expect_err("the grammar refuses it")
                .to_string();
            assert!(
                from_file.contains(&message),
                "the file's message: {from_file}"
            );
            let output = fauxauth(&["load", &format!("{flag}={bad}"), "--quiet"]).await;
            assert_eq!(output.status.code(), Some(2), "{flag} {bad}: {output:?}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(&message), "{flag} {bad}: {stderr}");
        }
    }
    // What the files accept, the flags accept (clap's own check, no run: --help after them).
    for good in ["1h30m", "300", "90s", "1h 30m"] {
        let output = fauxauth(&["load", "--buffer", good, "--access-ttl", good, "--help"]).await;
        assert!(output.status.success(), "{good}: {output:?}");
    }
}
