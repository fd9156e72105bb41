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
//! then runs the remaining steps while it runs, waits for it to exit (killing it after
//! `timeout`), captures its output, and judges the run's `expect` over the event log.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fauxauth_server::Clock;
use fauxauth_server::config::Profile;

use crate::client::{Endpoints, Flow};
use crate::scenario::expect::{self, RunContext};
use crate::scenario::model::{ExternalSpec, Scenario, Step};
use crate::scenario::run::{
    Failure, ScenarioResult, builtin_client, server_step, start_server, stop, unix_ms,
};
use crate::scenario::server_glue;

/// The default time an external program may run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Output kept per program (the tail).
pub const OUTPUT_LIMIT: usize = 16 * 1024;

/// Run `scenario` with the external program `spec`.
pub async fn run(
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
    let server = match start_server(&scenario.server, clock.clone()).await {
        Ok(s) => s,
        Err(message) => {
            result.failures.push(setup_failure(message));
            result.duration = started.elapsed();
            return result;
        }
    };
    let start_ms = unix_ms(clock.now());
    let env = environment(
        spec,
        &Endpoints::for_issuer(server.url()),
        clock_scale(spec),
        scenario.server.profile,
    );
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
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(&spec.command)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
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
    let events = server_glue::stop_and_collect(server).await;
    let lines: Vec<String> = events
        .iter()
        .rev()
        .take(12)
        .rev()
        .map(|e| e.line(start_ms))
        .collect();
    let expected_code = spec.exit_code.unwrap_or(0);
    let text = keep_tail(&outcome.output, OUTPUT_LIMIT);
    let waited = !matches!(outcome.exit, Exit::WaitFailed(_));
    match outcome.exit {
        Exit::TimedOut => result.failures.push(Failure {
            step: None,
            expected: format!(
                "`{}` to exit within {}",
                spec.command,
                humantime::format_duration(timeout)
            ),
            actual: "it was still running and was killed (with every process it started)"
                .to_owned(),
            events: lines.clone(),
        }),
        Exit::WaitFailed(e) => result.failures.push(setup_failure(format!(
            "waiting for `{}`: {e}",
            spec.command
        ))),
        Exit::Code(Some(code)) if code == expected_code => {}
        Exit::Code(code) => result.failures.push(Failure {
            step: None,
            expected: format!("`{}` to exit with code {expected_code}", spec.command),
            actual: format!(
                "{}; output ends: {}",
                match code {
                    Some(c) => format!("exit code {c}"),
                    None => "killed by a signal".to_owned(),
                },
                keep_tail(&text, 600)
            ),
            events: lines.clone(),
        }),
    }
    if waited {
        result.output = Some(text);
    }
    if result.failures.is_empty() {
        let context = RunContext {
            events: &events,
            start_ms,
            output: result.output.as_deref(),
        };
        result
            .failures
            .extend(expect::check_run(&scenario.expect, &context));
    }
    result.events = events;
    result.duration = started.elapsed();
    result
}

/// How the program ended.
#[derive(Debug)]
enum Exit {
    /// It exited (None: killed by a signal).
    Code(Option<i32>),
    /// It ran past its timeout and was killed.
    TimedOut,
    /// Its status could not be read.
    WaitFailed(std::io::Error),
}

/// What the program did: how it ended, and its output (stdout, then stderr).
#[derive(Debug)]
struct Outcome {
    exit: Exit,
    output: String,
}

/// The running program, in its own process group: whatever it starts is killed with it —
/// at the timeout, when it exits (children it left running), and if the run is dropped.
struct Program {
    child: tokio::process::Child,
    group: GroupGuard,
    timeout: Duration,
    stdout: tokio::task::JoinHandle<Vec<u8>>,
    stderr: tokio::task::JoinHandle<Vec<u8>>,
}

impl Program {
    fn start(command: &mut tokio::process::Command, timeout: Duration) -> std::io::Result<Self> {
        let mut child = command.spawn()?;
        let group = GroupGuard(child.id());
        let stdout = read_all(child.stdout.take());
        let stderr = read_all(child.stderr.take());
        Ok(Self {
            child,
            group,
            timeout,
            stdout,
            stderr,
        })
    }

    async fn finish(mut self) -> Outcome {
        let exit = match tokio::time::timeout(self.timeout, self.child.wait()).await {
            Ok(Ok(status)) => Exit::Code(status.code()),
            Ok(Err(e)) => Exit::WaitFailed(e),
            Err(_) => Exit::TimedOut,
        };
        // The program is done (or out of time): end everything it started, so nothing keeps
        // running, holding ports or the output pipes.
        self.group.kill();
        if matches!(exit, Exit::TimedOut) {
            let _ = self.child.kill().await;
        }
        // A process that left the group (setsid) may hold the pipes: do not wait for it long.
        let grace = Duration::from_secs(2);
        let stdout = tokio::time::timeout(grace, self.stdout).await;
        let stderr = tokio::time::timeout(grace, self.stderr).await;
        let mut output =
            String::from_utf8_lossy(&stdout.ok().and_then(Result::ok).unwrap_or_default())
                .into_owned();
        let stderr = stderr.ok().and_then(Result::ok).unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr);
        if !stderr.trim().is_empty() {
            output.push_str("\n--- stderr ---\n");
            output.push_str(&stderr);
        }
        Outcome { exit, output }
    }
}

