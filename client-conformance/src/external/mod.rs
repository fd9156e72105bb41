//! External mode: run *your* client program against the server and judge it by the event log.
//!
//! The runner starts the server (virtual clock running at real speed, or `time_scale` times
//! faster), runs the steps before the first `wait` (faults, typically), starts the program with
//! `sh -c COMMAND` in the scenario file's directory and these variables in its environment:
//!
//! | variable | value |
//! |---|---|
//! | `FAUXAUTH_ISSUER` | the issuer URL |
//! | `FAUXAUTH_TOKEN_URL` | the token endpoint |
//! | `FAUXAUTH_AUTHORIZE_URL` | the authorization endpoint |
//! | `FAUXAUTH_API_BASE` | the model API base, e.g. `http://127.0.0.1:PORT/v1` |
//! | `FAUXAUTH_CLIENT_ID` | the client id |
//! | `FAUXAUTH_CLIENT_SECRET` | its secret (empty for a public client) |
//! | `FAUXAUTH_REDIRECT_URI` | the registered redirect URI (authorization code) |
//! | `FAUXAUTH_SCOPES` | space-separated scopes |
//! | `FAUXAUTH_FLOW` | `authorization_code` or `client_credentials` |
//! | `FAUXAUTH_TIME_SCALE` | virtual seconds per real second |
//!
//! With `impersonate: [HOST, …]` the server also runs the impersonation proxy for those
//! hosts, and the program gets `HTTPS_PROXY`/`https_proxy` (the proxy), `NO_PROXY`/`no_proxy`
//! (loopback only), `NODE_USE_ENV_PROXY=1`, and `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`,
//! `REQUESTS_CA_BUNDLE` (the CA, in a file removed after the run).
//!
//! then runs the remaining steps while it runs, waits for it to exit (killing it after
//! `timeout`), captures its output, and judges the run's `expect` over the event log.

mod environment;
mod impersonate;
mod judge;
mod spawn;

use std::path::Path;
use std::time::{Duration, Instant};

use fauxauth_server::Clock;

use crate::client::Endpoints;
use crate::scenario::control_plane::{self, server_step, start_server, stop};
use crate::scenario::model::{ExternalSpec, Scenario, Step};
use crate::scenario::observed::unix_ms;
use crate::scenario::records::{Failure, ScenarioResult};
use environment::{clock_scale, environment, proxy_environment};
use spawn::Program;

/// The default time an external program may run.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Output kept per program (the tail).
const OUTPUT_LIMIT: usize = 16 * 1024;

/// Run `scenario` with the external program `spec`.
pub(crate) async fn run(
    scenario: &Scenario,
    spec: &ExternalSpec,
    file: &Path,
    started: Instant,
) -> ScenarioResult {
    let mut result = ScenarioResult {
        name: scenario.name.clone(),
        file: file.display().to_string(),
        reproduces: scenario.reproduces.clone().unwrap_or_default(),
        duration: Duration::ZERO,
        failures: Vec::new(),
        steps: Vec::new(),
        events: Vec::new(),
        output: None,
    };
    let clock = Clock::virtual_now();
    if let Some(scale) = spec.time_scale
        && let Err(e) = clock.set_scale(scale)
    {
        result
            .failures
            .push(setup_failure(format!("time_scale {scale}: {e}")));
        result.duration = started.elapsed();
        return result;
    }
    let started_server = if spec.impersonate.is_empty() {
        start_server(&scenario.server, clock.clone()).await
    } else {
        impersonate::start_server(&scenario.server, clock.clone(), &spec.impersonate).await
    };
    let server = match started_server {
        Ok(s) => s,
        Err(message) => {
            result.failures.push(setup_failure(message));
            result.duration = started.elapsed();
            return result;
        }
    };
    let start_ms = unix_ms(clock.now());
    let mut env = environment(
        spec,
        &Endpoints::for_issuer(server.url()),
        clock_scale(spec),
        scenario.server.profile,
    );
    // With `impersonate`: the program reaches the named hosts through the proxy.
    let ca_file = match (server.proxy_url(), spec.impersonate.is_empty()) {
        (Some(proxy), false) => match impersonate::CaFile::write(&server) {
            Ok(ca) => {
                env.extend(proxy_environment(&proxy, ca.path()));
                Some(ca)
            }
            Err(message) => {
                result.failures.push(setup_failure(message));
                stop(server).await;
                result.duration = started.elapsed();
                return result;
            }
        },
        _ => None,
    };
    let client_id = env
        .iter()
        .find(|(k, _)| k == "FAUXAUTH_CLIENT_ID")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let split = scenario
        .steps
        .iter()
        .position(|s| matches!(s, Step::Wait(_)))
        .unwrap_or(scenario.steps.len());
    let (before, during) = scenario.steps.split_at(split);
    for (i, step) in before.iter().enumerate() {
        if let Err(message) = server_step(step, &server, Some(&client_id)).await {
            result.failures.push(Failure {
                step: Some((i, step.kind().to_owned())),
                expected: format!("the {} step to run", step.kind()),
                actual: message,
                events: Vec::new(),
            });
            stop(server).await;
            result.duration = started.elapsed();
            return result;
        }
    }
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut command = spawn::command(spec, dir, &env);
    let timeout = spec.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0);
    let program = match Program::start(&mut command, timeout) {
        Ok(p) => p,
        Err(e) => {
            result.failures.push(setup_failure(format!(
                "cannot start `{}`: {e}",
                spec.command
            )));
            stop(server).await;
            result.duration = started.elapsed();
            return result;
        }
    };
    let steps = async {
        for (i, step) in during.iter().enumerate() {
            if let Err(message) = server_step(step, &server, Some(&client_id)).await {
                return Err((split + i, step.kind(), message));
            }
        }
        Ok(())
    };
    let (steps, outcome) = tokio::join!(steps, program.finish());
    if let Err((i, kind, message)) = steps {
        result.failures.push(Failure {
            step: Some((i, kind.to_owned())),
            expected: format!("the {kind} step to run"),
            actual: message,
            events: Vec::new(),
        });
    }
    let events = control_plane::stop_and_collect(server).await;
    drop(ca_file);
    judge::judge(
        &mut result,
        scenario,
        spec,
        timeout,
        outcome,
        events,
        start_ms,
    );
    result.duration = started.elapsed();
    result
}

fn setup_failure(message: String) -> Failure {
    Failure {
        step: None,
        expected: "the external run to start".to_owned(),
        actual: message,
        events: Vec::new(),
    }
}
