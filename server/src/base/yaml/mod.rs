//! YAML loading with positions: every error names `file:line:column` and says what to change.
//!
//! Serde errors (syntax, unknown keys, wrong types) carry the parser's position. Errors found
//! *after* parsing (a duplicate `client_id`, a relative redirect URI) are located by a
//! [`FieldPath`]: the document is parsed a second time into a tree of positioned nodes, and the
//! path is looked up in it.
//!
//! Split by job: [`path`] (positions, paths, issues), `tree` (the positioned document),
//! `error` (errors in a user's words), `input` (what is refused before parsing); the entry points are here.

mod error;
mod input;
mod path;
mod tree;

use serde::de::DeserializeOwned;

pub use error::YamlError;
pub use input::utf8_text;
pub use path::{FieldPath, PathIssue, Position};
pub(crate) use tree::locate_path;

use error::explain;
#[cfg(test)]
use error::unclosed_bracket;

/// Parse `text` into `T`, naming `origin` in errors. Unknown keys are errors when `T` says
/// `deny_unknown_fields`.
///
/// Errors say what to change in the user's terms: the key a wrong value belongs to, the
/// mapping a required key is missing from (at its first line), the bracket that was never
/// closed — not the parser's or serde's internals.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    if let Some((position, message)) = input::unknown_tag(text) {
        return Err(YamlError {
            origin: origin.to_owned(),
            position: Some(position),
            message,
        });
    }
    serde_saphyr::from_str_with_options(text, options()).map_err(|err| {
        let (position, message) = explain(text, &err);
        YamlError {
            origin: origin.to_owned(),
            position,
            message,
        }
    })
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! { with_snippet: false }
}

/// Turn an issue found after parsing into a positioned error by looking its path up in `text`.
pub fn locate(text: &str, origin: &str, issue: &PathIssue) -> YamlError {
    let position = locate_path(text, &issue.path);
    YamlError {
        origin: origin.to_owned(),
        position,
        message: issue.to_string(),
    }
}

#[cfg(test)]
mod tests;
