//! One ConfigMap per node holding its `server.properties`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::meta;
use crate::labels;
use crate::names::Role;
use crate::validate::ValidatedCluster;

/// The ConfigMap key (and file name) of a node's configuration.
pub const SERVER_PROPERTIES: &str = "server.properties";

pub fn node_config(
    cluster: &ValidatedCluster,
    role: Role,
    id: i32,
    text: &str,
    owner: Option<&OwnerReference>,
) -> ConfigMap {
    ConfigMap {
        metadata: meta(
            cluster.names.pod(role, id),
            cluster,
            labels::node_labels(&cluster.names.cluster, role, id),
            owner,
        ),
        data: Some(BTreeMap::from([(
            SERVER_PROPERTIES.to_string(),
            text.to_string(),
        )])),
        ..Default::default()
    }
}
