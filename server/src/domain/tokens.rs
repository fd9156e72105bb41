//! Minting and verifying JWTs: access tokens and OpenID Connect ID tokens.
//!
//! Expiry is judged by the server's [`Clock`](crate::base::clock::Clock), never by the system time:
//! the JWT library's own `exp` check is off, and [`verify_access_token`] compares `exp` with
//! the `now` it is given.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::base::clock::expired_for;
use crate::domain::keys::{KeyRing, SigningKey, encode_header, jwt_algorithm};

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user, or the client for client credentials.
    pub sub: String,
    /// Audience: the model API.
    pub aud: Value,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scope, space-delimited.
    pub scope: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// Not before (Unix seconds), if the token says (this server's tokens do not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Unique token id.
    pub jti: String,
    /// The grant (session) the token belongs to; revoking it revokes the token.
    pub sid: String,
    /// Profile-specific claims.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AccessClaims {
    /// Whether the space-delimited `scope` holds `wanted`.
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope.split(' ').any(|s| s == wanted)
    }
}

/// Claims of an ID token (OpenID Connect Core §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdClaims {
    /// Issuer.
    pub iss: String,
    /// Subject.
    pub sub: String,
    /// Audience: the client id.
    pub aud: String,
    /// Expires at.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// When the user authenticated.
    pub auth_time: u64,
    /// The `nonce` of the authorization request, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Session id.
    pub sid: String,
    /// User and profile claims.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, or not one of ours.
    #[error("the access token is malformed")]
    Malformed,
    /// Signed by a key we do not know (or one whose grace period is over).
    #[error("the access token was signed by an unknown or retired key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the access token signature is invalid")]
    BadSignature,
    /// Issued by another issuer.
    #[error("the access token was issued by another issuer")]
    WrongIssuer,
    /// Past `exp` by the server's clock.
    #[error("the access token expired {ago}s ago")]
    Expired {
        /// Seconds since expiry.
        ago: u64,
    },
    /// The JOSE header's `typ` is not `at+jwt` (RFC 9068 §4).
    #[error("the access token is not an access token: its header typ must be at+jwt")]
    WrongType,
    /// Issued for another audience (RFC 7519 §4.1.3).
    #[error("the access token was issued for another audience")]
    WrongAudience,
    /// Before its `nbf` by the server's clock (RFC 7519 §4.1.5).
    #[error("the access token is not valid yet (nbf is {ahead}s ahead)")]
    NotYetValid {
        /// Whole seconds until `nbf` (rounded up).
        ahead: u64,
    },
    /// Revoked (directly, or with its grant).
    #[error("the access token has been revoked")]
    Revoked,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Sign `claims` with `key`, with `kid` and `typ` in the header.
///
/// The compact JWS (RFC 7515 §7.1) is assembled here rather than by `jsonwebtoken::encode`,
/// so that the signature comes from the key pair [`SigningKey`] parsed once (see its docs for
/// the measured reason); the header is still jsonwebtoken's [`Header`], and tokens are
/// verified by jsonwebtoken in [`decode_verified`].
pub fn sign<T: Serialize>(key: &SigningKey, typ: &str, claims: &T) -> Result<String, TokenError> {
    let mut jws = String::with_capacity(JWS_CAPACITY);
    match key.encoded_header(typ) {
        Some(encoded) => jws.push_str(encoded),
        None => URL_SAFE_NO_PAD.encode_string(
            encode_header(key.alg, &key.kid, typ)
                .map_err(|e| TokenError::Signing(e.to_string()))?,
            &mut jws,
        ),
    }
    jws.push('.');
    push_b64_json(claims, &mut jws)?;
    let signature = key
        .sign(jws.as_bytes())
        .map_err(|e| TokenError::Signing(e.to_string()))?;
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
    Ok(jws)
}

/// The JWS buffer's first capacity: an ES256 or EdDSA access token fits (about 600 bytes), and
/// it stays under glibc's 1 KiB large-request threshold, where each allocation would first
/// consolidate the allocator's fast bins (a visible cost in the token endpoint's profile).
/// Larger tokens (RS256, ID tokens with many claims) grow the buffer once.
const JWS_CAPACITY: usize = 1000;

