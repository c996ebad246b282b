//! Scheduling fields of a node's pod: the pool template's native fields combined with the
//! DC/OS-style placement constraints, or the evaluation default when neither is given.

use k8s_openapi::api::core::v1::PodSpec;

use crate::names::Role;
use crate::validate::ValidatedCluster;

pub fn apply(cluster: &ValidatedCluster, role: Role, _id: i32, spec: &mut PodSpec) {
    let template = &cluster.pool(role).template;
    spec.node_selector = (!template.node_selector.is_empty()).then(|| template.node_selector.clone());
    spec.tolerations = (!template.tolerations.is_empty()).then(|| template.tolerations.clone());
    spec.affinity = template.affinity.clone();
    spec.topology_spread_constraints = (!template.topology_spread_constraints.is_empty())
        .then(|| template.topology_spread_constraints.clone());
}
