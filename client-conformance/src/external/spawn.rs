//! Spawning the program: `sh -c COMMAND` in its own process group, its output read in the
//! background, and the whole group killed when it exits, times out, or the run is dropped.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::scenario::model::ExternalSpec;

/// The command that runs `spec.command` with `sh -c` in `dir`, with `env` and the scenario's
/// own `env:` in its environment, in a process group of its own.
pub(super) fn command(
    spec: &ExternalSpec,
    dir: &Path,
    env: &[(String, String)],
) -> tokio::process::Command {
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
    command
}

/// How the program ended.
#[derive(Debug)]
pub(super) enum Exit {
    /// It exited (None: killed by a signal).
    Code(Option<i32>),
    /// It ran past its timeout and was killed.
    TimedOut,
    /// Its status could not be read.
    WaitFailed(std::io::Error),
}

/// What the program did: how it ended, and its output (stdout, then stderr).
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) exit: Exit,
    pub(super) output: String,
}

/// The running program, in its own process group: whatever it starts is killed with it —
/// at the timeout, when it exits (children it left running), and if the run is dropped.
pub(super) struct Program {
    child: tokio::process::Child,
    group: GroupGuard,
    timeout: Duration,
    stdout: tokio::task::JoinHandle<Vec<u8>>,
    stderr: tokio::task::JoinHandle<Vec<u8>>,
}

impl Program {
    pub(super) fn start(
        command: &mut tokio::process::Command,
        timeout: Duration,
    ) -> std::io::Result<Self> {
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

    pub(super) async fn finish(mut self) -> Outcome {
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
