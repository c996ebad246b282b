//! Redeployment after outages, decided from observed state only: which nodes are replaced
//! (a new volume and a fresh placement) on request or because their placement is violated
//! ([`replace`]). The roll carries replaces out through its safety gates (`controller/roll.rs`).

pub mod node_loss;
pub mod replace;
pub mod view;
