//! Labels (annotation keys are in [`crate::annotations`]). Every object carries the `app.kubernetes.io/*` recommended labels plus
//! `kraftwerk.dev/cluster`, which is what pruning and isolation select on.

use std::collections::BTreeMap;

use crate::names::Role;

pub const NAME: &str = "app.kubernetes.io/name";
pub const INSTANCE: &str = "app.kubernetes.io/instance";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const VERSION: &str = "app.kubernetes.io/version";
/// The prefix of the operator's own labels (and annotation keys): users may not set labels under it.
pub const OPERATOR_PREFIX: &str = "kraftwerk.dev/";
pub const CLUSTER: &str = "kraftwerk.dev/cluster";
pub const ROLE: &str = "kraftwerk.dev/role";
pub const NODE_ID: &str = "kraftwerk.dev/node-id";
/// On a KafkaUser's credentials Secret: the user's name.
pub const KAFKA_USER: &str = "kraftwerk.dev/kafka-user";

pub const MANAGER: &str = "kraftwerk";

/// Labels on every object of a cluster.
pub fn cluster_labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME.to_string(), "kafka".to_string()),
        (INSTANCE.to_string(), cluster.to_string()),
        (MANAGED_BY.to_string(), MANAGER.to_string()),
        (CLUSTER.to_string(), cluster.to_string()),
    ])
}

/// Labels on the objects of one pool.
pub fn pool_labels(cluster: &str, role: Role) -> BTreeMap<String, String> {
    let mut labels = cluster_labels(cluster);
    labels.insert(COMPONENT.to_string(), role.as_str().to_string());
    labels.insert(ROLE.to_string(), role.as_str().to_string());
    labels
}

/// The prefix of the labels naming the host ports a `hostNetwork` pod takes
/// (`hostport.kraftwerk.dev/<port>: "true"`): pods of every cluster taking the same port are
/// kept on different nodes by anti-affinity on this label.
pub const HOST_PORT_PREFIX: &str = "hostport.kraftwerk.dev/";

/// The label of a host port a pod takes.
pub fn host_port(port: i32) -> String {
    format!("{HOST_PORT_PREFIX}{port}")
}

/// Labels on the objects of one node.
pub fn node_labels(cluster: &str, role: Role, id: i32) -> BTreeMap<String, String> {
    let mut labels = pool_labels(cluster, role);
    labels.insert(NODE_ID.to_string(), id.to_string());
    labels
}

/// The selector matching every pod of a cluster (and nothing of another cluster).
pub fn cluster_selector(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (CLUSTER.to_string(), cluster.to_string()),
        (MANAGED_BY.to_string(), MANAGER.to_string()),
    ])
}

/// The selector matching the pods of one pool.
pub fn pool_selector(cluster: &str, role: Role) -> BTreeMap<String, String> {
    let mut s = cluster_selector(cluster);
    s.insert(ROLE.to_string(), role.as_str().to_string());
    s
}

/// A selector map as a label-selector string, e.g. for list calls and `status.selector`.
pub fn selector_string(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
