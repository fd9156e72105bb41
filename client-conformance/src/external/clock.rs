//! `clock: server`: the program lives on the server's virtual clock through libfaketime.
//!
//! The program is started with libfaketime preloaded and a timestamp file
//! (`FAKETIME_TIMESTAMP_FILE`, re-read on every call with `FAKETIME_NO_CACHE=1`) holding
//! `+OFFSET xSCALE`: libfaketime then reports `S + OFFSET + (t - S) × SCALE` for the wall
//! *and* the monotonic clock, where `S` is the real instant the process tree started (shared by
//! its children through `FAKETIME_SHARED`), and divides sleeps and timeouts by `SCALE`. The
//! harness writes `OFFSET = V(S) - S` (V: the server's virtual time) and rewrites the file on
//! every clock change, so an `advance` jumps the program's clocks too and a scale change stays
//! continuous. `FAKETIME_XRESET` is deliberately *not* set: measured with libfaketime 0.9.10,
//! it re-anchors on the last time the program read and so ignores a new offset (an `advance`
//! never reaches the program).
//!
//! `S` is first estimated as the instant the spawn returned: with it, the program's clock
//! trails the server's by (true start − estimate) × (SCALE − 1). Then `S` is *measured*: a
//! probe (`date` under libfaketime with `FAKETIME="+0 x0"`, joined to the program's tree
//! through `FAKETIME_SHARED`) prints the tree's start instant exactly; the file is rewritten
//! with it, and a second probe on the file itself measures the skew that is left. Both numbers
//! go into the run record ([`ClockRecord`]).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use fauxauth_server::Clock;
use fauxauth_server::clock::ForwardOnly;

use crate::scenario::records::ClockRecord;

/// The default scale under `clock: server` when the scenario sets no `time_scale`.
pub(crate) const DEFAULT_SCALE: f64 = 60.0;
/// The fastest scale allowed under `clock: server`: beyond it, the program's own timeouts
/// (a 30 s HTTP timeout is 50 real ms at ×600) fire before loopback answers arrive.
pub(crate) const MAX_SCALE: f64 = 600.0;
/// The slowest rate written for a frozen server clock (libfaketime divides sleeps by it, so
/// zero is not allowed): the program's time crawls instead of standing still.
const FROZEN_RATE: f64 = 0.001;

/// Where libfaketime is looked for (the multi-threaded variant), after `FAUXAUTH_LIBFAKETIME`.
const LIBRARY_CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
    "/usr/lib64/faketime/libfaketimeMT.so.1",
    "/usr/local/lib/faketime/libfaketimeMT.so.1",
];

/// Why `clock: server` cannot be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClockSetupError {
    /// libfaketime is not installed.
    #[error(
        "clock: server needs libfaketime, which was not found (looked in $FAUXAUTH_LIBFAKETIME \
         and {candidates}); install it (Debian/Ubuntu: `apt-get install libfaketime`, Fedora: \
         `dnf install libfaketime`) or point FAUXAUTH_LIBFAKETIME at libfaketimeMT.so.1"
    )]
    NoLibrary {
        /// The paths tried.
        candidates: String,
    },
    /// The program is a static executable: preloading cannot reach it.
    #[error(
        "clock: server cannot reach `{program}`: it is a statically linked executable (no ELF \
         interpreter), so libfaketime cannot be preloaded into it (the same holds for Go \
         programs and the JVM's own clock); use `clock: real` with short lifetimes instead \
         (e.g. `server: {{ access_token_ttl: 2s }}` and no time_scale)"
    )]
    Static {
        /// The executable.
        program: String,
    },
    /// The scale is too fast for a real program.
    #[error(
        "time_scale {scale} is too fast for clock: server (at most {MAX_SCALE}): the program's \
         own timeouts shrink by the scale, and beyond that its HTTP requests time out before \
         the server answers (connection or read timeouts, retries, exit code != 0)"
    )]
    TooFast {
        /// The scale asked for.
        scale: f64,
    },
    /// The timestamp file could not be written.
    #[error("writing libfaketime's timestamp file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Find libfaketime: `FAUXAUTH_LIBFAKETIME`, then the usual install locations.
