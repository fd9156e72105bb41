//! Server configuration: what the YAML file says, its defaults, and its validation.
//!
//! Every key is documented in `docs/CONFIG.md`. Loading a file reports problems as
//! `file:line:column: what is wrong — what to change`.
//!
//! Split by job: [`types`] (the configuration's types and defaults), [`builtin`] (the built-in
//! clients), [`validate`] (the rules), [`load`] (reading a file, with positions in errors).

mod builtin;
mod load;
mod types;
mod validate;

pub use crate::base::duration::{DurationValue, parse_duration};
pub use crate::base::policy::{PkceMethod, RedirectMatching};
pub use builtin::*;
pub use load::ConfigError;
pub use types::*;
pub use validate::{MAX_LIFETIME, MAX_READ_TIMEOUT};

#[cfg(test)]
mod tests;
