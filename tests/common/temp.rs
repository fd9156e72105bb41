//! Temporary directories for tests: a fresh directory per call, removed when dropped.
//!
//! One file shared by the root test binary (`tests/it`) and the server's (`server/tests/it`)
//! through `#[path]`, so neither keeps a private copy.

#![allow(dead_code)] // not every test binary uses every helper

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh directory under the system's temporary directory, removed (with its contents) on drop.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create `<tmp>/fauxauth-<tag>-<pid>-<n>-<nanos>`; the name is unique in this process and
    /// the directory did not exist before (`create_dir`, not `create_dir_all`).
    pub(crate) fn new(tag: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        loop {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = std::env::temp_dir().join(format!(
                "fauxauth-{tag}-{}-{}-{nanos}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => return Self { path },
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("create temp dir {}: {e}", path.display()),
            }
        }
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory (nothing is created).
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Write `text` to `name` inside the directory and return its path.
    pub(crate) fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, text)
            .unwrap_or_else(|e| panic!("write temp file {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// A file holding given text, alone in a fresh [`TempDir`] (removed with it on drop).
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
    _dir: TempDir,
}

impl TempFile {
    /// Write `text` to a file called `name` in a fresh temporary directory.
    pub(crate) fn new(name: &str, text: &str) -> Self {
        let dir = TempDir::new("file");
        Self {
            path: dir.file(name, text),
            _dir: dir,
        }
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file's path as text, for command-line arguments (temporary paths are UTF-8 here).
    pub(crate) fn as_str(&self) -> &str {
        self.path.to_str().expect("UTF-8 temp path")
    }
}
