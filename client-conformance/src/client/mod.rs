//! Reference OAuth clients built on the `oauth2` crate (never hand-rolled token requests):
//! [`CredentialsClient`], [`AuthCodeClient`] (headless, PKCE S256), and the token manager
//! [`Session`] with the seed's agent knobs.

mod authcode;
mod credentials;
mod error;
mod oauth;
mod session;
mod transport;
pub(crate) mod types;

pub use authcode::{AuthCodeClient, LoginOptions, PkceAttack};
pub use credentials::CredentialsClient;
pub use error::{ClientError, Outcome};
pub use oauth::{Endpoints, TokenSet, TokenSummary};
pub use session::{ApiResponse, ExpirySource, LoginReport, Session, SessionConfig, SessionStats};
pub use transport::{Attempt, AttemptObserver, Exchange, RetryPolicy, Transport, TransportError};
pub use types::{ClientAuthMethod, Flow};
