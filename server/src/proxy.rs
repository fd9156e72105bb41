//! The impersonation proxy: an HTTP CONNECT proxy that stands in for hosts a client
//! hard-codes (`auth.openai.com`, `chatgpt.com`) so that an unmodified program reaches this
//! server through `HTTPS_PROXY`.
//!
//! For `CONNECT host:443` to a named host the proxy answers `200`, terminates TLS with a
//! leaf certificate for the named hosts signed by the server's CA (trust it with
//! `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`…), and serves the tunnelled requests with the
//! server's own router — the same state, clock, faults and events as the main listener.
//! Every other request (another host, another port, a plain-HTTP proxy request, a malformed
//! head) is refused with `403` (or `400`) and an event (`endpoint: other`, `method`, the
//! target as `path`, `error: proxy_refused`): nothing is ever forwarded off the machine.
//!
//! [`ProxyListener`] yields the tunnelled TLS streams to the ordinary accept loop.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::accept::ChannelListener;
use crate::domain::endpoint::EndpointKind;
use crate::instrument::events::{Event, EventDetails};
use crate::instrument::state::ServerState;
use crate::tls;

/// The longest request head (request line and headers) the proxy reads.
const MAX_HEAD: u64 = 8 * 1024;

/// The longest target kept in an event or an answer.
const MAX_TARGET_SHOWN: usize = 255;

/// The only port a named host is served on (HTTPS).
pub(crate) const IMPERSONATED_PORT: u16 = 443;

/// The `error` of the event a refused proxy request records.
pub(crate) const REFUSED_ERROR: &str = "proxy_refused";

/// Settings for [`crate::MockServerBuilder::proxy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Where the proxy listens (default `127.0.0.1:0`).
    pub addr: SocketAddr,
    /// The hosts it impersonates (DNS names, e.g. `auth.openai.com`); every other host is
    /// refused.
    pub hosts: Vec<String>,
}

impl ProxyConfig {
    /// A proxy on `127.0.0.1:0` impersonating `hosts`.
    pub fn new<I, S>(hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            hosts: hosts.into_iter().map(Into::into).collect(),
        }
    }

    /// Listen on `addr` instead.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }
}

/// Why a proxy configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No host to impersonate.
    #[error("the proxy impersonates no host: name at least one (--impersonate auth.openai.com)")]
    NoHosts,
    /// A host that is not a plain DNS name.
    #[error(
        "cannot impersonate {host:?}: give a DNS name without scheme, port or path, e.g. auth.openai.com"
    )]
    BadHost {
        /// The host as given.
        host: String,
    },
}

/// The hosts of `config`, lower-cased and without a trailing dot, or why they are unusable.
pub(crate) fn normalize_hosts(config: &ProxyConfig) -> Result<Vec<String>, ProxyError> {
    if config.hosts.is_empty() {
        return Err(ProxyError::NoHosts);
    }
    let mut hosts = Vec::with_capacity(config.hosts.len());
    for raw in &config.hosts {
        let host = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let plain = !host.is_empty()
            && host.len() <= 253
            && host
                .split('.')
                .all(|label| !label.is_empty() && label.bytes().all(is_label_byte))
            && host.parse::<IpAddr>().is_err();
        if !plain {
            return Err(ProxyError::BadHost { host: raw.clone() });
        }
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    Ok(hosts)
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// What the proxy does with a request head.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Tunnel: answer 200 and terminate TLS.
    Tunnel,
    /// Refuse with this status, saying why.
    Refuse {
        status: u16,
        method: String,
        target: String,
        reason: &'static str,
    },
}

/// Judge a request head (request line and headers, as read) against the named `hosts`.
fn judge(head: &str, hosts: &[String]) -> Verdict {
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return refuse(400, "?", line, "malformed request line");
    };
    if !version.starts_with("HTTP/1.") {
        return refuse(400, method, target, "not an HTTP/1 request");
    }
    if method != "CONNECT" {
        return refuse(
            403,
            method,
            target,
            "only CONNECT to an impersonated host is served",
        );
    }
    let Some((host, port)) = target.rsplit_once(':') else {
        return refuse(400, method, target, "CONNECT needs host:port");
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if !hosts.contains(&host) {
        return refuse(
            403,
            method,
            target,
            "host not impersonated: nothing leaves this machine",
        );
    }
    if port.parse::<u16>().ok() != Some(IMPERSONATED_PORT) {
        return refuse(
            403,
            method,
            target,
            "an impersonated host is served on 443 only",
        );
    }
    Verdict::Tunnel
}

fn refuse(status: u16, method: &str, target: &str, reason: &'static str) -> Verdict {
    Verdict::Refuse {
        status,
        method: shown(method),
        target: shown(target),
        reason,
    }
}

/// `text` cut to [`MAX_TARGET_SHOWN`] characters, printable ASCII only.
fn shown(text: &str) -> String {
    text.chars()
        .take(MAX_TARGET_SHOWN)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// A tunnelled connection: TLS over the client's TCP stream (the buffer keeps any bytes the
/// client sent right after its CONNECT head).
pub(crate) type TunnelStream = tokio_rustls::server::TlsStream<BufReader<TcpStream>>;

/// A listener for the accept loop that yields tunnelled TLS streams: the shared accept loop
/// (see [`ChannelListener`]) with a CONNECT head and a handshake per connection.
pub(crate) type ProxyListener = ChannelListener<TunnelStream>;

/// Proxy on `listener` for `hosts`, presenting `acceptor`'s certificate; refusals are
/// recorded in `state`'s events.
pub(crate) fn listener(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    hosts: Vec<String>,
    state: Arc<ServerState>,
) -> io::Result<ProxyListener> {
    let hosts: Arc<[String]> = hosts.into();
    ChannelListener::spawn(listener, move |tcp, peer| {
        let acceptor = acceptor.clone();
        let hosts = hosts.clone();
        let state = state.clone();
        async move {
            open_tunnel(tcp, &acceptor, &hosts, &state)
                .await
                .inspect_err(|e| tracing::debug!(%peer, error = %e, "proxy connection failed"))
                .ok()
                .flatten()
        }
    })
}

/// Read the CONNECT head, then tunnel (answer 200, TLS handshake) or refuse (answer, event,
/// close: `None`).
async fn open_tunnel(
    tcp: TcpStream,
    acceptor: &TlsAcceptor,
    hosts: &[String],
    state: &ServerState,
) -> io::Result<Option<TunnelStream>> {
    let mut reader = BufReader::new(tcp);
    let timeout = state.config.http.header_read_timeout.0;
    let head = match tokio::time::timeout(timeout, read_head(&mut reader)).await {
        Ok(head) => head?,
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "no CONNECT head")),
    };
    match judge(&head, hosts) {
        Verdict::Tunnel => {
            reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                .await?;
            tls::handshake(acceptor, reader).await.map(Some)
        }
        Verdict::Refuse {
            status,
            method,
            target,
            reason,
        } => {
            record_refusal(state, &method, &target, status, reason);
            let phrase = if status == 400 {
                "Bad Request"
            } else {
                "Forbidden"
            };
            let body = format!(
                "fauxauth proxy: {method} {target} refused: {reason} (impersonated: {}).\n",
                hosts.join(", ")
            );
            let answer = format!(
                "HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let stream = reader.get_mut();
            stream.write_all(answer.as_bytes()).await?;
            let _ = stream.shutdown().await;
            Ok(None)
        }
    }
}

/// Read up to the blank line that ends a request head (at most [`MAX_HEAD`] bytes).
async fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut head = String::new();
    loop {
        let budget = MAX_HEAD.saturating_sub(head.len() as u64);
        if budget == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        let mut line = Vec::new();
        let read = (&mut *reader)
            .take(budget)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside the request head",
            ));
        }
        let line = String::from_utf8_lossy(&line);
        let end = line == "\r\n" || line == "\n";
        head.push_str(&line);
        if end {
            return Ok(head);
        }
    }
}

