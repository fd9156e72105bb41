//! Errors in a YAML file, with where they are and what to change: serde's and the parser's
//! messages in a user's words.

use serde_saphyr::Spanned;

use super::path::{FieldPath, Position};
use super::tree::{Node, locate_path, position_of, tree};

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

/// Where a parse error is and what to say about it.
pub(super) fn explain(text: &str, err: &serde_saphyr::Error) -> (Option<Position>, String) {
    use serde_saphyr::Error as E;
    let position = err.location().and_then(position_of);
    if let E::Budget { breach, .. } = err {
        return (position, budget_message(breach));
    }
    let Some(root) = tree(text) else {
        // Not valid YAML: a syntax error. The commonest cause is an unclosed `{` or `[`,
        // which the parser reports lines later, at whatever it could not fit in.
        if let Some(bracket) = unclosed_bracket(text)
            && position.is_none_or(|p| bracket.at <= p)
        {
            return (Some(bracket.at), bracket.message());
        }
        return (position, syntax_message(&err.to_string()));
    };
    let hit = position.and_then(|p| node_at(&root, p));
    let parent = hit.as_ref().map(Hit::parent).unwrap_or_default();
    let found = hit.as_ref().and_then(|h| h.text.clone());
    let at_value = |message: String| match &hit {
        Some(h) if !h.key && !h.path.0.is_empty() => format!("{}: {message}", h.path),
        Some(h) if h.key && !h.parent().0.is_empty() => format!("{}: {message}", h.parent()),
        _ => message,
    };
    let in_parent = |message: String| {
        if parent.0.is_empty() {
            message
        } else {
            format!("{parent}: {message}")
        }
    };
    let found_text = |what: &str| match &found {
        Some(t) => format!("found `{t}`"),
        None => format!("found {what}"),
    };
    let message = match err {
        E::SerdeMissingField { field, .. } => {
            let (path, at) = position
                .and_then(|p| mapping_missing(&root, p, field))
                .unwrap_or_else(|| (FieldPath::root(), position_of(root.referenced)));
            let place = if path.0.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("to `{path}`")
            };
            return (
                at.or(position),
                format!("missing key `{field}`: add `{field}:` {place}"),
            );
        }
        E::SerdeUnknownField {
            field, expected, ..
        } => in_parent(format!(
            "unknown key `{field}`, expected one of {}",
            expected.join(", ")
        )),
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => at_value(format!(
            "unknown value `{variant}`, expected one of {}",
            expected.join(", ")
        )),
        E::DuplicateMappingKey { key, .. } => {
            let key = key.clone().or(found.clone()).unwrap_or_default();
            in_parent(format!(
                "the key `{key}` appears twice in this mapping; keep only one"
            ))
        }
        E::ExpectedMappingEndAfterEnumVariantValue { .. } => {
            let key = found.clone().unwrap_or_default();
            in_parent(format!(
                "`{key}` is a second key in an item that holds exactly one (like a step `- login: {{}}` or a fault action); give it its own list item: did you forget `- ` before `{key}`?"
            ))
        }
        E::InvalidScalar { ty, .. } => at_value(format!(
            "expected {}, {}",
            scalar_kind(ty),
            found_text("this")
        )),
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | E::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => {
            let message = format!("expected {expected}, found {unexpected}");
            match &hit {
                // serde placed a wrong value at its key: name the key, point at the value.
                Some(h) if h.key => {
                    let at = locate_path(text, &h.path).or(position);
                    return (at, format!("{}: {message}", h.path));
                }
                _ => at_value(message),
            }
        }
        E::Unexpected { expected, .. } => {
            let found = match found.as_deref() {
                Some("null") if expected.contains("mapping") => {
                    "found nothing: write `{}` for an empty mapping".to_owned()
                }
                _ => found_text("something else"),
            };
            at_value(format!("expected {}, {found}", structure(expected)))
        }
        E::Budget { breach, .. } => budget_message(breach),
        E::Message { msg, .. } if msg.contains("did not match any variant of untagged enum") => {
            at_value(match &found {
                Some(t) => format!("`{t}` is not a valid value here"),
                None => "this is not a valid value here".to_owned(),
            })
        }
        E::Message { msg, .. } => at_value(tidy_message(msg)),
        other => tidy_message(&other.to_string()),
    };
    // A position past the end of the text (the parser looked at the next event) is no help:
    // point at what was found instead.
    let position = match (&hit, position) {
        (_, Some(p)) if p.line > last_line(text) => hit.as_ref().map(|h| h.at).or(Some(p)),
        (_, p) => p,
    };
    (position, message)
}

pub(super) fn last_line(text: &str) -> u64 {
    text.lines().count().max(1) as u64
}

/// "invalid u32" in a user's words.
pub(super) fn scalar_kind(ty: &str) -> String {
    match ty {
        "u8" => "a whole number from 0 to 255".to_owned(),
        "u16" => "a whole number from 0 to 65535".to_owned(),
        "u32" => "a whole number from 0 to 4294967295".to_owned(),
        "u64" | "usize" | "u128" => "a whole number, 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "bool" => "true or false".to_owned(),
        "char" => "a single character".to_owned(),
        other => format!("a value of type {other}"),
    }
}

