//! The built-in clients: the generic profile's three, and the `openai` profile's Codex CLI
//! client (documented in the README).

use super::types::{ClientConfig, GrantType, Profile, ServerConfig, default_grant_types};

/// The confidential client of the built-in configuration (client credentials).
pub const DEFAULT_SERVICE_CLIENT_ID: &str = "fauxauth-service";
/// Its secret.
pub const DEFAULT_SERVICE_CLIENT_SECRET: &str = "fauxauth-service-secret";
/// The public auth-code + PKCE client of the built-in configuration.
pub const DEFAULT_AGENT_CLIENT_ID: &str = "fauxauth-agent";
/// The confidential auth-code client of the built-in configuration.
pub const DEFAULT_WEB_CLIENT_ID: &str = "fauxauth-web";
/// Its secret.
pub const DEFAULT_WEB_CLIENT_SECRET: &str = "fauxauth-web-secret";
/// The public client the Codex CLI uses, registered by default in the `openai` profile.
pub const CODEX_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";

/// The seed's scopes: `openid model.request offline_access`.
pub const SEED_SCOPES: [&str; 3] = ["openid", "model.request", "offline_access"];

impl ServerConfig {
    /// The registered clients: the configured ones, or the profile's built-in ones.
    pub fn effective_clients(&self) -> Vec<ClientConfig> {
        match (&self.clients, self.profile) {
            (Some(clients), _) => clients.clone(),
            (None, Profile::Generic) => builtin_clients(),
            (None, Profile::Openai) => openai_clients(),
        }
    }
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The built-in clients of the generic profile (documented in the README).
pub fn builtin_clients() -> Vec<ClientConfig> {
    vec![
        ClientConfig {
            client_id: DEFAULT_SERVICE_CLIENT_ID.to_owned(),
            client_secret: Some(DEFAULT_SERVICE_CLIENT_SECRET.to_owned()),
            redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            scopes: scopes(&["model.request"]),
            require_pkce: true,
            allow_plain_pkce: false,
            access_token_ttl: None,
            refresh_token_ttl: None,
        },
        ClientConfig {
            client_id: DEFAULT_AGENT_CLIENT_ID.to_owned(),
            client_secret: None,
            redirect_uris: vec![
                "http://localhost:8080/openclaw/oauth/callback/codex".to_owned(),
                "http://127.0.0.1:8765/callback".to_owned(),
            ],
            grant_types: default_grant_types(),
            scopes: scopes(&SEED_SCOPES),
            require_pkce: true,
            allow_plain_pkce: false,
            access_token_ttl: None,
            refresh_token_ttl: None,
        },
        ClientConfig {
            client_id: DEFAULT_WEB_CLIENT_ID.to_owned(),
            client_secret: Some(DEFAULT_WEB_CLIENT_SECRET.to_owned()),
            redirect_uris: vec![
                "https://app.fauxauth.test/openclaw/oauth/callback/codex".to_owned(),
            ],
            grant_types: default_grant_types(),
            scopes: scopes(&SEED_SCOPES),
            require_pkce: true,
            allow_plain_pkce: false,
            access_token_ttl: None,
            refresh_token_ttl: None,
        },
    ]
}

/// The built-in clients of the `openai` profile: the Codex CLI's public client.
pub fn openai_clients() -> Vec<ClientConfig> {
    vec![ClientConfig {
        client_id: CODEX_CLIENT_ID.to_owned(),
        client_secret: None,
        // The CLI's loopback callback: `localhost` in older versions, `127.0.0.1` in 0.169.0
        // (observed); port 1457 when 1455 is taken.
        redirect_uris: vec![
            "http://localhost:1455/auth/callback".to_owned(),
            "http://localhost:1457/auth/callback".to_owned(),
            "http://127.0.0.1:1455/auth/callback".to_owned(),
            "http://127.0.0.1:1457/auth/callback".to_owned(),
        ],
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::DeviceCode,
            GrantType::TokenExchange,
        ],
        scopes: scopes(&[
            "openid",
            "profile",
            "email",
            "offline_access",
            "api.connectors.read",
            "api.connectors.invoke",
            "model.request",
        ]),
        require_pkce: true,
        allow_plain_pkce: false,
        access_token_ttl: None,
        refresh_token_ttl: None,
    }]
}
