//! Pure validation: the user's `KafkaCluster` plus what exists in the cluster becomes a
//! [`ValidatedCluster`] that every builder reads, or an [`InvalidSpec`] naming the field.
//!
//! Nothing here does I/O, so every rule has a plain unit test. The schema and CEL already reject
//! most bad input at admission; these checks are the second line (a CRD installed without CEL,
//! rules CEL cannot express, and anything that depends on existing objects).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::api::core::v1::{LocalObjectReference, PersistentVolumeClaim, Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;

use crate::crd::{DEFAULT_IMAGE_REPOSITORY, KafkaCluster, PodTemplateSpec, PoolSpec};
use crate::labels;
use crate::names::{ClusterNames, Role, node_id};
use crate::placement::{self, Constraint};
use crate::quantity;
use crate::quorum::{self, QuorumMode};

/// Longest cluster name whose derived names (`<name>-controller-9004`, `<name>-kafka-bootstrap`)
/// still fit a 63-character DNS label.
pub const MAX_CLUSTER_NAME: usize = 47;

/// Keys the operator computes for every node; an override would break the cluster's wiring.
pub const RESERVED_KEYS: &[&str] = &[
    "node.id",
    "broker.id",
    "process.roles",
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "controller.listener.names",
    "inter.broker.listener.name",
    "security.inter.broker.protocol",
    "log.dir",
    "log.dirs",
    "metadata.log.dir",
    "broker.rack",
];
/// Reserved key prefixes: the quorum configuration is derived from `spec.controllers`.
pub const RESERVED_PREFIXES: &[&str] = &["controller.quorum.", "listener.name.controller."];

/// A spec the operator refuses. `field` is a JSON path into the resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidSpec {
    pub problems: Vec<Problem>,
}

/// One refused field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.reason))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for InvalidSpec {}

/// What already exists for this cluster; validation refuses changes that would lose data.
#[derive(Clone, Debug, Default)]
pub struct Existing {
    pub pods: Vec<Pod>,
    pub pvcs: Vec<PersistentVolumeClaim>,
    /// Broker ids above the desired count that may not be removed yet (they still hold data or
    /// Kafka could not be asked). They keep running and keep their configuration.
    pub retained_broker_ids: BTreeSet<i32>,
    /// Controller ids above the desired count that are still voters of the dynamic quorum (or
    /// could not be checked). They keep running until removed as voters.
    pub retained_controller_ids: BTreeSet<i32>,
    /// The dynamic quorum was seen formed (`status.controllerQuorum` lists voters): controllers
    /// created from now on join as observers instead of being formatted as initial voters.
    pub quorum_formed: bool,
    /// The initial voters recorded before the first controller was created
    /// (`status.controllerQuorum.initialVoters`); only they are formatted as voters.
    pub initial_voters: BTreeSet<i32>,
    /// Kafka (or the status an earlier pass wrote) reports a static quorum upgraded to
    /// `kraft.version` 1: the cluster is rendered dynamic although its controller objects lack
    /// the quorum mark.
    pub quorum_upgraded: bool,
    /// Why a static quorum is not (yet) dynamic, for the refusal of a controller count change.
    pub static_quorum: Option<String>,
    /// Labels of the cluster's nodes, for LIKE/UNLIKE placement constraints (evaluated when
    /// pods are created). Empty when no pool uses them.
    pub nodes: Vec<BTreeMap<String, String>>,
    /// Each node's TLS digest, from the certificate Secrets (see `controller::tls`).
    pub tls_digests: BTreeMap<i32, String>,
    /// Digest of the user-provided listener certificates (`listeners[].certificateSecret`),
    /// checked by `controller::tls`; empty when there are none.
    pub listener_certs: String,
    /// The operator's TLS client material for this cluster (CA bundle and its certificate).
    pub admin_tls: Option<crate::admin::ClientTls>,
}

/// Options that come from the operator, not from the resource.
#[derive(Clone, Debug)]
pub struct Options {
    pub cluster_domain: String,
    /// The namespace the operator runs in (`POD_NAMESPACE`), allowed to every Kafka port by
    /// the clusters' NetworkPolicies; None when unknown (run outside the cluster).
    pub operator_namespace: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cluster_domain: "cluster.local".into(),
            operator_namespace: None,
        }
    }
}

/// What is known about the running Kafka cluster that changes what the spec may say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaFacts {
    /// Eligible Leader Replicas are on: `min.insync.replicas` is cluster-level only.
    pub elr: bool,
}

impl KafkaFacts {
    /// What a cluster of `version` has when nothing was read from Kafka yet (see
    /// [`crate::durability::elr_expected`]).
    pub fn expected(version: &str) -> Self {
        Self {
            elr: crate::durability::elr_expected(version),
        }
    }
}

/// What the cluster's NetworkPolicy allows beyond the listeners' peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkPolicySettings {
    /// Whose pods may scrape the metrics port; None: the cluster's namespace.
    pub metrics_namespace: Option<String>,
    /// Where the operator runs; None: unknown, no rule for it.
    pub operator_namespace: Option<String>,
}

