//! Strict parameter parsing (RFC 6749 §3.1): a repeated parameter is an error, an empty value
//! counts as absent, and values are bounded in length.

use std::collections::HashMap;

use super::error::OAuthError;

/// The longest parameter value accepted.
pub const MAX_VALUE_LEN: usize = 4096;
/// The most parameters accepted in one request.
pub const MAX_PARAMS: usize = 64;

/// Parsed request parameters.
#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parse `application/x-www-form-urlencoded` bytes (a body or a query string).
    pub fn parse(raw: &[u8]) -> Result<Self, OAuthError> {
        let mut map = HashMap::new();
        for (count, (key, value)) in form_urlencoded::parse(raw).enumerate() {
            if count >= MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            if value.len() > MAX_VALUE_LEN || key.len() > 128 {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {:?} is longer than {MAX_VALUE_LEN} characters",
                    truncate(&key)
                )));
            }
            if value.is_empty() {
                continue;
            }
            if map.insert(key.to_string(), value.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {:?} is repeated (RFC 6749 §3.1)",
                    truncate(&key)
                )));
            }
        }
        Ok(Self(map))
    }

    /// Build from pairs already decoded (e.g. a JSON body).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect())
    }

    /// A parameter's value, if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required parameter, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name:?}")))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_invalid_request() {
        let err = Params::parse(b"scope=a&scope=b").expect_err("repeated");
        assert!(err.description.contains("repeated"));
    }

    #[test]
    fn empty_value_counts_as_absent() {
        let p = Params::parse(b"scope=&state=x").expect("valid");
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.get("state"), Some("x"));
    }

    #[test]
    fn overlong_value_is_refused() {
        let body = format!("state={}", "a".repeat(MAX_VALUE_LEN + 1));
        assert!(Params::parse(body.as_bytes()).is_err());
    }
}
