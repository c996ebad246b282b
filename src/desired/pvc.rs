//! One PersistentVolumeClaim per node. The claim is owned by the KafkaCluster only when
//! `storage.deleteClaim` is true; otherwise it outlives the cluster and a recreated cluster of the
//! same name adopts it (and its cluster id, recorded as an annotation).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::meta;
use crate::annotations;
use crate::labels;
use crate::names::Role;
use crate::quorum::QuorumMode;
use crate::validate::ValidatedCluster;

pub fn node_claim(
    cluster: &ValidatedCluster,
    role: Role,
    id: i32,
    owner: Option<&OwnerReference>,
) -> PersistentVolumeClaim {
    let storage = &cluster.pool(role).storage;
    let owner = if storage.delete_claim { owner } else { None };
    let mut metadata = meta(
        cluster.names.pvc(role, id),
        cluster,
        labels::node_labels(&cluster.names.cluster, role, id),
        owner,
    );
    let mut claim_annotations =
        BTreeMap::from([(annotations::CLUSTER_ID.to_string(), cluster.cluster_id.clone())]);
    if role == Role::Controller && cluster.quorum.mode == QuorumMode::Dynamic {
        claim_annotations.insert(annotations::QUORUM.into(), QuorumMode::Dynamic.as_str().into());
    }
    metadata.annotations = Some(claim_annotations);
    PersistentVolumeClaim {
        metadata,
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(storage.size.clone()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    }
}
