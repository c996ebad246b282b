//! `server.properties` of each node. The operator owns the wiring keys (ids, roles, listeners,
//! quorum, directories); evaluation defaults come next; user overrides win over defaults.

use std::collections::BTreeMap;

use crate::durability;
use crate::names::Role;
use crate::quorum::QuorumMode;
use crate::validate::ValidatedCluster;

/// Where the data volume is mounted in every Kafka container.
pub const DATA_MOUNT: &str = "/var/lib/kafka/data";
/// A subdirectory of the volume, so a filesystem's `lost+found` never sits in the log dir.
pub const LOG_DIR: &str = "/var/lib/kafka/data/kafka-log";
/// The name of the controller listener.
pub const CONTROLLER_LISTENER: &str = "CONTROLLER";

/// The dynamic quorum's discovery list: the running controllers.
pub const BOOTSTRAP_SERVERS: &str = "controller.quorum.bootstrap.servers";
/// The static quorum's voter list.
pub const VOTERS: &str = "controller.quorum.voters";
/// Keys left out of the config hash: a node only needs some reachable controllers in
/// [`BOOTSTRAP_SERVERS`] to find the quorum, so a controller scale change rewrites the
/// ConfigMaps (read at the next start) without restarting every node.
pub const NOT_HASHED: &[&str] = &[BOOTSTRAP_SERVERS];

/// The quorum key and its value: `id@host:port` voters (static) or `host:port` controllers.
fn quorum_property(cluster: &ValidatedCluster) -> (String, String) {
    let names = &cluster.names;
    let port = cluster.controller_port;
    let fqdn = |c: i32| names.node_fqdn(Role::Controller, c);
    let ids = cluster.controllers.ids.iter().copied();
    match cluster.quorum.mode {
        QuorumMode::Static => (
            VOTERS.into(),
            ids.map(|c| format!("{c}@{}:{port}", fqdn(c)))
                .collect::<Vec<_>>()
                .join(","),
        ),
        QuorumMode::Dynamic => (
            BOOTSTRAP_SERVERS.into(),
            ids.map(|c| format!("{}:{port}", fqdn(c)))
                .collect::<Vec<_>>()
                .join(","),
        ),
    }
}

/// The properties of one node, in a stable order, as `(key, value)` pairs.
pub fn node_properties(cluster: &ValidatedCluster, role: Role, id: i32) -> Vec<(String, String)> {
    let names = &cluster.names;
    let internal_tls = cluster.tls.as_ref().is_some_and(|t| t.internal);
    let controller_protocol = if internal_tls { "SSL" } else { "PLAINTEXT" };
    let mut protocol_map = vec![format!("{CONTROLLER_LISTENER}:{controller_protocol}")];
    protocol_map.extend(
        cluster
            .listeners
            .iter()
            .map(|l| format!("{}:{}", l.name, l.protocol)),
    );

    let mut owned: Vec<(String, String)> = vec![
        ("process.roles".into(), role.as_str().into()),
        ("node.id".into(), id.to_string()),
        quorum_property(cluster),
        ("controller.listener.names".into(), CONTROLLER_LISTENER.into()),
        ("listener.security.protocol.map".into(), protocol_map.join(",")),
        ("log.dirs".into(), LOG_DIR.into()),
    ];
    match role {
        Role::Controller => {
            owned.push((
                "listeners".into(),
                format!("{CONTROLLER_LISTENER}://0.0.0.0:{}", cluster.controller_port),
            ));
            // Under internal TLS the voters' endpoints must be the DNS names the certificates
            // carry: a controller otherwise advertises whatever its host name resolves to.
            if internal_tls {
                owned.push((
                    "advertised.listeners".into(),
                    format!(
                        "{CONTROLLER_LISTENER}://{}:{}",
                        names.node_fqdn(Role::Controller, id),
                        cluster.controller_port
                    ),
                ));
            }
        }
        Role::Broker => {
            let bind = cluster
                .listeners
                .iter()
                .map(|l| format!("{}://0.0.0.0:{}", l.name, l.port));
            // Addresses known from the spec; the others are appended by the start script
            // from the pod's annotation (see `crate::listeners`).
            let advertised =
                cluster
                    .listeners
                    .iter()
                    .filter_map(|l| match crate::listeners::source(cluster, id, l) {
                        crate::listeners::Source::Static { host, port } => {
                            Some(format!("{}://{host}:{port}", l.name))
                        }
                        crate::listeners::Source::Runtime => None,
                    });
            owned.push(("listeners".into(), bind.collect::<Vec<_>>().join(",")));
            owned.push((
                "advertised.listeners".into(),
                advertised.collect::<Vec<_>>().join(","),
            ));
            owned.push((
                "inter.broker.listener.name".into(),
                cluster.inter_broker_listener.clone(),
            ));
        }
    }

    owned.extend(crate::tls::node_properties(cluster, role));
    owned.extend(crate::auth::node_properties(cluster, role));

    let mut tunable: BTreeMap<String, String> = defaults(cluster, role);
    tunable.extend(cluster.pool(role).overrides.clone());
    owned.extend(tunable);
    owned
}

/// Evaluation-ready defaults: replication that survives one broker loss once there are three
/// brokers, and nothing that only works on one node. Each can be overridden. Controllers get
/// the keys they read themselves (see [`durability::CONTROLLER_KEYS`]): without them a topic
/// created without a replication factor gets Kafka's default 1, and a new cluster records a
/// cluster-level `min.insync.replicas` of 1.
fn defaults(cluster: &ValidatedCluster, role: Role) -> BTreeMap<String, String> {
    let mut d = durability::defaults(cluster.brokers.replicas);
    if role == Role::Controller {
        d.retain(|k, _| durability::CONTROLLER_KEYS.contains(&k.as_str()));
    }
    d
}

/// Renders properties as file text with a header naming the node.
pub fn render(cluster: &ValidatedCluster, role: Role, id: i32) -> String {
    render_text(cluster, role, id, &node_properties(cluster, role, id))
}

/// The file text of already computed properties.
pub fn render_text(
    cluster: &ValidatedCluster,
    role: Role,
    id: i32,
    properties: &[(String, String)],
) -> String {
    let mut out = format!(
        "# {} node {id} of KafkaCluster {}/{}, rendered by kraftwerk. Edit the KafkaCluster, not this file.\n",
        role, cluster.names.namespace, cluster.names.cluster
    );
    for (k, v) in properties {
        out.push_str(k);
        out.push('=');
        out.push_str(&escape(v));
        out.push('\n');
    }
    out
}

/// Java properties escaping for values (see [`super::java_properties::escape`]).
pub fn escape(value: &str) -> String {
    super::java_properties::escape(value)
}