/// A listener after validation: the client listeners, plus the reserved REPLICATION listener
/// under internal TLS.
#[derive(Clone, Debug, PartialEq)]
pub struct Listener {
    pub name: String,
    pub port: i32,
    /// The Kafka security protocol, derived from `tls` and `authentication`.
    pub protocol: String,
    /// TLS with the nodes' certificates.
    pub tls: bool,
    /// Client authentication, if any.
    pub authentication: Option<crate::crd::AuthenticationType>,
    /// The user's Secret with the certificate served on this listener (else the node's).
    pub certificate_secret: Option<String>,
    /// Internal, node port or load balancer, with per-broker overrides (see [`crate::listeners`]).
    pub exposure: crate::listeners::Exposure,
}

impl Listener {
    /// Kubernetes port name: lower case, `_` → `-`.
    pub fn port_name(&self) -> String {
        self.name.to_ascii_lowercase().replace('_', "-")
    }
}

/// Storage of a pool after defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Storage {
    pub size: String,
    pub storage_class_name: Option<String>,
    pub delete_claim: bool,
}

/// A pool after defaults and validation.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub role: Role,
    pub replicas: i32,
    /// Node ids to run: the desired ones plus retained ones pending a safe removal.
    pub ids: Vec<i32>,
    pub resources: ResourceRequirements,
    pub heap_mib: u64,
    pub jvm_options: Vec<String>,
    pub storage: Storage,
    /// Cluster-wide then pool overrides, as strings.
    pub overrides: BTreeMap<String, String>,
    pub template: PodTemplateSpec,
    /// Parsed DC/OS placement constraints; `None` means the default placement.
    pub constraints: Option<Vec<Constraint>>,
    /// The pods run in the node's network namespace.
    pub host_network: bool,
}

/// The controller quorum's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct QuorumSettings {
    pub mode: QuorumMode,
    /// `--initial-controllers` for the initial voters formatted now (dynamic quorum not formed
    /// yet); None: controllers are formatted with `--no-initial-controllers` (or, static, with
    /// neither).
    pub initial_controllers: Option<String>,
    /// The controllers that get [`QuorumSettings::initial_controllers`]; any other joins as an
    /// observer.
    pub initial_voters: BTreeSet<i32>,
}

/// Everything the builders need, already defaulted and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedCluster {
    pub names: ClusterNames,
    pub generation: Option<i64>,
    pub version: String,
    pub image: String,
    pub image_pull_policy: Option<String>,
    pub image_pull_secrets: Vec<LocalObjectReference>,
    pub cluster_id: String,
    pub listeners: Vec<Listener>,
    pub controller_port: i32,
    pub inter_broker_listener: String,
    pub controllers: Pool,
    pub brokers: Pool,
    pub quorum: QuorumSettings,
    pub rack_topology_key: Option<String>,
    /// The metrics port of every Kafka pod; None when metrics are off.
    pub metrics_port: Option<i32>,
    /// Node labels for LIKE/UNLIKE constraints.
    pub nodes: Vec<BTreeMap<String, String>>,
    /// TLS settings; None when no listener uses TLS.
    pub tls: Option<crate::tls::TlsSettings>,
    /// The NetworkPolicy's settings; None when switched off.
    pub network_policy: Option<NetworkPolicySettings>,
    /// Security context values that drop part of the pods' hardening (accepted, reported as
    /// the `HardeningRelaxed` condition and a Warning Event).
    pub hardening_relaxed: Vec<Problem>,
    /// Each node's TLS digest (trust bundle and certificate) from its Secrets: in the pod, so
    /// a new certificate restarts the node in a roll.
    pub tls_digests: BTreeMap<i32, String>,
    /// Digest of the user-provided listener certificates: in the broker pods, so a new one
    /// restarts the brokers in a roll. Empty when there are none.
    pub listener_certs: String,
    /// The operator's TLS client for this cluster's inter-broker listener, when it uses TLS.
    pub admin_tls: Option<crate::admin::ClientTls>,
    /// The authorizer's settings; None without `spec.security.authorization`.
    pub authorization: Option<crate::auth::Authorization>,
}

impl ValidatedCluster {
    pub fn pool(&self, role: Role) -> &Pool {
        match role {
            Role::Controller => &self.controllers,
            Role::Broker => &self.brokers,
        }
    }

    /// Pools in apply order: the quorum first, so brokers find it.
    pub fn pools(&self) -> [&Pool; 2] {
        [&self.controllers, &self.brokers]
    }

    /// The listener brokers use among themselves.
    pub fn inter_broker(&self) -> &Listener {
        self.listeners
            .iter()
            .find(|l| l.name == self.inter_broker_listener)
            .unwrap_or(&self.listeners[0])
    }

