//! Running scenarios: each gets its own in-process server on port 0 with its own virtual
//! clock, drives the reference client (or an external program) through its steps, and is
//! judged step by step and over the event log.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use fauxauth_server::config::{CODEX_CLIENT_ID, Profile};
use fauxauth_server::{Clock, MockServer, ServerConfig, ServerHandle};
use serde::Serialize;

use super::expect;
use super::load::{self, LoadError};
use super::model::{ClientSpec, RevokeBy, RevokeStep, RevokeTarget, Scenario, SetClockStep, Step};
use super::observed::ObservedEvent;
use super::server_glue;
use crate::client::{
    ClientAuthMethod, Flow, LoginOptions, Outcome, PkceMethod, RetryPolicy, Session, SessionConfig,
};

/// What one client call of a step came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    /// The outcome.
    pub outcome: Outcome,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// The OAuth or bearer error code, if any.
    pub error: Option<String>,
    /// The error message, if the call failed; for an API answer, why the API refused.
    pub message: Option<String>,
    /// Logins: whether the authorization response carried `iss` matching the issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss_checked: Option<bool>,
}

impl CallRecord {
    fn ok(status: Option<u16>) -> Self {
        Self {
            outcome: Outcome::Ok,
            status,
            error: None,
            message: None,
            iss_checked: None,
        }
    }

    fn from_error(e: &crate::client::ClientError) -> Self {
        Self {
            outcome: e.outcome(),
            status: e.status(),
            error: e.oauth_error().map(str::to_owned),
            message: Some(e.to_string()),
            iss_checked: e.iss_checked(),
        }
    }

    /// A short description for reports.
    pub fn describe(&self) -> String {
        let mut out = match (self.outcome, self.status) {
            (Outcome::Ok, Some(s)) => format!("answered HTTP {s}"),
            (outcome, Some(s)) => format!("{outcome} (HTTP {s})"),
            (outcome, None) => outcome.to_string(),
        };
        if let Some(e) = &self.error {
            out.push_str(&format!(" {e}"));
        }
        if let Some(m) = &self.message {
            out.push_str(&format!(": {m}"));
        }
        out
    }
}

/// What a step did, as the expectations see it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepRecord {
    /// Position in the file (0-based).
    pub index: usize,
    /// The step keyword.
    pub kind: &'static str,
    /// The client calls (one, or `concurrent` many).
    pub calls: Vec<CallRecord>,
    /// Hash of the access token held before the step.
    pub token_before: Option<String>,
    /// Hash of the access token held after the step.
    pub token_after: Option<String>,
    /// Whether a refresh token is held after the step.
    pub refresh_token_after: bool,
    /// Hash of the refresh token held before the step.
    pub refresh_before: Option<String>,
    /// Hash of the refresh token held after the step.
    pub refresh_after: Option<String>,
    /// `expires_in` (seconds) of the token response that gave the access token held after
    /// the step, if the step obtained a new one.
    pub expires_in_after: Option<u64>,
    /// Renewals (refreshes or client-credentials grants) during the step.
    pub renewals: u64,
    /// The second redemption of the code, with `replay_code`.
    pub replay: Option<CallRecord>,
    /// The server's last event sequence number before and after the step.
    pub seq_range: (u64, u64),
}

/// One unmet expectation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The step (0-based index and keyword), or none for a whole-run expectation.
    pub step: Option<(usize, String)>,
    /// What was expected.
    pub expected: String,
    /// What happened instead.
    pub actual: String,
    /// The events that bear on it, one line each.
    pub events: Vec<String>,
}

