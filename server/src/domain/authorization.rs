//! A validated authorization request (RFC 6749 §4.1.1): what `/oauth/authorize` approves at
//! once or keeps behind a consent form until the user decides.

use crate::base::policy::{PkceMethod, ScopeSet};

/// A validated authorization request, ready for approval.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// Where to send the answer.
    pub redirect_uri: String,
    /// Whether `redirect_uri` was sent (then the token request must repeat it).
    pub redirect_uri_sent: bool,
    /// Requested scope.
    pub scope: ScopeSet,
    /// The client's `state`, echoed.
    pub state: Option<String>,
    /// PKCE.
    pub pkce: Option<(PkceMethod, String)>,
    /// OpenID Connect nonce.
    pub nonce: Option<String>,
}
