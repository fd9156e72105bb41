//! The domain layer: signing keys, tokens, the store of codes and refresh-token families,
//! device logins and the endpoint vocabulary. It builds on [`crate::base`] only.

pub mod device;
pub mod endpoint;
pub mod keys;
pub mod store;
pub mod tokens;
