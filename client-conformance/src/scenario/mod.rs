//! Scenario files: the [`model`], reading a file with positions (`file`: [`load_file`],
//! [`load_str`]), running (`run`: [`run_paths`], [`run_scenario`]), judging (`expect`), and
//! what a run leaves behind ([`records`]).
//!
//! Imports point down only: `run` drives the client and the server through `control_plane`
//! (the scenario's control-plane adapter) and hands external programs to the `external` module;
//! `expect` judges [`records`] and [`observed`] events; `file` and `client_config` read the
//! [`model`].

pub(crate) mod client_config;
pub(crate) mod control_plane;
pub(crate) mod expect;
pub(crate) mod file;
pub mod model;
pub mod observed;
pub mod records;
pub(crate) mod run;

pub use file::{ScenarioFileError, load_file, load_str};
pub use model::{Scenario, schema_json};
pub use records::{CallRecord, Failure, MetExpectation, RunReport, ScenarioResult, StepRecord};
pub use run::{RunOptions, run_paths, run_paths_with, run_scenario};
