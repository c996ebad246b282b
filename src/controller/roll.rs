//! Rolling restarts: the bridge between the pure roll planner and the cluster. Called once per
//! reconcile after the desired objects are applied.

use k8s_openapi::api::core::v1::Pod;

use super::Context;
use crate::crd::KafkaCluster;
use crate::error::Result;
use crate::validate::ValidatedCluster;

/// What the roll did in this pass, for the status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RollOutcome {}

/// Advances the rollout by at most one step. `desired` are the pods as built now (their
/// `kraftwerk.dev/config-hash` annotation is the target), `observed` the pods as they are.
pub async fn advance(
    _ctx: &Context,
    _cr: &KafkaCluster,
    _cluster: &ValidatedCluster,
    _desired: &[&Pod],
    _observed: &[Pod],
) -> Result<RollOutcome> {
    Ok(RollOutcome::default())
}