    /// `host:port` of the bootstrap Service on the inter-broker listener (the admin client's).
    pub fn bootstrap(&self) -> String {
        format!("{}:{}", self.names.bootstrap_fqdn(), self.inter_broker().port)
    }
}

/// Validates `cr` against what exists. `cluster_id` is the id already chosen for the cluster.
/// Kafka's facts are the expected ones for `spec.version` ([`KafkaFacts::expected`]); use
/// [`validate_with`] when they were read from Kafka.
pub fn validate(
    cr: &KafkaCluster,
    existing: &Existing,
    cluster_id: &str,
    options: &Options,
) -> Result<ValidatedCluster, InvalidSpec> {
    validate_with(
        cr,
        existing,
        cluster_id,
        options,
        &KafkaFacts::expected(&cr.spec.version),
    )
}

/// As [`validate`], with the facts read from the running Kafka cluster
/// (`crate::durability::sync::Outcome::elr`).
pub fn validate_with(
    cr: &KafkaCluster,
    existing: &Existing,
    cluster_id: &str,
    options: &Options,
    facts: &KafkaFacts,
) -> Result<ValidatedCluster, InvalidSpec> {
    let mut problems = Vec::new();
    let mut refuse = |field: &str, reason: String| {
        problems.push(Problem {
            field: field.into(),
            reason,
        })
    };
    let spec = &cr.spec;
    let name = cr.name_any();
    let namespace = cr.namespace().unwrap_or_else(|| "default".into());

    check_identity(spec, &name, &mut refuse);
    let (listeners, inter_broker_listener) = check_listeners(spec, &mut refuse);

    // Cluster-wide overrides.
    let cluster_overrides = config_overrides("spec.config", &spec.config, &mut refuse);
    check_pool_durability(spec, facts, &mut refuse);
    check_rack(spec, &mut refuse);

    crate::listeners::check(spec, &mut refuse);
    let metrics_port = check_metrics(spec, &listeners, &mut refuse);
    let tls = crate::tls::settings(spec).unwrap_or_else(|(field, reason)| {
        refuse(&field, reason);
        None
    });
    if tls.is_some() {
        check_tls_overrides(spec, &cluster_overrides, &mut refuse);
    }
    crate::auth::check_listeners(spec, &mut refuse);
    let mode = quorum_mode(existing);
    let wanted_controllers = check_replicas(spec, existing, mode, &mut refuse);
    let (controllers, brokers) = pools(
        spec,
        wanted_controllers,
        &cluster_overrides,
        existing,
        &mut refuse,
    );

    if !problems.is_empty() {
        return Err(InvalidSpec { problems });
    }
    let image = spec.image.clone().unwrap_or_else(|| {
        let tag = crate::upgrade::find(&spec.version).map_or(spec.version.as_str(), |r| r.image_tag);
        format!("{DEFAULT_IMAGE_REPOSITORY}:{tag}")
    });
    let names = ClusterNames::new(&name, &namespace, &options.cluster_domain);
    let quorum = quorum_settings(spec, existing, mode, &names, cluster_id);
    Ok(ValidatedCluster {
        names,
        generation: cr.metadata.generation,
        version: spec.version.clone(),
        image,
        image_pull_policy: spec.image_pull_policy.clone(),
        image_pull_secrets: spec.image_pull_secrets.clone(),
        cluster_id: cluster_id.to_string(),
        listeners,
        controller_port: spec.controller_listener.port,
        inter_broker_listener,
        controllers,
        brokers,
        quorum,
        rack_topology_key: spec.rack.as_ref().map(|r| r.topology_key.clone()),
        metrics_port,
        nodes: existing.nodes.clone(),
        tls_digests: if tls.is_some() {
            existing.tls_digests.clone()
        } else {
            BTreeMap::new()
        },
        listener_certs: existing.listener_certs.clone(),
        admin_tls: crate::tls::admin_listener(spec)
            .1
            .then(|| existing.admin_tls.clone())
            .flatten(),
        tls,
        network_policy: network_policy(spec, options),
        hardening_relaxed: hardening_relaxed(spec),
        authorization: crate::auth::settings(spec),
    })
}

/// Refuses pool overrides that weaken durability below what the Kafka cluster supports
/// (`facts.elr`).
fn check_pool_durability(
    spec: &crate::crd::KafkaClusterSpec,
    facts: &KafkaFacts,
    refuse: &mut impl FnMut(&str, String),
) {
    for (field, config) in [
        ("spec.brokers.config", &spec.brokers.pool.config),
        ("spec.controllers.config", &spec.controllers.pool.config),
    ] {
        if let Some((path, reason)) = crate::durability::pool_refusal(field, config, facts.elr) {
            refuse(&path, reason);
        }
    }
}

/// Refuses a rack spread without a node label to spread over.
fn check_rack(spec: &crate::crd::KafkaClusterSpec, refuse: &mut impl FnMut(&str, String)) {
    if let Some(rack) = &spec.rack
        && rack.topology_key.trim().is_empty()
    {
        refuse(
            "spec.rack.topologyKey",
            "must name a node label such as topology.kubernetes.io/zone".into(),
        );
    }
}

