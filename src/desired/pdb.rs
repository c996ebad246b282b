//! A PodDisruptionBudget per pool: voluntary disruptions (drains) take one node of a pool at a time.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta;
use crate::labels;
use crate::names::Role;
use crate::validate::ValidatedCluster;

pub fn pool_budget(
    cluster: &ValidatedCluster,
    role: Role,
    owner: Option<&OwnerReference>,
) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(
            cluster.names.pdb(role),
            cluster,
            labels::pool_labels(&cluster.names.cluster, role),
            owner,
        ),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(labels::pool_selector(&cluster.names.cluster, role)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    }
}
