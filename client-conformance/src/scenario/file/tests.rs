//! Unit tests of `scenario::file`.

use super::*;

const OK: &str = "name: a\nreproduces: b\nsteps:\n  - login: {}\n  - advance: 61m\n  - call_api: { concurrent: 3, expect: { status: 200 } }\n";

#[test]
fn a_valid_file_loads() {
    let s = load_str(OK, "a.yaml").expect("valid");
    assert_eq!(s.steps.len(), 3);
    assert_eq!(s.steps[1].kind(), "advance");
}

#[test]
fn unknown_step_is_located() {
    let e = load_str(
        "name: a\nreproduces: b\nsteps:\n  - login: {}\n  - logn: {}\n",
        "f.yaml",
    )
    .expect_err("unknown step");
    assert_eq!(e.line(), 5, "{e}");
    assert!(e.message.contains("logn"), "{e}");
}

#[test]
fn unknown_key_in_expect_is_located() {
    let e = load_str(
        "name: a\nreproduces: b\nsteps:\n  - call_api:\n      expect: { stauts: 200 }\n",
        "f.yaml",
    )
    .expect_err("unknown key");
    assert_eq!(e.line(), 5, "{e}");
    assert!(e.message.contains("stauts"), "{e}");
}

#[test]
fn server_rule_violations_are_located_inside_server() {
    let e = load_str(
        "name: a\nreproduces: b\nserver:\n  access_token_ttl: 0s\nsteps:\n  - login: {}\n",
        "f.yaml",
    )
    .expect_err("zero ttl");
    assert_eq!(e.line(), 4, "{e}");
    assert!(e.message.contains("server.access_token_ttl"), "{e}");
}

#[test]
fn external_excludes_reference_knobs() {
    let e = load_str(
        "name: a\nreproduces: b\nclient:\n  external: { command: 'true' }\n  pkce: false\nsteps: []\n",
        "f.yaml",
    )
    .expect_err("mixed");
    assert_eq!(e.line(), 5, "{e}");
}

#[test]
fn set_clock_needs_one_of_to_or_offset() {
    let e = load_str(
        "name: a\nreproduces: b\nsteps:\n  - set_clock: {}\n",
        "f.yaml",
    )
    .expect_err("empty set_clock");
    assert_eq!(e.line(), 4, "{e}");
}

#[test]
fn a_count_takes_only_min_and_max_and_not_nothing() {
    let doc = |count: &str| {
        format!("name: a\nreproduces: b\nsteps:\n  - login: {{}}\nexpect:\n  refreshes: {count}\n")
    };
    let e = load_str(&doc("{ mn: 5 }"), "f.yaml").expect_err("typo in a range");
    assert_eq!((e.line(), e.column()), (6, 16), "{e}");
    assert!(e.message.contains("`mn`"), "{e}");
    assert!(e.message.contains("min, max"), "{e}");
    let e = load_str(&doc("{}"), "f.yaml").expect_err("empty range");
    assert_eq!(e.line(), 6, "{e}");
    assert!(e.message.contains("give min, max or both"), "{e}");
    let e = load_str(&doc("{ min: 5, max: 2 }"), "f.yaml").expect_err("empty interval");
    assert!(e.message.contains("greater than max"), "{e}");
    let e = load_str(&doc("two"), "f.yaml").expect_err("not a number");
    assert!(!e.message.contains("untagged"), "{e}");
    assert!(e.message.contains("{min: 1, max: 3}"), "{e}");
    let s = load_str(&doc("{ min: 1 }"), "f.yaml").expect("a lower bound");
    assert_eq!(
        s.expect.refreshes,
        Some(super::super::model::Count::Range {
            min: Some(1),
            max: None
        })
    );
    let s = load_str(&doc("3"), "f.yaml").expect("exact");
    assert_eq!(
        s.expect.refreshes,
        Some(super::super::model::Count::Exactly(3))
    );
}

fn load_error(text: &str) -> YamlError {
    load_str(text, "f.yaml").expect_err("a load error")
}