/// The parser's name for a structure, in a user's words.
pub(super) fn structure(expected: &str) -> String {
    match expected {
        "mapping start" | "empty mapping start" => {
            "a mapping (`key: value` lines, or `{ key: value }`)".to_owned()
        }
        "sequence start" => "a list (`- item` lines, or `[a, b]`)".to_owned(),
        "string scalar" | "scalar" => "a single value".to_owned(),
        other => other.to_owned(),
    }
}

/// A syntax error in a user's words (the parser's own text when there is nothing better).
pub(super) fn syntax_message(message: &str) -> String {
    let message = tidy_message(message);
    if message.contains("tabs disallowed") {
        return format!("{message}: indent with spaces, not tabs");
    }
    message
}

/// serde messages mention Rust type names; keep the part a user can act on.
pub(super) fn tidy_message(message: &str) -> String {
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

/// A node found at an error's position.
#[derive(Debug)]
pub(super) struct Hit {
    /// The node's path; for a key, the path of the key's value.
    path: FieldPath,
    /// Whether the position is a mapping key's.
    key: bool,
    /// The key's or scalar's text.
    text: Option<String>,
    /// The node's own position.
    at: Position,
}

impl Hit {
    /// The mapping or list that holds the node.
    fn parent(&self) -> FieldPath {
        let mut steps = self.path.0.clone();
        steps.pop();
        FieldPath(steps)
    }
}

/// The deepest node (key or value) at `at`, or else the last one before it.
pub(super) fn node_at(root: &Spanned<Node>, at: Position) -> Option<Hit> {
    /// The best candidate so far, and whether it is exactly at `at`.
    type Best = Option<(Hit, bool)>;
    fn consider(best: &mut Best, at: Position, hit: Hit) {
        let exact = hit.at == at;
        let better = match best {
            None => hit.at <= at,
            Some((_, true)) => exact,
            Some((b, false)) => exact || (hit.at <= at && hit.at >= b.at),
        };
        if better {
            *best = Some((hit, exact));
        }
    }
    fn walk(node: &Spanned<Node>, path: &FieldPath, at: Position, best: &mut Best) {
        if let Some(pos) = position_of(node.referenced) {
            let text = match &node.value {
                Node::Scalar(t) => Some(t.clone()),
                _ => None,
            };
            let hit = Hit {
                path: path.clone(),
                key: false,
                text,
                at: pos,
            };
            consider(best, at, hit);
        }
        match &node.value {
            Node::Map(entries) => {
                for (key, value) in entries {
                    let child = path.key(&key.value.0);
                    if let Some(pos) = position_of(key.referenced) {
                        let hit = Hit {
                            path: child.clone(),
                            key: true,
                            text: Some(key.value.0.clone()),
                            at: pos,
                        };
                        consider(best, at, hit);
                    }
                    walk(value, &child, at, best);
                }
            }
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &path.index(i), at, best);
                }
            }
            Node::Scalar(_) => {}
        }
    }
    let mut best = None;
    walk(root, &FieldPath::root(), at, &mut best);
    best.map(|(hit, _)| hit)
}

/// The innermost mapping without `field` that spans `at`: its path and first position.
pub(super) fn mapping_missing(
    root: &Spanned<Node>,
    at: Position,
    field: &str,
) -> Option<(FieldPath, Option<Position>)> {
    /// The last position inside `node`.
    fn end(node: &Spanned<Node>) -> Option<Position> {
        let own = position_of(node.referenced);
        let inner = match &node.value {
            Node::Map(entries) => entries
                .iter()
                .flat_map(|(k, v)| [position_of(k.referenced), end(v)])
                .flatten()
                .max(),
            Node::Seq(items) => items.iter().filter_map(end).max(),
            Node::Scalar(_) => None,
        };
        own.max(inner)
    }
    fn walk(
        node: &Spanned<Node>,
        path: &FieldPath,
        depth: usize,
        at: Position,
        field: &str,
        best: &mut Option<(usize, FieldPath, Option<Position>)>,
    ) {
        match &node.value {
            Node::Map(entries) => {
                let start = position_of(node.referenced);
                let spans = start.is_none_or(|s| s <= at) && end(node).is_none_or(|e| at <= e);
                let lacks = entries.iter().all(|(k, _)| k.value.0 != field);
                if spans && lacks && best.as_ref().is_none_or(|(d, _, _)| depth >= *d) {
                    *best = Some((depth, path.clone(), start));
                }
                for (key, value) in entries {
                    walk(value, &path.key(&key.value.0), depth + 1, at, field, best);
                }
            }
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &path.index(i), depth + 1, at, field, best);
                }
            }
            Node::Scalar(_) => {}
        }
    }
    let mut best = None;
    walk(root, &FieldPath::root(), 0, at, field, &mut best);
    best.map(|(_, path, start)| (path, start))
}

