//! A cache of verified access tokens, so that a token presented many times (an agent sends
//! one token with every API call) has its signature checked once.
//!
//! Only what signature and issuer verification established is remembered (the decoded
//! claims, whether the header `typ` was right, the key that verified it:
//! [`SignedAccess`]). On every hit the rest is judged again as if the token were new:
//! - the key must still be in the ring and valid at `now` (`KeyRing::find`), and be the
//!   *same* key object ([`Arc::ptr_eq`]; the entry holds the `Arc`, so its address cannot
//!   be reused by another key while the entry lives). A key rotated out past its grace, or
//!   removed (a control-plane `reset`), or replaced by another key under the same `kid`, is
//!   not trusted. This check is what makes the cache safe across key-ring changes; nothing
//!   has to clear it when the ring changes.
//! - the issuer (a string comparison with the claims' `iss`);
//! - the header `typ`, the audience, and `nbf` and `exp` by the `now` given (the server's
//!   clock, virtual or not), by the same [`judge_access`] as an uncached verification.
//!
//! Revocation is not judged here: callers check it after, cached or not.
//!
//! So a hit gives the same answer, error for error, as [`verify_access_token_for`]. Only
//! tokens that verified completely are inserted; an entry found expired or signed by a key
//! that is gone is removed. The cache holds at most [`CAPACITY`] entries (S3-FIFO eviction,
//! `quick_cache`), keyed by the SHA-256 of the whole token: an exact match, 32 bytes per key
//! rather than the token's few hundred.
//!
//! [`verify_access_token_for`]: crate::domain::tokens::verify_access_token_for

use std::sync::Arc;
use std::time::SystemTime;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use quick_cache::sync::Cache;

use crate::domain::keys::{KeyRing, SigningKey};
use crate::domain::tokens::{
    AccessClaims, SignedAccess, TokenError, judge_access, verify_signed_access,
};

/// How many verified tokens a server remembers: one live token for each of `fauxauth load`'s
/// 100 000 agents. An entry is a 32-byte key and the claims, about 330 bytes in all
/// (measured: `fauxauth load --agents 20000` peaks 6.6 MiB higher with the cache), so a
/// full cache takes about 40 MiB. With 64 Ki entries, 100 000 tokens presented in turn
/// were found 69 % of the time (S3-FIFO), with 128 Ki 99 %.
pub(crate) const CAPACITY: usize = 128 * 1024;

/// The SHA-256 of a token: the cache key.
type TokenDigest = [u8; 32];

