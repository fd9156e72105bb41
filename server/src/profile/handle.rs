//! The [`ServerHandle`](crate::ServerHandle) controls of the model API's expiry modes and of
//! device logins (the control API exposes the same operations over HTTP: see
//! [`super::control`]).

use crate::ServerHandle;
use crate::base::config::ExpiredTokenMode;
use crate::domain::device::{DecisionError, DeviceEntry, DeviceSummary};

impl ServerHandle {
    /// How the model API currently answers an expired access token.
    pub fn api_expired_token_mode(&self) -> ExpiredTokenMode {
        self.state().api_expired_token_mode()
    }

    /// Change how the model API answers an expired access token, effective for the next
    /// request. Returns the previous mode.
    pub fn set_api_expired_token_mode(&self, mode: ExpiredTokenMode) -> ExpiredTokenMode {
        self.state().set_api_expired_token_mode(mode)
    }

    /// Approve the pending device login showing `user_code` (as typed: case, spaces and
    /// dashes do not matter), as the configured user. The device's next poll completes it.
    pub fn approve_device(&self, user_code: &str) -> Result<DeviceEntry, DecisionError> {
        self.state().approve_device(user_code)
    }

    /// Deny the pending device login showing `user_code`: its next poll gets `access_denied`.
    pub fn deny_device(&self, user_code: &str) -> Result<DeviceEntry, DecisionError> {
        self.state().deny_device(user_code)
    }

    /// Every device login the server knows (device codes as short hashes).
    pub fn devices(&self) -> Vec<DeviceSummary> {
        self.state().devices.list()
    }
}