/// A `{` or `[` that is never closed (or closed by the wrong bracket).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Bracket {
    pub(super) open: char,
    pub(super) at: Position,
    /// The wrong closing bracket found instead, and where.
    pub(super) wrong_close: Option<(char, Position)>,
}

impl Bracket {
    fn message(&self) -> String {
        let (close, what, example) = match self.open {
            '{' => ('}', "mapping", "{ key: value, other: value }"),
            _ => (']', "list", "[a, b]"),
        };
        match self.wrong_close {
            Some((found, at)) => format!(
                "this `{}` is closed by `{found}` at line {}, column {}: close it with `{close}` (a flow {what} is written `{example}`)",
                self.open, at.line, at.column
            ),
            None => format!(
                "this `{}` is never closed: add `{close}` where the {what} ends, usually at the end of this line (a flow {what} is written `{example}`)",
                self.open
            ),
        }
    }
}

/// The innermost flow bracket left open at the end of `text`, or closed by the wrong bracket.
/// Block scalars, quoted strings and comments are skipped; in block context a bracket counts
/// only where a value starts (a plain scalar may contain brackets).
pub(super) fn unclosed_bracket(text: &str) -> Option<Bracket> {
    let mut stack: Vec<(char, Position)> = Vec::new();
    // Inside a block scalar (`|` or `>`): lines indented more than this are its content.
    let mut block_scalar: Option<usize> = None;
    for (index, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if let Some(parent) = block_scalar {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        // Where a value may start in block context: the line's start, after `- `, `? ` or `: `.
        let mut value_start = true;
        while i < chars.len() {
            let c = chars[i];
            let at = Position {
                line: index as u64 + 1,
                column: i as u64 + 1,
            };
            let prev_space = i == 0 || chars[i - 1].is_whitespace();
            match c {
                '#' if prev_space => break,
                '"' | '\'' if !stack.is_empty() || value_start => {
                    i += 1;
                    while i < chars.len() {
                        if c == '"' && chars[i] == '\\' {
                            i += 1;
                        } else if chars[i] == c {
                            if c == '\'' && chars.get(i + 1) == Some(&'\'') {
                                i += 1;
                            } else {
                                break;
                            }
                        }
                        i += 1;
                    }
                    value_start = false;
                }
                '{' | '[' if !stack.is_empty() || value_start => stack.push((c, at)),
                '}' | ']' if !stack.is_empty() => {
                    let (open, opened) = stack.pop()?;
                    let matching = if open == '{' { '}' } else { ']' };
                    if c != matching {
                        return Some(Bracket {
                            open,
                            at: opened,
                            wrong_close: Some((c, at)),
                        });
                    }
                }
                c if c.is_whitespace() => {}
                '-' | '?' | ':'
                    if stack.is_empty() && chars.get(i + 1).is_none_or(|n| n.is_whitespace()) =>
                {
                    value_start = true;
                    if c == ':' || c == '-' {
                        let rest: String = chars[i + 1..].iter().collect();
                        let rest = rest.trim();
                        let rest = rest.split(" #").next().unwrap_or(rest).trim();
                        if rest.starts_with('|') || rest.starts_with('>') {
                            block_scalar = Some(indent);
                            break;
                        }
                    }
                }
                _ if stack.is_empty() => {
                    // A plain scalar or key: brackets inside it are text, until `: `.
                    value_start = false;
                }
                _ => {}
            }
            i += 1;
        }
    }
    stack.pop().map(|(open, at)| Bracket {
        open,
        at,
        wrong_close: None,
    })
}

/// What a parser limit that was hit means, in the user's terms: which limit, its value, and
/// what to do (the position is the error's own).
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let limits = serde_saphyr::Budget::default();
    let (what, count, limit) = match breach {
        B::Nodes { nodes } => (
            "values (scalars, lists and mappings)",
            *nodes,
            limits.max_nodes,
        ),
        B::Events { events } => ("parser events", *events, limits.max_events),
        B::Aliases { aliases } => ("aliases (*name)", *aliases, limits.max_aliases),
        B::Anchors { anchors } => ("anchors (&name)", *anchors, limits.max_anchors),
        B::Depth { depth } => ("levels of nesting", *depth, limits.max_depth),
        B::Documents { documents } => ("documents (---)", *documents, limits.max_documents),
        B::ScalarBytes { total_scalar_bytes } => (
            "bytes of text in values",
            *total_scalar_bytes,
            limits.max_total_scalar_bytes,
        ),
        B::MergeKeys { merge_keys } => ("merge keys (<<)", *merge_keys, limits.max_merge_keys),
        other => {
            return format!(
                "the file is too large or too deeply nested for the YAML parser's safety limits ({other:?}); a fauxauth file is small: check that this is the right file"
            );
        }
    };
    format!(
        "the file has more than {limit} {what} (the parser's safety limit; {count} counted when it stopped here); a fauxauth file is small: check that this is the right file"
    )
}
