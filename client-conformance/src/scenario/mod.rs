//! Scenario files: the [`model`], [`load`]ing with positions, [`run`]ning, and judging
//! ([`expect`]).

pub mod expect;
pub mod load;
pub mod model;
pub mod observed;
pub mod run;
pub(crate) mod server_glue;

pub use load::{LoadError, load_file, load_str};
pub use model::{Scenario, schema_json};
pub use run::{RunOptions, RunReport, ScenarioResult, run_paths, run_paths_with, run_scenario};
