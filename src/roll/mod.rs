//! Rolling updates, pure: the planner's input built from observed objects ([`view`]), the roll
//! planner ([`plan`]), the Kafka safety gates ([`gates`]) and the dynamic broker configuration
//! table ([`dynamic`]). The I/O side is `controller/roll.rs`; see `docs/rolling.md`.

pub mod dynamic;
pub mod gates;
pub mod plan;
pub mod view;

pub use gates::KafkaState;
pub use plan::{
    Action, Controls, Decision, KafkaView, NodeView, PodState, Step, StepState, Update, plan, plan_skipping,
};
pub use view::{Record, Target, Views};
