//! Why a load run could not start.

use crate::client::{self, TransportError};

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A bad option.
    #[error("{0}")]
    Options(String),
    /// The server configuration could not be read.
    #[error(transparent)]
    Config(#[from] fauxauth_server::config::ConfigError),
    /// The in-process server did not start.
    #[error(transparent)]
    Start(#[from] fauxauth_server::StartError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] TransportError),
    /// The thread reading the in-process server's event log could not start.
    #[error("cannot start the event reader: {0}")]
    Thread(#[from] std::io::Error),
    /// The sessions could not be set up.
    #[error("cannot set up the sessions: {0}")]
    Session(#[from] client::ClientError),
    /// The target's discovery document names an endpoint on another origin.
    #[error(
        "the discovery document of {target} names {field} {url}, which is not on the target's \
         origin: fauxauth load sends requests only to the server it was pointed at (give that \
         server an issuer on the address you load it at, or name that address with --target)"
    )]
    ForeignEndpoint {
        /// The `--target` URL.
        target: String,
        /// The discovery field, e.g. `token_endpoint`.
        field: String,
        /// The URL it names.
        url: String,
    },
}
