//! Durations as configuration files, scenario files and the control API write them: one
//! grammar, one parser, one formatter, and the JSON Schema pattern generated from the same
//! unit table — so that what an editor accepts is what the loader accepts.
//!
//! ```text
//! duration = " "* ( digits | term (" "* term)* ) " "*
//! term     = digits " "* unit
//! digits   = [0-9]+                       (whole numbers only: no fractions, no sign)
//! unit     = ns | us | ms | s | m | h | d | w, or a longer name from UNITS
//! ```
//!
//! A bare number is seconds (`"300"`); terms add up (`"1h30m"`, `"1h 30m"`, `"10 minutes"`).
//! As a YAML or JSON *number*, a duration is whole seconds (`300`; `300.0` is the same
//! integer to JSON Schema, so it is accepted too). The only strings the pattern admits and
//! the parser refuses are those whose value overflows (more than about 584 years).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a duration is written, for messages: "a duration like 90s, 60m, 1h30m or 30d".
pub const EXPECTED: &str = "a duration like 90s, 60m, 1h30m or 30d (whole numbers, each with a unit: ms, s, m, h, d, w; a bare number is seconds)";

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Every unit: its names (the first is the one the formatter writes) and its length in
/// nanoseconds. Names are ASCII letters, case-sensitive (`M` is not `m`).
pub const UNITS: &[(&[&str], u64)] = &[
    (&["ns", "nsec", "nanosecond", "nanoseconds"], 1),
    (&["us", "usec", "microsecond", "microseconds"], 1_000),
    (&["ms", "msec", "millisecond", "milliseconds"], 1_000_000),
    (&["s", "sec", "secs", "second", "seconds"], NANOS_PER_SEC),
    (
        &["m", "min", "mins", "minute", "minutes"],
        60 * NANOS_PER_SEC,
    ),
    (&["h", "hr", "hrs", "hour", "hours"], 3_600 * NANOS_PER_SEC),
    (&["d", "day", "days"], 86_400 * NANOS_PER_SEC),
    (&["w", "week", "weeks"], 604_800 * NANOS_PER_SEC),
];

/// Why a duration was refused. The message quotes what was written and says what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown}: {reason}; write {EXPECTED}")]
pub struct DurationError {
    shown: String,
    reason: Reason,
}

/// What is wrong with a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Fraction,
    Negative,
    UnknownUnit,
    MissingUnit,
    NotADuration,
    TooLong,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fraction => "fractions are not supported (write 1h30m for 1.5h, 1500ms for 1.5s)",
            Self::Negative => "a duration cannot be negative",
            Self::UnknownUnit => "unknown unit",
            Self::MissingUnit => "a number needs a unit unless it stands alone",
            Self::NotADuration => "not a duration",
            Self::TooLong => "too long",
        })
    }
}

impl DurationError {
    fn text(text: &str, reason: Reason) -> Self {
        // Long input is cut, so that a message stays a line.
        let mut shown: String = text.chars().take(40).collect();
        if shown.len() < text.len() {
            shown.push('…');
        }
        Self {
            shown: format!("{shown:?}"),
            reason,
        }
    }

    fn number(value: impl fmt::Display, reason: Reason) -> Self {
        Self {
            shown: value.to_string(),
            reason,
        }
    }
}

fn unit_nanos(name: &str) -> Option<u64> {
    UNITS
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|&(_, nanos)| nanos)
}

/// Parse the text form (see the [module docs](self) for the grammar).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let fail = |reason| DurationError::text(text, reason);
    let bytes = text.as_bytes();
    let mut i = 0;
    let skip_spaces = |i: &mut usize| {
        while bytes.get(*i) == Some(&b' ') {
            *i += 1;
        }
    };
    skip_spaces(&mut i);
    let mut total: u128 = 0;
    let mut terms = 0;
    loop {
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if start == i {
            return Err(fail(match bytes.get(i) {
                Some(b'-') if terms == 0 => Reason::Negative,
                _ => Reason::NotADuration,
            }));
        }
        if bytes.get(i) == Some(&b'.') {
            return Err(fail(Reason::Fraction));
        }
        // Digits only: the slice is ASCII, and a value too long for u128 is too long anyway.
        let number: u128 = text[start..i].parse().map_err(|_| fail(Reason::TooLong))?;
        skip_spaces(&mut i);
        let unit_start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_alphabetic) {
            i += 1;
        }
        let unit = &text[unit_start..i];
        let nanos = if unit.is_empty() {
            // A bare number is seconds, but only alone: "1h 30" is ambiguous.
            if terms == 0 && i == bytes.len() {
                u128::from(NANOS_PER_SEC)
            } else {
                return Err(fail(Reason::MissingUnit));
            }
        } else {
            u128::from(unit_nanos(unit).ok_or_else(|| fail(Reason::UnknownUnit))?)
        };
        total = number
            .checked_mul(nanos)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| fail(Reason::TooLong))?;
        terms += 1;
        skip_spaces(&mut i);
        if i == bytes.len() {
            break;
        }
        if !bytes[i].is_ascii_digit() {
            return Err(fail(match bytes[i] {
                b'.' => Reason::Fraction,
                _ if unit.is_empty() => Reason::MissingUnit,
                _ => Reason::NotADuration,
            }));
        }
    }
    let secs =
        u64::try_from(total / u128::from(NANOS_PER_SEC)).map_err(|_| fail(Reason::TooLong))?;
    // The remainder is below 10^9.
    let nanos =
        u32::try_from(total % u128::from(NANOS_PER_SEC)).map_err(|_| fail(Reason::TooLong))?;
    Ok(Duration::new(secs, nanos))
}