pub(crate) fn find_library() -> Result<PathBuf, ClockSetupError> {
    let from_env = std::env::var_os("FAUXAUTH_LIBFAKETIME").map(PathBuf::from);
    from_env
        .into_iter()
        .chain(LIBRARY_CANDIDATES.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .ok_or_else(|| ClockSetupError::NoLibrary {
            candidates: LIBRARY_CANDIDATES.join(", "),
        })
}

/// Check a scale for `clock: server`.
pub(crate) fn check_scale(scale: f64) -> Result<(), ClockSetupError> {
    if scale > MAX_SCALE {
        return Err(ClockSetupError::TooFast { scale });
    }
    Ok(())
}

/// Refuse a command whose program is a static executable. The program is the command's first
/// word (after `VAR=value` assignments and `exec`/`env`), found in `dir` or on `PATH`; a
/// script's `#!` interpreter is followed one level (`#!/usr/bin/env node`: `node`). What
/// cannot be resolved (a shell builtin, a pipeline's later stage) is let through.
pub(crate) fn check_dynamic(command: &str, dir: &Path) -> Result<(), ClockSetupError> {
    let Some(program) = first_program(command.split_whitespace()) else {
        return Ok(());
    };
    let Some(path) = resolve(program, dir) else {
        return Ok(());
    };
    let head = read_head(&path);
    if let Some(interpreter) = shebang(&head) {
        let words: Vec<&str> = interpreter.split_whitespace().collect();
        let target = match words.as_slice() {
            [env, rest @ ..] if env.ends_with("/env") => first_program(rest.iter().copied()),
            [interp, ..] => Some(*interp),
            [] => None,
        };
        return match target.and_then(|t| resolve(t, dir)) {
            Some(p) if is_static(&read_head(&p)) => Err(ClockSetupError::Static {
                program: p.display().to_string(),
            }),
            _ => Ok(()),
        };
    }
    if is_static(&head) {
        return Err(ClockSetupError::Static {
            program: path.display().to_string(),
        });
    }
    Ok(())
}

fn first_program<'a>(mut words: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    words.find(|w| !(w.contains('=') || *w == "exec" || *w == "env" || w.starts_with('-')))
}

