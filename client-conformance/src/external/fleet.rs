//! Fleets, spawn side: `instances: N` copies of the program, each with `FAUXAUTH_INSTANCE`
//! (0..N-1) and a `FAUXAUTH_HOME` state directory, shared by all (default) or one per copy
//! (`shared_home: false`); every copy started, timed out and reaped the same way (see
//! `spawn.rs`, and `launch.rs` for the order). Per-copy outcomes are data for the judge.

use std::fs;
use std::path::PathBuf;
use std::time::SystemTime;

use super::judge::keep_tail;
use super::spawn::{Exit, Outcome};
use crate::scenario::observed::unix_ms;
use crate::scenario::records::{InstanceExit, InstanceRecord};

/// The most copies a scenario may start.
pub(crate) const MAX_INSTANCES: u32 = 64;

/// What one copy did.
#[derive(Debug)]
pub(crate) struct InstanceOutcome {
    /// Its `FAUXAUTH_INSTANCE`.
    pub(crate) instance: u32,
    /// How it ended and what it printed.
    pub(crate) outcome: Outcome,
    /// The real instant it was spawned.
    pub(crate) started: SystemTime,
    /// The real instant it was seen to end.
    pub(crate) ended: SystemTime,
}

/// The fleet's state directories, removed when dropped.
pub(crate) struct Homes {
    root: PathBuf,
    shared: bool,
}

impl Homes {
    /// Create the state directories for `count` copies (one shared, or one each).
    pub(crate) fn create(count: u32, shared: bool) -> std::io::Result<Self> {
        let root = std::env::temp_dir().join(format!(
            "fauxauth-home-{}-{}",
            std::process::id(),
            fauxauth_server::short_hash(&format!("{:?}", std::time::SystemTime::now()))
        ));
        let homes = Self { root, shared };
        for i in 0..count {
            fs::create_dir_all(homes.home(i))?;
        }
        Ok(homes)
    }

    /// Whether every copy has the same home.
    pub(crate) fn shared(&self) -> bool {
        self.shared
    }

    /// The `FAUXAUTH_HOME` of copy `instance`.
    pub(crate) fn home(&self, instance: u32) -> PathBuf {
        if self.shared {
            self.root.join("shared")
        } else {
            self.root.join(format!("instance-{instance}"))
        }
    }

    /// The variables that tell copy `instance` who it is.
    pub(crate) fn environment(&self, instance: u32) -> Vec<(String, String)> {
        vec![
            ("FAUXAUTH_INSTANCE".to_owned(), instance.to_string()),
            (
                "FAUXAUTH_HOME".to_owned(),
                self.home(instance).display().to_string(),
            ),
        ]
    }

    /// The root folder (for tests).
    #[cfg(test)]
    pub(crate) fn root(&self) -> &std::path::Path {
        &self.root
    }
}

impl Drop for Homes {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// The per-copy records of a fleet (empty for a single program, whose outcome is the run's),
/// each output's tail kept to `limit` bytes.
pub(crate) fn records(instances: &[InstanceOutcome], limit: usize) -> Vec<InstanceRecord> {
    if instances.len() < 2 {
        return Vec::new();
    }
    instances
        .iter()
        .map(|o| InstanceRecord {
            instance: usize::try_from(o.instance).unwrap_or(usize::MAX),
            exit: match &o.outcome.exit {
                Exit::Code(Some(code)) => InstanceExit::Code(*code),
                Exit::Code(None) => InstanceExit::Signal,
                Exit::TimedOut => InstanceExit::TimedOut,
                Exit::WaitFailed(e) => InstanceExit::WaitFailed(e.to_string()),
            },
            output: keep_tail(&o.outcome.output, limit),
            real_start_ms: unix_ms(o.started),
            real_end_ms: unix_ms(o.ended),
        })
        .collect()
}

/// One outcome for the run: a single copy's own; for a fleet, the first copy that did
/// not exit 0 (else the first), with every copy's output under an `=== instance N ===` line.
pub(crate) fn combined(instances: &[InstanceOutcome]) -> Outcome {
    let exit = |o: &InstanceOutcome| match &o.outcome.exit {
        Exit::Code(c) => Exit::Code(*c),
        Exit::TimedOut => Exit::TimedOut,
        Exit::WaitFailed(e) => Exit::WaitFailed(std::io::Error::new(e.kind(), e.to_string())),
    };
    match instances {
        [] => Outcome {
            exit: Exit::Code(Some(0)),
            output: String::new(),
        },
        [one] => Outcome {
            exit: exit(one),
            output: one.outcome.output.clone(),
        },
        many => {
            let worst = many
                .iter()
                .find(|o| !matches!(o.outcome.exit, Exit::Code(Some(0))))
                .unwrap_or(&many[0]);
            let output = many
                .iter()
                .map(|o| format!("=== instance {} ===\n{}", o.instance, o.outcome.output))
                .collect::<Vec<_>>()
                .join("\n");
            Outcome {
                exit: exit(worst),
                output,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homes_are_shared_or_one_each_and_removed_afterwards() {
        let shared = Homes::create(3, true).expect("temp dir");
        assert_eq!(shared.home(0), shared.home(2));
        assert!(shared.home(1).is_dir());
        let own = Homes::create(3, false).expect("temp dir");
        assert_ne!(own.home(0), own.home(1));
        assert!((0..3).all(|i| own.home(i).is_dir()));
        let root = own.root().to_owned();
        drop(own);
        assert!(!root.exists());
    }

    #[test]
    fn a_fleet_is_judged_by_its_first_failing_copy() {
        let copy = |instance, code| InstanceOutcome {
            instance,
            outcome: Outcome {
                exit: Exit::Code(Some(code)),
                output: format!("copy {instance}"),
            },
            started: SystemTime::UNIX_EPOCH,
            ended: SystemTime::UNIX_EPOCH,
        };
        let copies = [copy(0, 0), copy(1, 3), copy(2, 0)];
        let fleet = combined(&copies);
        assert!(matches!(fleet.exit, Exit::Code(Some(3))));
        assert!(fleet.output.contains("=== instance 2 ===\ncopy 2"));
        let records = records(&copies, 4);
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].exit, InstanceExit::Code(3));
        assert_eq!(records[1].output, "…py 1", "the tail kept");
        assert!(
            super::records(&copies[..1], 4).is_empty(),
            "one copy: no fleet"
        );
    }
}
