//! The one source of randomness, constant-time comparison, and the short hashes that stand in
//! for secrets in logs, events and reports.

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// `n` random bytes from the system CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The system RNG does not fail on supported platforms; if it ever did, a zeroed buffer
    // would be caught by uniqueness checks in the store rather than panic a request.
    if SystemRandom::new().fill(&mut out).is_err() {
        tracing::error!("system random number generator failed");
    }
    out
}

/// A random URL-safe token of 32 bytes (43 characters).
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A random URL-safe identifier with a prefix, e.g. `resp_…`.
pub(crate) fn random_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 16);
    id.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(random_bytes::<12>(), &mut id);
    id
}

/// Compare two secrets without revealing, through timing, where they differ or how long the
/// expected one is: both sides are hashed (SHA-256) and the digests compared in constant time.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let a = digest::digest(&digest::SHA256, a);
    let b = digest::digest(&digest::SHA256, b);
    bool::from(a.as_ref().ct_eq(b.as_ref()))
}

/// A short, non-reversible stand-in for a secret: the first 12 hex digits of its SHA-256.
/// Events and reports use it to say *which* token without revealing it.
pub fn short_hash(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let d = digest::digest(&digest::SHA256, secret.as_bytes());
    let mut out = String::with_capacity(12);
    for &b in &d.as_ref()[..6] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_url_safe() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn random_ids_carry_their_prefix() {
        let id = random_id("at_");
        assert!(id.starts_with("at_"), "{id}");
        assert_eq!(id.len(), 3 + 16);
        assert_ne!(id, random_id("at_"));
    }

    #[test]
    fn short_hash_is_stable_and_short() {
        assert_eq!(short_hash("abc"), short_hash("abc"));
        assert_eq!(short_hash("abc").len(), 12);
        // SHA-256("abc") begins ba7816bf8f01.
        assert_eq!(short_hash("abc"), "ba7816bf8f01");
        assert_ne!(short_hash("abc"), short_hash("abd"));
    }

    #[test]
    fn constant_time_eq_compares_whole_values_of_any_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
