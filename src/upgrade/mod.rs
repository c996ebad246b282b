//! Kafka version upgrades and downgrades, pure: the supported releases ([`releases`]) and the
//! upgrade planner ([`plan`]). Changing `spec.version` rolls every node to the new image
//! (controllers first, through the roll planner and its Kafka gates); once every node runs the
//! new release and the roll is healthy, `metadata.version` is finalised with UpdateFeatures.
//! The I/O side is `controller/upgrade.rs`; see `docs/operations.md` (Upgrades).

pub mod plan;
pub mod releases;
pub mod view;

pub use plan::{Input, NodeVersion, Refusal, Step, UpgradeDecision, admit, plan};
pub use releases::{Release, find};
