//! Running scenarios: each gets its own in-process server on port 0 with its own virtual
//! clock, drives the reference client (or an external program) through its steps, and is
//! judged step by step and over the event log.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use fauxauth_server::{Clock, ServerHandle};

use super::client_config::session_config;
use super::control_plane::{self, server_step, start_server};
use super::expect;
use super::file::{self, ScenarioFileError};
use super::model::{RevokeBy, RevokeStep, RevokeStepTarget, Scenario, Step};
use super::observed::unix_ms;
use super::records::{
    CallRecord, Failure, MetExpectation, RunReport, ScenarioResult, StepRecord, error_keys,
};
use crate::client::{LoginOptions, Outcome, Session};

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

/// Run every scenario file under `paths`. A file that cannot be loaded is a failed result
/// (with `file:line:column`); a path that does not exist, or nothing to run (no scenario
/// file, or none the filter matches), is an error.
pub async fn run_paths(
    paths: &[PathBuf],
    options: &RunOptions,
) -> Result<RunReport, ScenarioFileError> {
    run_paths_with(paths, options, |_| {}).await
}

/// [`run_paths`], calling `on_result` with each result as it is collected (in file order).
pub async fn run_paths_with(
    paths: &[PathBuf],
    options: &RunOptions,
    on_result: impl Fn(&ScenarioResult),
) -> Result<RunReport, ScenarioFileError> {
    let started = Instant::now();
    let files = file::discover(paths)?;
    let shown = || {
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if files.is_empty() {
        return Err(ScenarioFileError::NothingToRun {
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
        let loaded = file::load_file(&file);
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
        return Err(ScenarioFileError::NothingToRun {
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
    let mut met = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        let before = control_plane::last_seq(&server);
        let mut record = match execute(step, index, &session, &server).await {
            Ok(r) => r,
            Err(message) => {
                failures.push(
                    Failure::error(
                        error_keys::STEP_RUNS,
                        format!("the {} step to run", step.kind()),
                        message,
                    )
                    .at_step(index, step.kind()),
                );
                break;
            }
        };
        record.seq_range = (before, control_plane::last_seq(&server));
        let expect::StepJudgement { unmet, met: held } = expect::check_step(step, &record);
        met.extend(held.into_iter().map(|m| MetExpectation {
            step: Some((index, step.kind().to_owned())),
            ..m
        }));
        steps.push(record);
        if !unmet.is_empty() {
            let after = control_plane::last_seq(&server);
            let refs = expect::event_refs(&control_plane::events(&server), start_ms, &|e| {
                e.seq > before && e.seq <= after
            });
            // The step's event lines once, after the last of its unmet expectations; every
            // one of them names the step's events by number.
            let last = unmet.len() - 1;
            failures.extend(unmet.into_iter().enumerate().map(|(i, failure)| {
                let mut failure = failure
                    .at_step(index, step.kind())
                    .with_events(refs.clone());
                if i != last {
                    failure.events.clear();
                }
                failure
            }));
            break;
        }
    }
    let events = control_plane::stop_and_collect(server).await;
    if failures.is_empty() {
        let context = expect::RunContext {
            events: &events,
            start_ms,
            output: None,
            faults: expect::fault_rules(&scenario.steps),
            client_clock: expect::ClientClock::Real,
        };
        let (unmet, held) = expect::check_run(&scenario.expect, &context);
        failures.extend(unmet);
        met.extend(held);
    }
    ScenarioResult {
        name: scenario.name.clone(),
        file: file_name,
        reproduces: scenario.reproduces.clone().unwrap_or_default(),
        duration: started.elapsed(),
        failures,
        met,
        steps,
        events,
        output: None,
        instances: Vec::new(),
        hints: Vec::new(),
        program_clock: None,
    }
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
        (RevokeBy::Admin, RevokeStepTarget::Grant) => {
            control_plane::revoke_grant_of(server, &held()?)
        }
        (RevokeBy::Admin, RevokeStepTarget::AccessToken) => {
            control_plane::revoke_access_token(server, &held()?)
        }
        (RevokeBy::Client, RevokeStepTarget::AccessToken) => session
            .revoke_access_token()
            .await
            .map_err(|e| e.to_string()),
        (RevokeBy::Client, RevokeStepTarget::Grant) => {
            session.logout().await.map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests;
