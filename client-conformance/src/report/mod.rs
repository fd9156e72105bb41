//! Reports of a run: [`terminal`] (like `cargo test`), [`json`], and [`junit`] XML.

pub mod json;
pub mod junit;
pub mod terminal;
