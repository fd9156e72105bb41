//! Strict scalars: a number or a boolean written as text (`status: "200"`) is an error, as it
//! is for the JSON Schema — the loader accepts exactly what the schema does.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, Expected, Unexpected, Visitor};

/// The error for text where a number or boolean was expected: "write it without quotes"
/// when the text is one, else an ordinary type error.
pub(super) fn quoted_or_invalid<E: de::Error>(text: &str, expected: &dyn Expected) -> E {
    let t = text.trim();
    let looks_scalar = t.parse::<f64>().is_ok() || matches!(t, "true" | "false");
    if looks_scalar {
        E::custom(format!(
            "{text:?} is text (quoted); expected {expected}: write it without quotes, e.g. {t}"
        ))
    } else {
        E::invalid_type(Unexpected::Str(text), expected)
    }
}

/// Whole-number types of the scenario format.
pub(super) trait WholeNumber: Sized {
    /// What is expected, for messages.
    const WHAT: &'static str;
    fn from_u64(v: u64) -> Option<Self>;
    fn from_i64(v: i64) -> Option<Self>;
}

macro_rules! whole {
    ($t:ty, $what:expr) => {
        impl WholeNumber for $t {
            const WHAT: &'static str = $what;
            fn from_u64(v: u64) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
            fn from_i64(v: i64) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
        }
    };
}
whole!(u16, "a whole number from 0 to 65535");
whole!(u32, "a whole number from 0 to 4294967295");
whole!(u64, "a whole number, 0 or more");
whole!(i32, "a whole number, e.g. 0 or 1");

/// Deserializes a `T` (a null is `None`), refusing text and fractions.
pub(super) struct Whole<T>(PhantomData<T>);

impl<T> Whole<T> {
    pub(super) fn new() -> Self {
        Self(PhantomData)
    }
}

struct WholeVisitor<T>(PhantomData<T>);

impl<'de, T: WholeNumber> Visitor<'de> for WholeVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::WHAT)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        T::from_u64(v)
            .map(Some)
            .ok_or_else(|| E::invalid_value(Unexpected::Unsigned(v), &self))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        T::from_i64(v)
            .map(Some)
            .ok_or_else(|| E::invalid_value(Unexpected::Signed(v), &self))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Err(E::invalid_type(Unexpected::Float(v), &self))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(E::invalid_type(Unexpected::Bool(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Err(quoted_or_invalid(v, &self))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

impl<'de, T: WholeNumber> DeserializeSeed<'de> for Whole<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(WholeVisitor::<T>(PhantomData))?
            .ok_or_else(|| de::Error::invalid_type(Unexpected::Unit, &T::WHAT))
    }
}

/// `#[serde(deserialize_with)]` for an optional whole number.
pub(super) fn opt_whole<'de, D: Deserializer<'de>, T: WholeNumber>(
    d: D,
) -> Result<Option<T>, D::Error> {
    d.deserialize_any(WholeVisitor::<T>(PhantomData))
}

struct FlagVisitor;

impl<'de> Visitor<'de> for FlagVisitor {
    type Value = Option<bool>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("true or false")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Err(E::invalid_type(Unexpected::Unsigned(v), &self))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Err(E::invalid_type(Unexpected::Signed(v), &self))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Err(E::invalid_type(Unexpected::Float(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Err(quoted_or_invalid(v, &self))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

struct FloatVisitor;

impl<'de> Visitor<'de> for FloatVisitor {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, e.g. 60 or 0.5")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(E::invalid_type(Unexpected::Bool(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Err(quoted_or_invalid(v, &self))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// `#[serde(deserialize_with)]` for an optional number.
pub(super) fn opt_float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_any(FloatVisitor)
}

/// `#[serde(deserialize_with)]` for an optional boolean.
pub(super) fn opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(FlagVisitor)
}

/// `#[serde(deserialize_with)]` for a boolean that defaults to false.
pub(super) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(opt_flag(d)?.unwrap_or(false))
}
