//! Signing keys: generation (RS256, ES256, EdDSA), PEM loading, `kid`, JWKS, and rotation with
//! a grace period during which the previous key still verifies and is still published.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::SystemTime;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::error::Unspecified;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::base::config::SigningAlg;
use crate::base::random;

/// Why a key could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Key generation failed in the crypto library.
    #[error("could not generate a {0} key")]
    Generate(&'static str),
    /// The PEM file could not be read.
    #[error("{path}: cannot read the signing key: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The PEM file does not hold a usable private key for the algorithm.
    #[error(
        "{path}: not a {alg} private key ({why}); use an unencrypted PKCS#8 PEM (`openssl pkcs8 -topk8 -nocrypt`)"
    )]
    Parse {
        /// The file.
        path: String,
        /// The algorithm the config asked for.
        alg: &'static str,
        /// What the parser said.
        why: String,
    },
}

/// The crypto library refused to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the crypto library could not sign")]
pub struct SignError;

/// One signing key with everything needed to sign, verify and publish it.
pub struct SigningKey {
    /// Key id (`kid`), derived from the public key.
    pub kid: String,
    /// The algorithm.
    pub alg: SigningAlg,
    pair: KeyPair_,
    decoding: DecodingKey,
    jwk: Value,
    /// base64url of the JOSE header of each of [`ISSUED_TYPES`], in that order.
    headers: [String; 2],
}

/// The parsed private key, kept for the life of the key.
///
/// Why not `jsonwebtoken::encode`: its aws-lc-rs provider re-parses the private key DER on
/// every signature (`RsaKeyPair::from_der`, `EcdsaKeyPair::from_pkcs8`), which for RSA-2048
/// costs more than the signature itself (criterion `rsa2048/parse_der_then_sign` vs
/// `rsa2048/cached_sign`, docs/BENCHMARKS.md): RS256 token minting ran at about a third of
/// `openssl speed rsa2048`. So the key is parsed once here, and `tokens::sign` signs
/// the JWS signing input with it; jsonwebtoken still supplies the header type and does all
/// verification.
enum KeyPair_ {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generate a fresh key.
    pub fn generate(alg: SigningAlg) -> Result<Self, KeyError> {
        let pkcs8 = match alg {
            SigningAlg::RS256 => generate_rsa_2048(),
            SigningAlg::ES256 => {
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .and_then(|k| k.to_pkcs8v1())
                    .map(|d| d.as_ref().to_vec())
            }
            SigningAlg::EdDSA => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| KeyError::Generate(alg.as_str()))?;
        Self::from_pkcs8(alg, &pkcs8).map_err(|why| KeyError::Parse {
            path: "<generated>".to_owned(),
            alg: alg.as_str(),
            why,
        })
    }

    /// A key generated once per process and algorithm: starting a server stays cheap even
    /// with RSA, whose key generation takes tens of milliseconds. Callers that ask while the
    /// key is being generated wait for that key rather than generating another.
    pub fn shared(alg: SigningAlg) -> Result<Arc<Self>, KeyError> {
        static RS: Mutex<Option<Arc<SigningKey>>> = Mutex::new(None);
        static ES: Mutex<Option<Arc<SigningKey>>> = Mutex::new(None);
        static ED: Mutex<Option<Arc<SigningKey>>> = Mutex::new(None);
        let cell = match alg {
            SigningAlg::RS256 => &RS,
            SigningAlg::ES256 => &ES,
            SigningAlg::EdDSA => &ED,
        };
        // Held while generating, on purpose: that is what makes a second caller wait.
        let mut slot = cell.lock();
        if let Some(key) = slot.as_ref() {
            return Ok(key.clone());
        }
        let key = Arc::new(Self::generate(alg)?);
        *slot = Some(key.clone());
        Ok(key)
    }

