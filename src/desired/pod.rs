//! The pod of one Kafka node. Pods are managed directly (no StatefulSet), so any node can be
//! restarted, replaced or removed on its own; the pod name fixes the node id for life.

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, DownwardAPIVolumeFile, DownwardAPIVolumeSource,
    EmptyDirVolumeSource, EnvVar, KeyToPath, ObjectFieldSelector, PersistentVolumeClaimVolumeSource, Pod,
    PodSpec, Probe, SecretVolumeSource, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use super::properties::DATA_MOUNT;
use super::{SERVER_PROPERTIES, meta};
use crate::annotations;
use crate::labels;
use crate::names::Role;
use crate::quorum::QuorumMode;
use crate::validate::ValidatedCluster;

pub const CONTAINER_NAME: &str = "kafka";

/// A restarted pod comes back with a new IP under the same DNS name. The JVM caches a name for
/// 30 s (and a failed lookup for 10 s) by default, so a broker would keep fetching from, and a
/// controller keep heart-beating to, the old address of a node the roll just restarted, falling
/// out of the ISR for up to half a minute. Cache for 5 s, failures for 1 s.
pub const JVM_DNS_CACHE_OPTS: &str = "-Dsun.net.inetaddr.ttl=5 -Dsun.net.inetaddr.negative.ttl=1";
const CONFIG_MOUNT: &str = "/etc/kraftwerk/config";
const RUNTIME_MOUNT: &str = "/var/lib/kraftwerk";
const PODINFO_MOUNT: &str = "/etc/kraftwerk/podinfo";
/// The downward API file of [`annotations::ADVERTISED_LISTENERS`].
const ADVERTISED_FILE: &str = "advertised-listeners";
/// Writable paths under the read-only root filesystem: the JVM's and tools' temporary files,
/// and Kafka's log directory (`LOG_DIR` of `kafka-run-class.sh`: the GC log, `*.out` files).
const TMP_MOUNT: &str = "/tmp";
pub const KAFKA_LOGS_MOUNT: &str = "/opt/kafka/logs";
/// Log recovery after an unclean shutdown can take long; the startup probe allows an hour
/// before the liveness probe may act, so a recovering broker is never killed.
const STARTUP_PROBE_BUDGET_SECONDS: i32 = 3600;
const DEFAULT_GRACE_SECONDS: i64 = 120;
/// The container port of the metrics endpoint.
pub const METRICS_PORT_NAME: &str = "metrics";
/// Where the image carries the JMX exporter agent and its rules (tests/images/build.sh puts
/// them there; docs/metrics.md says how to add them to another image).
pub const METRICS_AGENT_JAR: &str = "/opt/kafka/jmx-exporter/jmx_prometheus_javaagent.jar";
pub const METRICS_AGENT_RULES: &str = "/opt/kafka/jmx-exporter/kafka.yaml";
/// The agent's JVM option, given to the Kafka process only (not in KAFKA_OPTS, which every
/// Kafka tool run in the container would also read, and fail on the port already taken).
const METRICS_AGENT_ENV: &str = "KRAFTWERK_METRICS_AGENT";

/// Set on controller pods created before the dynamic quorum formed: the `--initial-controllers`
/// value. It is added after the config hash, so its removal once the quorum formed never
/// restarts a node.
pub const INITIAL_CONTROLLERS_ENV: &str = "KRAFTWERK_INITIAL_CONTROLLERS";

/// The node's TLS digest (trust bundle and certificate): part of the pod spec, so a renewed
/// certificate changes the config hash and the node restarts in a roll to load it.
pub const TLS_DIGEST_ENV: &str = "KRAFTWERK_TLS_DIGEST";
/// Digest of the user-provided listener certificates in broker pods (a new one rolls them).
pub const LISTENER_CERTS_ENV: &str = "KRAFTWERK_LISTENER_CERTS";

