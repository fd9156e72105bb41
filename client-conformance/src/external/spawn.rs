//! Spawning the program: `sh -c COMMAND` in its own process group (through `process-wrap`),
//! its output read in the background, and the whole group killed the same way when it exits,
//! times out, or the run is dropped (a harness error).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use process_wrap::tokio::{ChildWrapper, CommandWrap, KillOnDrop, ProcessGroup};

/// The command that runs `line` with `sh -c` in `dir`, with `env` and the scenario's own
/// `env:` (`extra`) in its environment, as the leader of a process group of its own.
pub(super) fn command(
    line: &str,
    extra: &BTreeMap<String, String>,
    dir: &Path,
    env: &[(String, String)],
) -> CommandWrap {
    let mut command = CommandWrap::with_new("sh", |command| {
        command
            .arg("-c")
            .arg(line)
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    });
    command.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    command
}

/// How the program ended.
#[derive(Debug)]
pub(crate) enum Exit {
    /// It exited (None: killed by a signal).
    Code(Option<i32>),
    /// It ran past its timeout and was killed.
    TimedOut,
    /// Its status could not be read.
    WaitFailed(std::io::Error),
}

/// What the program did: how it ended, and its output (stdout, then stderr).
#[derive(Debug)]
pub(crate) struct Outcome {
    /// How it ended.
    pub(crate) exit: Exit,
    /// Its output: stdout, then stderr after a `--- stderr ---` line.
    pub(crate) output: String,
}

/// The running program, leader of its own process group: whatever it starts is killed with
/// it — at the timeout, when it exits (children it left running), and if the run is dropped.
pub(super) struct Program {
    child: Group,
    spawned: std::time::SystemTime,
    timeout: Duration,
    stdout: tokio::task::JoinHandle<Vec<u8>>,
    stderr: tokio::task::JoinHandle<Vec<u8>>,
}

impl Program {
    /// Spawn `command`; it may run for `timeout`.
    pub(super) fn start(command: &mut CommandWrap, timeout: Duration) -> std::io::Result<Self> {
        let spawned = std::time::SystemTime::now();
        let mut child = command.spawn()?;
        let stdout = read_all(child.stdout().take());
        let stderr = read_all(child.stderr().take());
        Ok(Self {
            child: Group(child),
            spawned,
            timeout,
            stdout,
            stderr,
        })
    }

    /// The process id of the group's leader (`sh`), which names the group.
    pub(super) fn id(&self) -> Option<u32> {
        self.child.0.id()
    }

    /// The (real) instant just before it was spawned.
    pub(super) fn spawned(&self) -> std::time::SystemTime {
        self.spawned
    }

    /// Wait for the program (at most its timeout), then end its whole group and collect its
    /// output.
    pub(super) async fn finish(mut self) -> Outcome {
        let exit = match tokio::time::timeout(self.timeout, self.child.0.wait()).await {
            Ok(Ok(status)) => Exit::Code(status.code()),
            Ok(Err(e)) => Exit::WaitFailed(e),
            Err(_) => Exit::TimedOut,
        };
        // Done or out of time: the same end for both, so nothing it started keeps running,
        // holding ports or the output pipes.
        self.child.kill();
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

/// The group's leader, wrapped: SIGKILL to the whole group when told to and when dropped.
struct Group(Box<dyn ChildWrapper>);

impl Group {
    /// SIGKILL to every process of the group (`killpg`); a group already gone is no error.
    fn kill(&mut self) {
        let _ = self.0.start_kill();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
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