/// With TLS on, refuses config overrides (cluster-wide or per pool) of the keys the operator
/// sets for TLS listeners.
fn check_tls_overrides(
    spec: &crate::crd::KafkaClusterSpec,
    cluster_overrides: &BTreeMap<String, String>,
    refuse: &mut impl FnMut(&str, String),
) {
    let keys = cluster_overrides
        .keys()
        .map(|k| (k, "spec.config"))
        .chain(
            spec.brokers
                .pool
                .config
                .keys()
                .map(|k| (k, "spec.brokers.config")),
        )
        .chain(
            spec.controllers
                .pool
                .config
                .keys()
                .map(|k| (k, "spec.controllers.config")),
        );
    for (key, field) in keys {
        if crate::tls::reserved_key(key) {
            refuse(
                &format!("{field}.{key}"),
                "the operator sets the key and trust stores of TLS listeners (spec.security.tls)".into(),
            );
        }
    }
}

/// The controller and broker pools: the wanted node ids plus those retained while they drain.
fn pools(
    spec: &crate::crd::KafkaClusterSpec,
    wanted_controllers: BTreeSet<i32>,
    cluster_overrides: &BTreeMap<String, String>,
    existing: &Existing,
    refuse: &mut impl FnMut(&str, String),
) -> (Pool, Pool) {
    let controller_ids: BTreeSet<i32> = wanted_controllers
        .into_iter()
        .chain(existing.retained_controller_ids.iter().copied())
        .collect();
    let broker_ids: BTreeSet<i32> = spec
        .brokers
        .ids()
        .into_iter()
        .chain(existing.retained_broker_ids.iter().copied())
        .collect();
    let [controllers, brokers] = [
        (
            Role::Controller,
            spec.controllers.replicas,
            controller_ids,
            &spec.controllers.pool,
        ),
        (
            Role::Broker,
            spec.brokers.replicas,
            broker_ids,
            &spec.brokers.pool,
        ),
    ]
    .map(|(role, replicas, ids, pool_spec)| {
        pool(
            role,
            replicas,
            ids.into_iter().collect(),
            pool_spec,
            cluster_overrides,
            existing,
            refuse,
        )
    });
    (controllers, brokers)
}

/// The quorum settings: while a dynamic quorum is being formed, the initial voters and the
/// `--initial-controllers` value that bootstraps them.
fn quorum_settings(
    spec: &crate::crd::KafkaClusterSpec,
    existing: &Existing,
    mode: QuorumMode,
    names: &ClusterNames,
    cluster_id: &str,
) -> QuorumSettings {
    let bootstrapping =
        mode == QuorumMode::Dynamic && !existing.quorum_formed && !existing.initial_voters.is_empty();
    let initial_controllers = bootstrapping.then(|| {
        let hosts: Vec<(i32, String)> = existing
            .initial_voters
            .iter()
            .map(|&id| (id, names.node_fqdn(Role::Controller, id)))
            .collect();
        quorum::initial_controllers(cluster_id, &hosts, spec.controller_listener.port)
    });
    QuorumSettings {
        mode,
        initial_controllers,
        initial_voters: if bootstrapping {
            existing.initial_voters.clone()
        } else {
            BTreeSet::new()
        },
    }
}

/// The NetworkPolicy settings, when the policy is enabled; the operator's namespace defaults
/// to the one the operator runs in.
fn network_policy(spec: &crate::crd::KafkaClusterSpec, options: &Options) -> Option<NetworkPolicySettings> {
    crate::crd::NetworkPolicySpec::enabled(spec.network_policy.as_ref()).then(|| {
        let np = spec.network_policy.clone().unwrap_or_default();
        NetworkPolicySettings {
            metrics_namespace: np.metrics_namespace,
            operator_namespace: np
                .operator_namespace
                .or_else(|| options.operator_namespace.clone()),
        }
    })
}

/// Every pool's security context values that drop part of the hardened default.
fn hardening_relaxed(spec: &crate::crd::KafkaClusterSpec) -> Vec<Problem> {
    [
        ("spec.controllers", &spec.controllers.pool),
        ("spec.brokers", &spec.brokers.pool),
    ]
    .into_iter()
    .flat_map(|(base, pool)| {
        let template = pool.template.clone().unwrap_or_default();
        crate::desired::security::relaxations(&template)
            .into_iter()
            .map(move |(field, reason)| Problem {
                field: format!("{base}.template.{field}"),
                reason,
            })
    })
    .collect()
}

/// The metrics port (None when metrics are off); it must differ from every Kafka port.
fn check_metrics(
    spec: &crate::crd::KafkaClusterSpec,
    listeners: &[Listener],
    refuse: &mut impl FnMut(&str, String),
) -> Option<i32> {
    let port = match &spec.metrics {
        None => crate::crd::DEFAULT_METRICS_PORT,
        Some(m) if !m.enabled => return None,
        Some(m) => m.port,
    };
    let taken = listeners.iter().any(|l| l.port == port) || spec.controller_listener.port == port;
    if taken {
        refuse(
            "spec.metrics.port",
            format!("port {port} is already used by a listener or the controller listener"),
        );
    }
    Some(port)
}

