//! HTTPS with a certificate made at start: a throw-away CA and a leaf certificate for the
//! loopback names (`localhost`, `127.0.0.1`, `::1`), signed by that CA. A test trusts the CA
//! (its PEM is on the handle, and `fauxauth serve --tls --tls-ca-out FILE` writes it), so
//! clients that refuse plain HTTP — openid-client, many SDKs — can talk to the mock.
//!
//! The one piece the accept loop needs is [`handshake`]: it turns an accepted TCP stream into
//! a TLS stream. [`listener`] wraps a `TcpListener` with it for `axum::serve`, doing
//! handshakes concurrently so that one slow client does not hold up the others.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::accept::ChannelListener;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig as RustlsConfig};

/// The TLS stream a connection becomes.
pub(crate) type TlsStream = tokio_rustls::server::TlsStream<TcpStream>;

/// How long a client may take to finish the TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The names the generated certificate is valid for.
pub(crate) const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("cannot generate the TLS certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("cannot configure TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// TLS settings for [`crate::MockServerBuilder::tls`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Extra DNS names or IP addresses for the certificate, besides [`LOOPBACK_NAMES`].
    pub extra_names: Vec<String>,
}

/// A generated CA and the server configuration that presents its leaf certificate. The CA
/// (its key kept in memory only) also signs leaves for impersonated hosts
/// ([`TlsMaterial::acceptor_for`]). Certificates are valid from 1975 to 4096 (rcgen's
/// default), so a client on a virtual clock far from today still accepts them.
#[derive(Clone)]
pub(crate) struct TlsMaterial {
    ca_pem: String,
    acceptor: TlsAcceptor,
    issuer: Arc<Issuer<'static, KeyPair>>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Generate a CA (ECDSA P-256) and a leaf for the loopback names plus `config.extra_names`.
    pub(crate) fn generate(config: &TlsConfig) -> Result<Self, TlsError> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "fauxauth throw-away test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut names: Vec<String> = LOOPBACK_NAMES.iter().map(|n| (*n).to_owned()).collect();
        names.extend(config.extra_names.iter().cloned());
        let acceptor = leaf_acceptor(&issuer, names, "localhost")?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            acceptor,
            issuer: Arc::new(issuer),
        })
    }

    /// A TLS acceptor presenting a leaf certificate for `names` (DNS names or IP
    /// addresses), signed by this CA: what the impersonation proxy shows for the hosts it
    /// stands in for.
    pub(crate) fn acceptor_for(&self, names: &[String]) -> Result<TlsAcceptor, TlsError> {
        let common_name = names.first().map_or("fauxauth", String::as_str).to_owned();
        leaf_acceptor(&self.issuer, names.to_vec(), &common_name)
    }

    /// The CA certificate (PEM) that clients must trust.
    pub(crate) fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

/// A rustls acceptor (HTTP/1.1 only) presenting a fresh leaf for `names`, signed by `issuer`.
fn leaf_acceptor(
    issuer: &Issuer<'static, KeyPair>,
    names: Vec<String>,
    common_name: &str,
) -> Result<TlsAcceptor, TlsError> {
    let mut leaf_params = CertificateParams::new(names)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf_params.signed_by(&leaf_key, issuer)?;

    let chain: Vec<CertificateDer<'static>> = vec![leaf_cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server_config = RustlsConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // axum is built for HTTP/1.1 only: never let a client negotiate h2.
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server_config)))
}

/// Turn an accepted connection (TCP, or a proxy tunnel) into a TLS stream (bounded by
/// [`HANDSHAKE_TIMEOUT`]).
pub(crate) async fn handshake<IO>(
    acceptor: &TlsAcceptor,
    tcp: IO,
) -> io::Result<tokio_rustls::server::TlsStream<IO>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

/// A listener for `axum::serve` that yields TLS streams: the shared accept loop with a
/// handshake per connection (see [`crate::accept::ChannelListener`]).
pub(crate) type TlsListener = ChannelListener<TlsStream>;

/// Serve TLS on `listener` with `material`.
pub(crate) fn listener(listener: TcpListener, material: &TlsMaterial) -> io::Result<TlsListener> {
    let acceptor = material.acceptor.clone();
    ChannelListener::spawn(listener, move |tcp, peer| {
        let acceptor = acceptor.clone();
        async move {
            handshake(&acceptor, tcp)
                .await
                .inspect_err(|e| tracing::debug!(%peer, error = %e, "TLS handshake failed"))
                .ok()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ca_is_a_pem_certificate() {
        let material = TlsMaterial::generate(&TlsConfig::default()).expect("generate");
        assert!(material.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let other = TlsMaterial::generate(&TlsConfig::default()).expect("generate");
        assert_ne!(material.ca_pem(), other.ca_pem(), "a fresh CA every time");
    }

    #[test]
    fn invalid_extra_name_is_an_error_not_a_panic() {
        let config = TlsConfig {
            extra_names: vec!["bäd.example".to_owned()],
        };
        assert!(TlsMaterial::generate(&config).is_err());
    }

    /// A program on a virtual clock far from today (`clock: server`, `set_clock`) must still
    /// accept the certificates: the CA and every leaf keep rcgen's validity, 1975 to 4096.
    #[test]
    fn certificates_are_valid_from_1975_to_4096() {
        let defaults = CertificateParams::new(Vec::<String>::new()).expect("params");
        assert_eq!(defaults.not_before.year(), 1975);
        assert_eq!(defaults.not_after.year(), 4096);
        let material = TlsMaterial::generate(&TlsConfig::default()).expect("generate");
        let der = pem::parse(material.ca_pem()).expect("PEM").into_contents();
        let has = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
        // UTCTime for 1975, GeneralizedTime for 4096 (RFC 5280, 4.1.2.5).
        assert!(has(b"750101000000Z"), "the CA is valid from 1975");
        assert!(has(b"40960101000000Z"), "the CA is valid until 4096");
    }

    #[test]
    fn leaves_for_named_hosts_come_from_the_same_ca() {
        let material = TlsMaterial::generate(&TlsConfig::default()).expect("generate");
        assert!(
            material
                .acceptor_for(&["auth.openai.com".to_owned()])
                .is_ok()
        );
        assert!(material.acceptor_for(&["bäd.example".to_owned()]).is_err());
    }
}
