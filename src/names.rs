//! Deterministic names of everything the operator creates. A name is a pure function of the
//! cluster name, the role and the node id, so a restarted operator finds what it made before.

use std::fmt;

/// The two kinds of Kafka node the operator runs.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Controller,
    Broker,
}

impl Role {
    /// `broker` or `controller`, as used in names, labels and `process.roles`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Controller => "controller",
            Role::Broker => "broker",
        }
    }

    /// Parses the label value written by [`Role::as_str`].
    pub fn from_label(value: &str) -> Option<Role> {
        match value {
            "controller" => Some(Role::Controller),
            "broker" => Some(Role::Broker),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Controller node ids start here, so they never collide with broker ids 0..N-1.
pub const CONTROLLER_ID_BASE: i32 = 9000;

/// The Kafka node id of the `index`-th member of a pool.
pub fn node_id(role: Role, index: i32) -> i32 {
    match role {
        Role::Controller => CONTROLLER_ID_BASE + index,
        Role::Broker => index,
    }
}

/// The role a node id belongs to.
pub fn role_of_node_id(id: i32) -> Role {
    if id >= CONTROLLER_ID_BASE {
        Role::Controller
    } else {
        Role::Broker
    }
}

/// Names derived from one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNames {
    pub cluster: String,
    pub namespace: String,
    pub cluster_domain: String,
}

impl ClusterNames {
    pub fn new(cluster: &str, namespace: &str, cluster_domain: &str) -> Self {
        Self {
            cluster: cluster.into(),
            namespace: namespace.into(),
            cluster_domain: cluster_domain.into(),
        }
    }

    /// The headless Service that gives every node a DNS name.
    pub fn headless_service(&self) -> String {
        format!("{}-kafka-headless", self.cluster)
    }

    /// The ClusterIP Service clients bootstrap from (the DC/OS "VIP").
    pub fn bootstrap_service(&self) -> String {
        format!("{}-kafka-bootstrap", self.cluster)
    }

    /// The bootstrap Service of the external (`nodeport`, `loadbalancer`) listeners.
    pub fn external_bootstrap_service(&self) -> String {
        format!("{}-kafka-external", self.cluster)
    }

    /// The Service of one broker's external listeners: the broker's pod name.
    pub fn broker_service(&self, id: i32) -> String {
        self.pod(Role::Broker, id)
    }

    /// The cluster's NetworkPolicy.
    pub fn network_policy(&self) -> String {
        format!("{}-kafka", self.cluster)
    }

    /// `<cluster>-broker-<id>` or `<cluster>-controller-<id>`; also the per-node ConfigMap's name.
    pub fn pod(&self, role: Role, id: i32) -> String {
        format!("{}-{}-{}", self.cluster, role, id)
    }

    /// The data volume claim of a node.
    pub fn pvc(&self, role: Role, id: i32) -> String {
        format!("data-{}", self.pod(role, id))
    }

    /// The disruption budget of a pool.
    pub fn pdb(&self, role: Role) -> String {
        format!("{}-{}s", self.cluster, role)
    }

    /// The stable DNS name of a node: `<pod>.<headless>.<ns>.svc.<domain>`.
    pub fn node_fqdn(&self, role: Role, id: i32) -> String {
        format!(
            "{}.{}.{}.svc.{}",
            self.pod(role, id),
            self.headless_service(),
            self.namespace,
            self.cluster_domain
        )
    }

    /// The Secret of the operator's cluster CA (certificate and key; never mounted).
    pub fn ca_secret(&self) -> String {
        format!("{}-cluster-ca", self.cluster)
    }

    /// The Secret of the trust bundle (`ca.crt`: the CA certificates clients and nodes trust).
    pub fn ca_cert_secret(&self) -> String {
        format!("{}-cluster-ca-cert", self.cluster)
    }

    /// The Secret of a node's certificate and key.
    pub fn node_tls_secret(&self, role: Role, id: i32) -> String {
        format!("{}-tls", self.pod(role, id))
    }

    /// The Secret of the operator's client certificate for this cluster.
    pub fn operator_tls_secret(&self) -> String {
        format!("{}-operator-tls", self.cluster)
    }

    /// The bootstrap Service's DNS name.
    pub fn bootstrap_fqdn(&self) -> String {
        format!(
            "{}.{}.svc.{}",
            self.bootstrap_service(),
            self.namespace,
            self.cluster_domain
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_scheme() {
        let n = ClusterNames::new("demo", "kafka", "cluster.local");
        assert_eq!(n.pod(Role::Broker, 2), "demo-broker-2");
        assert_eq!(n.pod(Role::Controller, 9001), "demo-controller-9001");
        assert_eq!(n.pvc(Role::Broker, 0), "data-demo-broker-0");
        assert_eq!(n.pdb(Role::Controller), "demo-controllers");
        assert_eq!(
            n.node_fqdn(Role::Broker, 1),
            "demo-broker-1.demo-kafka-headless.kafka.svc.cluster.local"
        );
        assert_eq!(n.bootstrap_fqdn(), "demo-kafka-bootstrap.kafka.svc.cluster.local");
    }

    #[test]
    fn controller_ids_are_disjoint_from_broker_ids() {
        assert_eq!(node_id(Role::Broker, 0), 0);
        assert_eq!(node_id(Role::Controller, 0), 9000);
        assert_eq!(role_of_node_id(8999), Role::Broker);
        assert_eq!(role_of_node_id(9004), Role::Controller);
    }
}