/// Access tokens whose signature and issuer verified, by the SHA-256 of the token.
pub(crate) struct VerifiedTokens {
    cache: Cache<TokenDigest, Arc<SignedAccess>>,
    /// Whether tokens are remembered when issued ([`issued`](Self::issued)), not only once
    /// they verified.
    remember_issued: bool,
    /// Hits so far (tests observe that the cache answered).
    #[cfg(test)]
    hits: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("len", &self.cache.len())
            .field("capacity", &self.cache.capacity())
            .finish()
    }
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl VerifiedTokens {
    /// An empty cache of at most `capacity` tokens.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            cache: Cache::new(capacity),
            remember_issued: false,
            #[cfg(test)]
            hits: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Verify an access token as
    /// [`verify_access_token_for`](crate::domain::tokens::verify_access_token_for) does (same
    /// answer, same errors), skipping the signature when this token verified before with a
    /// key that is still the ring's key for its `kid` at `now`.
    pub(crate) fn verify(
        &self,
        ring: &KeyRing,
        token: &str,
        now: SystemTime,
        issuer: &str,
        audience: &str,
    ) -> Result<AccessClaims, TokenError> {
        let digest = token_digest(token);
        if let Some(hit) = self.cache.get(&digest) {
            match ring.find(&hit.key.kid, now) {
                None => {
                    self.cache.remove(&digest);
                    return Err(TokenError::UnknownKey);
                }
                Some(key) if Arc::ptr_eq(key, &hit.key) && hit.claims.iss == issuer => {
                    #[cfg(test)]
                    self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return match judge_access(&hit, now, audience) {
                        Ok(()) => Ok(hit.claims.clone()),
                        Err(error) => {
                            if matches!(error, TokenError::Expired { .. }) {
                                self.cache.remove(&digest);
                            }
                            Err(error)
                        }
                    };
                }
                // Another key under this kid, or another issuer: verify afresh.
                Some(_) => {
                    self.cache.remove(&digest);
                }
            }
        }
        let signed = verify_signed_access(ring, token, now, issuer)?;
        judge_access(&signed, now, audience)?;
        let claims = signed.claims.clone();
        self.cache.insert(digest, Arc::new(signed));
        Ok(claims)
    }

    /// Also remember tokens when they are issued (see [`issued`](Self::issued)).
    pub(crate) fn remember_issued(&mut self, remember: bool) {
        self.remember_issued = remember;
    }

    /// The server has just signed the access token `token` with `key`: when issued tokens
    /// are remembered, it needs no signature check on its first presentation either (it is
    /// judged on every presentation as a verified one is). Its claims are read back from
    /// the token, as a verification decodes them; a token whose claims do not decode is not
    /// remembered (its presentation verifies, and fails, as usual).
    pub(crate) fn issued(&self, token: &str, key: &Arc<SigningKey>) {
        if !self.remember_issued {
            return;
        }
        let claims = token
            .split('.')
            .nth(1)
            .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
            .and_then(|json| serde_json::from_slice::<AccessClaims>(&json).ok());
        if let Some(claims) = claims {
            let signed = SignedAccess {
                claims,
                typ_ok: true,
                key: key.clone(),
            };
            self.cache.insert(token_digest(token), Arc::new(signed));
        }
    }

    /// Forget every token (the next presentation of each verifies its signature again).
    pub(crate) fn clear(&self) {
        self.cache.clear();
    }

    /// How many tokens are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether `token` is remembered.
    #[cfg(test)]
    fn holds(&self, token: &str) -> bool {
        self.cache.contains_key(&token_digest(token))
    }

    /// Hits so far.
    #[cfg(test)]
    fn hits(&self) -> u64 {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The SHA-256 of `token`.
fn token_digest(token: &str) -> TokenDigest {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::config::SigningAlg;
    use crate::domain::keys::SigningKey;
    use crate::domain::tokens::{sign, verify_access_token_for};
    use serde_json::{Map, Value};
    use std::time::{Duration, UNIX_EPOCH};

    const ISS: &str = "http://127.0.0.1:1";
    const AUD: &str = "api";

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    /// Claims issued at 1000 s, expiring at 4600 s.
    fn claims(jti: &str, nbf: Option<u64>) -> AccessClaims {
        AccessClaims {
            iss: ISS.into(),
            sub: "u".into(),
            aud: Value::String(AUD.into()),
            client_id: "c".into(),
            scope: "model.request".into(),
            iat: 1000,
            exp: 4600,
            nbf,
            jti: jti.into(),
            sid: "s".into(),
            extra: Map::new(),
        }
    }

    fn token(key: &SigningKey, jti: &str, nbf: Option<u64>) -> String {
        sign(key, "at+jwt", &claims(jti, nbf)).expect("sign")
    }

    /// `token` with one character of segment `part` (1 payload, 2 signature) changed: the
    /// middle one, so that it is never one of base64's padding bits.
    fn tamper(token: &str, part: usize) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let segment = &mut parts[part];
        let middle = segment.len() / 2;
        let was = segment.as_bytes()[middle];
        let now = if was == b'A' { "B" } else { "A" };
        segment.replace_range(middle..=middle, now);
        parts.join(".")
    }

    #[test]
    fn a_verified_token_is_remembered_and_accepted_again() {
        let key = SigningKey::shared(SigningAlg::ES256).expect("key");
        let ring = KeyRing::new(key.clone());
        let cache = VerifiedTokens::default();
        let jwt = token(&key, "j", None);
        assert!(!cache.holds(&jwt));
        let first = cache.verify(&ring, &jwt, at(1000), ISS, AUD);
        assert_eq!(first, Ok(claims("j", None)));
        assert!(cache.holds(&jwt));
        assert_eq!(cache.hits(), 0);
        let again = cache.verify(&ring, &jwt, at(2000), ISS, AUD);
        assert_eq!(again, first);
        assert_eq!(cache.hits(), 1);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn issued_tokens_are_remembered_only_when_asked() {
        let key = SigningKey::shared(SigningAlg::ES256).expect("key");
        let ring = KeyRing::new(key.clone());
        for remember in [false, true] {
            let mut cache = VerifiedTokens::default();
            cache.remember_issued(remember);
            let jwt = token(&key, "j", None);
            cache.issued(&jwt, &key);
            assert_eq!(cache.holds(&jwt), remember, "remember: {remember}");
            // Remembered or not, the first presentation answers as a full verification,
            // expiry judged by the clock included; only a remembered one is a hit.
            let first = cache.verify(&ring, &jwt, at(2000), ISS, AUD);
            assert_eq!(
                first,
                verify_access_token_for(&ring, &jwt, at(2000), ISS, AUD)
            );
            assert_eq!(cache.hits(), u64::from(remember), "remember: {remember}");
            let late = cache.verify(&ring, &jwt, at(4600), ISS, AUD);
            assert!(matches!(late, Err(TokenError::Expired { .. })), "{late:?}");
            // A forgery of a remembered token is not it.
            let forged = tamper(&jwt, 2);
            assert_eq!(
                cache.verify(&ring, &forged, at(2000), ISS, AUD),
                Err(TokenError::BadSignature)
            );
        }
    }

    /// Every case caches the genuine token first, then presents it again: the answer is
    /// the uncached verification's, error for error.
    #[test]
    fn a_cached_token_is_judged_again_as_if_it_were_new() {
        let key = SigningKey::shared(SigningAlg::ES256).expect("key");
        let ring = KeyRing::new(key.clone());
        let next = Arc::new(SigningKey::generate(SigningAlg::ES256).expect("key"));
        let mut rotated = ring.clone();
        rotated.rotate(next, at(1300));
        let mut impostor = SigningKey::generate(SigningAlg::ES256).expect("key");
        impostor.kid = key.kid.clone();
        let replaced = KeyRing::new(Arc::new(impostor));
        let plain = token(&key, "j", None);
        let later = token(&key, "n", Some(2000));

        struct Case<'a> {
            name: &'a str,
            jwt: &'a str,
            cached_at: u64,
            ring: &'a KeyRing,
            now: u64,
            issuer: &'a str,
            audience: &'a str,
            want: Result<(), TokenError>,
            hit: bool,
            kept: bool,
        }
        let case = |name, ring, now, want, hit, kept| Case {
            name,
            jwt: &plain,
            cached_at: 1000,
            ring,
            now,
            issuer: ISS,
            audience: AUD,
            want,
            hit,
            kept,
        };
        let cases = [
            case("the same key", &ring, 1000, Ok(()), true, true),
            case(
                "in the rotation's grace",
                &rotated,
                1299,
                Ok(()),
                true,
                true,
            ),
            case(
                "rotated out, grace over",
                &rotated,
                1300,
                Err(TokenError::UnknownKey),
                false,
                false,
            ),
            case(
                "another key under the same kid",
                &replaced,
                1000,
                Err(TokenError::BadSignature),
                false,
                false,
            ),
            case(
                "expired by the clock",
                &ring,
                4661,
                Err(TokenError::Expired { ago: 61 }),
                true,
                false,
            ),
            Case {
                audience: "other",
                ..case(
                    "for another audience",
                    &ring,
                    1000,
                    Err(TokenError::WrongAudience),
                    true,
                    true,
                )
            },
            Case {
                issuer: "http://other",
                ..case(
                    "by another issuer",
                    &ring,
                    1000,
                    Err(TokenError::WrongIssuer),
                    false,
                    false,
                )
            },
            Case {
                jwt: &later,
                cached_at: 2500,
                ..case(
                    "before nbf (the clock set back)",
                    &ring,
                    1500,
                    Err(TokenError::NotYetValid { ahead: 500 }),
                    true,
                    true,
                )
            },
        ];
        for c in cases {
            let cache = VerifiedTokens::default();
            cache
                .verify(&ring, c.jwt, at(c.cached_at), ISS, AUD)
                .expect(c.name);
            let uncached = verify_access_token_for(c.ring, c.jwt, at(c.now), c.issuer, c.audience);
            let got = cache.verify(c.ring, c.jwt, at(c.now), c.issuer, c.audience);
            assert_eq!(got, uncached, "{}", c.name);
            assert_eq!(got.map(drop), c.want, "{}", c.name);
            assert_eq!(cache.hits(), u64::from(c.hit), "{}: hit", c.name);
            assert_eq!(cache.holds(c.jwt), c.kept, "{}: kept", c.name);
        }
    }

    #[test]
    fn a_tampered_token_is_refused_while_the_genuine_one_is_cached() {
        let key = SigningKey::shared(SigningAlg::ES256).expect("key");
        let ring = KeyRing::new(key.clone());
        let cache = VerifiedTokens::default();
        let jwt = token(&key, "j", None);
        cache
            .verify(&ring, &jwt, at(1000), ISS, AUD)
            .expect("valid");
        for (part, want) in [(2, TokenError::BadSignature), (1, TokenError::BadSignature)] {
            let forged = tamper(&jwt, part);
            assert_ne!(forged, jwt);
            let got = cache.verify(&ring, &forged, at(1000), ISS, AUD);
            assert_eq!(got, Err(want), "segment {part}");
            assert_eq!(
                got,
                verify_access_token_for(&ring, &forged, at(1000), ISS, AUD)
            );
            assert!(!cache.holds(&forged));
        }
        assert_eq!(cache.hits(), 0);
        assert!(cache.verify(&ring, &jwt, at(1000), ISS, AUD).is_ok());
        assert_eq!(cache.hits(), 1);
    }

    #[test]
    fn the_cache_stays_within_its_cap() {
        let key = SigningKey::shared(SigningAlg::ES256).expect("key");
        let ring = KeyRing::new(key.clone());
        let cache = VerifiedTokens::with_capacity(64);
        for i in 0..1000 {
            let jwt = token(&key, &format!("j{i}"), None);
            cache
                .verify(&ring, &jwt, at(1000), ISS, AUD)
                .expect("valid");
            assert!(cache.len() <= 64, "{} entries after {i}", cache.len());
        }
        assert!(cache.len() > 0);
        assert_eq!(
            VerifiedTokens::default().cache.capacity(),
            u64::try_from(CAPACITY).expect("fits")
        );
    }
}
