//! TLS of a cluster: the settings validation derives from the spec, the certificates the
//! operator issues (pure: [`issue`]), and the planner deciding what to issue or renew when
//! ([`plan`]). The executor that reads and writes the Secrets is `controller::tls`.

use crate::crd::KafkaClusterSpec;

/// The reserved listener of internal TLS: inter-broker traffic and the operator's own admin
/// connections, TLS with client certificates of the cluster CA.
pub const REPLICATION_LISTENER: &str = "REPLICATION";
/// Its port.
pub const REPLICATION_PORT: i32 = 9091;

/// Default validity of a generated cluster CA (five years).
pub const DEFAULT_CA_VALIDITY_DAYS: u32 = 1825;
/// Default validity of a node certificate.
pub const DEFAULT_CERT_VALIDITY_DAYS: u32 = 365;
/// Default renewal margin of both.
pub const DEFAULT_RENEW_BEFORE_DAYS: u32 = 30;

/// The cluster's TLS after defaults: present when any listener uses TLS or internal TLS is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// Internal TLS: CONTROLLER and REPLICATION listeners with mutual TLS.
    pub internal: bool,
    /// The user's CA Secret; None: the operator's generated CA.
    pub ca_secret: Option<String>,
    pub ca_validity_days: u32,
    pub ca_renew_before_days: u32,
    pub cert_validity_days: u32,
    pub cert_renew_before_days: u32,
}

/// Whether internal TLS is on in `spec`.
pub fn internal_enabled(spec: &KafkaClusterSpec) -> bool {
    spec.security
        .as_ref()
        .and_then(|s| s.tls.as_ref())
        .is_some_and(|t| t.enabled)
}

/// The user's Secrets that `spec` names: its CA (`security.tls.ca.secretName`) and the
/// listeners' certificates (`listeners[].certificateSecret`). A change to one of them brings a
/// pass of the cluster.
pub fn user_secrets(spec: &KafkaClusterSpec) -> Vec<&str> {
    let ca = spec
        .security
        .as_ref()
        .and_then(|s| s.tls.as_ref())
        .and_then(|t| t.ca.as_ref())
        .and_then(|ca| ca.secret_name.as_deref());
    ca.into_iter()
        .chain(
            spec.listeners
                .iter()
                .filter_map(|l| l.certificate_secret.as_deref()),
        )
        .collect()
}

/// The TLS settings of `spec` (None when nothing uses TLS), or the field and reason refused.
pub fn settings(spec: &KafkaClusterSpec) -> Result<Option<TlsSettings>, (String, String)> {
    let internal = internal_enabled(spec);
    if !internal && !spec.listeners.iter().any(|l| l.tls) {
        return Ok(None);
    }
    let tls = spec
        .security
        .as_ref()
        .and_then(|s| s.tls.clone())
        .unwrap_or_default();
    let ca = tls.ca.unwrap_or_default();
    let certs = tls.certificates.unwrap_or_default();
    let settings = TlsSettings {
        internal,
        ca_secret: ca.secret_name,
        ca_validity_days: ca.validity_days.unwrap_or(DEFAULT_CA_VALIDITY_DAYS),
        ca_renew_before_days: ca.renew_before_days.unwrap_or(DEFAULT_RENEW_BEFORE_DAYS),
        cert_validity_days: certs.validity_days.unwrap_or(DEFAULT_CERT_VALIDITY_DAYS),
        cert_renew_before_days: certs.renew_before_days.unwrap_or(DEFAULT_RENEW_BEFORE_DAYS),
    };
    if settings.ca_renew_before_days >= settings.ca_validity_days {
        return Err((
            "spec.security.tls.ca.renewBeforeDays".into(),
            "must be less than ca.validityDays".into(),
        ));
    }
    if settings.cert_renew_before_days >= settings.cert_validity_days {
        return Err((
            "spec.security.tls.certificates.renewBeforeDays".into(),
            "must be less than certificates.validityDays".into(),
        ));
    }
    Ok(Some(settings))
}

pub mod issue;
pub mod listener_cert;
pub mod plan;
pub mod secrets;

use crate::names::{ClusterNames, Role};
use crate::validate::ValidatedCluster;

/// Where a node's certificate and key are mounted (`tls.crt`, `tls.key`).
pub const NODE_CERT_MOUNT: &str = "/etc/kraftwerk/tls/node";
/// Where the trust bundle is mounted (`ca.crt`).
pub const CA_MOUNT: &str = "/etc/kraftwerk/tls/ca";
/// Keys of a certificate Secret (those of the `kubernetes.io/tls` type) and of the bundle.
pub const CERT_KEY: &str = "tls.crt";
pub const KEY_KEY: &str = "tls.key";
pub const BUNDLE_KEY: &str = "ca.crt";
/// On the CA Secret: the previous CAs' certificates, trusted until a renewal completes.
pub const PREVIOUS_KEY: &str = "previous.crt";
/// The config provider that reads the mounted key and certificate into Kafka's PEM settings,
/// so the key is only ever in the Secret volume (never in the ConfigMap).
pub const CONFIG_PROVIDER: &str = "kraftwerktls";
/// The common name of every node certificate (one principal for the authorizer's super users).
pub fn node_common_name(names: &ClusterNames) -> String {
    format!("{}-kafka", names.cluster)
}
/// The common name of the operator's client certificate.
pub const OPERATOR_COMMON_NAME: &str = "kraftwerk-operator";