fn resolve(program: &str, dir: &Path) -> Option<PathBuf> {
    if program.contains('/') {
        let path = dir.join(program);
        return path.is_file().then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The first 64 KiB of a file: enough for the ELF header and its program headers.
fn read_head(path: &Path) -> Vec<u8> {
    let mut head = Vec::new();
    if let Ok(file) = fs::File::open(path) {
        let _ = file.take(64 * 1024).read_to_end(&mut head);
    }
    head
}

fn shebang(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|b| *b == b'\n').next()?;
    Some(String::from_utf8_lossy(line).trim().to_owned())
}

/// An ELF executable without a `PT_INTERP` program header (not dynamically linked). Anything
/// that is not a 64-bit ELF file is not called static.
pub(crate) fn is_static(head: &[u8]) -> bool {
    use object::elf::{FileHeader64, PT_INTERP};
    use object::read::elf::{FileHeader, ProgramHeader};
    let Ok(header) = FileHeader64::<object::Endianness>::parse(head) else {
        return false;
    };
    let Ok(endian) = header.endian() else {
        return false;
    };
    match header.program_headers(endian, head) {
        Ok(headers) => !headers.iter().any(|h| h.p_type(endian) == PT_INTERP),
        Err(_) => false,
    }
}

/// libfaketime's spec for a tree started at `start` (real), so that its clock reads the
/// server's: `+OFFSET xRATE`, OFFSET = V(start) − start in seconds.
fn spec(clock: &Clock, start: SystemTime) -> String {
    let snapshot = clock.snapshot();
    let real_now = SystemTime::now();
    let rate = if snapshot.frozen {
        FROZEN_RATE
    } else {
        snapshot.scale
    };
    let since_start = real_now
        .duration_since(start)
        .map_or(0.0, |d| d.as_secs_f64());
    let virtual_at_start = snapshot.now_unix - since_start * rate;
    let offset = virtual_at_start - unix_f64(start);
    format!("{offset:+.6} x{rate}")
}

fn unix_f64(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The server's clock, handed to running programs: the timestamp file, kept up to date by a
/// task that follows the clock's changes, and the refusal of `set` into the past.
pub(crate) struct ServerClock {
    library: PathBuf,
    dir: PathBuf,
    file: PathBuf,
    clock: Clock,
    start: SystemTime,
    follower: Option<tokio::task::JoinHandle<()>>,
    _forward_only: ForwardOnly,
    pids: Vec<u32>,
}

impl ServerClock {
    /// Prepare the timestamp file for programs about to start on `clock`.
    pub(crate) fn prepare(clock: &Clock, library: PathBuf) -> Result<Self, ClockSetupError> {
        let dir = std::env::temp_dir().join(format!(
            "fauxauth-clock-{}-{}",
            std::process::id(),
            fauxauth_server::short_hash(&format!("{:?}", SystemTime::now()))
        ));
        let file = dir.join("faketime.rc");
        let io = |source| ClockSetupError::File {
            path: file.display().to_string(),
            source,
        };
        fs::create_dir_all(&dir).map_err(io)?;
        let this = Self {
            library,
            dir,
            file: file.clone(),
            clock: clock.clone(),
            start: SystemTime::now(),
            follower: None,
            _forward_only: clock.forward_only(),
            pids: Vec::new(),
        };
        this.write().map_err(io)?;
        Ok(this)
    }

    /// The variables that put a program on the server's clock.
    pub(crate) fn environment(&self) -> Vec<(String, String)> {
        [
            ("LD_PRELOAD", self.library.display().to_string()),
            ("FAKETIME_TIMESTAMP_FILE", self.file.display().to_string()),
            ("FAKETIME_NO_CACHE", "1".to_owned()),
            ("FAKETIME_DONT_RESET", "1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The programs have just started (their process ids given): anchor the spec at this
    /// instant, measure their trees' real start and re-anchor on it, and follow the server's
    /// clock from now on.
    pub(crate) async fn started(
        &mut self,
        programs: Vec<(u32, SystemTime)>,
    ) -> std::io::Result<ClockRecord> {
        let spawned: Vec<f64> = programs.iter().map(|(_, t)| unix_f64(*t)).collect();
        self.start = programs
            .iter()
            .map(|(_, t)| *t)
            .min()
            .unwrap_or_else(SystemTime::now);
        self.pids = programs.into_iter().map(|(pid, _)| pid).collect();
        self.write()?;
        let scale = self.clock.snapshot().scale;
        let mut starts = Vec::new();
        for pid in &self.pids {
            if let Some(start) = self.probe(*pid, Some("+0 x0")).await {
                starts.push(start);
            }
        }
        let mut record = ClockRecord {
            scale,
            startup_ms: None,
            initial_skew_secs: None,
            skew_secs: None,
        };
        if !starts.is_empty() && starts.len() == self.pids.len() {
            #[allow(clippy::cast_precision_loss)]
            let mean = starts.iter().sum::<f64>() / starts.len() as f64;
            let startup = starts
                .iter()
                .zip(&spawned)
                .map(|(s, t)| s - t)
                .fold(f64::MIN, f64::max);
            let latest = starts.iter().copied().fold(f64::MIN, f64::max);
            record.startup_ms = Some(startup * 1000.0);
            record.initial_skew_secs = Some((latest - unix_f64(self.start)) * (scale - 1.0));
            if let Ok(d) = std::time::Duration::try_from_secs_f64(mean) {
                self.start = UNIX_EPOCH + d;
                self.write()?;
            }
            if let Some(pid) = self.pids.first() {
                let before = self.clock.now();
                let seen = self.probe(*pid, None).await;
                let after = self.clock.now();
                record.skew_secs = seen.map(|f| [unix_f64(before) - f, unix_f64(after) - f]);
            }
        }
        let mut changes = self.clock.changes();
        let (clock, file, start) = (self.clock.clone(), self.file.clone(), self.start);
        self.follower = Some(tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                if write_atomically(&file, &spec(&clock, start)).is_err() {
                    break;
                }
            }
        }));
        Ok(record)
    }

    /// Run `date` in the tree of `pid` (sharing its start through `FAKETIME_SHARED`), with
    /// `spec` (or the timestamp file), and read the time it prints. `None` if the tree's
    /// shared memory never appeared (the program ended at once) or `date` failed.
    async fn probe(&self, pid: u32, spec: Option<&str>) -> Option<f64> {
        let [shm, _] = shared_memory_files(pid);
        for _ in 0..200 {
            if shm.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let mut date = tokio::process::Command::new("date");
        date.arg("+%s.%N")
            .env("LD_PRELOAD", &self.library)
            .env(
                "FAKETIME_SHARED",
                format!("/faketime_sem_{pid} /faketime_shm_{pid}"),
            )
            .env("FAKETIME_TIMESTAMP_FILE", &self.file)
            .env("FAKETIME_NO_CACHE", "1")
            .env("TZ", "UTC")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(spec) = spec {
            date.env("FAKETIME", spec);
        }
        let out = tokio::time::timeout(std::time::Duration::from_secs(2), date.output())
            .await
            .ok()?
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let value: f64 = text.trim().parse().ok()?;
        // A probe that found no tree makes its own and prints its own start: not the program's.
        shm.exists().then_some(value)
    }

    /// The spec currently in the file.
    pub(crate) fn current_spec(&self) -> String {
        fs::read_to_string(&self.file).unwrap_or_default()
    }

    fn write(&self) -> std::io::Result<()> {
        write_atomically(&self.file, &spec(&self.clock, self.start))
    }
}

impl Drop for ServerClock {
    /// Stop following the clock, remove the timestamp file and the shared-memory files
    /// libfaketime leaves behind for the programs' trees (also when they were killed).
    fn drop(&mut self) {
        if let Some(follower) = self.follower.take() {
            follower.abort();
        }
        let _ = fs::remove_dir_all(&self.dir);
        for pid in &self.pids {
            remove_shared_memory(*pid);
        }
    }
}

/// The files libfaketime creates in `/dev/shm` for a process tree whose first process is `pid`.
pub(crate) fn shared_memory_files(pid: u32) -> [PathBuf; 2] {
    [
        PathBuf::from(format!("/dev/shm/faketime_shm_{pid}")),
        PathBuf::from(format!("/dev/shm/sem.faketime_sem_{pid}")),
    ]
}

fn remove_shared_memory(pid: u32) {
    for file in shared_memory_files(pid) {
        let _ = fs::remove_file(file);
    }
}

/// Replace `file` with `text` in one step (write a sibling, rename), so that a program
/// reading it on every clock call never sees it half-written.
fn write_atomically(file: &Path, text: &str) -> std::io::Result<()> {
    let tmp = file.with_extension("tmp");
    fs::write(&tmp, format!("{text}\n"))?;
    fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_puts_the_program_on_the_server_time() {
        let start = SystemTime::now();
        let clock = Clock::frozen_at(UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000));
        let spec = spec(&clock, start);
        let (offset, rate) = spec.split_once(" x").expect("two parts");
        let offset: f64 = offset.parse().expect("a number");
        assert!((unix_f64(start) + offset - 2_000_000_000.0).abs() < 1.0);
        assert_eq!(rate, FROZEN_RATE.to_string());
        assert!(
            !spec.contains(['m', 'h', 'd', 'y']),
            "libfaketime reads those as units"
        );
    }

    #[test]
    fn static_and_dynamic_executables_are_told_apart() {
        let sh = read_head(Path::new("/bin/sh"));
        assert!(!sh.is_empty(), "/bin/sh is readable");
        assert!(!is_static(&sh), "/bin/sh is dynamically linked");
        assert!(
            !is_static(b"#!/bin/sh\necho hi\n"),
            "a script is not an ELF file"
        );
    }

    #[test]
    fn too_fast_a_scale_is_refused() {
        assert!(check_scale(MAX_SCALE).is_ok());
        let e = check_scale(3600.0).expect_err("too fast");
        assert!(e.to_string().contains("at most 600"), "{e}");
    }
}