/// The result of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// The scenario's name (the file stem if it could not be loaded).
    pub name: String,
    /// The file.
    pub file: String,
    /// What it reproduces.
    pub reproduces: String,
    /// Real time it took.
    #[serde(serialize_with = "ser_secs")]
    pub duration: Duration,
    /// Unmet expectations (empty: passed).
    pub failures: Vec<Failure>,
    /// Steps run.
    pub steps: Vec<StepRecord>,
    /// The server's event log.
    pub events: Vec<ObservedEvent>,
    /// Output of the external program, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl ScenarioResult {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    fn broken(name: String, file: String, message: String, started: Instant) -> Self {
        Self {
            name,
            file,
            reproduces: String::new(),
            duration: started.elapsed(),
            failures: vec![Failure {
                step: None,
                expected: "a valid scenario that runs".to_owned(),
                actual: message,
                events: Vec::new(),
            }],
            steps: Vec::new(),
            events: Vec::new(),
            output: None,
        }
    }
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Scenarios run at once.
    pub jobs: usize,
    /// Only scenarios whose name or file name contains this.
    pub filter: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            filter: None,
        }
    }
}

/// The results of a run, in file order.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// One result per scenario.
    pub results: Vec<ScenarioResult>,
    /// Scenarios left out by the filter.
    pub filtered_out: usize,
    /// Real time of the whole run.
    #[serde(serialize_with = "ser_secs")]
    pub duration: Duration,
}

impl RunReport {
    /// Whether every scenario passed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(ScenarioResult::passed)
    }

    /// How many failed.
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.passed()).count()
    }
}

/// Run every scenario file under `paths`. A file that cannot be loaded is a failed result
/// (with `file:line:column`); a path that does not exist, or nothing to run (no scenario
/// file, or none the filter matches), is an error.
pub async fn run_paths(paths: &[PathBuf], options: &RunOptions) -> Result<RunReport, LoadError> {
    run_paths_with(paths, options, |_| {}).await
}

/// [`run_paths`], calling `on_result` with each result as it is collected (in file order).
pub async fn run_paths_with(
    paths: &[PathBuf],
    options: &RunOptions,
    on_result: impl Fn(&ScenarioResult),
) -> Result<RunReport, LoadError> {
    let started = Instant::now();
    let files = load::discover(paths)?;
    let shown = || {
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if files.is_empty() {
        return Err(LoadError::NothingToRun {
            why: format!("{} holds no *.yaml or *.yml file", shown()),
        });
    }
    let mut names = Vec::new();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(options.jobs.max(1)));
    let mut tasks = Vec::new();
    let mut filtered_out = 0;
    for file in files {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let loaded = load::load_file(&file);
        let name = match &loaded {
            Ok(s) => s.name.clone(),
            Err(_) => stem.clone(),
        };
        names.push(name.clone());
        if let Some(filter) = &options.filter
            && !name.contains(filter.as_str())
            && !stem.contains(filter.as_str())
        {
            filtered_out += 1;
            continue;
        }
        let semaphore = semaphore.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let begun = Instant::now();
            match loaded {
                Ok(scenario) => run_scenario(&scenario, &file).await,
                Err(e) => {
                    ScenarioResult::broken(name, file.display().to_string(), e.to_string(), begun)
                }
            }
        }));
    }
    if tasks.is_empty() {
        let filter = options.filter.as_deref().unwrap_or_default();
        let mut listed = names
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if names.len() > 10 {
            listed.push_str(", …");
        }
        return Err(LoadError::NothingToRun {
            why: format!(
                "--filter {filter:?} matches none of the {} scenario(s) in {} (by name or file name: {listed})",
                names.len(),
                shown()
            ),
        });
    }
    let mut results = Vec::new();
    for task in tasks {
        let result = match task.await {
            Ok(r) => r,
            Err(e) => ScenarioResult::broken(
                "(panicked)".to_owned(),
                String::new(),
                format!("the scenario task failed: {e}"),
                started,
            ),
        };
        on_result(&result);
        results.push(result);
    }
    Ok(RunReport {
        results,
        filtered_out,
        duration: started.elapsed(),
    })
}