/// The cluster's name, version and image pull policy.
fn check_identity(spec: &crate::crd::KafkaClusterSpec, name: &str, refuse: &mut impl FnMut(&str, String)) {
    if name.len() > MAX_CLUSTER_NAME {
        refuse(
            "metadata.name",
            format!("must be at most {MAX_CLUSTER_NAME} characters so pod and Service names fit DNS labels"),
        );
    }
    let release = crate::upgrade::find(&spec.version);
    if release.is_none() {
        refuse(
            "spec.version",
            format!(
                "{:?} is not a Kafka release this operator supports ({})",
                spec.version,
                crate::upgrade::releases::supported_list()
            ),
        );
    }
    if let Some(pin) = &spec.metadata_version {
        match (crate::upgrade::releases::parse_metadata_version(pin), release) {
            (None, _) => refuse(
                "spec.metadataVersion",
                format!("{pin:?} is not a metadata.version this operator knows"),
            ),
            (Some(level), Some(r)) if level > r.metadata_version => refuse(
                "spec.metadataVersion",
                format!(
                    "{pin} is above what {} runs ({})",
                    r.version,
                    crate::upgrade::releases::metadata_version_name(r.metadata_version)
                ),
            ),
            _ => {}
        }
    }
    if let Some(policy) = &spec.image_pull_policy
        && !["Always", "IfNotPresent", "Never"].contains(&policy.as_str())
    {
        refuse(
            "spec.imagePullPolicy",
            format!("{policy:?} is not Always, IfNotPresent or Never"),
        );
    }
}

/// Client listeners and the inter-broker listener: names, ports (no clash with each other or the
/// controller listener), protocols.
fn check_listeners(
    spec: &crate::crd::KafkaClusterSpec,
    refuse: &mut impl FnMut(&str, String),
) -> (Vec<Listener>, String) {
    let mut listeners = Vec::new();
    if spec.listeners.is_empty() {
        refuse("spec.listeners", "at least one listener is required".into());
    }
    let mut seen_names = BTreeSet::new();
    let mut seen_ports = BTreeSet::from([spec.controller_listener.port]);
    for (i, l) in spec.listeners.iter().enumerate() {
        let field = format!("spec.listeners[{i}]");
        check_listener_name(&field, &l.name, &mut seen_names, refuse);
        check_listener_port(&field, l.port, &mut seen_ports, refuse);
        check_listener_security(&field, l, refuse);
        listeners.push(Listener {
            name: l.name.clone(),
            port: l.port,
            protocol: l.security_protocol().into(),
            tls: l.tls,
            authentication: l.authentication.as_ref().map(|a| a.type_),
            certificate_secret: l.certificate_secret.clone(),
            exposure: crate::listeners::Exposure::of(l),
        });
    }
    if crate::tls::internal_enabled(spec) {
        replication_listener(spec, &mut listeners, refuse);
    }
    if !(1024..=65535).contains(&spec.controller_listener.port) {
        refuse(
            "spec.controllerListener.port",
            format!("{} is outside 1024-65535", spec.controller_listener.port),
        );
    }
    (listeners, inter_broker_listener(spec, refuse))
}

/// A listener name is a Kafka listener name, not CONTROLLER, and not taken by an earlier
/// listener (`seen`).
fn check_listener_name(
    field: &str,
    name: &str,
    seen: &mut BTreeSet<String>,
    refuse: &mut impl FnMut(&str, String),
) {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        refuse(
            &format!("{field}.name"),
            format!("{name:?} must match ^[A-Z][A-Z0-9_]{{0,14}}$"),
        );
    } else if name == "CONTROLLER" {
        refuse(
            &format!("{field}.name"),
            "CONTROLLER is reserved for the KRaft controller listener".into(),
        );
    } else if !seen.insert(name.to_string()) {
        refuse(
            &format!("{field}.name"),
            format!("duplicate listener name {name}"),
        );
    }
}

/// A listener port is unprivileged and not taken by an earlier listener or the controller
/// listener (`seen`).
fn check_listener_port(
    field: &str,
    port: i32,
    seen: &mut BTreeSet<i32>,
    refuse: &mut impl FnMut(&str, String),
) {
    if !(1024..=65535).contains(&port) {
        refuse(&format!("{field}.port"), format!("{port} is outside 1024-65535"));
    } else if !seen.insert(port) {
        refuse(
            &format!("{field}.port"),
            format!("port {port} is already used by another listener or the controller listener"),
        );
    }
}

