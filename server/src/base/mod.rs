//! The base layer: pure values and rules that everything else builds on — configuration,
//! the one clock, the duration grammar, policy rules, YAML positions, randomness and hashing.
//! Nothing here imports from a higher layer.

pub mod clock;
pub mod config;
pub mod duration;
pub(crate) mod policy;
pub(crate) mod random;
pub mod yaml;