/// Kafka principals of the nodes and the operator (certificates of the cluster CA), for
/// `super.users` when authorization is on.
pub fn super_users(names: &ClusterNames) -> Vec<String> {
    vec![
        format!("User:CN={}", node_common_name(names)),
        format!("User:CN={OPERATOR_COMMON_NAME}"),
    ]
}

/// The DNS names of a node's certificate: its own name (fully qualified and the shorter forms a
/// client inside the cluster may use), for brokers also the bootstrap Service's names, then
/// `extra` (external addresses: see [`extra_sans`]). Sorted, without duplicates.
pub fn node_sans(names: &ClusterNames, role: Role, id: i32, extra: &[String]) -> Vec<String> {
    let ns = &names.namespace;
    let pod = names.pod(role, id);
    let headless = names.headless_service();
    let mut sans = vec![
        names.node_fqdn(role, id),
        format!("{pod}.{headless}.{ns}.svc"),
        format!("{pod}.{headless}.{ns}"),
        format!("{pod}.{headless}"),
    ];
    if role == Role::Broker {
        let bootstrap = names.bootstrap_service();
        sans.extend([
            names.bootstrap_fqdn(),
            format!("{bootstrap}.{ns}.svc"),
            format!("{bootstrap}.{ns}"),
            bootstrap,
        ]);
    }
    sans.extend(extra.iter().cloned());
    sans.sort();
    sans.dedup();
    sans
}

/// Names beyond the in-cluster ones a node's certificate carries: the hosts external
/// listeners advertise for it that the spec fixes (`listeners[].brokers[].advertisedHost`;
/// host names, or IP addresses, which become IP SANs). See [`crate::listeners::spec_hosts`].
pub fn extra_sans(cr: &crate::crd::KafkaCluster, role: Role, id: i32) -> Vec<String> {
    match role {
        Role::Broker => crate::listeners::spec_hosts(&cr.spec, id),
        Role::Controller => Vec::new(),
    }
}

/// The listener the operator's admin client uses (the inter-broker one: REPLICATION under
/// internal TLS), as its port and whether it is TLS, from the spec alone.
pub fn admin_listener(spec: &KafkaClusterSpec) -> (i32, bool) {
    if internal_enabled(spec) {
        return (REPLICATION_PORT, true);
    }
    let wanted = spec.inter_broker_listener.as_deref();
    spec.listeners
        .iter()
        .find(|l| Some(l.name.as_str()) == wanted)
        .or_else(|| spec.listeners.first())
        .map_or((9092, false), |l| (l.port, l.tls))
}

/// The TLS keys of every node's `server.properties`: the PEM key store read from the mounted
/// Secret through a directory config provider, the trust bundle, client authentication on
/// listeners that require it (the REPLICATION and, with internal TLS, CONTROLLER listeners),
/// and on brokers the user-provided certificates of listeners that name one.
pub fn node_properties(cluster: &ValidatedCluster, role: Role) -> Vec<(String, String)> {
    let Some(tls) = &cluster.tls else {
        return Vec::new();
    };
    let from_mount = |key: &str| format!("${{{CONFIG_PROVIDER}:{NODE_CERT_MOUNT}:{key}}}");
    // Brokers serve user-provided certificates on the listeners that name one.
    let own_certs: Vec<&str> = match role {
        Role::Broker => cluster
            .listeners
            .iter()
            .filter(|l| l.certificate_secret.is_some())
            .map(|l| l.name.as_str())
            .collect(),
        Role::Controller => Vec::new(),
    };
    let allowed: Vec<String> = std::iter::once(NODE_CERT_MOUNT.to_string())
        .chain(own_certs.iter().map(|l| listener_cert::mount(l)))
        .collect();
    let mut props: Vec<(String, String)> = vec![
        ("config.providers".into(), CONFIG_PROVIDER.into()),
        (
            format!("config.providers.{CONFIG_PROVIDER}.class"),
            "org.apache.kafka.common.config.provider.DirectoryConfigProvider".into(),
        ),
        (
            format!("config.providers.{CONFIG_PROVIDER}.param.allowed.paths"),
            allowed.join(","),
        ),
        ("ssl.keystore.type".into(), "PEM".into()),
        ("ssl.keystore.certificate.chain".into(), from_mount(CERT_KEY)),
        ("ssl.keystore.key".into(), from_mount(KEY_KEY)),
        ("ssl.truststore.type".into(), "PEM".into()),
        (
            "ssl.truststore.location".into(),
            format!("{CA_MOUNT}/{BUNDLE_KEY}"),
        ),
    ];
    let mtls = cluster
        .listeners
        .iter()
        .filter(|l| l.authentication == Some(crate::crd::AuthenticationType::Tls))
        .map(|l| l.name.to_ascii_lowercase());
    let controller = tls
        .internal
        .then(|| crate::desired::properties::CONTROLLER_LISTENER.to_ascii_lowercase());
    for name in mtls.chain(controller) {
        props.push((format!("listener.name.{name}.ssl.client.auth"), "required".into()));
    }
    props.extend(
        own_certs
            .iter()
            .flat_map(|l| listener_cert::listener_properties(l)),
    );
    props
}

/// Keys a user may not override while TLS is on: the operator wires the key and trust stores.
pub fn reserved_key(key: &str) -> bool {
    key.starts_with("ssl.keystore.")
        || key.starts_with("ssl.truststore.")
        || key.starts_with("config.providers")
        || key == "ssl.key.password"
}

#[cfg(test)]
mod tests;
