//! What is refused before parsing: text that is not UTF-8, and YAML tags (fauxauth files
//! use none, and a tag the parser ignored would silently change nothing).

use super::error::YamlError;
use super::path::Position;

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
pub(super) fn unknown_tag(text: &str) -> Option<(Position, String)> {
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