    /// Load an unencrypted PEM private key (PKCS#8, or PKCS#1 for RSA).
    pub fn from_pem_file(alg: SigningAlg, path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?;
        let parse_err = |why: String| KeyError::Parse {
            path: shown.clone(),
            alg: alg.as_str(),
            why,
        };
        let block = pem::parse(&text).map_err(|e| parse_err(e.to_string()))?;
        match (alg, block.tag()) {
            (SigningAlg::RS256, "RSA PRIVATE KEY") => {
                let pair =
                    RsaKeyPair::from_der(block.contents()).map_err(|e| parse_err(e.to_string()))?;
                let pkcs8 = pair
                    .as_der()
                    .map_err(|_| parse_err("re-encoding failed".into()))?;
                Self::from_pkcs8(alg, pkcs8.as_ref()).map_err(parse_err)
            }
            (_, "PRIVATE KEY") => Self::from_pkcs8(alg, block.contents()).map_err(parse_err),
            (_, other) => Err(parse_err(format!("PEM block is {other:?}"))),
        }
    }

    fn from_pkcs8(alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, String> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let (pair, jwk_fields) = match alg {
            SigningAlg::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| e.to_string())?;
                let public = pair.public_key();
                let n = b64(public.modulus().big_endian_without_leading_zero());
                let e = b64(public.exponent().big_endian_without_leading_zero());
                (KeyPair_::Rsa(pair), json!({"kty": "RSA", "n": n, "e": e}))
            }
            SigningAlg::ES256 => {
                let pair =
                    EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                        .map_err(|e| e.to_string())?;
                let point = pair.public_key().as_ref();
                if point.len() != 65 {
                    return Err("unexpected P-256 public key encoding".into());
                }
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])});
                (KeyPair_::Ec(pair), jwk)
            }
            SigningAlg::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| e.to_string())?;
                let x = b64(pair.public_key().as_ref());
                (
                    KeyPair_::Ed(pair),
                    json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
                )
            }
        };
        let kid = random::short_hash(&jwk_fields.to_string());
        let mut jwk = jwk_fields;
        if let Value::Object(map) = &mut jwk {
            map.insert("kid".into(), json!(kid));
            map.insert("alg".into(), json!(alg.as_str()));
            map.insert("use".into(), json!("sig"));
        }
        let parsed: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(jwk.clone()).map_err(|e| e.to_string())?;
        let decoding = DecodingKey::from_jwk(&parsed).map_err(|e| e.to_string())?;
        let header = |typ| {
            encode_header(alg, &kid, typ)
                .map(|json| URL_SAFE_NO_PAD.encode(json))
                .map_err(|e| e.to_string())
        };
        let [at, id] = ISSUED_TYPES;
        let headers = [header(at)?, header(id)?];
        Ok(Self {
            kid,
            alg,
            pair,
            decoding,
            jwk,
            headers,
        })
    }

    /// Sign `message` (a JWS signing input) with this key's algorithm: RS256 is RSASSA-PKCS1-v1_5
    /// with SHA-256, ES256 is ECDSA P-256 with the fixed-length `r || s` encoding JWS requires
    /// (RFC 7518 §3.4), EdDSA is Ed25519 (RFC 8037).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.pair {
            KeyPair_::Rsa(pair) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut out,
                )
                .map_err(|_| SignError)?;
                Ok(out)
            }
            KeyPair_::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SignError),
            KeyPair_::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// base64url of the JOSE header of a token of type `typ` signed with this key, if `typ` is
    /// one of [`ISSUED_TYPES`].
    pub(crate) fn encoded_header(&self, typ: &str) -> Option<&str> {
        ISSUED_TYPES
            .iter()
            .zip(&self.headers)
            .find(|(t, _)| **t == typ)
            .map(|(_, h)| h.as_str())
    }

    /// The key to verify with.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The public JWK (`kty`, key material, `kid`, `alg`, `use: "sig"`).
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }
}

/// At most this many RSA key searches run at once (see [`generate_rsa_2048`]).
const MAX_RSA_RACERS: usize = 4;