/// The claims buffer's first capacity: the usual claims (300-450 bytes of JSON) fit without
/// the reallocations `serde_json::to_vec`'s 128-byte start would make.
const CLAIMS_CAPACITY: usize = 512;

/// Append base64url(JSON(`value`)) to `out`.
fn push_b64_json<T: Serialize + ?Sized>(value: &T, out: &mut String) -> Result<(), TokenError> {
    let mut bytes = Vec::with_capacity(CLAIMS_CAPACITY);
    serde_json::to_writer(&mut bytes, value).map_err(|e| TokenError::Signing(e.to_string()))?;
    URL_SAFE_NO_PAD.encode_string(bytes, out);
    Ok(())
}

/// Verify a JWT's signature against the ring at `now` and decode its claims, without judging
/// expiry (callers decide what expiry means for them).
pub fn decode_verified<T: serde::de::DeserializeOwned>(
    ring: &KeyRing,
    token: &str,
    now: SystemTime,
    issuer: &str,
) -> Result<T, TokenError> {
    decode_verified_by(ring, token, now, issuer).map(|(claims, _)| claims)
}

/// As [`decode_verified`], and also the key that verified the signature.
fn decode_verified_by<'r, T: serde::de::DeserializeOwned>(
    ring: &'r KeyRing,
    token: &str,
    now: SystemTime,
    issuer: &str,
) -> Result<(T, &'r Arc<SigningKey>), TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    let key = ring.find(&kid, now).ok_or(TokenError::UnknownKey)?;
    if header.alg != jwt_algorithm(key.alg) {
        return Err(TokenError::BadSignature);
    }
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<T>(token, key.decoding_key(), &validation)
        .map(|data| (data.claims, key))
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
            jsonwebtoken::errors::ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            _ => TokenError::Malformed,
        })
}

/// Verify an access token: signature, issuer, and expiry by `now`.
pub fn verify_access_token(
    ring: &KeyRing,
    token: &str,
    now: SystemTime,
    issuer: &str,
) -> Result<AccessClaims, TokenError> {
    let claims: AccessClaims = decode_verified(ring, token, now, issuer)?;
    if let Some(ago) = expired_for(now, claims.exp) {
        return Err(TokenError::Expired { ago });
    }
    Ok(claims)
}

/// Verify an access token completely (RFC 9068 §4): the header `typ` (`at+jwt`), signature,
/// issuer, audience (`aud` is `audience` or a list holding it), and `nbf` and `exp` by `now`
/// (the server's clock).
pub fn verify_access_token_for(
    ring: &KeyRing,
    token: &str,
    now: SystemTime,
    issuer: &str,
    audience: &str,
) -> Result<AccessClaims, TokenError> {
    let signed = verify_signed_access(ring, token, now, issuer)?;
    judge_access(&signed, now, audience)?;
    Ok(signed.claims)
}

/// What verifying an access token's signature and issuer established: everything about it
/// that cannot change while the key that verified it stays the same key. The rest (`typ`,
/// audience, `nbf`, `exp`) is judged by [`judge_access`].
#[derive(Debug, Clone)]
pub(crate) struct SignedAccess {
    /// The decoded claims; `iss` is the issuer it was verified against.
    pub claims: AccessClaims,
    /// Whether the header `typ` is `at+jwt` (or `application/at+jwt`).
    pub typ_ok: bool,
    /// The key that verified the signature (its `kid` is the header's).
    pub key: Arc<SigningKey>,
}

/// The first half of [`verify_access_token_for`]: the header, the signature by a key of
/// `ring` valid at `now`, and the issuer.
pub(crate) fn verify_signed_access(
    ring: &KeyRing,
    token: &str,
    now: SystemTime,
    issuer: &str,
) -> Result<SignedAccess, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    let typ_ok = header.typ.as_deref().is_some_and(|typ| {
        typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
    });
    let (claims, key) = decode_verified_by::<AccessClaims>(ring, token, now, issuer)?;
    Ok(SignedAccess {
        claims,
        typ_ok,
        key: key.clone(),
    })
}