/// A duration written as a YAML or JSON integer: whole seconds.
pub fn from_secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// A duration written as a negative YAML or JSON integer: refused.
pub fn from_negative(secs: i64) -> DurationError {
    DurationError::number(secs, Reason::Negative)
}

/// A duration written as a YAML or JSON number with a decimal point or exponent: whole
/// seconds if it is a whole number (`300.0`, `3e2` — JSON Schema calls those integers too),
/// otherwise refused with a message that says how to write a fraction of a unit.
pub fn from_float(value: f64) -> Result<Duration, DurationError> {
    if !value.is_finite() {
        return Err(DurationError::number(value, Reason::NotADuration));
    }
    if value.fract() != 0.0 {
        return Err(DurationError::number(value, Reason::Fraction));
    }
    if value < 0.0 {
        return Err(DurationError::number(value, Reason::Negative));
    }
    // 2^64 is exactly representable; every whole f64 below it converts exactly.
    if value >= 18_446_744_073_709_551_616.0 {
        return Err(DurationError::number(value, Reason::TooLong));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Duration::from_secs(value as u64))
}

/// The core of the grammar as a regular expression (ECMA-262, as JSON Schema uses), not
/// anchored and without surrounding spaces: one bare number, or terms with units.
pub fn pattern_body() -> String {
    let mut names: Vec<&str> = UNITS
        .iter()
        .flat_map(|(names, _)| names.iter().copied())
        .collect();
    // Longest first, so that an engine trying alternatives in order needs no backtracking.
    names.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    let unit = names.join("|");
    let term = format!("[0-9]+ *(?:{unit})");
    format!("(?:[0-9]+|{term}(?: *{term})*)")
}

/// The JSON Schema `pattern` of the text form: exactly the strings [`parse`] accepts (but for
/// values that overflow).
pub fn pattern() -> String {
    format!("^ *{} *$", pattern_body())
}

/// Format as the grammar writes it, largest unit first, no spaces: `"1h30m"`, `"30d"`,
/// `"250ms"`, `"0s"`. Weeks are written as days. [`parse`] reads it back exactly.
pub fn format(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_owned();
    }
    let mut nanos = duration.as_nanos();
    let mut out = String::new();
    for &(names, unit) in UNITS.iter().rev() {
        if names[0] == "w" {
            continue;
        }
        let unit = u128::from(unit);
        let n = nanos / unit;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(names[0]);
            nanos %= unit;
        }
    }
    out
}

/// A duration written as `"90s"`, `"60m"`, `"1h30m"`, `"30d"`, `"250ms"` (or a whole number
/// of seconds): whole numbers, each with a unit. The grammar, its parser and its JSON Schema
/// pattern are in [`crate::base::duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct DurationValue(pub Duration);

impl DurationValue {
    /// A duration of `secs` seconds.
    pub const fn secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// Whole seconds.
    pub fn as_secs(&self) -> u64 {
        self.0.as_secs()
    }
}

/// A whole number of seconds, or text in the grammar of [`crate::base::duration`] — the pattern is
/// generated from the parser's own unit table, so the schema and the loader agree.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for DurationValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration: whole seconds (300), or whole numbers each with a unit (ns, us, ms, s, m, h, d, w, or a longer name such as minutes), e.g. \"90s\", \"60m\", \"1h30m\", \"30d\". No fractions: write 1h30m for 1.5h.",
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": pattern()}
            ]
        })
    }
}

impl From<Duration> for DurationValue {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

/// Written as the grammar writes it (`1h30m`, `30d`, `250ms`), so that it reads back.
impl fmt::Display for DurationValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(self.0))
    }
}