/// A fresh RSA-2048 key pair as PKCS#8 DER.
///
/// RSA key generation is a search for two random primes, so its cost varies widely from one
/// key to the next (on the 2-core benchmark machine: CPU median ~52 ms, p90 ~108 ms; see
/// docs/BENCHMARKS.md "Start-up"). When cores are idle, one independent search runs on each
/// (see [`rsa_racers`]) and the first key found is used, so the wait is the fastest of several
/// searches instead of one. The key is no different: aws-lc draws every prime candidate afresh
/// from its CSPRNG (FIPS 186-4 B.3.3, no incremental search), so how long a search takes says
/// nothing about the primes it ends with. aws-lc-rs cannot cancel a search: the others finish in
/// the background and their keys are dropped unused.
fn generate_rsa_2048() -> Result<Vec<u8>, Unspecified> {
    fn one() -> Result<Vec<u8>, Unspecified> {
        RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|k| k.as_der())
            .map(|d| d.as_ref().to_vec())
    }
    let racers = rsa_racers();
    if racers < 2 {
        return one();
    }
    let (found, first) = mpsc::channel();
    let mut started = 0;
    for _ in 0..racers {
        let found = found.clone();
        let spawned = std::thread::Builder::new()
            .name("fauxauth-rsa-keygen".into())
            .spawn(move || {
                // The receiver is gone once a key has been taken: later keys are dropped.
                let _ = found.send(one());
            });
        if spawned.is_ok() {
            started += 1;
        }
    }
    drop(found);
    if started == 0 {
        return one();
    }
    // The first key wins; a search that failed leaves the others to finish.
    let mut failure = Unspecified;
    for result in first.iter().take(started) {
        match result {
            Ok(key) => return Ok(key),
            Err(e) => failure = e,
        }
    }
    Err(failure)
}

/// How many RSA key searches to race: one per idle core, at most [`MAX_RSA_RACERS`], at least 1.
///
/// Only idle cores help. On a busy machine Linux shares the CPU fairly between sessions
/// (autogroup), so parallel searches split this process's share and each runs slower than one
/// search alone: measured under load, two racing searches took a median 77 ms against 52 ms for
/// one. Idle cores are estimated from the 1-minute load average (Linux); elsewhere every core
/// counts as idle.
fn rsa_racers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let busy = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<f64>().ok())
        // Saturating float-to-int conversion: NaN and negatives give 0.
        .map_or(0, |load| load.floor() as usize);
    cores.saturating_sub(busy).clamp(1, MAX_RSA_RACERS)
}

/// The active key and the retired keys still inside their grace period.
#[derive(Debug, Clone)]
pub struct KeyRing {
    active: Arc<SigningKey>,
    retired: Vec<(Arc<SigningKey>, SystemTime)>,
}

impl KeyRing {
    /// A ring with one active key.
    pub fn new(active: Arc<SigningKey>) -> Self {
        Self {
            active,
            retired: Vec::new(),
        }
    }

    /// The key new tokens are signed with.
    pub fn active(&self) -> &Arc<SigningKey> {
        &self.active
    }

    /// Make `next` the active key; the old one verifies and stays published until `grace_until`.
    pub fn rotate(&mut self, next: Arc<SigningKey>, grace_until: SystemTime) {
        let old = std::mem::replace(&mut self.active, next);
        self.retired.push((old, grace_until));
    }

    /// The key with `kid`, if it is active or retired but still in grace at `now`.
    pub fn find(&self, kid: &str, now: SystemTime) -> Option<&Arc<SigningKey>> {
        std::iter::once(&self.active)
            .chain(
                self.retired
                    .iter()
                    .filter(|(_, until)| now < *until)
                    .map(|(k, _)| k),
            )
            .find(|k| k.kid == kid)
    }

    /// The JWKS document at `now`: the active key first, then keys still in grace.
    pub fn jwks(&self, now: SystemTime) -> Value {
        let keys: Vec<&Value> = std::iter::once(&self.active)
            .chain(
                self.retired
                    .iter()
                    .filter(|(_, until)| now < *until)
                    .map(|(k, _)| k),
            )
            .map(|k| k.jwk())
            .collect();
        json!({ "keys": keys })
    }
}

/// The jsonwebtoken algorithm of a signing algorithm.
pub(crate) fn jwt_algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

