//! YAML loading with positions: every error names `file:line:column` and says what to change.
//!
//! Serde errors (syntax, unknown keys, wrong types) carry the parser's position. Errors found
//! *after* parsing (a duplicate `client_id`, a relative redirect URI) are located by a
//! [`FieldPath`]: the document is parsed a second time into a tree of positioned nodes, and the
//! path is looked up in it.

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A position in a text file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, starting at 1.
    pub line: u64,
    /// Column, starting at 1.
    pub column: u64,
}

/// An error in a YAML file, with where it is and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}", line = self.line(), column = self.column())]
pub struct YamlError {
    /// The file name (or `<config>` for in-memory text).
    pub origin: String,
    /// Where the problem is, when known.
    pub position: Option<Position>,
    /// What is wrong, and what to change.
    pub message: String,
}

impl YamlError {
    /// Line of the error, or 1 when unknown.
    pub fn line(&self) -> u64 {
        self.position.map_or(1, |p| p.line)
    }

    /// Column of the error, or 1 when unknown.
    pub fn column(&self) -> u64 {
        self.position.map_or(1, |p| p.column)
    }
}

/// A path into a YAML document: `clients[1].redirect_uris[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<PathStep>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathStep {
    Key(String),
    Index(usize),
}

impl FieldPath {
    /// The document root.
    pub fn root() -> Self {
        Self::default()
    }

    /// This path followed by a mapping key.
    pub fn key(&self, key: &str) -> Self {
        let mut steps = self.0.clone();
        steps.push(PathStep::Key(key.to_owned()));
        Self(steps)
    }

    /// This path followed by a sequence index.
    pub fn index(&self, index: usize) -> Self {
        let mut steps = self.0.clone();
        steps.push(PathStep::Index(index));
        Self(steps)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Key(k) if i == 0 => write!(f, "{k}")?,
                PathStep::Key(k) => write!(f, ".{k}")?,
                PathStep::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A problem found after parsing, at a path in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathIssue {
    /// Where the offending value is.
    pub path: FieldPath,
    /// What is wrong and what to change.
    pub message: String,
}

impl PathIssue {
    /// An issue at `path`.
    pub fn new(path: FieldPath, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
        }
    }
}

impl fmt::Display for PathIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.0.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Parse `text` into `T`, naming `origin` in errors. Unknown keys are errors when `T` says
/// `deny_unknown_fields`.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(text, options).map_err(|err| YamlError {
        origin: origin.to_owned(),
        position: err.location().map(|l| Position {
            line: l.line(),
            column: l.column(),
        }),
        message: tidy_message(&err.to_string()),
    })
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

/// The position of the value at `path` in `text`, or of its nearest ancestor that exists.
pub fn locate_path(text: &str, path: &FieldPath) -> Option<Position> {
    let options = serde_saphyr::options! { with_snippet: false };
    let root: Spanned<Node> = serde_saphyr::from_str_with_options(text, options).ok()?;
    let mut node = &root;
    let mut best = position_of(node);
    for step in &path.0 {
        let next = match (step, &node.value) {
            (PathStep::Key(k), Node::Map(entries)) => entries
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, value)| value),
            (PathStep::Index(i), Node::Seq(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) => {
                node = n;
                best = position_of(node);
            }
            None => break,
        }
    }
    best
}

fn position_of(node: &Spanned<Node>) -> Option<Position> {
    let loc = node.referenced;
    (loc.line() > 0).then(|| Position {
        line: loc.line(),
        column: loc.column(),
    })
}

/// serde messages mention Rust type names; keep the part a user can act on.
fn tidy_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    // The position is printed as `file:line:column:` in front; drop the parser's own copy.
    let first = match first.rsplit_once(" at line ") {
        Some((head, tail)) if tail.contains(", column ") => head,
        _ => first,
    };
    first
        .trim_start_matches("error: ")
        .replace("unknown field", "unknown key")
}

/// A YAML node with positions, used only to locate paths.
#[derive(Debug)]
enum Node {
    Map(Vec<(String, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<KeyText>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key.0, value));
        }
        Ok(Node::Map(entries))
    }
}

/// A mapping key as text, whatever its scalar type.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "issuer: http://x\nclients:\n  - client_id: a\n    redirect_uris:\n      - http://one\n      - /relative\n";

    #[test]
    fn locates_nested_sequence_items() {
        let path = FieldPath::root()
            .key("clients")
            .index(0)
            .key("redirect_uris")
            .index(1);
        assert_eq!(path.to_string(), "clients[0].redirect_uris[1]");
        let pos = locate_path(DOC, &path).expect("found");
        assert_eq!(pos.line, 6);
        assert_eq!(pos.column, 9);
    }

    #[test]
    fn missing_path_falls_back_to_nearest_ancestor() {
        let path = FieldPath::root().key("clients").index(0).key("scopes");
        let pos = locate_path(DOC, &path).expect("found");
        assert_eq!(pos.line, 3);
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Small {
        name: String,
    }

    #[test]
    fn unknown_key_is_reported_with_position() {
        let err = parse::<Small>("name: x\nnmae: y\n", "f.yaml").expect_err("unknown key");
        assert_eq!(err.origin, "f.yaml");
        assert_eq!(err.line(), 2, "{err}");
        assert!(err.message.contains("nmae"), "{err}");
        assert!(err.to_string().starts_with("f.yaml:2:"), "{err}");
    }
}
