//! Scheduling fields of a node's pod: the pool template's native fields combined with the
//! DC/OS-style placement constraints, or the evaluation default when the pool has none.
//! The semantics of each constraint are in `docs/placement.md`.

use k8s_openapi::api::core::v1::PodSpec;

use crate::labels;
use crate::names::Role;
use crate::placement::{self, PodScheduling, PoolContext};
use crate::validate::ValidatedCluster;

/// Sets the scheduling fields of node `id`'s pod; returns warnings for the status.
pub fn apply(cluster: &ValidatedCluster, role: Role, id: i32, spec: &mut PodSpec) -> Vec<String> {
    let pool = cluster.pool(role);
    let template = &pool.template;
    let selector = labels::pool_selector(&cluster.names.cluster, role);
    let translated = match &pool.constraints {
        Some(constraints) => placement::translate(
            constraints,
            &PoolContext {
                selector: &selector,
                node_ids: &pool.ids,
                nodes: &cluster.nodes,
            },
            id,
        ),
        // Native affinity means the user chose the placement; the default would only add to it.
        None if template.affinity.is_some() || !template.topology_spread_constraints.is_empty() => {
            placement::Scheduling::default()
        }
        None => placement::default_scheduling(&selector),
    };
    let native = PodScheduling {
        node_selector: template.node_selector.clone(),
        tolerations: template.tolerations.clone(),
        affinity: template.affinity.clone(),
        topology_spread_constraints: template.topology_spread_constraints.clone(),
    };
    let merged = placement::merge(native, translated);
    merged.scheduling.apply_to(spec);
    merged.warnings
}
