//! Partition rebalancing and broker drain, pure: the planner ([`plan`]) and the progress of an
//! operation derived from Kafka's state ([`progress`]). The I/O side is `controller/rebalance.rs`;
//! see `docs/operations.md`.

pub mod plan;
pub mod progress;

pub use plan::{Assignment, Input, Move, Plan, Refusal, balance, drain};

#[cfg(test)]
mod tests;