/// The JSON of the JOSE header of a token signed with algorithm `alg`, key `kid`, of type
/// `typ` (jsonwebtoken's [`Header`]). [`SigningKey`] keeps base64url of it for the types this
/// server issues ([`ISSUED_TYPES`]), so that minting does not encode it again.
pub(crate) fn encode_header(
    alg: SigningAlg,
    kid: &str,
    typ: &str,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut header = Header::new(jwt_algorithm(alg));
    header.kid = Some(kid.to_owned());
    header.typ = Some(typ.to_owned());
    serde_json::to_vec(&header)
}

/// The `typ`s of the tokens this server signs: access tokens (RFC 9068) and ID tokens.
pub(crate) const ISSUED_TYPES: [&str; 2] = ["at+jwt", "JWT"];

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_algorithm_generates_a_publishable_key() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let key = SigningKey::shared(alg).expect("generate");
            assert_eq!(key.jwk()["alg"], alg.as_str());
            assert_eq!(key.jwk()["use"], "sig");
            assert_eq!(key.jwk()["kid"], key.kid.as_str());
        }
    }

    #[test]
    fn generated_rsa_keys_are_2048_bit_and_distinct() {
        let modulus_bits = |key: &SigningKey| {
            let n = URL_SAFE_NO_PAD
                .decode(key.jwk()["n"].as_str().expect("n"))
                .expect("base64url n");
            n.len() * 8 - n[0].leading_zeros() as usize
        };
        let a = SigningKey::generate(SigningAlg::RS256).expect("key");
        let b = SigningKey::generate(SigningAlg::RS256).expect("key");
        assert_eq!(modulus_bits(&a), 2048);
        assert_eq!(modulus_bits(&b), 2048);
        assert_eq!(a.jwk()["e"], "AQAB");
        assert_ne!(a.kid, b.kid, "every search draws fresh randomness");
        let racers = rsa_racers();
        assert!((1..=MAX_RSA_RACERS).contains(&racers), "{racers}");
    }

    #[test]
    fn concurrent_callers_share_one_key() {
        let keys: Vec<Arc<SigningKey>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| SigningKey::shared(SigningAlg::EdDSA).expect("key")))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert!(keys.iter().all(|k| Arc::ptr_eq(k, &keys[0])));
    }

    #[test]
    fn rotated_key_stays_in_grace_then_goes() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let a = SigningKey::shared(SigningAlg::ES256).expect("key");
        let b = Arc::new(SigningKey::generate(SigningAlg::ES256).expect("key"));
        let mut ring = KeyRing::new(a.clone());
        ring.rotate(b.clone(), t0 + Duration::from_secs(60));
        assert_eq!(ring.active().kid, b.kid);
        assert!(ring.find(&a.kid, t0).is_some());
        assert_eq!(ring.jwks(t0)["keys"].as_array().map(Vec::len), Some(2));
        let later = t0 + Duration::from_secs(61);
        assert!(ring.find(&a.kid, later).is_none());
        assert_eq!(ring.jwks(later)["keys"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn pem_file_round_trip_and_clear_error() {
        let dir = std::env::temp_dir().join(format!("fauxauth-key-{}", random::random_id("")));
        std::fs::create_dir_all(&dir).expect("dir");
        let bad = dir.join("bad.pem");
        std::fs::write(&bad, "not a pem").expect("write");
        let err = SigningKey::from_pem_file(SigningAlg::RS256, &bad).expect_err("bad pem");
        assert!(err.to_string().contains("PKCS#8"), "{err}");
        let pair =
            EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("gen");
        let doc = pair.to_pkcs8v1().expect("pkcs8");
        let good = dir.join("ec.pem");
        std::fs::write(
            &good,
            pem::encode(&pem::Pem::new("PRIVATE KEY", doc.as_ref().to_vec())),
        )
        .expect("write");
        let key = SigningKey::from_pem_file(SigningAlg::ES256, &good).expect("load");
        assert_eq!(key.jwk()["kty"], "EC");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
