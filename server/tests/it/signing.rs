//! Signing with each algorithm: a token from each verifies with the published JWKS using an
//! independent JWT library (`jsonwebtoken`), as a real resource server would.

use fauxauth_server::config::DEFAULT_AGENT_CLIENT_ID;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::helpers::{SEED_SCOPE, TempDir, json, jwt_header, spawn_yaml};

async fn verify_with_jwks(alg: &str, expected: Algorithm, kty: &str) {
    let server = spawn_yaml(&format!("signing_alg: {alg}\n")).await;
    let doc = json(server.get("/.well-known/openid-configuration").await).await;
    assert_eq!(doc["id_token_signing_alg_values_supported"][0], alg);
    let jwks_uri = doc["jwks_uri"].as_str().expect("jwks_uri");
    let jwks_json = json(server.http.get(jwks_uri).send().await.expect("jwks")).await;
    assert_eq!(jwks_json["keys"][0]["kty"], kty, "{jwks_json}");
    let jwks: JwkSet = serde_json::from_value(jwks_json).expect("a JWK set jsonwebtoken reads");

    let tokens = server.agent_tokens(SEED_SCOPE).await;
    for (name, audience) in [
        ("access_token", format!("{}/v1", server.issuer())),
        ("id_token", DEFAULT_AGENT_CLIENT_ID.to_owned()),
    ] {
        let token = tokens[name].as_str().expect(name);
        let header = jwt_header(token);
        assert_eq!(header["alg"], alg, "{name}");
        let kid = header["kid"].as_str().expect("kid");
        let jwk = jwks.find(kid).expect("the token's kid is in the JWKS");
        let key = DecodingKey::from_jwk(jwk).expect("usable JWK");
        let mut validation = Validation::new(expected);
        validation.set_issuer(&[server.issuer()]);
        validation.set_audience(&[audience.as_str()]);
        // The server's clock is virtual but starts at the real time, so `exp` is valid now.
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .unwrap_or_else(|e| panic!("{alg} {name} does not verify: {e}"));
        assert_eq!(data.claims["iss"], server.issuer());
    }
}

#[tokio::test]
async fn rs256_tokens_verify_with_the_jwks() {
    verify_with_jwks("RS256", Algorithm::RS256, "RSA").await;
}

#[tokio::test]
async fn es256_tokens_verify_with_the_jwks() {
    verify_with_jwks("ES256", Algorithm::ES256, "EC").await;
}

#[tokio::test]
async fn eddsa_tokens_verify_with_the_jwks() {
    verify_with_jwks("EdDSA", Algorithm::EdDSA, "OKP").await;
}

#[tokio::test]
async fn a_key_loaded_from_a_pem_file_signs_and_keeps_its_kid_across_servers() {
    let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    )
    .expect("key");
    let der = pair.to_pkcs8v1().expect("pkcs8");
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
    let dir = TempDir::new("key");
    let path = dir.join("es256.pem");
    std::fs::write(&path, pem).expect("write key");
    let yaml = format!("signing_alg: ES256\nsigning_key_file: {}\n", path.display());

    let mut kids = Vec::new();
    for _ in 0..2 {
        let server = spawn_yaml(&yaml).await;
        let jwks: JwkSet =
            serde_json::from_value(json(server.get("/.well-known/jwks.json").await).await)
                .expect("JWKS");
        let token = server.service_token().await;
        let access = token["access_token"].as_str().expect("access");
        let kid = jwt_header(access)["kid"].as_str().expect("kid").to_owned();
        let key = DecodingKey::from_jwk(jwks.find(&kid).expect("kid in JWKS")).expect("JWK");
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[format!("{}/v1", server.issuer())]);
        jsonwebtoken::decode::<Value>(access, &key, &validation).expect("verifies");
        kids.push(kid);
    }
    assert_eq!(
        kids[0], kids[1],
        "the kid is derived from the key in the file"
    );
    let generated = spawn_yaml("signing_alg: ES256\n").await;
    let other = jwt_header(
        generated.service_token().await["access_token"]
            .as_str()
            .expect("access"),
    );
    assert_ne!(other["kid"], kids[0].as_str());
}
