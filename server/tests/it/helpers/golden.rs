//! Golden files of wire shapes (`server/tests/golden/openai/<name>.json`): volatile values normalised
//! first; `FAUXAUTH_BLESS=1` rewrites the files instead of comparing.

use std::path::PathBuf;

use serde_json::{Value, json};

/// Replace volatile values so a body can be compared with a golden file: the issuer becomes
/// `{issuer}`, and values under keys that hold tokens, ids and times become `<key>`.
pub(crate) fn normalise(value: &Value, issuer: &str) -> Value {
    const VOLATILE: &[&str] = &[
        "access_token",
        "refresh_token",
        "id_token",
        "authorization_code",
        "code_challenge",
        "code_verifier",
        "device_auth_id",
        "device_code",
        "user_code",
        "verification_uri_complete",
        "id",
        "created_at",
        "iat",
        "exp",
        "auth_time",
        "jti",
        "sid",
        "nbf",
        "expires_at",
    ];
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if VOLATILE.contains(&k.as_str()) && !v.is_null() {
                        json!(format!("<{k}>"))
                    } else {
                        normalise(v, issuer)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| normalise(v, issuer)).collect()),
        Value::String(s) => json!(s.replace(issuer, "{issuer}")),
        other => other.clone(),
    }
}

/// Compare `actual` (already normalised) with `server/tests/golden/openai/<name>.json`;
/// with `FAUXAUTH_BLESS=1`, write it instead.
pub(crate) fn assert_golden(name: &str, actual: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/openai")
        .join(format!("{name}.json"));
    let pretty = serde_json::to_string_pretty(actual).expect("json") + "\n";
    if std::env::var_os("FAUXAUTH_BLESS").is_some() {
        std::fs::write(&path, &pretty).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with FAUXAUTH_BLESS=1 to create it",
            path.display()
        )
    });
    let expected: Value = serde_json::from_str(&expected).expect("golden file is JSON");
    assert_eq!(
        &expected,
        actual,
        "{} differs; actual:\n{pretty}",
        path.display()
    );
}
