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
//! | `FAUXAUTH_TIME_SCALE` | virtual seconds per real second (1 under `clock: server`) |
//! | `FAUXAUTH_CLOCK` | `real` or `server` |
//! | `FAUXAUTH_INSTANCE` | which copy this is, 0..N-1 (`instances: N`) |
//! | `FAUXAUTH_HOME` | its state directory (shared by all copies unless `shared_home: false`) |
//!
//! Under `clock: server` (see `clock.rs`) the program also gets libfaketime preloaded, so its
//! clocks, sleeps and timers follow the server's virtual clock, `advance` included.
//!
//! With `impersonate: [HOST, …]` the server also runs the impersonation proxy for those
//! hosts, and the program gets `HTTPS_PROXY`/`https_proxy` (the proxy), `NO_PROXY`/`no_proxy`
//! (loopback only), `NODE_USE_ENV_PROXY=1`, and `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`,
//! `REQUESTS_CA_BUNDLE` (the CA, in a file removed after the run).
//!
//! With `setup: COMMAND` that command runs to its end first (once per `FAUXAUTH_HOME`, with
//! the same environment and clock), where a `setup` step stands among the steps before the
//! first `wait`, or else just before the program; if it fails, nothing else starts.
//! With `instances: N` the copies start `together` or `one_after_another` (`start:`).
//!
//! then runs the remaining steps while it runs, waits for it to exit (killing it after
//! `timeout`), captures its output, and judges the run's `expect` over the event log.

mod clock;
mod environment;
mod fleet;
mod hints;
mod impersonate;
mod judge;
mod launch;
mod spawn;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fauxauth_server::Clock;

use crate::client::Endpoints;
use crate::scenario::control_plane::{self, server_step, start_server, stop};
use crate::scenario::model::{ExternalSpec, ProgramClock, Scenario, Step};
use crate::scenario::observed::unix_ms;
use crate::scenario::records::{Failure, ScenarioResult, error_keys};
use environment::{clock_scale, environment, proxy_environment};
use fleet::Homes;
use launch::Launcher;

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
        met: Vec::new(),
        steps: Vec::new(),
        events: Vec::new(),
        output: None,
        instances: Vec::new(),
        hints: Vec::new(),
        program_clock: None,
    };
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let scale = clock_scale(spec);
    let on_server_clock = spec.clock.unwrap_or_default() == ProgramClock::Server;
    let library = if on_server_clock {
        match server_clock_checks(spec, dir, scale) {
            Ok(library) => Some(library),
            Err(message) => {
                result.failures.push(setup_failure(message));
                result.duration = started.elapsed();
                return result;
            }
        }
    } else {
        None
    };
    let instances = spec.instances.unwrap_or(1);
    if instances == 0 || instances > fleet::MAX_INSTANCES {
        result.failures.push(setup_failure(format!(
            "instances: {instances}: must be from 1 to {}",
            fleet::MAX_INSTANCES
        )));
        result.duration = started.elapsed();
        return result;
    }
    let clock = Clock::virtual_now();
    if scale != 1.0
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
    // The steps before the first `wait` run before the program starts; a `setup` step among
    // them marks where the setup runs (else it runs just before the program).
    let split = scenario
        .steps
        .iter()
        .position(|s| matches!(s, Step::Wait(_)))
        .unwrap_or(scenario.steps.len());
    let setup_at = scenario.steps[..split]
        .iter()
        .position(|s| matches!(s, Step::Setup(_)))
        .unwrap_or(split);
    let timeout = spec.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0);
    let launcher = match Homes::create(instances, spec.shared_home.unwrap_or(true)) {
        Ok(homes) => Launcher {
            spec,
            dir,
            env: &env,
            clock: &clock,
            library,
            timeout,
            homes,
            instances,
        },
        Err(e) => {
            result
                .failures
                .push(setup_failure(format!("creating FAUXAUTH_HOME: {e}")));
            stop(server).await;
            result.duration = started.elapsed();
            return result;
        }
    };
    let mut prepared = Ok(());
    for (i, step) in scenario.steps[..split].iter().enumerate() {
        if i == setup_at
            && let Some(command) = &spec.setup
            && let Err(message) = launcher.setup(command).await
        {
            prepared = Err(setup_failure(message));
            break;
        }
        if matches!(step, Step::Setup(_)) {
            continue;
        }
        if let Err(message) = server_step(step, &server, Some(&client_id)).await {
            prepared = Err(step_failure(i, step.kind(), message));
            break;
        }
    }
    if prepared.is_ok()
        && setup_at == split
        && let Some(command) = &spec.setup
        && let Err(message) = launcher.setup(command).await
    {
        prepared = Err(setup_failure(message));
    }
    if let Err(failure) = prepared {
        result.failures.push(failure);
        stop(server).await;
        result.duration = started.elapsed();
        return result;
    }
    let during = &scenario.steps[split..];
    let steps = async {
        for (i, step) in during.iter().enumerate() {
            if let Err(message) = server_step(step, &server, Some(&client_id)).await {
                return Err((split + i, step.kind(), message));
            }
        }
        Ok(())
    };
    let (steps, fleet) = tokio::join!(steps, launcher.run(spec.start.unwrap_or_default()));
    drop(launcher);
    result.program_clock = fleet.clock;
    result
        .failures
        .extend(fleet.errors.into_iter().map(setup_failure));
    result.instances = fleet::records(&fleet.instances, OUTPUT_LIMIT);
    let outcome = fleet::combined(&fleet.instances);
    if let Err((i, kind, message)) = steps {
        result.failures.push(step_failure(i, kind, message));
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

/// The checks `clock: server` makes before anything starts: the scale, libfaketime, and a
/// program that preloading can reach.
fn server_clock_checks(spec: &ExternalSpec, dir: &Path, scale: f64) -> Result<PathBuf, String> {
    clock::check_scale(scale).map_err(|e| e.to_string())?;
    let library = clock::find_library().map_err(|e| e.to_string())?;
    clock::check_dynamic(&spec.command, dir).map_err(|e| e.to_string())?;
    if let Some(setup) = &spec.setup {
        clock::check_dynamic(setup, dir).map_err(|e| format!("setup: {e}"))?;
    }
    Ok(library)
}

fn setup_failure(message: String) -> Failure {
    Failure::error(
        error_keys::EXTERNAL_STARTS,
        "the external run to start".to_owned(),
        message,
    )
}

fn step_failure(index: usize, kind: &str, message: String) -> Failure {
    Failure::error(
        error_keys::STEP_RUNS,
        format!("the {kind} step to run"),
        message,
    )
    .at_step(index, kind)
}
