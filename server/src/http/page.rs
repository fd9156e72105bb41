//! HTML pages: the one shared layout (`templates/layout.html`, askama, auto-escaped) and the
//! answer a rendered page becomes. Every page's template extends the layout and carries a
//! [`Chrome`] as `page`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::instrument::state::ServerState;

/// What the shared layout shows around every page.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    /// The landing page's URL (the brand links to it).
    pub home: String,
    /// The issuer, shown in the header.
    pub issuer: String,
}

impl Chrome {
    /// The chrome of a page of `state`'s server.
    pub(crate) fn of(state: &ServerState) -> Self {
        Self {
            home: state.url("/"),
            issuer: state.issuer.clone(),
        }
    }
}

/// Render `page` as an HTML answer with `status`.
pub(crate) fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!("cannot render a page: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render this page; see the server log",
            )
                .into_response()
        }
    }
}