/// Run one scenario; `file` is where it came from (external commands run in its directory).
pub async fn run_scenario(scenario: &Scenario, file: &Path) -> ScenarioResult {
    let started = Instant::now();
    let file_name = file.display().to_string();
    if let Some(external) = &scenario.client.external {
        return crate::external::run(scenario, external, file, started).await;
    }
    let clock = Clock::frozen_at(SystemTime::now());
    let server = match start_server(&scenario.server, clock.clone()).await {
        Ok(s) => s,
        Err(message) => {
            return ScenarioResult::broken(scenario.name.clone(), file_name, message, started);
        }
    };
    let start_ms = unix_ms(clock.now());
    let session = match Session::new(
        server.url(),
        session_config(&scenario.client, &scenario.server),
        clock.clone(),
    ) {
        Ok(s) => s,
        Err(e) => {
            return ScenarioResult::broken(
                scenario.name.clone(),
                file_name,
                e.to_string(),
                started,
            );
        }
    };
    let mut steps = Vec::new();
    let mut failures = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        let before = server_glue::last_seq(&server);
        let mut record = match execute(step, index, &session, &server).await {
            Ok(r) => r,
            Err(message) => {
                failures.push(Failure {
                    step: Some((index, step.kind().to_owned())),
                    expected: format!("the {} step to run", step.kind()),
                    actual: message,
                    events: Vec::new(),
                });
                break;
            }
        };
        record.seq_range = (before, server_glue::last_seq(&server));
        let unmet = expect::check_step(step, &record);
        steps.push(record);
        if !unmet.is_empty() {
            let after = server_glue::last_seq(&server);
            let mut events = Some(expect::event_lines(
                &server_glue::events(&server),
                start_ms,
                &|e| e.seq > before && e.seq <= after,
            ));
            // The step's events once, after the last of its unmet expectations.
            let last = unmet.len() - 1;
            failures.extend(
                unmet
                    .into_iter()
                    .enumerate()
                    .map(|(i, (expected, actual))| Failure {
                        step: Some((index, step.kind().to_owned())),
                        expected,
                        actual,
                        events: if i == last {
                            events.take().unwrap_or_default()
                        } else {
                            Vec::new()
                        },
                    }),
            );
            break;
        }
    }
    let events = server_glue::stop_and_collect(server).await;
    if failures.is_empty() {
        let context = expect::RunContext {
            events: &events,
            start_ms,
            output: None,
        };
        failures.extend(expect::check_run(&scenario.expect, &context));
    }
    ScenarioResult {
        name: scenario.name.clone(),
        file: file_name,
        reproduces: scenario.reproduces.clone().unwrap_or_default(),
        duration: started.elapsed(),
        failures,
        steps,
        events,
        output: None,
    }
}

/// Start the scenario's server on `127.0.0.1:0`.
pub async fn start_server(config: &ServerConfig, clock: Clock) -> Result<ServerHandle, String> {
    MockServer::builder()
        .config(config.clone())
        .clock(clock)
        .start()
        .await
        .map_err(|e| format!("the server did not start: {e}"))
}

/// Stop a server without waiting on connections a `hang` fault holds open.
pub async fn stop(server: ServerHandle) {
    let _ = tokio::time::timeout(Duration::from_millis(500), server.shutdown()).await;
}

/// Unix milliseconds of `t`.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The client a scenario uses for `flow` when it names none: the profile's built-in client
/// (for `openai`, the Codex CLI's client id and callback).
pub fn builtin_client(flow: Flow, profile: Profile) -> SessionConfig {
    match (flow, profile) {
        (Flow::ClientCredentials, _) => SessionConfig::builtin_service(),
        (Flow::AuthorizationCode, Profile::Openai) => SessionConfig::authorization_code(
            CODEX_CLIENT_ID,
            "http://localhost:1455/auth/callback",
        ),
        (Flow::AuthorizationCode, _) => SessionConfig::builtin_agent(),
    }
}