/// The container's start script. It copies the rendered configuration to a writable place,
/// appends what only the running pod knows (the rack), formats the log directory for this
/// cluster id if it is empty (idempotent: `--ignore-formatted`), adds the metrics agent to the
/// JVM options when asked and the image has it, then execs Kafka so SIGTERM reaches it and
/// triggers a controlled shutdown. A controller of a dynamic quorum is formatted
/// as one of the initial voters when [`INITIAL_CONTROLLERS_ENV`] is set, else as an observer
/// that the operator adds as a voter once it caught up.
fn start_script(rack_aware: bool, dynamic_controller: bool, external: bool) -> String {
    let mut s = String::from("set -eu\n");
    s.push_str(&format!("cfg={RUNTIME_MOUNT}/{SERVER_PROPERTIES}\n"));
    s.push_str(&format!("cp {CONFIG_MOUNT}/{SERVER_PROPERTIES} \"$cfg\"\n"));
    if rack_aware {
        s.push_str(&format!(
            "i=0; while [ ! -s {PODINFO_MOUNT}/rack ] && [ $i -lt 300 ]; do sleep 1; i=$((i+1)); done\n\
             [ -s {PODINFO_MOUNT}/rack ] || {{ echo 'kraftwerk: no rack assigned to this pod after 300s' >&2; exit 1; }}\n\
             printf 'broker.rack=%s\\n' \"$(cat {PODINFO_MOUNT}/rack)\" >> \"$cfg\"\n"
        ));
    }
    if external {
        s.push_str(&advertised_script());
    }
    if dynamic_controller {
        s.push_str(&format!(
            "set -- --no-initial-controllers\n\
             [ -z \"${{{INITIAL_CONTROLLERS_ENV}:-}}\" ] || set -- --initial-controllers \"${INITIAL_CONTROLLERS_ENV}\"\n\
             /opt/kafka/bin/kafka-storage.sh format --cluster-id \"$KRAFTWERK_CLUSTER_ID\" --config \"$cfg\" --ignore-formatted \"$@\"\n"
        ));
    } else {
        s.push_str("/opt/kafka/bin/kafka-storage.sh format --cluster-id \"$KRAFTWERK_CLUSTER_ID\" --config \"$cfg\" --ignore-formatted\n");
    }
    s.push_str(&format!(
        "if [ -n \"${{{METRICS_AGENT_ENV}:-}}\" ]; then\n\
         \x20 if [ -f {METRICS_AGENT_JAR} ]; then export KAFKA_OPTS=\"${{KAFKA_OPTS:-}} ${METRICS_AGENT_ENV}\"\n\
         \x20 else echo 'kraftwerk: the image has no {METRICS_AGENT_JAR}; starting without metrics' >&2; fi\n\
         fi\n"
    ));
    s.push_str("exec /opt/kafka/bin/kafka-server-start.sh \"$cfg\"\n");
    s
}

/// Appends the addresses only known where the broker runs (its node's address and node port,
/// the load balancer's address) to `advertised.listeners`: the operator writes them to the
/// pod's annotation once known (see `crate::listeners`), the downward API volume shows it.
/// Waits up to 600 s (a load balancer may take minutes), then fails so the kubelet retries.
fn advertised_script() -> String {
    let file = format!("{PODINFO_MOUNT}/{ADVERTISED_FILE}");
    format!(
        "i=0; while [ ! -s {file} ] && [ $i -lt 600 ]; do sleep 1; i=$((i+1)); done\n\
         [ -s {file} ] || {{ echo 'kraftwerk: no advertised address for this broker after 600s (see the KafkaCluster status)' >&2; exit 1; }}\n\
         sed -i \"s|^advertised\\.listeners=.*|&,$(cat {file})|\" \"$cfg\"\n"
    )
}

/// The quorum arguments the start script passes to `kafka-storage format` on this node.
pub fn format_args(cluster: &ValidatedCluster, role: Role, id: i32) -> Vec<String> {
    if role != Role::Controller || cluster.quorum.mode != QuorumMode::Dynamic {
        return Vec::new();
    }
    match initial_controllers(cluster, role, id) {
        Some(initial) => vec!["--initial-controllers".into(), initial.into()],
        None => vec!["--no-initial-controllers".into()],
    }
}

/// The `--initial-controllers` value node `id` is formatted with, if it is an initial voter of
/// a quorum that has not formed yet.
fn initial_controllers(cluster: &ValidatedCluster, role: Role, id: i32) -> Option<&str> {
    let initial = cluster.quorum.initial_controllers.as_deref()?;
    (role == Role::Controller && cluster.quorum.initial_voters.contains(&id)).then_some(initial)
}

