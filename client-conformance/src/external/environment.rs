//! The program's environment: the server's endpoints and the client's settings as
//! `FAUXAUTH_*` variables, defaults from the profile's built-in client.

use fauxauth_server::config::Profile;

use crate::client::{Endpoints, Flow};
use crate::scenario::client_config::builtin_client;
use crate::scenario::model::{ExternalSpec, ProgramClock};

/// Virtual seconds per real second the program's run gets (under `clock: server`, default
/// [`super::clock::DEFAULT_SCALE`]).
pub(super) fn clock_scale(spec: &ExternalSpec) -> f64 {
    match spec.clock.unwrap_or_default() {
        ProgramClock::Real => spec.time_scale.unwrap_or(1.0),
        ProgramClock::Server => spec.time_scale.unwrap_or(super::clock::DEFAULT_SCALE),
    }
}

/// The scale as the program sees it: under `clock: server` its own clock runs at the server's
/// pace, so server durations need no scaling (1).
fn seen_scale(spec: &ExternalSpec, scale: f64) -> f64 {
    match spec.clock.unwrap_or_default() {
        ProgramClock::Real => scale,
        ProgramClock::Server => 1.0,
    }
}

/// The environment the program gets. Settings the scenario leaves out are those of the
/// profile's built-in client for the flow (as for the reference client).
pub(crate) fn environment(
    spec: &ExternalSpec,
    endpoints: &Endpoints,
    scale: f64,
    profile: Profile,
) -> Vec<(String, String)> {
    let flow = spec.flow.unwrap_or(Flow::AuthorizationCode);
    let builtin = builtin_client(flow, profile);
    let (id, secret, scopes, redirect) = (
        builtin.client_id.as_str(),
        builtin.client_secret.as_deref().unwrap_or_default(),
        builtin.scopes.join(" "),
        builtin.redirect_uri.as_deref().unwrap_or_default(),
    );
    let pairs = [
        ("FAUXAUTH_ISSUER", endpoints.issuer.clone()),
        ("FAUXAUTH_TOKEN_URL", endpoints.token.clone()),
        ("FAUXAUTH_AUTHORIZE_URL", endpoints.authorize.clone()),
        ("FAUXAUTH_API_BASE", endpoints.api_base.clone()),
        (
            "FAUXAUTH_CLIENT_ID",
            spec.client_id.clone().unwrap_or_else(|| id.to_owned()),
        ),
        (
            "FAUXAUTH_CLIENT_SECRET",
            spec.client_secret
                .clone()
                .unwrap_or_else(|| secret.to_owned()),
        ),
        (
            "FAUXAUTH_REDIRECT_URI",
            spec.redirect_uri
                .clone()
                .unwrap_or_else(|| redirect.to_owned()),
        ),
        (
            "FAUXAUTH_SCOPES",
            spec.scopes.as_ref().map_or(scopes, |s| s.join(" ")),
        ),
        (
            "FAUXAUTH_FLOW",
            match flow {
                Flow::ClientCredentials => "client_credentials".to_owned(),
                Flow::AuthorizationCode => "authorization_code".to_owned(),
            },
        ),
        ("FAUXAUTH_TIME_SCALE", seen_scale(spec, scale).to_string()),
        (
            "FAUXAUTH_CLOCK",
            match spec.clock.unwrap_or_default() {
                ProgramClock::Real => "real".to_owned(),
                ProgramClock::Server => "server".to_owned(),
            },
        ),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The variables that send the program's HTTPS through the impersonation proxy at
/// `proxy_url` and make it trust the CA in `ca_file`. `NO_PROXY` names only the loopback
/// addresses (the server itself), so an inherited value cannot exempt an impersonated host.
pub(crate) fn proxy_environment(
    proxy_url: &str,
    ca_file: &std::path::Path,
) -> Vec<(String, String)> {
    let ca = ca_file.display().to_string();
    let loopback = "localhost,127.0.0.1,::1".to_owned();
    let pairs = [
        ("HTTPS_PROXY", proxy_url.to_owned()),
        ("https_proxy", proxy_url.to_owned()),
        ("NO_PROXY", loopback.clone()),
        ("no_proxy", loopback),
        // Node ≥ 24's built-in fetch honours the proxy variables only with this.
        ("NODE_USE_ENV_PROXY", "1".to_owned()),
        ("NODE_EXTRA_CA_CERTS", ca.clone()),
        ("SSL_CERT_FILE", ca.clone()),
        ("REQUESTS_CA_BUNDLE", ca),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_environment_points_at_the_proxy_and_the_ca() {
        let ca = std::path::Path::new("/tmp/run/ca.pem");
        let env = proxy_environment("http://127.0.0.1:4000", ca);
        for key in ["HTTPS_PROXY", "https_proxy"] {
            assert_eq!(var(&env, key), "http://127.0.0.1:4000");
        }
        for key in ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"] {
            assert_eq!(var(&env, key), "/tmp/run/ca.pem");
        }
        for key in ["NO_PROXY", "no_proxy"] {
            assert!(
                !var(&env, key).contains("openai"),
                "{key} exempts only loopback"
            );
        }
    }

    #[test]
    fn impersonate_is_a_list_of_hosts_in_the_external_spec() {
        let parsed = spec("command: ./agent\nimpersonate: [auth.openai.com, chatgpt.com]");
        assert_eq!(parsed.impersonate, ["auth.openai.com", "chatgpt.com"]);
        assert!(spec("command: ./agent").impersonate.is_empty());
    }

    fn spec(yaml: &str) -> ExternalSpec {
        serde_saphyr::from_str(yaml).expect("external spec")
    }

    fn var(env: &[(String, String)], key: &str) -> String {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{key} not set"))
    }

    #[test]
    fn defaults_follow_the_profile_like_the_reference_client() {
        let endpoints = Endpoints::for_issuer("http://127.0.0.1:1");
        let plain = spec("command: ./agent");
        let generic = environment(&plain, &endpoints, 1.0, Profile::Generic);
        assert_eq!(var(&generic, "FAUXAUTH_CLIENT_ID"), "fauxauth-agent");
        let openai = environment(&plain, &endpoints, 1.0, Profile::Openai);
        assert_eq!(
            var(&openai, "FAUXAUTH_CLIENT_ID"),
            fauxauth_server::config::CODEX_CLIENT_ID
        );
        assert_eq!(
            var(&openai, "FAUXAUTH_REDIRECT_URI"),
            "http://localhost:1455/auth/callback"
        );
        assert!(var(&openai, "FAUXAUTH_SCOPES").contains("offline_access"));

        let service = environment(
            &spec("command: ./agent\nflow: client_credentials"),
            &endpoints,
            1.0,
            Profile::Generic,
        );
        assert_eq!(
            var(&service, "FAUXAUTH_CLIENT_SECRET"),
            "fauxauth-service-secret"
        );
        let overridden = environment(
            &spec("command: ./agent\nclient_id: mine\nscopes: [openid]"),
            &endpoints,
            1.0,
            Profile::Openai,
        );
        assert_eq!(var(&overridden, "FAUXAUTH_CLIENT_ID"), "mine");
        assert_eq!(var(&overridden, "FAUXAUTH_SCOPES"), "openid");
    }

    #[test]
    fn on_the_server_clock_the_program_sees_no_scale() {
        let endpoints = Endpoints::for_issuer("http://127.0.0.1:1");
        let real = spec("command: ./agent\ntime_scale: 600");
        assert_eq!(clock_scale(&real), 600.0);
        let env = environment(&real, &endpoints, 600.0, Profile::Generic);
        assert_eq!(var(&env, "FAUXAUTH_TIME_SCALE"), "600");
        let server = spec("command: ./agent\nclock: server");
        assert_eq!(clock_scale(&server), super::super::clock::DEFAULT_SCALE);
        let env = environment(&server, &endpoints, 60.0, Profile::Generic);
        assert_eq!(var(&env, "FAUXAUTH_TIME_SCALE"), "1");
        assert_eq!(var(&env, "FAUXAUTH_CLOCK"), "server");
    }
}
