//! The test instrument: fault injection, the event log, the approval mode, the shared server
//! state and the one control plane. It builds on the domain and base layers and on profiles.

pub(crate) mod approval;
pub(crate) mod connection;
pub(crate) mod control;
pub(crate) mod events;
pub(crate) mod faults;
pub(crate) mod state;
