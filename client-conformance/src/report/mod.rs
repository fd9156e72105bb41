//! Reports of a run: [`terminal`] (like `cargo test`), [`json`], [`junit`] XML, and a
//! self-contained [`html`] page with a timeline per scenario.

pub mod html;
pub mod json;
pub mod junit;
pub mod terminal;
