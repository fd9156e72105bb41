//! `GET /`: what this server is and where everything is — an HTML page for a browser (when
//! `Accept` prefers `text/html`), the same facts as JSON for everyone else.
//!
//! Client secrets are shown only for the built-in clients (public test values, listed in the
//! README); a configured client's secret is never shown.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::page::{self, Chrome};
use super::paths;
use crate::base::config::{Profile, builtin_clients, openai_clients};
use crate::instrument::state::{AppState, ServerState};

/// Where the documentation lives.
pub(crate) const DOCS_URL: &str = "https://github.com/fauxauth/fauxauth#readme";

/// The facts the landing page shows (the JSON answer).
#[derive(Debug, Serialize)]
pub(crate) struct Landing {
    /// Always `fauxauth`.
    pub name: &'static str,
    /// The issuer.
    pub issuer: String,
    /// The profile (`generic`, `openai`).
    pub profile: Profile,
    /// Named links.
    pub links: Vec<Link>,
    /// The registered clients.
    pub clients: Vec<ClientInfo>,
}

/// One link of the landing page.
#[derive(Debug, Serialize)]
pub(crate) struct Link {
    /// A stable name (`openid_configuration`, `jwks`, `dashboard`, ...).
    pub rel: &'static str,
    /// What it is, for people.
    pub title: &'static str,
    /// The absolute URL.
    pub href: String,
}

/// A registered client, as the landing page shows it.
#[derive(Debug, Serialize)]
pub(crate) struct ClientInfo {
    /// The client id.
    pub client_id: String,
    /// The secret, for built-in clients only (public test values); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Whether it is a public client (no secret; PKCE required).
    pub public: bool,
    /// Grant types.
    pub grant_types: Vec<&'static str>,
    /// Scopes it may request.
    pub scopes: Vec<String>,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
}

#[derive(Template)]
#[template(path = "landing.html")]
struct LandingPage<'a> {
    page: Chrome,
    info: &'a Landing,
}

/// The handler.
pub(crate) async fn landing(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let info = facts(&state);
    if prefers_html(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())) {
        page::html(
            StatusCode::OK,
            &LandingPage {
                page: Chrome::of(&state),
                info: &info,
            },
        )
    } else {
        Json(info).into_response()
    }
}

/// The landing page's facts for `state`'s server.
pub(crate) fn facts(state: &ServerState) -> Landing {
    let mut links = vec![
        link(
            "openid_configuration",
            "OpenID Connect discovery",
            state,
            paths::OPENID_CONFIGURATION,
        ),
        link(
            "oauth_authorization_server",
            "OAuth 2.0 metadata (RFC 8414)",
            state,
            paths::OAUTH_METADATA,
        ),
        link("jwks", "JSON Web Key Set", state, paths::JWKS),
    ];
    if let Some(prefix) = state.control_prefix() {
        links.push(link(
            "dashboard",
            "Dashboard (live timeline, clock, faults)",
            state,
            &format!("{prefix}/ui"),
        ));
        links.push(link(
            "events",
            "Event log (JSON)",
            state,
            &format!("{prefix}/events"),
        ));
        links.push(link(
            "events_stream",
            "Event stream (server-sent events)",
            state,
            &format!("{prefix}/events/stream"),
        ));
    }
    links.push(Link {
        rel: "docs",
        title: "Documentation",
        href: DOCS_URL.to_owned(),
    });
    let builtin = match state.config.profile {
        Profile::Generic => builtin_clients(),
        Profile::Openai => openai_clients(),
    };
    let mut clients: Vec<ClientInfo> = state
        .clients
        .values()
        .map(|c| ClientInfo {
            client_id: c.client_id.clone(),
            client_secret: c
                .client_secret
                .clone()
                .filter(|_| builtin.iter().any(|b| b == c)),
            public: c.is_public(),
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            scopes: c.scopes.clone(),
            redirect_uris: c.redirect_uris.clone(),
        })
        .collect();
    clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Landing {
        name: "fauxauth",
        issuer: state.issuer.clone(),
        profile: state.config.profile,
        links,
        clients,
    }
}

impl Landing {
    /// The profile's configuration name.
    pub(crate) fn profile_name(&self) -> &'static str {
        match self.profile {
            Profile::Generic => "generic",
            Profile::Openai => "openai",
        }
    }
}

fn link(rel: &'static str, title: &'static str, state: &ServerState, path: &str) -> Link {
    Link {
        rel,
        title,
        href: state.url(path),
    }
}

/// Whether an `Accept` header prefers HTML to JSON: `text/html` must weigh more than
/// `application/json` (a tie, `*/*` alone, or no header answers JSON).
pub(crate) fn prefers_html(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let (mut html, mut json) = (0.0_f32, 0.0_f32);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" => json = json.max(q),
            "text/*" => html = html.max(q * 0.99),
            "application/*" | "*/*" => json = json.max(q * 0.99),
            _ => {}
        }
    }
    html > json
}

#[cfg(test)]
mod tests {
    use super::prefers_html;

    #[test]
    fn accept_negotiation() {
        // A browser.
        assert!(prefers_html(Some(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        // curl, fetch, API clients.
        assert!(!prefers_html(None));
        assert!(!prefers_html(Some("*/*")));
        assert!(!prefers_html(Some("application/json")));
        assert!(!prefers_html(Some("text/html;q=0.5, application/json")));
        assert!(prefers_html(Some("text/html, application/json;q=0.5")));
        assert!(prefers_html(Some("text/*")));
        assert!(!prefers_html(Some("text/html;q=bogus, application/json")));
    }
}