/// Adds [`INITIAL_CONTROLLERS_ENV`] to a controller pod while the dynamic quorum has not
/// formed. Applied after every hash, like scheduling.
pub fn with_initial_controllers(cluster: &ValidatedCluster, role: Role, id: i32, pod: &mut Pod) {
    let Some(initial) = initial_controllers(cluster, role, id) else {
        return;
    };
    if let Some(container) = pod.spec.as_mut().and_then(|s| s.containers.first_mut()) {
        container.env.get_or_insert_default().push(EnvVar {
            name: INITIAL_CONTROLLERS_ENV.into(),
            value: Some(initial.to_string()),
            ..Default::default()
        });
    }
}

fn tcp_probe(port: i32, period: i32, failures: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(port),
            host: None,
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        success_threshold: Some(1),
        ..Default::default()
    }
}

/// The pod of node `id`; `properties` is the node's rendered `server.properties`, whose digest
/// (with the pod spec) becomes the pod's config hash.
pub fn node_pod(
    cluster: &ValidatedCluster,
    role: Role,
    id: i32,
    properties: &str,
    owner: Option<&OwnerReference>,
) -> Pod {
    let names = &cluster.names;
    let template = &cluster.pool(role).template;
    let pod_name = names.pod(role, id);
    let mut pod_labels = template.labels.clone();
    pod_labels.extend(labels::node_labels(&names.cluster, role, id));
    pod_labels.insert(labels::VERSION.into(), cluster.version.clone());
    pod_labels.extend(crate::host_ports::pod_labels(cluster, role));
    let mut spec = pod_spec(cluster, role, id);
    // The hash covers what needs a restart to take effect. Placement is left out: as in DC/OS,
    // a constraint change applies when a pod is next created (or replaced), not by a restart.
    let hash = config_hash(properties, &spec);
    super::scheduling::apply(cluster, role, id, &mut spec);
    crate::host_ports::apply_anti_affinity(cluster, role, &mut spec);
    let mut pod_annotations = template.annotations.clone();
    if role == Role::Controller && cluster.quorum.mode == QuorumMode::Dynamic {
        pod_annotations.insert(annotations::QUORUM.into(), QuorumMode::Dynamic.as_str().into());
    }
    pod_annotations.insert(annotations::CONFIG_HASH.into(), hash);
    if cluster.tls.is_some() {
        let digest = cluster.tls_digests.get(&id).cloned().unwrap_or_default();
        pod_annotations.insert(annotations::TLS_DIGEST.into(), digest);
    }
    let mut metadata = meta(pod_name, cluster, pod_labels, owner);
    metadata.annotations = Some(pod_annotations);
    Pod {
        metadata,
        spec: Some(spec),
        status: None,
    }
}

/// The container and ports of a node's role: the controller port, or every listener; and the
/// metrics port when metrics are on.
fn ports(cluster: &ValidatedCluster, role: Role) -> (Vec<ContainerPort>, i32) {
    let (mut ports, probe) = kafka_ports(cluster, role);
    if let Some(port) = cluster.metrics_port {
        ports.push(ContainerPort {
            name: Some(METRICS_PORT_NAME.into()),
            container_port: port,
            protocol: Some("TCP".into()),
            ..Default::default()
        });
    }
    (ports, probe)
}

fn kafka_ports(cluster: &ValidatedCluster, role: Role) -> (Vec<ContainerPort>, i32) {
    match role {
        Role::Controller => (
            vec![ContainerPort {
                name: Some("controller".into()),
                container_port: cluster.controller_port,
                protocol: Some("TCP".into()),
                ..Default::default()
            }],
            cluster.controller_port,
        ),
        Role::Broker => (
            cluster
                .listeners
                .iter()
                .map(|l| ContainerPort {
                    name: Some(l.port_name()),
                    container_port: l.port,
                    protocol: Some("TCP".into()),
                    ..Default::default()
                })
                .collect(),
            cluster.inter_broker().port,
        ),
    }
}