impl std::str::FromStr for DurationValue {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(Self)
    }
}

/// Parse `"90s"`, `"60m"`, `"1h30m"`, `"30d"`, `"250ms"`, or a bare number of seconds (see
/// [`crate::base::duration`]). Lifetime settings are checked to be whole seconds when the
/// configuration is validated.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    parse(text)
}

/// The one duration visitor, for [`DurationValue`] and [`SignedDurationValue`]: a number
/// (whole seconds) or text in the grammar (with an optional sign when `signed`); anything
/// else is refused with a message that names the accepted form.
struct DurationVisitor {
    signed: bool,
}

impl serde::de::Visitor<'_> for DurationVisitor {
    /// The magnitude, and whether it is negative.
    type Value = (Duration, bool);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.signed {
            write!(f, "{EXPECTED}, with an optional sign (\"-10m\")")
        } else {
            f.write_str(EXPECTED)
        }
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok((from_secs(v), false))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        if v < 0 && !self.signed {
            return Err(E::custom(from_negative(v)));
        }
        Ok((from_secs(v.unsigned_abs()), v < 0))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        let negative = self.signed && v < 0.0;
        let magnitude = if negative { -v } else { v };
        from_float(magnitude)
            .map(|d| (d, negative))
            .map_err(E::custom)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        // The signed schema's pattern: ` *[-+]? *` before the unsigned grammar.
        let (negative, rest) = if self.signed {
            let t = v.trim_start_matches(' ');
            match t.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, t.strip_prefix('+').unwrap_or(t)),
            }
        } else {
            (false, v)
        };
        parse(rest).map(|d| (d, negative)).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DurationVisitor { signed: false })
            .map(|(d, _)| Self(d))
    }
}

impl Serialize for DurationValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// A signed duration: `"5m"` (ahead, later) or `"-5m"` (behind, earlier), or signed seconds;
/// the grammar of [`DurationValue`] with an optional sign (`" - 10m"`, `"+2h"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignedDurationValue {
    /// The magnitude.
    pub magnitude: Duration,
    /// Whether it points backwards.
    pub negative: bool,
}

impl SignedDurationValue {
    /// Whole seconds, signed.
    pub fn as_secs(&self) -> i64 {
        let secs = i64::try_from(self.magnitude.as_secs()).unwrap_or(i64::MAX);
        if self.negative { -secs } else { secs }
    }
}

impl<'de> Deserialize<'de> for SignedDurationValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DurationVisitor { signed: true })
            .map(|(magnitude, negative)| Self {
                magnitude,
                negative,
            })
    }
}

/// Written as the grammar writes it, with a `-` when negative (`-1h30m`), so that it reads
/// back.
impl fmt::Display for SignedDurationValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.negative { "-" } else { "" };
        write!(f, "{sign}{}", format(self.magnitude))
    }
}

