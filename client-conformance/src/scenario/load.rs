//! Loading scenario files: YAML → [`Scenario`], with `file:line:column` errors for syntax,
//! unknown keys or steps, wrong types, and for the rules checked after parsing.

use std::path::{Path, PathBuf};

use fauxauth_server::yaml::{self, FieldPath, PathIssue, YamlError};

use super::model::{ClientSpec, RevokeBy, RevokeTarget, Scenario, Step};
use crate::client::Flow;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid scenario.
    #[error(transparent)]
    Invalid(#[from] YamlError),
    /// Nothing to run: no scenario files under the paths, or none the filter matches (a typo
    /// in a CI path or filter must not pass as "0 passed").
    #[error("no scenarios to run: {why}")]
    NothingToRun {
        /// What was looked for, and where.
        why: String,
    },
}

/// Read and check one scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let origin = path.display().to_string();
    let text = fauxauth_server::yaml::utf8_text(bytes, &origin)?;
    Ok(load_str(&text, &origin)?)
}

/// Parse and check scenario text; `origin` names it in errors.
pub fn load_str(text: &str, origin: &str) -> Result<Scenario, YamlError> {
    if text.trim().is_empty() {
        return Err(YamlError {
            origin: origin.to_owned(),
            position: None,
            message: "the file is empty; a scenario needs at least `name:` and `steps:`".to_owned(),
        });
    }
    let scenario: Scenario = yaml::parse(text, origin).map_err(tidy)?;
    match validate(&scenario).into_iter().next() {
        Some(issue) => Err(yaml::locate(text, origin, &issue)),
        None => Ok(scenario),
    }
}

/// Drop the parser's own " at line L, column C" suffix: the position is already in front.
fn tidy(mut error: YamlError) -> YamlError {
    if let Some(at) = error.message.rfind(" at line ")
        && error.message[at..].contains(", column ")
    {
        error.message.truncate(at);
    }
    error
}

/// The scenario files under `paths`: files as given, directories searched (not recursively)
/// for `*.yaml` / `*.yml`, sorted by name.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| LoadError::Read {
                path: path.clone(),
                source,
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(LoadError::Read {
                path: path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file or directory",
                ),
            });
        }
    }
    Ok(files)
}

/// The rules serde cannot express.
pub fn validate(scenario: &Scenario) -> Vec<PathIssue> {
    let root = FieldPath::root();
    let mut issues = Vec::new();
    if scenario.name.trim().is_empty() {
        issues.push(PathIssue::new(
            root.key("name"),
            "name is empty; give the scenario a name",
        ));
    }
    for issue in scenario.server.validate() {
        issues.push(PathIssue::new(
            prefixed(&root.key("server"), &issue.path.to_string()),
            issue.message,
        ));
    }
    let external = scenario.client.external.is_some();
    if external {
        if let Some(key) = reference_keys_set(&scenario.client) {
            issues.push(PathIssue::new(
                root.key("client").key(key),
                format!(
                    "{key} is a reference-client knob and cannot be combined with external; configure the external program instead"
                ),
            ));
        }
    } else if scenario.steps.is_empty() {
        issues.push(PathIssue::new(
            root.key("steps"),
            "no steps; add at least one, e.g. `- login: {}`",
        ));
    }
    let flow = match &scenario.client.external {
        Some(spec) => spec.flow,
        None => scenario.client.flow,
    }
    .unwrap_or(Flow::AuthorizationCode);
    if let Some(spec) = &scenario.client.external
        && let Some(scale) = spec.time_scale
        && !(scale > 0.0 && scale <= fauxauth_server::clock::MAX_SCALE)
    {
        issues.push(PathIssue::new(
            root.key("client").key("external").key("time_scale"),
            format!(
                "time_scale {scale} is out of range: virtual seconds per real second, more than 0 and at most {}",
                fauxauth_server::clock::MAX_SCALE
            ),
        ));
    }
    let expect = root.key("expect");
    if !external && scenario.expect.output_contains.is_some() {
        issues.push(PathIssue::new(
            expect.key("output_contains"),
            "output_contains judges an external program's output; the reference client has none (set client.external, or drop it)",
        ));
    }
    if flow == Flow::ClientCredentials && scenario.expect.pkce_method.is_some() {
        issues.push(PathIssue::new(
            expect.key("pkce_method"),
            "pkce_method judges authorization requests, and client_credentials makes none; drop it, or use the authorization_code flow",
        ));
    }
    for (i, step) in scenario.steps.iter().enumerate() {
        let at = root.key("steps").index(i).key(step.kind());
        let step_expect = match step {
            Step::Login(s) => s.expect.as_ref(),
            Step::CallApi(s) => s.expect.as_ref(),
            Step::Refresh(s) => s.expect.as_ref(),
            _ => None,
        };
        let replays = matches!(step, Step::Login(l) if l.replay_code);
        if step_expect.is_some_and(|e| e.replay_error.is_some()) && !replays {
            issues.push(PathIssue::new(
                at.key("expect").key("replay_error"),
                match step {
                    Step::Login(_) => "replay_error judges the second redemption of the code: add `replay_code: true` to this login",
                    _ => "replay_error belongs to a `login` with `replay_code: true` (the second redemption of its code); use `error` here",
                },
            ));
        }
        match step {
            Step::Revoke(revoke) if external && revoke.by == RevokeBy::Client => {
                issues.push(PathIssue::new(
                    at.key("by"),
                    "revoking as the client needs the reference client's tokens; with an external program use `by: admin` (it revokes the program's grants)",
                ));
            }
            Step::Revoke(revoke) if external && revoke.target == RevokeTarget::AccessToken => {
                issues.push(PathIssue::new(
                    at.key("target"),
                    "revoking one access token needs the reference client's token; with an external program use `target: grant` (every grant of its client)",
                ));
            }
            Step::Login(_) | Step::CallApi(_) | Step::Refresh(_) if external => {
                issues.push(PathIssue::new(
                    at,
                    format!(
                        "{} drives the reference client; with an external client use wait, advance, set_clock, fault, revoke or rotate_keys",
                        step.kind()
                    ),
                ));
            }
            Step::Login(login)
                if flow == Flow::ClientCredentials
                    && (login.pkce_attack.is_some() || login.replay_code) =>
            {
                issues.push(PathIssue::new(
                    at,
                    "pkce_attack and replay_code need the authorization_code flow",
                ));
            }
            Step::CallApi(call) if call.probe && call.concurrent.is_some_and(|n| n > 1) => {
                issues.push(PathIssue::new(
                    at.key("probe"),
                    "probe sends one request; drop concurrent or probe",
                ));
            }
            Step::CallApi(call) if call.concurrent == Some(0) => {
                issues.push(PathIssue::new(
                    at.key("concurrent"),
                    "concurrent must be at least 1",
                ));
            }
            Step::SetClock(set) if set.to.is_some() == set.offset.is_some() => {
                issues.push(PathIssue::new(
                    at,
                    "set_clock needs exactly one of `to` (an RFC 3339 instant) or `offset` (e.g. \"-10m\")",
                ));
            }
            Step::SetClock(set) => {
                if let Some(to) = &set.to
                    && humantime::parse_rfc3339_weak(to).is_err()
                {
                    issues.push(PathIssue::new(
                        at.key("to"),
                        format!(
                            "{to:?} is not an RFC 3339 instant; write e.g. 2030-01-01T00:00:00Z"
                        ),
                    ));
                }
            }
            Step::Fault(rule) => {
                if let Err(message) = super::run::check_fault_rule(rule) {
                    issues.push(PathIssue::new(at, message));
                }
            }
            _ => {}
        }
    }
    issues
}

