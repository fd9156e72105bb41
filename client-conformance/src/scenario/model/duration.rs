//! Durations of a scenario file: [`Dur`] and the signed [`SignedDur`], with the server
//! configuration's grammar, parser and JSON Schema definition. A leaf: it imports nothing
//! else of the crate.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use fauxauth_server::config::DurationValue;
use fauxauth_server::duration;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration: seconds (`300`) or text (`"90s"`, `"60m"`, `"1h30m"`, `"250ms"`): whole numbers,
/// each with a unit. The same grammar, parser and JSON Schema definition as the server
/// configuration's durations ([`fauxauth_server::duration`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dur(pub Duration);

/// Accepts what [`Dur`] and [`SignedDur`] accept, and says what to write otherwise.
struct DurVisitor {
    signed: bool,
}

impl<'de> Visitor<'de> for DurVisitor {
    type Value = (Duration, bool);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.signed {
            write!(
                f,
                "{}, with an optional sign (\"-10m\")",
                duration::EXPECTED
            )
        } else {
            f.write_str(duration::EXPECTED)
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok((duration::from_secs(v), false))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        if v < 0 && !self.signed {
            return Err(E::custom(duration::from_negative(v)));
        }
        Ok((duration::from_secs(v.unsigned_abs()), v < 0))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        let negative = self.signed && v < 0.0;
        let magnitude = if negative { -v } else { v };
        duration::from_float(magnitude)
            .map(|d| (d, negative))
            .map_err(E::custom)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(E::invalid_type(de::Unexpected::Bool(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        // The schema's signed pattern: ` *[-+]? *` before the unsigned grammar.
        let (negative, rest) = match self.signed {
            true => {
                let t = v.trim_start_matches(' ');
                match t.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, t.strip_prefix('+').unwrap_or(t)),
                }
            }
            false => (false, v),
        };
        duration::parse(rest)
            .map(|d| (d, negative))
            .map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DurVisitor { signed: false })
            .map(|(d, _)| Self(d))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&duration::format(self.0))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&duration::format(self.0))
    }
}

/// One definition for every duration of a scenario file, the server overlay's included: the
/// server configuration's.
impl JsonSchema for Dur {
    fn schema_name() -> Cow<'static, str> {
        DurationValue::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        DurationValue::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        DurationValue::json_schema(generator)
    }
}

/// A signed duration: `"5m"` (ahead, later) or `"-5m"` (behind, earlier), or signed seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignedDur {
    /// The magnitude.
    pub magnitude: Duration,
    /// Whether it points backwards.
    pub negative: bool,
}

impl SignedDur {
    /// Whole seconds, signed.
    pub fn as_secs(&self) -> i64 {
        let secs = i64::try_from(self.magnitude.as_secs()).unwrap_or(i64::MAX);
        if self.negative { -secs } else { secs }
    }
}

impl<'de> Deserialize<'de> for SignedDur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DurVisitor { signed: true })
            .map(|(magnitude, negative)| Self {
                magnitude,
                negative,
            })
    }
}

impl fmt::Display for SignedDur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.negative { "-" } else { "" };
        write!(f, "{sign}{}", duration::format(self.magnitude))
    }
}

impl JsonSchema for SignedDur {
    fn schema_name() -> Cow<'static, str> {
        "SignedDuration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Signed seconds, or a duration with an optional sign: \"10m\", \"-10m\", \"+2h\" (whole numbers, each with a unit, as for Duration).",
            "oneOf": [
                {"type": "integer"},
                {"type": "string", "pattern": format!("^ *[-+]? *{} *$", duration::pattern_body())}
            ]
        })
    }
}
