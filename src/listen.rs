//! Where `fauxauth serve` listens and what it tells clients: `--addr` parsing (an IP address
//! or `localhost`, with a port) and the warning for an issuer other machines cannot reach.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Parse `--addr`: `IP:PORT` (`127.0.0.1:8080`, `[::1]:0`, `0.0.0.0:8081`) or
/// `localhost:PORT`, which means `127.0.0.1:PORT`. No other name is resolved, so the
/// address never depends on DNS.
pub(crate) fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let hint = "write IP:PORT (127.0.0.1:8080, [::1]:0, 0.0.0.0:8081) or localhost:PORT";
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("no port in {text:?}: {hint}"));
    };
    if !host.eq_ignore_ascii_case("localhost") {
        return Err(format!(
            "{host:?} is not an IP address or localhost: {hint}"
        ));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port {port:?} is not a number from 0 to 65535: {hint}"))?;
    Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
}

/// The warning to print when the server listens on a non-loopback address (reachable from
/// other machines) while its issuer names a loopback host: every URL in its discovery document
/// would then send a remote client to that client's own machine.
pub(crate) fn issuer_warning(bound: SocketAddr, issuer: &str) -> Option<String> {
    if bound.ip().is_loopback() || !names_loopback(issuer) {
        return None;
    }
    Some(format!(
        "warning: listening on {bound}, reachable from other machines, but the issuer is \
         {issuer}, a loopback address: clients elsewhere will be sent to their own machine. \
         Pass --issuer with an address they reach, e.g. --issuer http://HOST:{}",
        bound.port()
    ))
}

/// Whether a URL's host is a loopback address or `localhost`.
fn names_loopback(issuer: &str) -> bool {
    match url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_as_ip_and_port_or_localhost_and_port() {
        for (text, want) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("[::1]:0", "[::1]:0"),
            ("0.0.0.0:8081", "0.0.0.0:8081"),
            ("localhost:8082", "127.0.0.1:8082"),
            ("LOCALHOST:0", "127.0.0.1:0"),
        ] {
            assert_eq!(
                parse_addr(text).map(|a| a.to_string()),
                Ok(want.to_owned()),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_addresses_say_what_to_write() {
        for (text, says) in [
            ("localhost", "no port"),
            ("localhost:http", "not a number"),
            ("localhost:70000", "not a number"),
            ("example.com:80", "not an IP address or localhost"),
            ("", "no port"),
        ] {
            let err = parse_addr(text).expect_err(text);
            assert!(err.contains(says), "{text}: {err}");
            assert!(err.contains("localhost:PORT"), "{text}: {err}");
        }
    }

    #[test]
    fn only_a_remote_bind_with_a_loopback_issuer_warns() {
        let any: SocketAddr = "0.0.0.0:8081".parse().expect("addr");
        let lan: SocketAddr = "192.168.1.5:8081".parse().expect("addr");
        let lo: SocketAddr = "127.0.0.1:8081".parse().expect("addr");
        for (bound, issuer, warns) in [
            (any, "http://127.0.0.1:8081", true),
            (any, "http://localhost:8081", true),
            (any, "http://[::1]:8081", true),
            (lan, "https://127.0.0.2:8081", true),
            (any, "http://auth.example:8081", false),
            (lan, "http://192.168.1.5:8081", false),
            (lo, "http://127.0.0.1:8081", false),
            (lo, "http://auth.example", false),
        ] {
            let warning = issuer_warning(bound, issuer);
            assert_eq!(warning.is_some(), warns, "{bound} {issuer}: {warning:?}");
            if let Some(text) = warning {
                assert!(text.contains(issuer) && text.contains("--issuer"), "{text}");
            }
        }
    }
}