/// The reference client's configuration: the profile's built-in client for the flow,
/// overridden by the scenario's knobs.
pub fn session_config(spec: &ClientSpec, server: &ServerConfig) -> SessionConfig {
    let flow = spec.flow.unwrap_or(Flow::AuthorizationCode);
    let mut c = builtin_client(flow, server.profile);
    if let Some(id) = &spec.client_id {
        c.client_id = id.clone();
        c.client_secret = spec.client_secret.clone();
    } else if spec.client_secret.is_some() {
        c.client_secret = spec.client_secret.clone();
    }
    c.auth_method = spec.auth_method.unwrap_or(if c.client_secret.is_some() {
        ClientAuthMethod::Basic
    } else {
        ClientAuthMethod::None
    });
    if let Some(scopes) = &spec.scopes {
        c.scopes = scopes.clone();
    }
    if let Some(uri) = &spec.redirect_uri {
        c.redirect_uri = Some(uri.clone());
    }
    if flow == Flow::AuthorizationCode {
        c.pkce = match spec.pkce {
            Some(false) => None,
            _ => Some(spec.pkce_method.unwrap_or(PkceMethod::S256)),
        };
    }
    let set = |target: &mut bool, value: Option<bool>| {
        if let Some(v) = value {
            *target = v;
        }
    };
    set(&mut c.token_auto_refresh, spec.token_auto_refresh);
    set(&mut c.reactive_refresh, spec.reactive_refresh);
    set(&mut c.single_flight, spec.single_flight);
    set(&mut c.local_expiry_check, spec.local_expiry_check);
    if let Some(b) = spec.token_refresh_buffer {
        c.token_refresh_buffer = b.0;
    }
    if let Some(t) = spec.request_timeout {
        c.request_timeout = t.0;
    }
    c.retry = RetryPolicy {
        retries: spec.retries.unwrap_or(0),
        backoff: spec
            .retry_backoff
            .map_or(RetryPolicy::default().backoff, |d| d.0),
    };
    if let Some(skew) = spec.clock_skew {
        c.clock_skew_secs = skew.as_secs();
    }
    if let Some(source) = spec.expiry_source {
        c.expiry_source = source;
    }
    c
}

async fn execute(
    step: &Step,
    index: usize,
    session: &Session,
    server: &ServerHandle,
) -> Result<StepRecord, String> {
    let stats_before = session.stats();
    let before = session.tokens();
    let mut record = StepRecord {
        index,
        kind: step.kind(),
        refresh_before: before.as_ref().and_then(|t| t.refresh_token.clone()),
        token_before: before.map(|t| t.access_token),
        ..StepRecord::default()
    };
    match step {
        Step::Login(login) => {
            let options = LoginOptions {
                pkce_attack: login.pkce_attack,
                replay_code: login.replay_code,
            };
            match session.login_with(options).await {
                Ok(login) => {
                    record.calls.push(CallRecord {
                        iss_checked: Some(login.iss_checked),
                        ..CallRecord::ok(Some(200))
                    });
                    record.replay = login.replay.map(|r| match r {
                        Ok(_) => CallRecord::ok(Some(200)),
                        Err(e) => CallRecord::from_error(&e),
                    });
                }
                Err(e) => record.calls.push(CallRecord::from_error(&e)),
            }
        }
        Step::CallApi(call) => {
            let n = call.concurrent.unwrap_or(1).max(1);
            record.calls = call_api(session, n, call.probe).await;
        }
        Step::Refresh(_) => match session.refresh().await {
            Ok(_) => record.calls.push(CallRecord::ok(Some(200))),
            Err(e) => record.calls.push(CallRecord::from_error(&e)),
        },
        Step::Revoke(revoke) => revoke_step(revoke, session, server).await?,
        other => server_step(other, server, None).await?,
    }
    let stats = session.stats();
    record.renewals = (stats.refreshes + stats.renewals)
        .saturating_sub(stats_before.refreshes + stats_before.renewals);
    let after = session.tokens();
    record.refresh_token_after = after.as_ref().is_some_and(|t| t.refresh_token.is_some());
    record.refresh_after = after.as_ref().and_then(|t| t.refresh_token.clone());
    record.expires_in_after = after.as_ref().and_then(|t| t.expires_in);
    record.token_after = after.map(|t| t.access_token);
    Ok(record)
}

