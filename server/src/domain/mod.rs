//! The domain layer: signing keys, tokens, the store of codes and refresh-token families,
//! device logins and the endpoint vocabulary. It builds on [`crate::base`] only.

pub(crate) mod authorization;
pub(crate) mod device;
pub(crate) mod endpoint;
pub(crate) mod keys;
pub(crate) mod oauth_error;
pub(crate) mod store;
pub mod tokens;
pub(crate) mod verified;