#[test]
fn reproduces_is_optional_and_a_missing_key_says_what_to_add_where() {
    let s = load_str("name: a\nsteps:\n  - login: {}\n", "f.yaml").expect("no reproduces");
    assert_eq!(s.reproduces, None);
    let e = load_error("name: a\nclient:\n  flow: client_credentials\n");
    assert_eq!((e.line(), e.column()), (1, 1), "{e}");
    assert!(
        e.message
            .contains("no steps: add `steps:` at the top level"),
        "{e}"
    );
    let e = load_error("reproduces: x\nsteps:\n  - login: {}\nexpect:\n  refreshes: 1\n");
    assert_eq!((e.line(), e.column()), (1, 1), "{e}");
    assert!(e.message.contains("`name:`"), "{e}");
    let e = load_error("name: a\nclient:\n  external:\n    timeout: 5s\nsteps: []\n");
    assert_eq!((e.line(), e.column()), (4, 5), "{e}");
    assert!(
        e.message.contains("add `command:` to `client.external`"),
        "{e}"
    );
}

#[test]
fn an_unclosed_flow_mapping_is_reported_where_it_opens() {
    let e = load_error(
        "name: a\nreproduces: b\nsteps:\n  - login: {}\n  - call_api: { expect: { status: 200 }\n  - advance: 5m\n",
    );
    assert_eq!((e.line(), e.column()), (5, 15), "{e}");
    assert!(e.message.contains("never closed: add `}`"), "{e}");
}

#[test]
fn a_bare_step_keyword_says_how_to_write_the_step() {
    let e = load_error("name: a\nsteps:\n  - login\n");
    assert_eq!((e.line(), e.column()), (3, 5), "{e}");
    assert!(e.message.contains("write `- login: {}`"), "{e}");
    let e = load_error("name: a\nsteps:\n  - advance\n");
    assert!(e.message.contains("write `- advance: 61m`"), "{e}");
    let e = load_error("name: a\nsteps:\n  - {}\n");
    assert!(e.message.contains("an empty step"), "{e}");
}

#[test]
fn two_keys_in_one_step_ask_for_the_missing_dash() {
    let e = load_error("name: a\nsteps:\n  - login: {}\n    advance: 5m\n");
    assert_eq!(e.line(), 3, "{e}");
    assert!(
        e.message
            .contains("`advance` is a second key in the `login` step; a step has one key: did you forget `- ` before `advance`?"),
        "{e}"
    );
}

#[test]
fn wrong_numbers_and_durations_name_the_key_and_the_form() {
    let e = load_error("name: a\nsteps:\n  - call_api: { concurrent: fifty }\n");
    assert_eq!((e.line(), e.column()), (3, 29), "{e}");
    assert!(
        e.message
            .starts_with("steps[0].call_api.concurrent: expected a whole number"),
        "{e}"
    );
    let e = load_error("name: a\nsteps:\n  - login: {}\nexpect:\n  api_statuses: { ok: 1 }\n");
    assert_eq!((e.line(), e.column()), (5, 19), "{e}");
    assert!(
        e.message.starts_with(
            "expect.api_statuses: expected a whole number from 0 to 65535, found `ok`"
        ),
        "{e}"
    );
    let e = load_error("name: a\nsteps:\n  - advance: 300.5\n");
    assert_eq!((e.line(), e.column()), (3, 14), "{e}");
    assert!(!e.message.contains("untagged"), "{e}");
    assert!(
        e.message
            .starts_with("steps[0].advance: 300.5: fractions are not supported"),
        "{e}"
    );
    let e = load_error("name: a\nclient: { clock_skew: 1.5m }\nsteps: []\n");
    assert!(e.message.contains("fractions are not supported"), "{e}");
    let e = load_error("name: a\nsteps:\n  - advance: -5m\n");
    assert!(e.message.contains("cannot be negative"), "{e}");
    let e = load_error("name: a\nsteps:\n  - login: {}\nexpect:\n  refreshes: two\n");
    assert_eq!((e.line(), e.column()), (5, 14), "{e}");
    assert!(
        e.message.starts_with("expect.refreshes: expected a count"),
        "{e}"
    );
}

#[test]
fn a_repeated_key_is_named_without_parser_advice() {
    let e = load_error("name: a\nsteps:\n  - login: {}\nexpect:\n  refreshes: 1\n  refreshes: 2\n");
    assert_eq!((e.line(), e.column()), (6, 3), "{e}");
    assert_eq!(
        e.message,
        "expect: the key `refreshes` appears twice in this mapping; keep only one"
    );
}