fn reference_keys_set(c: &ClientSpec) -> Option<&'static str> {
    [
        ("flow", c.flow.is_some()),
        ("client_id", c.client_id.is_some()),
        ("client_secret", c.client_secret.is_some()),
        ("auth_method", c.auth_method.is_some()),
        ("scopes", c.scopes.is_some()),
        ("redirect_uri", c.redirect_uri.is_some()),
        ("pkce", c.pkce.is_some()),
        ("pkce_method", c.pkce_method.is_some()),
        ("token_auto_refresh", c.token_auto_refresh.is_some()),
        ("token_refresh_buffer", c.token_refresh_buffer.is_some()),
        ("request_timeout", c.request_timeout.is_some()),
        ("retries", c.retries.is_some()),
        ("retry_backoff", c.retry_backoff.is_some()),
        ("reactive_refresh", c.reactive_refresh.is_some()),
        ("single_flight", c.single_flight.is_some()),
        ("local_expiry_check", c.local_expiry_check.is_some()),
        ("clock_skew", c.clock_skew.is_some()),
        ("expiry_source", c.expiry_source.is_some()),
    ]
    .into_iter()
    .find(|(_, set)| *set)
    .map(|(k, _)| k)
}

/// `base` followed by a path written as `clients[0].redirect_uris[1]`.
fn prefixed(base: &FieldPath, path: &str) -> FieldPath {
    let mut out = base.clone();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            out = out.key(key);
        }
        for index in rest.split('[') {
            if let Ok(n) = index.trim_end_matches(']').parse::<usize>() {
                out = out.index(n);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
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
            format!(
                "name: a\nreproduces: b\nsteps:\n  - login: {{}}\nexpect:\n  refreshes: {count}\n"
            )
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
        assert_eq!(
            e.message,
            "missing key `steps`: add `steps:` at the top level"
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
        let e =
            load_error("name: a\nsteps:\n  - login: {}\nexpect:\n  refreshes: 1\n  refreshes: 2\n");
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
        let e =
            load_error("name: a\nsteps:\n  - login: { expect: { replay_error: invalid_grant } }\n");
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
        let e =
            load_error("name: a\nclient: { external: { command: x, time_scale: 0 } }\nsteps: []\n");
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
}
