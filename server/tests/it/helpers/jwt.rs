//! The one JWT decoder of the tests: `jsonwebtoken`'s own (`decode_header` and
//! `dangerous::insecure_decode`), with no signature check — the tests that verify signatures
//! do so with the JWKS (`signing.rs`). Every token is first checked to be in the compact
//! serialisation: three segments, each base64url without padding (RFC 7515 §2, §7.1).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Panic unless `jwt` is three base64url segments without padding.
fn assert_compact(jwt: &str) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "three segments: {jwt}");
    for part in &parts {
        assert!(
            part.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "segment is base64url without padding: {part}"
        );
    }
    // jsonwebtoken decodes the header and payload (strictly, without padding); the signature
    // must decode too.
    URL_SAFE_NO_PAD
        .decode(parts[2])
        .expect("signature is base64url without padding");
}

/// A JWT's claims, not verified.
pub(crate) fn jwt_claims(token: &str) -> Value {
    assert_compact(token);
    jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .expect("a JWT with a JSON payload")
        .claims
}

/// A JWT's header as JSON (`alg`, `kid`, `typ`, …), not verified.
pub(crate) fn jwt_header(token: &str) -> Value {
    assert_compact(token);
    let header = jsonwebtoken::decode_header(token).expect("a JWT header");
    serde_json::to_value(header).expect("the header as JSON")
}
