//! Counts in expectations: an exact number, or `{min, max}`.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::strict;

/// A count: an exact number, or `{min, max}` (at least one of the two; no other key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Exactly this many.
    Exactly(u64),
    /// Within bounds; at least one is set.
    Range {
        /// At least.
        min: Option<u64>,
        /// At most.
        max: Option<u64>,
    },
}

impl Count {
    /// As the file writes it: `2`, or `{"min": 1, "max": 3}` with the bounds that are set.
    pub fn to_json(&self) -> serde_json::Value {
        match *self {
            Self::Exactly(n) => serde_json::json!(n),
            Self::Range { min, max } => {
                let mut bounds = serde_json::Map::new();
                if let Some(min) = min {
                    bounds.insert("min".to_owned(), min.into());
                }
                if let Some(max) = max {
                    bounds.insert("max".to_owned(), max.into());
                }
                serde_json::Value::Object(bounds)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CountVisitor)
    }
}

struct CountVisitor;

impl<'de> Visitor<'de> for CountVisitor {
    type Value = Count;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a count: a whole number like 2, or a range like {min: 1, max: 3}")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
        Ok(Count::Exactly(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
        u64::try_from(v)
            .map(Count::Exactly)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
        Err(E::invalid_type(de::Unexpected::Float(v), &self))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Count, E> {
        Err(E::invalid_type(de::Unexpected::Bool(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
        Err(strict::quoted_or_invalid(v, &self))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
        let (mut min, mut max) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "min" => &mut min,
                "max" => &mut max,
                other => return Err(de::Error::unknown_field(other, &["min", "max"])),
            };
            *slot = Some(map.next_value_seed(strict::Whole::<u64>::new())?);
        }
        match (min, max) {
            (None, None) => Err(de::Error::custom(
                "an empty count {} allows any number: give min, max or both, e.g. {min: 1} or {min: 1, max: 3}",
            )),
            (Some(a), Some(b)) if a > b => Err(de::Error::custom(format!(
                "min {a} is greater than max {b}: no count can match"
            ))),
            (min, max) => Ok(Count::Range { min, max }),
        }
    }
}

impl JsonSchema for Count {
    fn schema_name() -> Cow<'static, str> {
        "Count".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A count: an exact number, or `{min, max}` (at least one of the two).",
            "oneOf": [
                {"description": "Exactly this many.", "type": "integer", "minimum": 0},
                {
                    "description": "Within bounds.",
                    "type": "object",
                    "properties": {
                        "min": {"description": "At least.", "type": "integer", "minimum": 0},
                        "max": {"description": "At most.", "type": "integer", "minimum": 0}
                    },
                    "additionalProperties": false,
                    "minProperties": 1
                }
            ]
        })
    }
}

impl Count {
    /// Whether `n` satisfies the count.
    pub fn matches(&self, n: u64) -> bool {
        match *self {
            Self::Exactly(e) => n == e,
            Self::Range { min, max } => min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m),
        }
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Exactly(e) => write!(f, "{e}"),
            Self::Range {
                min: Some(a),
                max: Some(b),
            } => write!(f, "between {a} and {b}"),
            Self::Range { min: Some(a), .. } => write!(f, "at least {a}"),
            Self::Range { max: Some(b), .. } => write!(f, "at most {b}"),
            Self::Range { .. } => write!(f, "any number"),
        }
    }
}