/// A stated protocol agrees with the one tls and authentication give, and mutual TLS and a
/// served certificate come with TLS.
fn check_listener_security(field: &str, l: &crate::crd::ListenerSpec, refuse: &mut impl FnMut(&str, String)) {
    let derived = l.security_protocol();
    if let Some(stated) = &l.protocol
        && stated != derived
        && (stated != "PLAINTEXT" || l.tls)
    {
        refuse(
            &format!("{field}.protocol"),
            format!(
                "{stated:?} contradicts the protocol derived from tls and authentication ({derived}); leave it out"
            ),
        );
    }
    if l.authentication
        .as_ref()
        .is_some_and(|a| a.type_ == crate::crd::AuthenticationType::Tls)
        && !l.tls
    {
        refuse(
            &format!("{field}.authentication.type"),
            "tls (mutual TLS) needs tls: true on the listener".into(),
        );
    }
    if l.certificate_secret.is_some() && !l.tls {
        refuse(
            &format!("{field}.certificateSecret"),
            "a served certificate needs tls: true on the listener".into(),
        );
    }
}

/// The listener brokers replicate over: REPLICATION with internal TLS, else the one named
/// (which must exist), else the first listener.
fn inter_broker_listener(
    spec: &crate::crd::KafkaClusterSpec,
    refuse: &mut impl FnMut(&str, String),
) -> String {
    match &spec.inter_broker_listener {
        _ if crate::tls::internal_enabled(spec) => crate::tls::REPLICATION_LISTENER.to_string(),
        Some(n) if !spec.listeners.iter().any(|l| &l.name == n) => {
            refuse(
                "spec.interBrokerListener",
                format!("{n:?} is not one of spec.listeners"),
            );
            n.clone()
        }
        Some(n) => n.clone(),
        None => spec.listeners.first().map(|l| l.name.clone()).unwrap_or_default(),
    }
}

/// Internal TLS: the reserved REPLICATION listener joins the listeners, and no client listener
/// may take its name or port.
fn replication_listener(
    spec: &crate::crd::KafkaClusterSpec,
    listeners: &mut Vec<Listener>,
    refuse: &mut impl FnMut(&str, String),
) {
    use crate::tls::{REPLICATION_LISTENER, REPLICATION_PORT};
    for (i, l) in spec.listeners.iter().enumerate() {
        if l.name == REPLICATION_LISTENER || l.port == REPLICATION_PORT {
            refuse(
                &format!("spec.listeners[{i}]"),
                format!(
                    "{REPLICATION_LISTENER} and port {REPLICATION_PORT} are reserved by spec.security.tls.enabled"
                ),
            );
        }
    }
    if spec.controller_listener.port == REPLICATION_PORT {
        refuse(
            "spec.controllerListener.port",
            format!("port {REPLICATION_PORT} is reserved by spec.security.tls.enabled"),
        );
    }
    if spec.inter_broker_listener.is_some() {
        refuse(
            "spec.interBrokerListener",
            format!(
                "must be unset with spec.security.tls.enabled ({REPLICATION_LISTENER} carries inter-broker traffic)"
            ),
        );
    }
    listeners.push(Listener {
        name: REPLICATION_LISTENER.into(),
        port: REPLICATION_PORT,
        protocol: "SSL".into(),
        tls: true,
        authentication: Some(crate::crd::AuthenticationType::Tls),
        certificate_secret: None,
        exposure: crate::listeners::Exposure::default(),
    });
}

/// The quorum mode of the cluster, from its existing controller pods and claims, or dynamic
/// once Kafka reports the static quorum upgraded.
pub fn quorum_mode(existing: &Existing) -> QuorumMode {
    if existing.quorum_upgraded {
        return QuorumMode::Dynamic;
    }
    let is_controller = |m: &&k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.labels
            .as_ref()
            .and_then(|l| l.get(labels::ROLE))
            .map(String::as_str)
            == Some(Role::Controller.as_str())
    };
    let pods = existing.pods.iter().map(|p| &p.metadata);
    let pvcs = existing.pvcs.iter().map(|p| &p.metadata);
    QuorumMode::of(pods.chain(pvcs).filter(is_controller))
}