/// Read a pipe to its end in the background.
fn read_all<R>(pipe: Option<R>) -> tokio::task::JoinHandle<Vec<u8>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut bytes).await;
        }
        bytes
    })
}

/// Kills a process group (the program's: its pid) when told to, and when dropped.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    /// SIGKILL to every process of the group (once). `kill -s KILL -- -PGID` (POSIX) through `sh`,
    /// which the program already needs: POSIX, and no unsafe code or extra crate.
    fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(pgid) = self.0.take() {
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("kill -s KILL -- -{pgid} 2>/dev/null"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn clock_scale(spec: &ExternalSpec) -> f64 {
    spec.time_scale.unwrap_or(1.0)
}

/// The environment the program gets. Settings the scenario leaves out are those of the
/// profile's built-in client for the flow (as for the reference client).
pub fn environment(
    spec: &ExternalSpec,
    endpoints: &Endpoints,
    scale: f64,
    profile: Profile,
) -> Vec<(String, String)> {
    let flow = spec.flow.unwrap_or(Flow::AuthorizationCode);
    let builtin = builtin_client(flow, profile);
    let (id, secret, scopes, redirect) = (
        builtin.client_id.as_str(),
        builtin.client_secret.as_deref().unwrap_or_default(),
        builtin.scopes.join(" "),
        builtin.redirect_uri.as_deref().unwrap_or_default(),
    );
    let pairs = [
        ("FAUXAUTH_ISSUER", endpoints.issuer.clone()),
        ("FAUXAUTH_TOKEN_URL", endpoints.token.clone()),
        ("FAUXAUTH_AUTHORIZE_URL", endpoints.authorize.clone()),
        ("FAUXAUTH_API_BASE", endpoints.api_base.clone()),
        (
            "FAUXAUTH_CLIENT_ID",
            spec.client_id.clone().unwrap_or_else(|| id.to_owned()),
        ),
        (
            "FAUXAUTH_CLIENT_SECRET",
            spec.client_secret
                .clone()
                .unwrap_or_else(|| secret.to_owned()),
        ),
        (
            "FAUXAUTH_REDIRECT_URI",
            spec.redirect_uri
                .clone()
                .unwrap_or_else(|| redirect.to_owned()),
        ),
        (
            "FAUXAUTH_SCOPES",
            spec.scopes.as_ref().map_or(scopes, |s| s.join(" ")),
        ),
        (
            "FAUXAUTH_FLOW",
            match flow {
                Flow::ClientCredentials => "client_credentials".to_owned(),
                Flow::AuthorizationCode => "authorization_code".to_owned(),
            },
        ),
        ("FAUXAUTH_TIME_SCALE", scale.to_string()),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn setup_failure(message: String) -> Failure {
    Failure {
        step: None,
        expected: "the external run to start".to_owned(),
        actual: message,
        events: Vec::new(),
    }
}

fn keep_tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> ExternalSpec {
        serde_saphyr::from_str(yaml).expect("external spec")
    }

    fn var(env: &[(String, String)], key: &str) -> String {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{key} not set"))
    }

    #[test]
    fn defaults_follow_the_profile_like_the_reference_client() {
        let endpoints = Endpoints::for_issuer("http://127.0.0.1:1");
        let plain = spec("command: ./agent");
        let generic = environment(&plain, &endpoints, 1.0, Profile::Generic);
        assert_eq!(var(&generic, "FAUXAUTH_CLIENT_ID"), "fauxauth-agent");
        let openai = environment(&plain, &endpoints, 1.0, Profile::Openai);
        assert_eq!(
            var(&openai, "FAUXAUTH_CLIENT_ID"),
            fauxauth_server::config::CODEX_CLIENT_ID
        );
        assert_eq!(
            var(&openai, "FAUXAUTH_REDIRECT_URI"),
            "http://localhost:1455/auth/callback"
        );
        assert!(var(&openai, "FAUXAUTH_SCOPES").contains("offline_access"));

        let service = environment(
            &spec("command: ./agent\nflow: client_credentials"),
            &endpoints,
            1.0,
            Profile::Generic,
        );
        assert_eq!(
            var(&service, "FAUXAUTH_CLIENT_SECRET"),
            "fauxauth-service-secret"
        );
        let overridden = environment(
            &spec("command: ./agent\nclient_id: mine\nscopes: [openid]"),
            &endpoints,
            1.0,
            Profile::Openai,
        );
        assert_eq!(var(&overridden, "FAUXAUTH_CLIENT_ID"), "mine");
        assert_eq!(var(&overridden, "FAUXAUTH_SCOPES"), "openid");
    }
}
