//! The [`ServerHandle`](crate::ServerHandle) controls of the model API's expiry modes and of
//! device logins (the control API exposes the same operations over HTTP).

use crate::ServerHandle;
use crate::config::ExpiredTokenMode;

impl ServerHandle {
    /// How the model API currently answers an expired access token.
    pub fn api_expired_token_mode(&self) -> ExpiredTokenMode {
        *self.state().expired_token_mode.read()
    }

    /// Change how the model API answers an expired access token, effective for the next
    /// request. Returns the previous mode.
    pub fn set_api_expired_token_mode(&self, mode: ExpiredTokenMode) -> ExpiredTokenMode {
        std::mem::replace(&mut *self.state().expired_token_mode.write(), mode)
    }
}