async fn call_api(session: &Session, n: u32, probe: bool) -> Vec<CallRecord> {
    let to_record = |r: Result<crate::client::ApiResponse, crate::client::ClientError>| match r {
        Ok(answer) => CallRecord {
            outcome: Outcome::Ok,
            status: Some(answer.status),
            iss_checked: None,
            error: answer.error,
            // Why the API refused (the challenge's error_description), so that a step can
            // tell a 401 for expiry from one for revocation or an unknown key.
            message: answer.error_description.or_else(|| {
                answer
                    .empty_body
                    .then(|| "the answer had an empty body".to_owned())
            }),
        },
        Err(e) => CallRecord::from_error(&e),
    };
    if probe {
        return vec![to_record(session.probe_api().await)];
    }
    if n == 1 {
        return vec![to_record(session.call_api().await)];
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(n as usize));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let session = session.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                session
                    .call_api_after(async move {
                        barrier.wait().await;
                    })
                    .await
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        match task.await {
            Ok(r) => out.push(to_record(r)),
            Err(e) => out.push(CallRecord {
                outcome: Outcome::HttpError,
                status: None,
                error: None,
                message: Some(format!("the call task failed: {e}")),
                iss_checked: None,
            }),
        }
    }
    out
}

/// Run a step that acts on the server only (not the client). `admin_client` is the client
/// whose grants an admin `revoke` revokes.
pub(crate) async fn server_step(
    step: &Step,
    server: &ServerHandle,
    admin_client: Option<&str>,
) -> Result<(), String> {
    match step {
        Step::Advance(by) => server
            .clock()
            .advance(by.0)
            .map(|_| ())
            .map_err(|e| format!("cannot advance the clock: {e}")),
        Step::SetClock(set) => set_clock(server.clock(), set),
        Step::Fault(rule) => server_glue::add_fault(server, rule),
        Step::RotateKeys(rotate) => {
            server_glue::rotate_keys(server, rotate.grace.map_or(Duration::ZERO, |g| g.0)).await
        }
        Step::Wait(d) => {
            tokio::time::sleep(d.0).await;
            Ok(())
        }
        Step::Revoke(RevokeStep {
            by: RevokeBy::Admin,
            target: RevokeTarget::Grant,
        }) => match admin_client {
            Some(client) => {
                server_glue::revoke_client(server, client);
                Ok(())
            }
            None => Err("no client to revoke".to_owned()),
        },
        other => Err(format!(
            "{} needs the reference client; it cannot act on an external program",
            other.kind()
        )),
    }
}

fn set_clock(clock: &Clock, set: &SetClockStep) -> Result<(), String> {
    let target = if let Some(to) = &set.to {
        humantime::parse_rfc3339_weak(to).map_err(|e| format!("set_clock.to {to:?}: {e}"))?
    } else if let Some(offset) = set.offset {
        let now = clock.now();
        if offset.negative {
            now.checked_sub(offset.magnitude)
                .ok_or("set_clock.offset goes before the epoch")?
        } else {
            now + offset.magnitude
        }
    } else {
        return Err("set_clock needs `to` or `offset`".to_owned());
    };
    clock
        .set(target)
        .map(|_| ())
        .map_err(|e| format!("cannot set the clock: {e}"))
}

/// `revoke` with the reference client. The administrator revokes through the server's
/// control plane, never as a client request: a grant by the family the server reads from the
/// client's access token (this session's grant only, not the client's other grants), or that
/// one access token. The client revokes at the revocation endpoint (RFC 7009).
async fn revoke_step(
    revoke: &RevokeStep,
    session: &Session,
    server: &ServerHandle,
) -> Result<(), String> {
    let held = || {
        session
            .current_access_token()
            .ok_or("the client holds no tokens: log in before an admin revocation")
    };
    match (revoke.by, revoke.target) {
        (RevokeBy::Admin, RevokeTarget::Grant) => server_glue::revoke_grant_of(server, &held()?),
        (RevokeBy::Admin, RevokeTarget::AccessToken) => {
            server_glue::revoke_access_token(server, &held()?)
        }
        (RevokeBy::Client, RevokeTarget::AccessToken) => session
            .revoke_access_token()
            .await
            .map_err(|e| e.to_string()),
        (RevokeBy::Client, RevokeTarget::Grant) => {
            session.logout().await.map_err(|e| e.to_string())
        }
    }
}

