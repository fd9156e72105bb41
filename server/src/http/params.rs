//! Strict parameter parsing (RFC 6749 §3.1): a repeated parameter is an error (even when one
//! of its values is empty), an empty value counts as absent, and values are bounded in length.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::error::OAuthError;

/// The longest parameter value accepted.
pub(crate) const MAX_VALUE_LEN: usize = 4096;
/// The most parameters accepted in one request.
pub(crate) const MAX_PARAMS: usize = 64;

/// Parsed request parameters.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(HashMap<String, String>);

/// The parameters of a request that may repeat some, for an endpoint that must still decide
/// where to send the error (the authorization endpoint, RFC 6749 §4.1.2.1).
#[derive(Debug, Default, Clone)]
pub(crate) struct Lenient {
    /// The parameters that appeared once.
    pub params: Params,
    /// The names of those that appeared more than once, in order of first repetition.
    pub repeated: Vec<String>,
}

impl Lenient {
    /// The RFC 6749 §3.1 error for the first repeated parameter, if any.
    pub(crate) fn repetition_error(&self) -> Option<OAuthError> {
        self.repeated.first().map(|key| {
            OAuthError::invalid_request(format!(
                "parameter {:?} is repeated (RFC 6749 §3.1)",
                truncate(key)
            ))
        })
    }
}

impl Params {
    /// Parse `application/x-www-form-urlencoded` bytes (a body or a query string); a repeated
    /// parameter is `invalid_request`.
    pub(crate) fn parse(raw: &[u8]) -> Result<Self, OAuthError> {
        let lenient = Self::parse_lenient(raw)?;
        match lenient.repetition_error() {
            Some(error) => Err(error),
            None => Ok(lenient.params),
        }
    }

    /// Parse, setting repeated parameters aside instead of failing on them (every other limit
    /// still fails). `x=&x=v` is a repetition: an empty value is absent only when alone.
    pub(crate) fn parse_lenient(raw: &[u8]) -> Result<Lenient, OAuthError> {
        let mut map = HashMap::new();
        let mut repeated: Vec<String> = Vec::new();
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
            match map.entry(key.into_owned()) {
                Entry::Vacant(e) => {
                    e.insert(value.into_owned());
                }
                Entry::Occupied(e) => {
                    if !repeated.contains(e.key()) {
                        repeated.push(e.key().clone());
                    }
                }
            }
        }
        for key in &repeated {
            map.remove(key);
        }
        map.retain(|_, value| !value.is_empty());
        Ok(Lenient {
            params: Self(map),
            repeated,
        })
    }

    /// Parse a flat JSON object (the token endpoint of the `openai` profile takes these):
    /// strings as they are, numbers and booleans as their text, `null` as absent. Nested
    /// objects and arrays are refused, and so are the limits a form body would break.
    pub(crate) fn from_json(raw: &[u8]) -> Result<Self, OAuthError> {
        let value: serde_json::Value = serde_json::from_slice(raw)
            .map_err(|e| OAuthError::invalid_request(format!("the JSON body is malformed: {e}")))?;
        let serde_json::Value::Object(object) = value else {
            return Err(OAuthError::invalid_request(
                "the JSON body must be an object of parameters",
            ));
        };
        if object.len() > MAX_PARAMS {
            return Err(OAuthError::invalid_request("too many parameters"));
        }
        let mut map = HashMap::new();
        for (key, value) in object {
            let text = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter {:?} must be a string, not a JSON array or object",
                        truncate(&key)
                    )));
                }
            };
            if text.len() > MAX_VALUE_LEN || key.len() > 128 {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {:?} is longer than {MAX_VALUE_LEN} characters",
                    truncate(&key)
                )));
            }
            if !text.is_empty() {
                map.insert(key, text);
            }
        }
        Ok(Self(map))
    }

    /// A parameter's value, if present and non-empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required parameter, or `invalid_request` naming it.
    pub(crate) fn require(&self, name: &str) -> Result<&str, OAuthError> {
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
    fn a_repeat_with_an_empty_value_is_still_a_repeat() {
        for raw in [&b"x=&x=v"[..], b"x=v&x=", b"x=&x="] {
            let err = Params::parse(raw).expect_err("repeated");
            assert!(err.description.contains("\"x\""), "{}", err.description);
        }
    }

    #[test]
    fn lenient_parse_drops_and_names_repeated_parameters() {
        let parsed = Params::parse_lenient(b"a=1&b=2&a=3&c=&b=&d=4").expect("valid");
        assert_eq!(parsed.repeated, ["a", "b"]);
        assert_eq!(parsed.params.get("a"), None);
        assert_eq!(parsed.params.get("b"), None);
        assert_eq!(parsed.params.get("c"), None);
        assert_eq!(parsed.params.get("d"), Some("4"));
    }

    #[test]
    fn empty_value_counts_as_absent() {
        let p = Params::parse(b"scope=&state=x").expect("valid");
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.get("state"), Some("x"));
    }

    #[test]
    fn json_object_of_scalars_is_accepted() {
        let p = Params::from_json(
            br#"{"grant_type":"refresh_token","client_id":"c","n":3,"x":null,"scope":""}"#,
        )
        .expect("valid");
        assert_eq!(p.get("grant_type"), Some("refresh_token"));
        assert_eq!(p.get("n"), Some("3"));
        assert_eq!(p.get("x"), None);
        assert_eq!(p.get("scope"), None);
    }

    #[test]
    fn json_that_is_not_a_flat_object_is_refused() {
        for body in [&b"[1]"[..], b"{\"a\":{}}", b"{\"a\":[1]}", b"not json", b""] {
            let err = Params::from_json(body).expect_err("refused");
            assert_eq!(err.code, crate::http::error::ErrorCode::InvalidRequest);
        }
    }

    #[test]
    fn overlong_value_is_refused() {
        let body = format!("state={}", "a".repeat(MAX_VALUE_LEN + 1));
        assert!(Params::parse(body.as_bytes()).is_err());
    }
}
