use super::*;
use serde::Deserialize;

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
    let e = error("name: a\nitems:\n  - wait: 1\n  - go: { command: x, count: 1\n  - wait: 2\n");
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