/// Broker and controller counts; the controller ids the spec asks for (a static quorum cannot
/// change them on an existing cluster; a dynamic one changes its voters one at a time).
fn check_replicas(
    spec: &crate::crd::KafkaClusterSpec,
    existing: &Existing,
    mode: QuorumMode,
    refuse: &mut impl FnMut(&str, String),
) -> BTreeSet<i32> {
    let broker_replicas = spec.brokers.replicas;
    if !(1..=9000).contains(&broker_replicas) {
        refuse(
            "spec.brokers.replicas",
            format!("{broker_replicas} is outside 1-9000"),
        );
    }
    let controller_replicas = spec.controllers.replicas;
    if ![1, 3, 5].contains(&controller_replicas) {
        refuse(
            "spec.controllers.replicas",
            format!("{controller_replicas}: must be 1, 3 or 5"),
        );
    }
    let existing_controllers = existing_ids(existing, Role::Controller);
    // Clamped: an out-of-range count is refused above, and must not allocate billions of ids first.
    let wanted_controllers: BTreeSet<i32> = (0..controller_replicas.clamp(0, 5))
        .map(|i| node_id(Role::Controller, i))
        .collect();
    if mode == QuorumMode::Static
        && !existing_controllers.is_empty()
        && existing_controllers != wanted_controllers
    {
        refuse(
            "spec.controllers.replicas",
            format!(
                "cannot change from {} to {controller_replicas} yet: this cluster was formatted with a static \
                 KRaft quorum (controller.quorum.voters, kraft.version 0), whose voters are fixed until the \
                 operator upgrades it to the dynamic quorum (KIP-853, kraft.version 1); {}",
                existing_controllers.len(),
                existing
                    .static_quorum
                    .as_deref()
                    .unwrap_or("see status.controllerQuorum.message")
            ),
        );
    }

    wanted_controllers
}

/// Node ids of a role that exist as pods or claims.
pub fn existing_ids(existing: &Existing, role: Role) -> BTreeSet<i32> {
    let pods = existing.pods.iter().map(|p| p.labels());
    let pvcs = existing.pvcs.iter().map(|p| p.labels());
    pods.chain(pvcs)
        .filter(|l| l.get(labels::ROLE).map(String::as_str) == Some(role.as_str()))
        .filter_map(|l| l.get(labels::NODE_ID)?.parse().ok())
        .collect()
}

struct Defaults {
    cpu: &'static str,
    memory: &'static str,
    fallback_heap_mib: u64,
    storage: &'static str,
}

fn defaults(role: Role) -> Defaults {
    match role {
        Role::Broker => Defaults {
            cpu: "500m",
            memory: "2Gi",
            fallback_heap_mib: 1024,
            storage: "10Gi",
        },
        Role::Controller => Defaults {
            cpu: "250m",
            memory: "1Gi",
            fallback_heap_mib: 512,
            storage: "2Gi",
        },
    }
}

/// The largest heap derived from memory; more rarely helps Kafka, which lives off the page cache.
const MAX_DERIVED_HEAP_MIB: u64 = 6 * 1024;

#[allow(clippy::too_many_arguments)]
fn pool(
    role: Role,
    replicas: i32,
    ids: Vec<i32>,
    spec: &PoolSpec,
    cluster_overrides: &BTreeMap<String, String>,
    existing: &Existing,
    refuse: &mut impl FnMut(&str, String),
) -> Pool {
    let base = format!("spec.{}s", role.as_str());
    let (resources, heap_mib) = pool_memory(role, spec, &base, refuse);
    let storage = pool_storage(role, spec, existing, &base, refuse);
    let mut overrides = cluster_overrides.clone();
    overrides.extend(config_overrides(&format!("{base}.config"), &spec.config, refuse));
    let (template, constraints) = pool_template(spec, &base, refuse);
    Pool {
        role,
        replicas,
        ids,
        resources,
        heap_mib,
        jvm_options: spec.jvm.as_ref().map(|j| j.options.clone()).unwrap_or_default(),
        storage,
        overrides,
        template,
        constraints,
        host_network: spec.host_network,
    }
}

/// Resources (the role's defaults when unset) and the JVM heap: explicit, or half the memory.
fn pool_memory(
    role: Role,
    spec: &PoolSpec,
    base: &str,
    refuse: &mut impl FnMut(&str, String),
) -> (ResourceRequirements, u64) {
    let d = defaults(role);
    let resources = spec.resources.clone().unwrap_or_else(|| ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), Quantity(d.cpu.into())),
            ("memory".to_string(), Quantity(d.memory.into())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_string(),
            Quantity(d.memory.into()),
        )])),
        ..Default::default()
    });
    let mut memory_of = |m: &Option<BTreeMap<String, Quantity>>, which: &str| -> Option<f64> {
        let q = m.as_ref()?.get("memory")?;
        let v = quantity::parse(&q.0);
        if v.is_none() {
            refuse(
                &format!("{base}.resources.{which}.memory"),
                format!("{:?} is not a quantity", q.0),
            );
        }
        v
    };
    let limit = memory_of(&resources.limits, "limits");
    let request = memory_of(&resources.requests, "requests");
    let memory = limit.or(request);

    let heap_mib = match spec.jvm.as_ref().and_then(|j| j.heap.as_ref()) {
        Some(h) => match quantity::parse(h) {
            Some(bytes) if quantity::to_mebibytes(bytes) < 64 => {
                refuse(
                    &format!("{base}.jvm.heap"),
                    format!("{h} is below the 64Mi minimum"),
                );
                0
            }
            Some(bytes) => {
                if let Some(limit) = limit
                    && bytes >= limit
                {
                    refuse(
                        &format!("{base}.jvm.heap"),
                        format!(
                            "{h} must be smaller than resources.limits.memory, which also holds off-heap memory"
                        ),
                    );
                }
                quantity::to_mebibytes(bytes)
            }
            None => {
                refuse(&format!("{base}.jvm.heap"), format!("{h:?} is not a quantity"));
                0
            }
        },
        None => match memory {
            Some(bytes) => (quantity::to_mebibytes(bytes) / 2).clamp(64, MAX_DERIVED_HEAP_MIB),
            None => d.fallback_heap_mib,
        },
    };

    (resources, heap_mib)
}