/// The Kafka process's environment: cluster id, heap, and JVM options (ours first, the user's
/// last so they win).
fn env(cluster: &ValidatedCluster, role: Role) -> Vec<EnvVar> {
    let pool = cluster.pool(role);
    let mut env = vec![
        EnvVar {
            name: "KRAFTWERK_CLUSTER_ID".into(),
            value: Some(cluster.cluster_id.clone()),
            ..Default::default()
        },
        EnvVar {
            name: "KAFKA_HEAP_OPTS".into(),
            value: Some(format!("-Xms{0}m -Xmx{0}m", pool.heap_mib)),
            ..Default::default()
        },
    ];
    // The user's options come last, so they can override ours (the last -D wins).
    let kafka_opts: Vec<&str> = std::iter::once(JVM_DNS_CACHE_OPTS)
        .chain(pool.jvm_options.iter().map(String::as_str))
        .collect();
    env.push(EnvVar {
        name: "KAFKA_OPTS".into(),
        value: Some(kafka_opts.join(" ")),
        ..Default::default()
    });
    if let Some(port) = cluster.metrics_port {
        env.push(EnvVar {
            name: METRICS_AGENT_ENV.into(),
            value: Some(format!(
                "-javaagent:{METRICS_AGENT_JAR}={port}:{METRICS_AGENT_RULES}"
            )),
            ..Default::default()
        });
    }

    env
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

fn read_only_mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        read_only: Some(true),
        ..mount(name, path)
    }
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }
}

/// Data, rendered configuration, a writable runtime directory, and (rack-aware brokers,
/// external listeners) the pod's own annotations Kafka's start script reads.
fn volumes(
    cluster: &ValidatedCluster,
    role: Role,
    id: i32,
    rack_aware: bool,
    external: bool,
) -> (Vec<VolumeMount>, Vec<Volume>) {
    let names = &cluster.names;
    let mut mounts = vec![
        mount("data", DATA_MOUNT),
        read_only_mount("config", CONFIG_MOUNT),
        mount("runtime", RUNTIME_MOUNT),
        mount("tmp", TMP_MOUNT),
        mount("kafka-logs", KAFKA_LOGS_MOUNT),
    ];
    let mut volumes = vec![
        Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: names.pvc(role, id),
                read_only: None,
            }),
            ..Default::default()
        },
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: names.pod(role, id),
                ..Default::default()
            }),
            ..Default::default()
        },
        empty_dir("runtime"),
        empty_dir("tmp"),
        empty_dir("kafka-logs"),
    ];
    if let Some(podinfo) = podinfo_volume(rack_aware, external) {
        mounts.push(read_only_mount("podinfo", PODINFO_MOUNT));
        volumes.push(podinfo);
    }
    (mounts, volumes)
}