#[test]
fn mistakes_that_would_only_fail_at_run_time_fail_at_load() {
    let e = load_error(
        "name: a\nsteps:\n  - login: {}\n  - call_api: { expect: { replay_error: invalid_grant } }\n",
    );
    assert_eq!((e.line(), e.column()), (4, 41), "{e}");
    assert!(e.message.contains("use `error` here"), "{e}");
    let e = load_error("name: a\nsteps:\n  - login: { expect: { replay_error: invalid_grant } }\n");
    assert!(e.message.contains("add `replay_code: true`"), "{e}");
    load_str(
        "name: a\nsteps:\n  - login: { replay_code: true, expect: { replay_error: invalid_grant } }\n",
        "f.yaml",
    )
    .expect("replay_error with replay_code");

    let external = "name: a\nclient: { external: { command: ./agent } }\nsteps:\n";
    let e = load_error(&format!("{external}  - revoke: {{ by: client }}\n"));
    assert_eq!((e.line(), e.column()), (4, 19), "{e}");
    assert!(e.message.contains("use `by: admin`"), "{e}");
    let e = load_error(&format!(
        "{external}  - revoke: {{ target: access_token }}\n"
    ));
    assert!(e.message.contains("use `target: grant`"), "{e}");
    load_str(
        &format!("{external}  - revoke: {{ by: admin }}\n"),
        "f.yaml",
    )
    .expect("an admin revoking grants of an external program");

    let e = load_error("name: a\nsteps:\n  - login: {}\nexpect:\n  output_contains: done\n");
    assert_eq!(e.line(), 5, "{e}");
    assert!(e.message.contains("external program"), "{e}");
    let e = load_error(
        "name: a\nclient: { flow: client_credentials }\nsteps:\n  - login: {}\nexpect:\n  pkce_method: none\n",
    );
    assert_eq!(e.line(), 6, "{e}");
    assert!(e.message.contains("client_credentials makes none"), "{e}");
    let e = load_error("name: a\nclient: { external: { command: x, time_scale: 0 } }\nsteps: []\n");
    assert!(e.message.contains("time_scale 0 is out of range"), "{e}");
}

#[test]
fn prefixed_paths_keep_indices() {
    let p = prefixed(
        &FieldPath::root().key("server"),
        "clients[1].redirect_uris[0]",
    );
    assert_eq!(p.to_string(), "server.clients[1].redirect_uris[0]");
}

#[test]
fn an_external_program_needs_no_steps_but_the_reference_client_does() {
    let s = load_str(
        "name: a\nclient:\n  external: { command: ./agent }\n",
        "f.yaml",
    )
    .expect("an external program runs without steps");
    assert!(s.steps.is_empty());
    let e = load_str("name: a\nclient: { flow: authorization_code }\n", "f.yaml")
        .expect_err("the reference client needs steps");
    assert!(e.message.contains("no steps"), "{e}");
    assert!(e.message.contains("external"), "{e}");
}

#[test]
fn a_setup_step_needs_a_setup_command_and_comes_before_the_first_wait() {
    let with = |setup: &str, steps: &str| {
        format!("name: a\nclient:\n  external:\n    command: run\n{setup}steps:\n{steps}")
    };
    let setup = "    setup: login\n    start: one_after_another\n";
    let placed = load_str(
        &with(
            setup,
            "  - set_clock: { offset: \"-2h\" }\n  - setup: {}\n  - wait: 1s\n",
        ),
        "f.yaml",
    )
    .expect("a setup step before the first wait");
    assert_eq!(placed.steps[1].kind(), "setup");
    let e = load_str(&with("", "  - setup: {}\n"), "f.yaml").expect_err("no setup command");
    assert_eq!(e.line(), 6, "the step's line: {e}");
    assert!(e.message.contains("client.external.setup"), "{e}");
    let e = load_str(&with(setup, "  - wait: 1s\n  - setup: {}\n"), "f.yaml")
        .expect_err("after a wait");
    assert!(e.message.contains("move the step up"), "{e}");
    let e = load_str(&with(setup, "  - setup: {}\n  - setup: {}\n"), "f.yaml").expect_err("twice");
    assert!(e.message.contains("a second setup step"), "{e}");
    let e = load_str(
        "name: a\nclient:\n  external:\n    command: run\n    start: all_at_once\n",
        "f.yaml",
    )
    .expect_err("unknown order");
    assert!(e.message.contains("one_after_another"), "{e}");
}
