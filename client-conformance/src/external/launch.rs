//! Launching the program: its `setup` (run to its end once per state directory) and its
//! copies, `together` or `one_after_another`, each process tree on the right clock — the
//! machine's, or the server's through one libfaketime timestamp file per batch of trees
//! started together (a batch shares one start instant, see `clock.rs`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use fauxauth_server::Clock;

use super::clock::ServerClock;
use super::fleet::{Homes, InstanceOutcome};
use super::spawn::{self, Exit, Outcome, Program};
use crate::scenario::model::{ExternalSpec, StartOrder};
use crate::scenario::records::ClockRecord;

/// Lines of the setup's output quoted when it fails.
const SETUP_TAIL_LINES: usize = 20;

/// What is needed to start the program's processes.
pub(super) struct Launcher<'a> {
    /// The scenario's program.
    pub(super) spec: &'a ExternalSpec,
    /// Where commands run (the scenario file's directory).
    pub(super) dir: &'a Path,
    /// The environment every process gets (`FAUXAUTH_*`, proxy variables).
    pub(super) env: &'a [(String, String)],
    /// The server's clock.
    pub(super) clock: &'a Clock,
    /// libfaketime, under `clock: server`.
    pub(super) library: Option<PathBuf>,
    /// How long each process may run.
    pub(super) timeout: Duration,
    /// The state directories (`FAUXAUTH_HOME`).
    pub(super) homes: Homes,
    /// How many copies.
    pub(super) instances: u32,
}

/// What the copies did.
#[derive(Debug, Default)]
pub(super) struct FleetRun {
    /// One per copy, in instance order.
    pub(super) instances: Vec<InstanceOutcome>,
    /// The first batch's clock under `clock: server`.
    pub(super) clock: Option<ClockRecord>,
    /// Why a copy could not start, or its clock not be handed over (the run fails).
    pub(super) errors: Vec<String>,
}

impl Launcher<'_> {
    /// Run `command` (the setup) to its end once per state directory: once for a shared
    /// home, else once per copy. The first that fails ends the setup, with its exit and the
    /// tail of its output as the message.
    pub(super) async fn setup(&self, command: &str) -> Result<(), String> {
        let runs = if self.homes.shared() {
            1
        } else {
            self.instances
        };
        for instance in 0..runs {
            let (mut programs, _clock, _record) = self.start_batch(command, &[instance]).await?;
            let Some(program) = programs.pop() else {
                continue;
            };
            let outcome = program.finish().await;
            if let Some(why) = setup_failed(&outcome, self.timeout) {
                let copy = if runs > 1 {
                    format!(" (FAUXAUTH_INSTANCE={instance})")
                } else {
                    String::new()
                };
                return Err(format!(
                    "the setup `{command}`{copy} {why}, so no copy was started; {}",
                    tail(&outcome.output)
                ));
            }
        }
        Ok(())
    }

    /// Start the copies in `order` and wait for every one (each at most `timeout`).
    pub(super) async fn run(&self, order: StartOrder) -> FleetRun {
        let all: Vec<u32> = (0..self.instances).collect();
        let batches: Vec<&[u32]> = match order {
            StartOrder::Together => vec![&all[..]],
            StartOrder::OneAfterAnother => all.chunks(1).collect(),
        };
        let mut fleet = FleetRun::default();
        for batch in batches {
            let started = self.start_batch(&self.spec.command, batch).await;
            let (programs, clock, record) = match started {
                Ok(started) => started,
                Err(message) => {
                    fleet.errors.push(message);
                    break;
                }
            };
            match record {
                Some(Ok(record)) => {
                    fleet.clock.get_or_insert(record);
                }
                Some(Err(e)) => fleet
                    .errors
                    .push(format!("writing libfaketime's timestamp file: {e}")),
                None => {}
            }
            let finished = futures_util::future::join_all(batch.iter().zip(programs).map(
                |(&instance, program)| async move {
                    let spawned = program.spawned();
                    let outcome = program.finish().await;
                    InstanceOutcome {
                        instance,
                        outcome,
                        started: spawned,
                        ended: SystemTime::now(),
                    }
                },
            ))
            .await;
            // The batch is over: its clock stops following the server and cleans up.
            drop(clock);
            fleet.instances.extend(finished);
        }
        fleet
    }

    /// Spawn `command` once per instance of `batch`, on the server's clock if asked (one
    /// timestamp file for the batch, anchored once they all run).
    async fn start_batch(
        &self,
        command: &str,
        batch: &[u32],
    ) -> Result<
        (
            Vec<Program>,
            Option<ServerClock>,
            Option<std::io::Result<ClockRecord>>,
        ),
        String,
    > {
        let mut server_clock = self
            .library
            .clone()
            .map(|library| ServerClock::prepare(self.clock, library))
            .transpose()
            .map_err(|e| e.to_string())?;
        let clock_env = server_clock
            .as_ref()
            .map(ServerClock::environment)
            .unwrap_or_default();
        let mut programs = Vec::new();
        for &instance in batch {
            let mut env = self.env.to_vec();
            env.extend(self.homes.environment(instance));
            env.extend(clock_env.iter().cloned());
            let mut wrapped = spawn::command(command, &self.spec.env, self.dir, &env);
            let program = Program::start(&mut wrapped, self.timeout)
                .map_err(|e| format!("cannot start `{command}`: {e}"))?;
            programs.push(program);
        }
        let record = match server_clock.as_mut() {
            Some(server_clock) => {
                let pids = programs
                    .iter()
                    .filter_map(|p| Some((p.id()?, p.spawned())))
                    .collect();
                let record = server_clock.started(pids).await;
                if let Ok(record) = &record {
                    tracing::info!(
                        spec = %server_clock.current_spec().trim(),
                        ?record,
                        "external program on the server clock"
                    );
                }
                Some(record)
            }
            None => None,
        };
        Ok((programs, server_clock, record))
    }
}

/// Why a setup run counts as failed (`None`: it exited 0).
fn setup_failed(outcome: &Outcome, timeout: Duration) -> Option<String> {
    match &outcome.exit {
        Exit::Code(Some(0)) => None,
        Exit::Code(Some(code)) => Some(format!("exited with code {code}")),
        Exit::Code(None) => Some("was killed by a signal".to_owned()),
        Exit::TimedOut => Some(format!(
            "was still running after {} and was killed",
            fauxauth_server::duration::format(timeout)
        )),
        Exit::WaitFailed(e) => Some(format!("could not be waited for ({e})")),
    }
}

/// The last lines of `output`, or that there was none.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "it printed nothing".to_owned();
    }
    let start = lines.len().saturating_sub(SETUP_TAIL_LINES);
    format!("its output ends:\n{}", lines[start..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_setup_names_how_it_ended_and_quotes_its_last_lines() {
        let outcome = |exit, output: &str| Outcome {
            exit,
            output: output.to_owned(),
        };
        let timeout = Duration::from_secs(5);
        assert_eq!(
            setup_failed(&outcome(Exit::Code(Some(0)), ""), timeout),
            None
        );
        assert_eq!(
            setup_failed(&outcome(Exit::Code(Some(3)), ""), timeout).as_deref(),
            Some("exited with code 3")
        );
        assert_eq!(
            setup_failed(&outcome(Exit::TimedOut, ""), timeout).as_deref(),
            Some("was still running after 5s and was killed")
        );
        let long: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let quoted = tail(&long);
        assert!(
            quoted.starts_with("its output ends:\nline 10\n"),
            "{quoted}"
        );
        assert!(quoted.ends_with("line 29"), "{quoted}");
        assert_eq!(tail(" \n"), "it printed nothing");
    }
}