/// The downward API volume of the pod's own annotations: its rack (rack-aware brokers) and
/// its advertised external listeners. None when neither applies.
fn podinfo_volume(rack_aware: bool, external: bool) -> Option<Volume> {
    let annotation_file = |path: &str, key: &str| DownwardAPIVolumeFile {
        path: path.into(),
        field_ref: Some(ObjectFieldSelector {
            field_path: format!("metadata.annotations['{key}']"),
            api_version: None,
        }),
        ..Default::default()
    };
    let mut podinfo = Vec::new();
    if rack_aware {
        podinfo.push(annotation_file("rack", annotations::RACK));
    }
    if external {
        podinfo.push(annotation_file(
            ADVERTISED_FILE,
            annotations::ADVERTISED_LISTENERS,
        ));
    }
    (!podinfo.is_empty()).then(|| Volume {
        name: "podinfo".into(),
        downward_api: Some(DownwardAPIVolumeSource {
            items: Some(podinfo),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The node's certificate and key (only its own) and the trust bundle, read-only, from their
/// Secrets; Kafka reads them in place (see `tls::node_properties`).
fn tls_volumes(
    cluster: &ValidatedCluster,
    role: Role,
    id: i32,
    mounts: &mut Vec<VolumeMount>,
    volumes: &mut Vec<Volume>,
) {
    use crate::tls::{BUNDLE_KEY, CA_MOUNT, CERT_KEY, KEY_KEY, NODE_CERT_MOUNT};
    let secret = |name: &str, secret_name: String, keys: &[&str]| Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret_name),
            items: Some(
                keys.iter()
                    .map(|k| KeyToPath {
                        key: (*k).into(),
                        path: (*k).into(),
                        mode: None,
                    })
                    .collect(),
            ),
            default_mode: Some(0o440),
            optional: None,
        }),
        ..Default::default()
    };
    volumes.push(secret(
        "tls-node",
        cluster.names.node_tls_secret(role, id),
        &[CERT_KEY, KEY_KEY],
    ));
    volumes.push(secret("tls-ca", cluster.names.ca_cert_secret(), &[BUNDLE_KEY]));
    let mut paths = vec![
        ("tls-node".to_string(), NODE_CERT_MOUNT.to_string()),
        ("tls-ca".to_string(), CA_MOUNT.to_string()),
    ];
    // Brokers: the user's certificate of each listener that names one.
    let own = cluster.listeners.iter().filter(|_| role == Role::Broker);
    for l in own {
        if let Some(secret_name) = &l.certificate_secret {
            let volume = format!("tls-listener-{}", l.port_name());
            volumes.push(secret(&volume, secret_name.clone(), &[CERT_KEY, KEY_KEY]));
            paths.push((volume, crate::tls::listener_cert::mount(&l.name)));
        }
    }
    for (name, path) in paths {
        mounts.push(VolumeMount {
            name,
            mount_path: path,
            read_only: Some(true),
            ..Default::default()
        });
    }
}

/// The pod spec before scheduling.
fn pod_spec(cluster: &ValidatedCluster, role: Role, id: i32) -> PodSpec {
    let names = &cluster.names;
    let pool = cluster.pool(role);
    let template = &pool.template;
    let pod_name = names.pod(role, id);
    let rack_aware = role == Role::Broker && cluster.rack_topology_key.is_some();
    let (ports, probe_port) = ports(cluster, role);
    let external = role == Role::Broker && crate::listeners::has_runtime(cluster, id);
    let (mut mounts, mut volumes) = volumes(cluster, role, id, rack_aware, external);
    let mut env = env(cluster, role);
    if cluster.tls.is_some() {
        tls_volumes(cluster, role, id, &mut mounts, &mut volumes);
        env.push(EnvVar {
            name: TLS_DIGEST_ENV.into(),
            value: Some(cluster.tls_digests.get(&id).cloned().unwrap_or_default()),
            ..Default::default()
        });
        if role == Role::Broker && !cluster.listener_certs.is_empty() {
            env.push(EnvVar {
                name: LISTENER_CERTS_ENV.into(),
                value: Some(cluster.listener_certs.clone()),
                ..Default::default()
            });
        }
    }
    let container = Container {
        name: CONTAINER_NAME.into(),
        image: Some(cluster.image.clone()),
        image_pull_policy: cluster.image_pull_policy.clone(),
        command: Some(vec![
            "/bin/bash".into(),
            "-c".into(),
            start_script(
                rack_aware,
                role == Role::Controller && cluster.quorum.mode == QuorumMode::Dynamic,
                external,
            ),
        ]),
        env: Some(env),
        ports: Some(ports),
        resources: Some(pool.resources.clone()),
        volume_mounts: Some(mounts),
        startup_probe: Some(tcp_probe(probe_port, 10, STARTUP_PROBE_BUDGET_SECONDS / 10)),
        readiness_probe: Some(tcp_probe(probe_port, 10, 3)),
        liveness_probe: Some(tcp_probe(probe_port, 20, 6)),
        security_context: Some(super::security::container(template)),
        ..Default::default()
    };

    PodSpec {
        hostname: Some(pod_name.clone()),
        subdomain: Some(names.headless_service()),
        containers: vec![container],
        volumes: Some(volumes),
        enable_service_links: Some(false),
        automount_service_account_token: Some(false),
        service_account_name: template.service_account_name.clone(),
        termination_grace_period_seconds: Some(
            template
                .termination_grace_period_seconds
                .unwrap_or(DEFAULT_GRACE_SECONDS),
        ),
        security_context: Some(super::security::pod(template)),
        priority_class_name: template.priority_class_name.clone(),
        image_pull_secrets: (!cluster.image_pull_secrets.is_empty())
            .then(|| cluster.image_pull_secrets.clone()),
        // The node's network: resolve cluster names through the cluster DNS all the same.
        host_network: pool.host_network.then_some(true),
        dns_policy: pool.host_network.then(|| "ClusterFirstWithHostNet".to_string()),
        ..Default::default()
    }
}

/// A digest of everything that shapes the node's process: its properties and its pod spec
/// (image, resources, JVM options, template). Equal digests mean the pod is up to date.
pub fn config_hash(properties: &str, spec: &PodSpec) -> String {
    let mut h = Sha256::new();
    h.update(properties.as_bytes());
    h.update(serde_json::to_vec(spec).unwrap_or_default());
    let digest = h.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