/// Signed seconds, or text in the grammar of [`DurationValue`] with an optional sign.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for SignedDurationValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SignedDuration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Signed seconds, or a duration with an optional sign: \"10m\", \"-10m\", \"+2h\" (whole numbers, each with a unit, as for Duration).",
            "oneOf": [
                {"type": "integer"},
                {"type": "string", "pattern": format!("^ *[-+]? *{} *$", pattern_body())}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_forms_people_write() {
        for (text, want) in [
            ("90s", secs(90)),
            ("61m", secs(61 * 60)),
            ("1h30m", secs(5400)),
            ("1h 30m", secs(5400)),
            ("30d", secs(30 * 86_400)),
            ("2w", secs(14 * 86_400)),
            ("300", secs(300)),
            (" 5 m ", secs(300)),
            ("10 minutes", secs(600)),
            ("250ms", Duration::from_millis(250)),
            ("1s500ms", Duration::from_millis(1500)),
            ("0", secs(0)),
            ("1h1h", secs(7200)),
        ] {
            assert_eq!(parse(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn refusals_say_why_and_what_to_write() {
        for (text, why) in [
            ("1.5h", "fractions are not supported"),
            ("300.5", "fractions are not supported"),
            ("1h.5m", "fractions are not supported"),
            ("-5m", "cannot be negative"),
            ("5xyz", "unknown unit"),
            ("1y", "unknown unit"),
            ("1M", "unknown unit"),
            ("5H", "unknown unit"),
            ("1h 30", "needs a unit"),
            ("30 1h", "needs a unit"),
            ("soon", "not a duration"),
            ("", "not a duration"),
            ("5m s", "not a duration"),
            ("5\tm", "needs a unit"),
            ("99999999999999999999999999999999999999999s", "too long"),
            ("600000000000000d", "too long"),
        ] {
            let message = parse(text).expect_err(text).to_string();
            assert!(message.contains(why), "{text:?}: {message}");
            assert!(
                message.contains("a duration like 90s, 60m, 1h30m or 30d"),
                "{message}"
            );
        }
        let long = "x".repeat(1000);
        assert!(parse(&long).expect_err("long").to_string().len() < 300);
    }

    #[test]
    fn numbers_are_whole_seconds() {
        assert_eq!(from_float(300.0), Ok(secs(300)));
        assert_eq!(from_float(3e2), Ok(secs(300)));
        for bad in [300.5, -1.0, f64::NAN, f64::INFINITY, 1e30] {
            assert!(from_float(bad).is_err(), "{bad}");
        }
        assert!(
            from_float(300.5)
                .expect_err("fraction")
                .to_string()
                .starts_with("300.5: fractions are not supported")
        );
        assert!(from_negative(-5).to_string().contains("cannot be negative"));
    }

    #[test]
    fn format_writes_the_grammar() {
        assert_eq!(format(secs(0)), "0s");
        assert_eq!(format(secs(5400)), "1h30m");
        assert_eq!(format(secs(30 * 86_400)), "30d");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::new(1, 1)), "1s1ns");
    }

    /// Whether a JSON Schema validator (the kind an editor runs) accepts `text` by the
    /// pattern.
    fn schema_accepts(text: &str) -> bool {
        static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
        VALIDATOR
            .get_or_init(|| {
                jsonschema::validator_for(
                    &serde_json::json!({"type": "string", "pattern": pattern()}),
                )
                .expect("the pattern compiles")
            })
            .is_valid(&serde_json::Value::String(text.to_owned()))
    }

    proptest! {
        /// The pattern and the parser agree on arbitrary strings over the grammar's alphabet
        /// (and a few characters outside it).
        #[test]
        fn pattern_and_parser_agree(text in "[ 0-9.a-zA-Z+-]{0,12}") {
            let parsed = parse(&text);
            let too_long = matches!(&parsed, Err(e) if e.reason == Reason::TooLong);
            if !too_long {
                prop_assert_eq!(schema_accepts(&text), parsed.is_ok(), "{:?}: {:?}", text, parsed);
            }
        }

        /// ... and on strings built from the grammar's own pieces — numbers, spaces, every
        /// unit name — with near misses mixed in (a dot, a sign, a stray letter, no unit).
        #[test]
        fn pattern_and_parser_agree_on_near_misses(
            terms in proptest::collection::vec(
                (
                    prop_oneof![Just(""), Just("-"), Just(".5"), Just(" ")],
                    "[0-9]{1,3}",
                    prop_oneof![Just(""), Just(" ")],
                    proptest::sample::select(
                        UNITS
                            .iter()
                            .flat_map(|(n, _)| n.iter().copied())
                            .chain(["", "", "x", "M", "y", "."])
                            .collect::<Vec<_>>(),
                    ),
                ),
                0..4,
            )
        ) {
            let text: String = terms
                .iter()
                .map(|(before, digits, space, unit)| format!("{before}{digits}{space}{unit}"))
                .collect();
            prop_assert_eq!(schema_accepts(&text), parse(&text).is_ok(), "{:?}", text);
        }

        /// What `format` writes, `parse` reads back.
        #[test]
        fn format_round_trips(secs in 0u64..10_000_000_000, nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            prop_assert_eq!(parse(&format(d)), Ok(d));
        }
    }

    #[test]
    fn signed_durations_take_a_sign_and_unsigned_ones_refuse_it() {
        let signed = |v: serde_json::Value| serde_json::from_value::<SignedDurationValue>(v);
        let back = signed(serde_json::json!(" - 10m")).expect("signed text");
        assert_eq!((back.magnitude, back.negative), (secs(600), true));
        assert_eq!(back.as_secs(), -600);
        assert_eq!(back.to_string(), "-10m");
        assert_eq!(
            signed(serde_json::json!("+2h")).expect("plus").as_secs(),
            7200
        );
        assert_eq!(
            signed(serde_json::json!(-90)).expect("seconds").as_secs(),
            -90
        );
        let err = signed(serde_json::json!(true)).expect_err("a boolean");
        assert!(err.to_string().contains("with an optional sign"), "{err}");
        let unsigned = serde_json::from_value::<DurationValue>(serde_json::json!(-5));
        assert!(unsigned.is_err(), "a negative number is refused unsigned");
        let unsigned = serde_json::from_value::<DurationValue>(serde_json::json!("-5m"));
        assert!(unsigned.is_err(), "a sign is refused unsigned");
    }
}
