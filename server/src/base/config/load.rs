//! Reading a configuration file: parse, validate, and report problems as
//! `file:line:column: what is wrong — what to change`.

use std::path::{Path, PathBuf};

use super::types::ServerConfig;
use crate::base::yaml::{self, FieldPath, PathIssue, YamlError};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read the config file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid, with position.
    #[error(transparent)]
    Invalid(#[from] YamlError),
    /// A configuration built in code is not valid.
    #[error("invalid configuration: {0}")]
    Rule(PathIssue),
}

impl ServerConfig {
    /// Read, parse and validate a YAML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let origin = path.display().to_string();
        let text = yaml::utf8_text(bytes, &origin)?;
        Self::from_yaml(&text, &origin)
    }

    /// Parse and validate YAML text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Self = if text.trim().is_empty() {
            Self::default()
        } else {
            yaml::parse(text, origin)?
        };
        if let Some(issue) = config.validate().into_iter().next() {
            return Err(yaml::locate(text, origin, &issue).into());
        }
        // The key file is read at start; a missing or unreadable one is named here, at its
        // line, rather than later without a position.
        if let Some(path) = &config.signing_key_file
            && let Err(e) = std::fs::File::open(path)
        {
            let issue = PathIssue::new(
                FieldPath::root().key("signing_key_file"),
                format!("cannot read {}: {e}", path.display()),
            );
            return Err(yaml::locate(text, origin, &issue).into());
        }
        Ok(config)
    }
}
