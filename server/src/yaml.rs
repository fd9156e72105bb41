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

/// A position in a text file, 1-based; ordered by line, then column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
///
/// Errors say what to change in the user's terms: the key a wrong value belongs to, the
/// mapping a required key is missing from (at its first line), the bracket that was never
/// closed — not the parser's or serde's internals.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    if let Some((position, message)) = unknown_tag(text) {
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

/// The text of a file read as bytes, or an error at the first byte that is not UTF-8.
pub fn utf8_text(bytes: Vec<u8>, origin: &str) -> Result<String, YamlError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let bad = e.as_bytes().get(valid.len()).copied().unwrap_or_default();
        // The valid prefix is UTF-8 by definition; lines and columns count characters.
        let prefix = String::from_utf8_lossy(valid);
        let line = prefix.matches('\n').count() as u64 + 1;
        let column = prefix
            .rsplit('\n')
            .next()
            .map_or(0, |last| last.chars().count() as u64)
            + 1;
        YamlError {
            origin: origin.to_owned(),
            position: Some(Position { line, column }),
            message: format!(
                "the file is not valid UTF-8 (byte 0x{bad:02x} here); save it as UTF-8"
            ),
        }
    })
}

/// The first YAML tag (`!duration`, `!!python/object`, ...) other than the core schema's
/// (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`, `!!seq`): fauxauth files have
/// no tags, and a tag the parser ignored would silently change nothing. `None` also when the
/// text is not valid YAML (the parse reports that).
fn unknown_tag(text: &str) -> Option<(Position, String)> {
    use serde_saphyr::granit_parser::{Event, Parser};
    const CORE: [&str; 7] = ["str", "int", "float", "bool", "null", "map", "seq"];
    for item in Parser::new_from_str(text) {
        let (event, span) = item.ok()?;
        let tag = match &event {
            Event::Scalar(_, _, _, tag)
            | Event::SequenceStart(_, _, tag)
            | Event::MappingStart(_, _, tag) => tag.as_ref(),
            _ => None,
        };
        let Some(tag) = tag else { continue };
        let core = tag.handle() == "tag:yaml.org,2002:" && CORE.contains(&tag.suffix());
        if core {
            continue;
        }
        let written = match tag.handle() {
            "tag:yaml.org,2002:" => format!("!!{}", tag.suffix()),
            "!" => format!("!{}", tag.suffix()),
            handle => format!("{handle}{}", tag.suffix()),
        };
        // The event starts at its value; the tag is written before it on the same line.
        let line = span.start.line();
        let value_col = span.start.col();
        let tag_col = text
            .lines()
            .nth(line.saturating_sub(1))
            .and_then(|l| {
                let before: String = l.chars().take(value_col).collect();
                before
                    .rfind(&written)
                    .map(|byte| before[..byte].chars().count())
            })
            .unwrap_or(value_col);
        let position = Position {
            line: line as u64,
            column: tag_col as u64 + 1,
        };
        return Some((
            position,
            format!(
                "unknown YAML tag `{written}`: fauxauth files use no tags; remove it and write the plain value"
            ),
        ));
    }
    None
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

/// The position of the value at `path` in `text`, or of its nearest ancestor that exists.
pub fn locate_path(text: &str, path: &FieldPath) -> Option<Position> {
    let root = tree(text)?;
    let mut node = &root;
    let mut best = position_of(node.referenced);
    for step in &path.0 {
        let next = match (step, &node.value) {
            (PathStep::Key(k), Node::Map(entries)) => entries
                .iter()
                .find(|(key, _)| key.value.0 == *k)
                .map(|(_, value)| value),
            (PathStep::Index(i), Node::Seq(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) => {
                node = n;
                best = position_of(node.referenced);
            }
            None => break,
        }
    }
    best
}

fn position_of(loc: serde_saphyr::Location) -> Option<Position> {
    (loc.line() > 0).then(|| Position {
        line: loc.line(),
        column: loc.column(),
    })
}

/// The document as a tree of positioned nodes, or None if it is not valid YAML. Repeated keys
/// are kept (the typed parse reports them).
fn tree(text: &str) -> Option<Spanned<Node>> {
    let options = serde_saphyr::options! {
        with_snippet: false,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    serde_saphyr::from_str_with_options(text, options).ok()
}

/// Where a parse error is and what to say about it.
fn explain(text: &str, err: &serde_saphyr::Error) -> (Option<Position>, String) {
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

fn last_line(text: &str) -> u64 {
    text.lines().count().max(1) as u64
}

/// "invalid u32" in a user's words.
fn scalar_kind(ty: &str) -> String {
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
fn structure(expected: &str) -> String {
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
fn syntax_message(message: &str) -> String {
    let message = tidy_message(message);
    if message.contains("tabs disallowed") {
        return format!("{message}: indent with spaces, not tabs");
    }
    message
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

/// A node found at an error's position.
#[derive(Debug)]
struct Hit {
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
fn node_at(root: &Spanned<Node>, at: Position) -> Option<Hit> {
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
fn mapping_missing(
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
struct Bracket {
    open: char,
    at: Position,
    /// The wrong closing bracket found instead, and where.
    wrong_close: Option<(char, Position)>,
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
fn unclosed_bracket(text: &str) -> Option<Bracket> {
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

/// A YAML node with positions, used to locate paths and explain errors.
#[derive(Debug)]
enum Node {
    Map(Vec<(Spanned<KeyText>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar(String),
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

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_owned()))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar("null".to_owned()))
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar("null".to_owned()))
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
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// A mapping key as text, whatever its scalar type.
#[derive(Debug)]
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
            fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".to_owned()))
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

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        items: Vec<Item>,
        #[serde(default)]
        codes: std::collections::BTreeMap<u16, u32>,
        #[serde(default)]
        either: Option<Either>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        command: String,
        #[serde(default)]
        count: Option<u32>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case", deny_unknown_fields)]
    #[allow(dead_code)]
    enum Item {
        Wait(u32),
        Go(Inner),
    }

    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Either {
        Number(u64),
        Pair { a: u64, b: u64 },
    }

    fn error(text: &str) -> YamlError {
        parse::<Doc>(text, "d.yaml").expect_err("an error")
    }

    #[test]
    fn a_missing_top_level_key_points_at_the_top_and_says_what_to_add() {
        let e = error("inner:\n  command: x\nitems: []\n");
        assert_eq!((e.line(), e.column()), (1, 1), "{e}");
        assert_eq!(
            e.message,
            "missing key `name`: add `name:` at the top level"
        );
    }

    #[test]
    fn a_missing_nested_key_points_at_the_mapping_that_lacks_it() {
        let e = error("name: a\ninner:\n  count: 3\nitems: []\n");
        assert_eq!((e.line(), e.column()), (3, 3), "{e}");
        assert_eq!(
            e.message,
            "missing key `command`: add `command:` to `inner`"
        );
        let e = error("name: a\nitems:\n  - wait: 1\n  - go: { count: 1 }\n");
        assert_eq!((e.line(), e.column()), (4, 9), "{e}");
        assert!(e.message.contains("to `items[1].go`"), "{e}");
    }

    #[test]
    fn an_unclosed_flow_mapping_is_named_where_it_opens() {
        let e =
            error("name: a\nitems:\n  - wait: 1\n  - go: { command: x, count: 1\n  - wait: 2\n");
        assert_eq!((e.line(), e.column()), (4, 9), "{e}");
        assert!(e.message.contains("`{` is never closed"), "{e}");
        assert!(e.message.contains("add `}`"), "{e}");
        let e = error("name: a\nitems: [ { wait: 1 }\n");
        assert_eq!((e.line(), e.column()), (2, 8), "{e}");
        assert!(e.message.contains("`[` is never closed: add `]`"), "{e}");
        let e = error("name: a\nitems: [ { wait: 1 ]\n");
        assert_eq!((e.line(), e.column()), (2, 10), "{e}");
        assert!(e.message.contains("closed by `]`"), "{e}");
    }

    #[test]
    fn brackets_inside_text_and_block_scalars_are_not_counted() {
        let text = "name: a [draft] {x}\nd: >\n  text with { and [\nitems: [ {wait: 1}\n";
        assert_eq!(
            unclosed_bracket(text).map(|b| b.at),
            Some(Position { line: 4, column: 8 })
        );
        assert_eq!(unclosed_bracket("name: 'a {' # {\nx: \"[\"\n"), None);
    }

    #[test]
    fn a_wrong_number_names_the_key_and_the_expected_form() {
        let e = error("name: a\ninner: { command: x, count: fifty }\n");
        assert_eq!((e.line(), e.column()), (2, 29), "{e}");
        assert_eq!(
            e.message,
            "inner.count: expected a whole number from 0 to 4294967295, found `fifty`"
        );
        let e = error("name: a\ncodes: { ok: 1 }\n");
        assert_eq!((e.line(), e.column()), (2, 10), "{e}");
        assert_eq!(
            e.message,
            "codes: expected a whole number from 0 to 65535, found `ok`"
        );
    }

    #[test]
    fn a_scalar_where_a_mapping_belongs_says_so_in_place() {
        let e = error("name: a\nitems:\n  - go\n");
        assert!(e.line() <= 3, "within the file: {e}");
        assert!(e.message.contains("expected"), "{e}");
        let e = error("name: a\nitems:\n  - go:\n");
        assert!(e.message.contains("write `{}`"), "{e}");
    }

    #[test]
    fn no_rust_type_names_or_parser_api_advice() {
        let e = error("name: a\neither: [1]\n");
        assert!(!e.message.contains("untagged"), "{e}");
        assert!(e.message.starts_with("either:"), "{e}");
        let e = error("name: a\nname: b\n");
        assert_eq!(e.line(), 2, "{e}");
        assert_eq!(
            e.message,
            "the key `name` appears twice in this mapping; keep only one"
        );
        assert!(!e.message.contains("DuplicateKeyPolicy"), "{e}");
        let e = error("name: a\nitems:\n  - wait: 1\n    go: { command: x }\n");
        assert!(e.message.contains("did you forget `- ` before `go`"), "{e}");
        assert!(!e.message.contains("enum variant"), "{e}");
        let e = error("name: a\nitems:\n\t- wait: 1\n");
        assert!(e.message.contains("indent with spaces"), "{e}");
    }

    #[test]
    fn unknown_keys_keep_their_list_and_name_the_mapping() {
        let e = error("name: a\ninner: { command: x, cuont: 1 }\n");
        assert_eq!((e.line(), e.column()), (2, 22), "{e}");
        assert_eq!(
            e.message,
            "inner: unknown key `cuont`, expected one of command, count"
        );
        let e = error("nmae: a\n");
        assert!(
            e.message
                .starts_with("unknown key `nmae`, expected one of name,"),
            "{e}"
        );
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
