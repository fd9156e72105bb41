//! The API keys that OpenAI's token exchange issues (see `http::openai::token_exchange`):
//! they do not expire of their own; they die with the grant whose ID token bought them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashmap::DashMap;

use crate::base::random;
use crate::domain::store::FamilyId;

/// The prefix of issued keys, as OpenAI's project keys have.
pub(crate) const API_KEY_PREFIX: &str = "sk-proj-";

/// What an issued API key stands for: the grant whose ID token bought it.
#[derive(Debug, Clone)]
pub(crate) struct ApiKeyRecord {
    /// The grant; revoking it revokes the key.
    pub family: FamilyId,
    /// The user.
    pub sub: String,
    /// The client that exchanged the ID token.
    pub client_id: String,
    /// When the key was issued (Unix seconds).
    pub issued_at: u64,
}

/// The API keys issued by token exchange. They do not expire; they die with their grant.
#[derive(Default)]
pub(crate) struct ApiKeys(DashMap<String, ApiKeyRecord>);

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("count", &self.0.len())
            .finish()
    }
}

impl ApiKeys {
    /// Remember a key.
    pub(crate) fn insert(&self, key: String, record: ApiKeyRecord) {
        self.0.insert(key, record);
    }

    /// Forget every key (control API "reset").
    pub(crate) fn clear(&self) {
        self.0.clear();
    }

    /// The record of `key`, if it is one of ours.
    pub(crate) fn get(&self, key: &str) -> Option<ApiKeyRecord> {
        self.0.get(key).map(|r| r.clone())
    }
}

/// A fresh API-key-like string: `sk-proj-` and 128 URL-safe characters.
pub(crate) fn new_api_key() -> String {
    format!(
        "{API_KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random::random_bytes::<96>())
    )
}
