//! Loading scenario files: YAML → [`Scenario`], with `file:line:column` errors for syntax,
//! unknown keys or steps, wrong types, and for the rules checked after parsing.

use std::path::{Path, PathBuf};

use fauxauth_server::yaml::{self, FieldPath, PathIssue, YamlError};

use super::control_plane::check_fault_rule;
use super::model::{ClientSpec, RevokeBy, RevokeStepTarget, Scenario, Step};
use crate::client::Flow;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioFileError {
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
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioFileError> {
    let bytes = std::fs::read(path).map_err(|source| ScenarioFileError::Read {
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
            message: "the file is empty; a scenario needs at least `name:` and `steps:` (or `client: { external: ... }`)".to_owned(),
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
pub(crate) fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioFileError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| ScenarioFileError::Read {
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
            return Err(ScenarioFileError::Read {
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
pub(crate) fn validate(scenario: &Scenario) -> Vec<PathIssue> {
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
            "no steps: add `steps:` at the top level with at least one step, e.g. `- login: {}` (only an external program may run without steps)",
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
    check_setup(scenario, &root, &mut issues);
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
            Step::Revoke(revoke) if external && revoke.target == RevokeStepTarget::AccessToken => {
                issues.push(PathIssue::new(
                    at.key("target"),
                    "revoking one access token needs the reference client's token; with an external program use `target: grant` (every grant of its client)",
                ));
            }
            Step::Login(_) | Step::CallApi(_) | Step::Refresh(_) if external => {
                issues.push(PathIssue::new(
                    at,
                    format!(
                        "{} drives the reference client; with an external client use wait, advance, set_clock, fault, revoke, rotate_keys or setup",
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
                    && fauxauth_server::clock::parse_rfc3339(to).is_none()
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
                if let Err(message) = check_fault_rule(rule) {
                    issues.push(PathIssue::new(at, message));
                }
            }
            _ => {}
        }
    }
    issues
}

/// The `setup` step: only with `client.external.setup`, at most once, before the first `wait`
/// (the program starts at the first `wait`, and the setup runs before it).
fn check_setup(scenario: &Scenario, root: &FieldPath, issues: &mut Vec<PathIssue>) {
    let has_setup = scenario
        .client
        .external
        .as_ref()
        .is_some_and(|spec| spec.setup.is_some());
    let first_wait = scenario
        .steps
        .iter()
        .position(|s| matches!(s, Step::Wait(_)));
    let mut seen = false;
    for (i, step) in scenario.steps.iter().enumerate() {
        if !matches!(step, Step::Setup(_)) {
            continue;
        }
        let at = root.key("steps").index(i).key("setup");
        let message = if !has_setup {
            "the setup step runs the external program's setup command: set `client.external.setup: COMMAND`, or drop the step"
        } else if seen {
            "a second setup step: the setup runs once, where the first setup step stands"
        } else if first_wait.is_some_and(|w| w < i) {
            "the setup step comes after a `wait`, but the program starts at the first `wait` and its setup must run before it: move the step up"
        } else {
            seen = true;
            continue;
        };
        issues.push(PathIssue::new(at, message));
    }
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
mod tests;