/// Record a refused proxy request as an event.
fn record_refusal(state: &ServerState, method: &str, target: &str, status: u16, reason: &str) {
    tracing::info!(%method, %target, status, reason, "proxy request refused");
    state.events.record(Event {
        seq: 0,
        real_time_ms: millis(SystemTime::now()),
        virtual_time_ms: millis(state.clock.now()),
        endpoint: EndpointKind::Other,
        method: method.to_owned(),
        path: target.to_owned(),
        status: Some(status),
        error: Some(REFUSED_ERROR.to_owned()),
        fault: None,
        latency_us: 0,
        details: EventDetails {
            error_detail: Some(reason.to_owned()),
            ..EventDetails::default()
        },
    });
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<String> {
        vec!["auth.openai.com".to_owned(), "chatgpt.com".to_owned()]
    }

    fn status(verdict: Verdict) -> Option<u16> {
        match verdict {
            Verdict::Tunnel => None,
            Verdict::Refuse { status, .. } => Some(status),
        }
    }

    #[test]
    fn connect_to_a_named_host_on_443_tunnels() {
        let head = "CONNECT auth.openai.com:443 HTTP/1.1\r\nHost: auth.openai.com:443\r\n\r\n";
        assert_eq!(judge(head, &hosts()), Verdict::Tunnel);
        assert_eq!(
            judge("CONNECT ChatGPT.com.:443 HTTP/1.1\r\n\r\n", &hosts()),
            Verdict::Tunnel
        );
    }

    #[test]
    fn other_hosts_ports_and_methods_are_refused() {
        let h = hosts();
        assert_eq!(
            status(judge("CONNECT example.com:443 HTTP/1.1\r\n\r\n", &h)),
            Some(403)
        );
        assert_eq!(
            status(judge("CONNECT auth.openai.com:80 HTTP/1.1\r\n\r\n", &h)),
            Some(403)
        );
        assert_eq!(
            status(judge(
                "GET http://auth.openai.com/oauth/token HTTP/1.1\r\n\r\n",
                &h
            )),
            Some(403)
        );
        assert_eq!(
            status(judge("CONNECT auth.openai.com HTTP/1.1\r\n\r\n", &h)),
            Some(400)
        );
        assert_eq!(status(judge("garbage\r\n\r\n", &h)), Some(400));
        assert_eq!(status(judge("", &h)), Some(400));
    }

    #[test]
    fn hosts_are_normalized_and_checked() {
        let config = ProxyConfig::new(["Auth.OpenAI.com.", "auth.openai.com", "chatgpt.com"]);
        assert_eq!(
            normalize_hosts(&config).expect("valid"),
            vec!["auth.openai.com", "chatgpt.com"]
        );
        for bad in [
            "",
            "https://auth.openai.com",
            "auth.openai.com:443",
            "127.0.0.1",
            "a..b",
        ] {
            assert!(
                normalize_hosts(&ProxyConfig::new([bad])).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(matches!(
            normalize_hosts(&ProxyConfig::new(Vec::<String>::new())),
            Err(ProxyError::NoHosts)
        ));
    }

    #[test]
    fn shown_targets_are_short_and_printable() {
        let long = "x".repeat(1000);
        assert_eq!(shown(&long).len(), MAX_TARGET_SHOWN);
        assert_eq!(shown("a\u{7}b\r"), "a?b?");
    }
}