/// Check a `fault` step's rule when the file is loaded.
pub fn check_fault_rule(rule: &fauxauth_server::FaultRule) -> Result<(), String> {
    rule.validate().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fauxauth_server::EndpointKind;

    async fn logged_in(server: &ServerHandle) -> Session {
        let session = Session::new(
            server.url(),
            SessionConfig::builtin_agent(),
            server.clock().clone(),
        )
        .expect("session");
        session.login().await.expect("login");
        session
    }

    /// The admin acts through the control plane: the log shows no request to the revocation
    /// endpoint (nor any other request) for it.
    fn assert_no_request_between(server: &ServerHandle, before: u64) {
        let after: Vec<_> = server
            .events()
            .since(before)
            .iter()
            .map(|e| e.path.clone())
            .collect();
        assert!(
            after.is_empty(),
            "the admin revocation made requests: {after:?}"
        );
        assert!(
            server
                .events()
                .all()
                .iter()
                .all(|e| e.endpoint != EndpointKind::Revoke),
            "no event at the revocation endpoint"
        );
    }

    #[tokio::test]
    async fn the_admin_revokes_this_sessions_grant_and_not_the_clients_others() {
        let server = MockServer::start().await;
        let mine = logged_in(&server).await;
        let other = logged_in(&server).await;
        let admin_grant = RevokeStep {
            by: RevokeBy::Admin,
            target: RevokeTarget::Grant,
        };
        let before = server.events().last_seq();
        revoke_step(&admin_grant, &mine, &server)
            .await
            .expect("revoked");
        assert_no_request_between(&server, before);
        let answer = mine.call_api().await.expect("an answer");
        assert_eq!(answer.status, 401);
        assert!(mine.refresh().await.is_err(), "the refresh token too");
        assert_eq!(
            other.call_api().await.expect("an answer").status,
            200,
            "another grant of the same client is untouched"
        );
        assert!(other.refresh().await.is_ok());
    }

    #[tokio::test]
    async fn the_admin_finds_the_grant_without_the_event_ring() {
        // A ring of one event: the token request that issued the session's token is gone
        // from memory by the time the admin revokes.
        let server = MockServer::builder()
            .events_capacity(1)
            .start()
            .await
            .expect("server");
        let session = logged_in(&server).await;
        assert_eq!(session.call_api().await.expect("an answer").status, 200);
        assert!(
            server
                .events()
                .all()
                .iter()
                .all(|e| e.details.issued_access.is_none()),
            "the issuing event has left the ring"
        );
        let admin_grant = RevokeStep {
            by: RevokeBy::Admin,
            target: RevokeTarget::Grant,
        };
        revoke_step(&admin_grant, &session, &server)
            .await
            .expect("revoked");
        assert_eq!(session.call_api().await.expect("an answer").status, 401);
        assert!(session.refresh().await.is_err(), "the whole grant");
    }

    #[tokio::test]
    async fn the_admin_revokes_one_access_token_and_the_grant_lives_on() {
        let server = MockServer::start().await;
        let session = logged_in(&server).await;
        let admin_token = RevokeStep {
            by: RevokeBy::Admin,
            target: RevokeTarget::AccessToken,
        };
        let before = server.events().last_seq();
        revoke_step(&admin_token, &session, &server)
            .await
            .expect("revoked");
        assert_no_request_between(&server, before);
        let answer = session.call_api().await.expect("an answer");
        assert_eq!(answer.status, 401);
        session
            .refresh()
            .await
            .expect("the refresh token still works");
        assert_eq!(session.call_api().await.expect("an answer").status, 200);
    }

    #[tokio::test]
    async fn the_client_revokes_its_access_token_at_the_revocation_endpoint() {
        let server = MockServer::start().await;
        let session = logged_in(&server).await;
        let by_client = RevokeStep {
            by: RevokeBy::Client,
            target: RevokeTarget::AccessToken,
        };
        let before = server.events().last_seq();
        revoke_step(&by_client, &session, &server)
            .await
            .expect("revoked");
        let requests: Vec<_> = server
            .events()
            .since(before)
            .iter()
            .map(|e| (e.endpoint, e.status))
            .collect();
        assert_eq!(requests, [(EndpointKind::Revoke, Some(200))]);
        assert_eq!(session.call_api().await.expect("an answer").status, 401);
    }
}