/// The second half of [`verify_access_token_for`], for a token whose signature verified:
/// the header `typ`, the audience, and `nbf` and `exp` by `now`. (The signature is judged
/// first: an unsigned claim says nothing.)
pub(crate) fn judge_access(
    signed: &SignedAccess,
    now: SystemTime,
    audience: &str,
) -> Result<(), TokenError> {
    if !signed.typ_ok {
        return Err(TokenError::WrongType);
    }
    let claims = &signed.claims;
    let aud_ok = match &claims.aud {
        Value::String(aud) => aud == audience,
        Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(TokenError::WrongAudience);
    }
    if let Some(nbf) = claims.nbf
        && let Some(ahead) = not_before(now, nbf)
    {
        return Err(TokenError::NotYetValid { ahead });
    }
    if let Some(ago) = expired_for(now, claims.exp) {
        return Err(TokenError::Expired { ago });
    }
    Ok(())
}

/// `Some(whole seconds ahead, rounded up)` while `now` is before `nbf`.
fn not_before(now: SystemTime, nbf: u64) -> Option<u64> {
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(nbf))?;
    at.duration_since(now)
        .ok()
        .filter(|ahead| !ahead.is_zero())
        .map(|ahead| ahead.as_secs() + u64::from(ahead.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::config::SigningAlg;
    use crate::domain::keys::ISSUED_TYPES;
    use jsonwebtoken::Algorithm;
    use std::time::Duration;

    fn claims(iat: u64, exp: u64) -> AccessClaims {
        AccessClaims {
            iss: "http://127.0.0.1:1".into(),
            sub: "u".into(),
            aud: Value::String("api".into()),
            client_id: "c".into(),
            scope: "openid model.request".into(),
            iat,
            exp,
            nbf: None,
            jti: "j".into(),
            sid: "s".into(),
            extra: Map::new(),
        }
    }

    #[test]
    fn round_trip_for_every_algorithm_and_expiry_by_clock() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let key = SigningKey::shared(alg).expect("key");
            let ring = KeyRing::new(key.clone());
            let jwt = sign(&key, "at+jwt", &claims(1000, 4600)).expect("sign");
            assert!(!jwt.contains('='), "base64url without padding");
            let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
            let ok =
                verify_access_token(&ring, &jwt, at(1000), "http://127.0.0.1:1").expect("valid");
            assert!(ok.has_scope("model.request"));
            assert_eq!(
                verify_access_token(&ring, &jwt, at(4661), "http://127.0.0.1:1"),
                Err(TokenError::Expired { ago: 61 })
            );
            assert_eq!(
                verify_access_token(&ring, &jwt, at(1000), "http://other"),
                Err(TokenError::WrongIssuer)
            );
        }
    }

    #[test]
    fn cached_and_fresh_headers_are_the_same_header() {
        let key = SigningKey::shared(SigningAlg::ES256).expect("key");
        for typ in ISSUED_TYPES {
            let fresh = encode_header(key.alg, &key.kid, typ).expect("header");
            assert_eq!(
                key.encoded_header(typ),
                Some(URL_SAFE_NO_PAD.encode(fresh).as_str())
            );
        }
        assert_eq!(key.encoded_header("other"), None);
        let jwt = sign(&key, "other", &claims(1000, 4600)).expect("sign");
        let header = jsonwebtoken::decode_header(&jwt).expect("header");
        assert_eq!(header.typ.as_deref(), Some("other"));
        assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
        assert_eq!(header.alg, Algorithm::ES256);
        let jwt = sign(&key, "at+jwt", &claims(1000, 4600)).expect("sign");
        let header = jsonwebtoken::decode_header(&jwt).expect("header");
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let key = SigningKey::shared(SigningAlg::ES256).expect("key");
        let ring = KeyRing::new(key.clone());
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let jwt = sign(&key, "at+jwt", &claims(1000, 4600)).expect("sign");
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let forged_payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&claims(1000, 99_999)).expect("json"),
        );
        parts[1] = &forged_payload;
        let forged = parts.join(".");
        assert_eq!(
            verify_access_token(&ring, &forged, now, "http://127.0.0.1:1"),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify_access_token(&ring, "garbage", now, "http://127.0.0.1:1"),
            Err(TokenError::Malformed)
        );
        let other = Arc::new(SigningKey::generate(SigningAlg::ES256).expect("key"));
        let foreign = sign(&other, "at+jwt", &claims(1000, 4600)).expect("sign");
        assert_eq!(
            verify_access_token(&ring, &foreign, now, "http://127.0.0.1:1"),
            Err(TokenError::UnknownKey)
        );
    }
}
