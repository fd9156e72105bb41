use super::*;

fn err(text: &str) -> String {
    match ServerConfig::from_yaml(text, "cfg.yaml") {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn control_prefix_and_token_are_checked() {
    let config = ServerConfig::from_yaml(
        "control: {prefix: /_ctl, admin_token: t}\napproval: interactive\n",
        "c",
    )
    .expect("valid");
    assert_eq!(config.control.prefix, "/_ctl");
    assert_eq!(
        config.approval,
        crate::base::config::ApprovalMode::Interactive
    );
    for bad in [
        "control: {prefix: _ctl}\n",
        "control: {prefix: /ctl/}\n",
        "control: {prefix: /oauth}\n",
        "control: {prefix: /v1/ctl}\n",
        "control: {prefix: '/a b'}\n",
        "control: {admin_token: ' '}\n",
    ] {
        let e = err(bad);
        assert!(e.starts_with("cfg.yaml:1:"), "{bad}: {e}");
    }
    assert!(err("control: {prefx: /x}\n").contains("prefx"));
}

#[test]
fn empty_file_is_the_default() {
    let config = ServerConfig::from_yaml("", "cfg.yaml").expect("valid");
    assert_eq!(config, ServerConfig::default());
    assert_eq!(config.effective_clients().len(), 3);
}

#[test]
fn durations_parse_with_units() {
    let config = ServerConfig::from_yaml(
        "access_token_ttl: 90s\nrefresh_token_ttl: 30d\ncode_ttl: 2m\n",
        "c",
    )
    .expect("valid");
    assert_eq!(config.access_token_ttl.as_secs(), 90);
    assert_eq!(config.refresh_token_ttl.as_secs(), 30 * 86400);
    assert_eq!(config.code_ttl.as_secs(), 120);
}

#[test]
fn bad_duration_names_position_and_fix() {
    let e = err("access_token_ttl: soon\n");
    assert!(e.starts_with("cfg.yaml:1:"), "{e}");
    assert!(e.contains("60m"), "{e}");
}

#[test]
fn names_in_messages_are_the_configuration_names() {
    for mode in RedirectMatching::ALL {
        assert_eq!(
            serde_json::to_value(mode).expect("json"),
            mode.as_str(),
            "{mode:?}"
        );
        assert_eq!(mode.to_string(), mode.as_str());
    }
    for mode in ExpiredTokenMode::ALL {
        assert_eq!(serde_json::to_value(mode).expect("json"), mode.as_str());
    }
}

#[test]
fn a_fraction_is_refused_with_the_accepted_form_named() {
    for (text, shown) in [
        ("access_token_ttl: 300.5\n", "300.5"),
        ("access_token_ttl: 1.5h\n", "\"1.5h\""),
        ("device: { interval: 2.5 }\n", "2.5"),
    ] {
        let e = err(text);
        assert!(e.contains(shown), "{e}");
        assert!(e.contains("fractions are not supported"), "{e}");
        assert!(e.contains("a duration like 90s, 60m, 1h30m or 30d"), "{e}");
        assert!(!e.contains("not a valid value here"), "{e}");
    }
    let config = ServerConfig::from_yaml("access_token_ttl: 5400.0\ncode_ttl: 1m 30s\n", "c")
        .expect("whole numbers");
    assert_eq!(config.access_token_ttl.as_secs(), 5400);
    assert_eq!(config.code_ttl.as_secs(), 90);
}

#[test]
fn durations_serialise_in_the_grammar_they_are_read_in() {
    for secs in [0, 90, 5400, 30 * 86_400, 31 * 86_400 + 1] {
        let value = DurationValue::secs(secs);
        let json = serde_json::to_value(value).expect("json");
        let back: DurationValue = serde_json::from_value(json.clone()).expect("reads back");
        assert_eq!(back, value, "{json}");
    }
    assert_eq!(
        serde_json::to_value(DurationValue::secs(31 * 86_400 + 1)).expect("json"),
        "31d1s",
        "no months or years, which the grammar does not read"
    );
}

#[test]
fn unknown_key_is_an_error_with_position() {
    let e = err("issuer: http://127.0.0.1:1\nacess_token_ttl: 1h\n");
    assert!(e.starts_with("cfg.yaml:2:"), "{e}");
    assert!(e.contains("acess_token_ttl"), "{e}");
}

#[test]
fn relative_redirect_uri_is_located() {
    let e = err(
        "clients:\n  - client_id: a\n    redirect_uris:\n      - /callback\n    scopes: [model.request]\n",
    );
    assert!(e.starts_with("cfg.yaml:4:9:"), "{e}");
    assert!(e.contains("absolute"), "{e}");
}

#[test]
fn duplicate_client_id_is_located() {
    let e = err(
        "clients:\n  - client_id: a\n    client_secret: s\n    grant_types: [client_credentials]\n  - client_id: a\n    client_secret: t\n    grant_types: [client_credentials]\n",
    );
    assert!(e.starts_with("cfg.yaml:5:"), "{e}");
    assert!(e.contains("duplicate client_id"), "{e}");
}

#[test]
fn public_client_cannot_use_client_credentials() {
    let e = err("clients:\n  - client_id: a\n    grant_types: [client_credentials]\n");
    assert!(e.starts_with("cfg.yaml:3:"), "{e}");
    assert!(e.contains("public client"), "{e}");
}

#[test]
fn http_redirect_needs_loopback() {
    let e = err("clients:\n  - client_id: a\n    redirect_uris: [\"http://example.com/cb\"]\n");
    assert!(e.contains("https"), "{e}");
    let ok = "require_https_redirects: false\nclients:\n  - client_id: a\n    redirect_uris: [\"http://example.com/cb\"]\n";
    assert!(ServerConfig::from_yaml(ok, "c").is_ok());
}

#[test]
fn openai_profile_registers_codex_client() {
    let config = ServerConfig::from_yaml("profile: openai\n", "c").expect("valid");
    let clients = config.effective_clients();
    assert_eq!(clients.len(), 1);
    let codex = &clients[0];
    assert_eq!(codex.client_id, CODEX_CLIENT_ID);
    assert!(codex.is_public());
    assert!(codex.pkce_required());
    for uri in [
        "http://localhost:1455/auth/callback",
        "http://localhost:1457/auth/callback",
    ] {
        assert!(codex.redirect_uris.iter().any(|r| r == uri), "{uri}");
    }
    for scope in [
        "openid",
        "profile",
        "email",
        "offline_access",
        "api.connectors.read",
        "api.connectors.invoke",
        "model.request",
    ] {
        assert!(codex.scopes.iter().any(|s| s == scope), "{scope}");
    }
    // A `clients` key replaces the built-in client.
    let own = ServerConfig::from_yaml(
            "profile: openai\nclients:\n  - client_id: mine\n    client_secret: s\n    grant_types: [client_credentials]\n",
            "c",
        )
        .expect("valid");
    assert_eq!(own.effective_clients()[0].client_id, "mine");
}

#[test]
fn a_scope_the_client_cannot_use_is_located_with_the_fix() {
    let e = err(
        "clients:\n  - client_id: svc\n    client_secret: s\n    grant_types: [client_credentials]\n    scopes: [model.request, openid]\n",
    );
    assert!(e.starts_with("cfg.yaml:5:"), "{e}");
    assert!(e.contains("clients[0].scopes[1]"), "{e}");
    assert!(e.contains("openid needs a signed-in user"), "{e}");
    assert!(e.contains("drop the scope"), "{e}");
    let e = err(
        "clients:\n  - client_id: app\n    redirect_uris: [\"http://127.0.0.1:9/cb\"]\n    grant_types: [authorization_code]\n    scopes:\n      - openid\n      - offline_access\n",
    );
    assert!(e.starts_with("cfg.yaml:7:9:"), "{e}");
    assert!(e.contains("clients[0].scopes[1]"), "{e}");
    assert!(e.contains("grant_types lacks refresh_token"), "{e}");
    let e = err(
        "clients:\n  - client_id: app\n    redirect_uris: [\"http://127.0.0.1:9/cb\"]\n    scopes: [\"a\\\\b\"]\n",
    );
    assert!(e.contains("not a valid scope"), "{e}");
    // The same scopes are fine for a client with the grants they need.
    let ok = "clients:\n  - client_id: app\n    redirect_uris: [\"http://127.0.0.1:9/cb\"]\n    grant_types: [authorization_code, refresh_token]\n    scopes: [openid, offline_access]\n";
    assert!(ServerConfig::from_yaml(ok, "c").is_ok());
}

#[test]
fn expired_token_mode_and_device_settings_parse() {
    let config = ServerConfig::from_yaml(
            "api_expired_token: hang\ndevice:\n  auto_approve_after_polls: null\n  interval: 2s\n  ttl: 10m\n",
            "c",
        )
        .expect("valid");
    assert_eq!(config.api_expired_token, ExpiredTokenMode::Hang);
    assert_eq!(config.device.auto_approve_after_polls, None);
    assert_eq!(config.device.interval.as_secs(), 2);
    assert_eq!(config.device.ttl.as_secs(), 600);
    for mode in ExpiredTokenMode::ALL {
        assert_eq!(mode.as_str().parse::<ExpiredTokenMode>(), Ok(mode));
        let yaml = format!("api_expired_token: {}\n", mode.as_str());
        let config = ServerConfig::from_yaml(&yaml, "c").expect("every mode parses");
        assert_eq!(config.api_expired_token, mode);
        assert_eq!(
            serde_json::to_value(mode).expect("json"),
            serde_json::json!(mode.as_str())
        );
    }
    assert!("silent".parse::<ExpiredTokenMode>().is_err());
}

#[test]
fn bad_expired_token_mode_and_zero_interval_are_located() {
    let e = err("api_expired_token: silent\n");
    assert!(e.starts_with("cfg.yaml:1:"), "{e}");
    let e = err("device:\n  interval: 0s\n");
    assert!(e.starts_with("cfg.yaml:2:"), "{e}");
    assert!(e.contains("at least 1s"), "{e}");
}

#[test]
fn lifetimes_are_whole_seconds_between_1s_and_the_maximum() {
    // Sub-second lifetimes used to pass and round to `expires_in: 0`.
    let e = err("access_token_ttl: 500ms\n");
    assert!(e.starts_with("cfg.yaml:1:19:"), "{e}");
    assert!(e.contains("whole seconds"), "{e}");
    assert!(e.contains("500ms"), "{e}");
    let e = err("code_ttl: 1500ms\n");
    assert!(e.starts_with("cfg.yaml:1:11:"), "{e}");
    let e = err("refresh_reuse_grace: 500ms\n");
    assert!(e.starts_with("cfg.yaml:1:22:"), "{e}");
    let e = err("device:\n  ttl: 2500ms\n");
    assert!(e.starts_with("cfg.yaml:2:"), "{e}");
    // No upper bound used to let `now + ttl` overflow.
    let e = err("access_token_ttl: 18446744073709551615\n");
    assert!(e.starts_with("cfg.yaml:1:19:"), "{e}");
    assert!(e.contains("at most 3650d"), "{e}");
    let e = err("refresh_token_ttl: 3651d\n");
    assert!(e.contains("at most 3650d"), "{e}");
    let config = ServerConfig::from_yaml(
        "access_token_ttl: 1s\nrefresh_token_ttl: 3650d\ncode_ttl: 1m\nrefresh_reuse_grace: 0s\n",
        "c",
    )
    .expect("the bounds themselves are valid");
    assert_eq!(config.refresh_token_ttl.as_secs(), 3650 * 86_400);
}

#[test]
fn a_clients_own_lifetimes_are_checked_and_located() {
    let client = |line: &str| {
        format!(
            "clients:\n  - client_id: svc\n    client_secret: s\n    grant_types: [client_credentials]\n    {line}\n"
        )
    };
    let e = err(&client("access_token_ttl: 0s"));
    assert!(e.starts_with("cfg.yaml:5:23:"), "{e}");
    assert!(e.contains("clients[0].access_token_ttl"), "{e}");
    assert!(e.contains("at least 1s"), "{e}");
    let e = err(&client("refresh_token_ttl: 100ms"));
    assert!(e.starts_with("cfg.yaml:5:24:"), "{e}");
    assert!(e.contains("whole seconds"), "{e}");
    let e = err(&client("access_token_ttl: 4000d"));
    assert!(e.contains("at most 3650d"), "{e}");
    assert!(ServerConfig::from_yaml(&client("access_token_ttl: 5m"), "c").is_ok());
}

#[test]
fn builtin_config_is_valid() {
    let config = ServerConfig {
        clients: Some(builtin_clients()),
        ..ServerConfig::default()
    };
    assert_eq!(config.validate(), vec![]);
    let openai = ServerConfig {
        clients: Some(openai_clients()),
        ..ServerConfig::default()
    };
    assert_eq!(openai.validate(), vec![]);
}
