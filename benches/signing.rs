//! JWT signing per algorithm, and what re-parsing the RSA private key on every signature costs
//! (jsonwebtoken 11's aws-lc-rs provider calls `RsaKeyPair::from_der` per signature).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, RsaKeyPair};
use criterion::{Criterion, criterion_group, criterion_main};
use fauxauth_server::__bench::{AccessClaims, SigningKey, tokens};
use fauxauth_server::config::SigningAlg;
use serde_json::{Map, json};

fn claims() -> AccessClaims {
    AccessClaims {
        iss: "http://127.0.0.1:8080".into(),
        sub: "fauxauth-service".into(),
        aud: json!("http://127.0.0.1:8080/v1"),
        client_id: "fauxauth-service".into(),
        scope: "model.request".into(),
        iat: 1_700_000_000,
        exp: 1_700_003_600,
        nbf: None,
        jti: "at_0123456789abcdef".into(),
        sid: "fam_1".into(),
        extra: Map::new(),
    }
}

fn sign_per_algorithm(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    let claims = claims();
    for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
        let key = SigningKey::shared(alg).expect("key");
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| tokens::sign(&key, "at+jwt", black_box(&claims)).expect("sign"))
        });
    }
    group.finish();
}

fn rsa_key_parse_cost(c: &mut Criterion) {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("generate");
    // Exactly the bytes jsonwebtoken hands to `RsaKeyPair::from_der` on every signature.
    let pkcs8 = pair.as_der().expect("der").as_ref().to_vec();
    let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8));
    let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(pem_text.as_bytes()).expect("pem");
    let der = encoding.as_bytes().to_vec();
    let rng = SystemRandom::new();
    let msg = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0";
    let mut sig = vec![0u8; pair.public_modulus_len()];
    let mut group = c.benchmark_group("rsa2048");
    group.bench_function("parse_der_then_sign", |b| {
        b.iter(|| {
            let k = RsaKeyPair::from_der(black_box(&der)).expect("parse");
            k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                .expect("sign");
        })
    });
    group.bench_function("cached_sign", |b| {
        b.iter(|| {
            pair.sign(&signature::RSA_PKCS1_SHA256, &rng, black_box(msg), &mut sig)
                .expect("sign")
        })
    });
    group.bench_function("parse_der_only", |b| {
        b.iter(|| RsaKeyPair::from_der(black_box(&der)).expect("parse"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    targets = sign_per_algorithm, rsa_key_parse_cost
}
criterion_main!(benches);