/// Storage, refusing what would lose data on the existing claims (a shrink, a class change).
fn pool_storage(
    role: Role,
    spec: &PoolSpec,
    existing: &Existing,
    base: &str,
    refuse: &mut impl FnMut(&str, String),
) -> Storage {
    let d = defaults(role);
    let storage_spec = spec.storage.clone().unwrap_or_default();
    let size = storage_spec.size.clone().unwrap_or_else(|| d.storage.to_string());
    match quantity::parse(&size) {
        Some(v) if v > 0.0 => {}
        _ => refuse(
            &format!("{base}.storage.size"),
            format!("{size:?} is not a positive quantity"),
        ),
    }
    for pvc in existing
        .pvcs
        .iter()
        .filter(|p| p.labels().get(labels::ROLE).map(String::as_str) == Some(role.as_str()))
    {
        let Some(pvc_spec) = &pvc.spec else { continue };
        let current = pvc_spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"));
        if let (Some(current), Some(want)) = (
            current.and_then(|q| quantity::parse(&q.0)),
            quantity::parse(&size),
        ) && want < current
        {
            refuse(
                &format!("{base}.storage.size"),
                format!(
                    "cannot shrink to {size}: claim {} has {}; shrinking a volume loses data",
                    pvc.name_any(),
                    current_display(current)
                ),
            );
            break;
        }
        if storage_spec.storage_class_name.is_some()
            && pvc_spec.storage_class_name != storage_spec.storage_class_name
        {
            refuse(
                &format!("{base}.storage.storageClassName"),
                format!(
                    "cannot change to {:?}: claim {} uses {:?}; a claim's class is immutable",
                    storage_spec.storage_class_name.as_deref().unwrap_or_default(),
                    pvc.name_any(),
                    pvc_spec.storage_class_name.as_deref().unwrap_or("<default>")
                ),
            );
            break;
        }
    }

    Storage {
        size,
        storage_class_name: storage_spec.storage_class_name,
        delete_claim: storage_spec.delete_claim,
    }
}

/// The pod template (labels the operator sets are refused) and the placement constraints.
fn pool_template(
    spec: &PoolSpec,
    base: &str,
    refuse: &mut impl FnMut(&str, String),
) -> (PodTemplateSpec, Option<Vec<Constraint>>) {
    let template = spec.template.clone().unwrap_or_default();
    for key in template.labels.keys() {
        if key.starts_with(labels::OPERATOR_PREFIX)
            || [
                labels::NAME,
                labels::INSTANCE,
                labels::MANAGED_BY,
                labels::COMPONENT,
            ]
            .contains(&key.as_str())
        {
            refuse(
                &format!("{base}.template.labels"),
                format!("{key} is set by the operator"),
            );
        }
    }
    let text = spec
        .placement
        .as_ref()
        .and_then(|p| p.constraints.as_deref())
        .filter(|c| !c.trim().is_empty());
    let constraints = match text.map(placement::parse) {
        Some(Ok(parsed)) => Some(parsed),
        Some(Err(e)) => {
            refuse(&format!("{base}.placement.constraints"), e.to_string());
            None
        }
        None => None,
    };

    (template, constraints)
}

fn current_display(bytes: f64) -> String {
    let gib = bytes / 1024f64.powi(3);
    if gib.fract() == 0.0 {
        format!("{gib}Gi")
    } else {
        format!("{bytes} bytes")
    }
}

/// Turns user overrides into property strings, refusing reserved keys and non-scalar values.
fn config_overrides(
    field: &str,
    config: &BTreeMap<String, serde_json::Value>,
    refuse: &mut impl FnMut(&str, String),
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in config {
        let path = format!("{field}[{key:?}]");
        if RESERVED_KEYS.contains(&key.as_str())
            || RESERVED_PREFIXES.iter().any(|p| key.starts_with(p))
            || crate::auth::reserved_key(key)
        {
            refuse(
                &path,
                format!("{key} is managed by the operator and cannot be overridden"),
            );
            continue;
        }
        let valid_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c));
        if !valid_key {
            refuse(
                &path,
                "keys are Kafka property names: lower case letters, digits, '.', '-' and '_'".into(),
            );
            continue;
        }
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                refuse(&path, "value must be a string, number or boolean".into());
                continue;
            }
        };
        if text.contains(['\n', '\r']) {
            refuse(&path, "value must be a single line".into());
            continue;
        }
        out.insert(key.clone(), text);
    }
    out
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod bounds_test;
mod objects;
mod syntax;
pub use objects::check_objects;
