//! Security against real Kafka (issue 16): one 3+3 cluster, rendered by the operator with TLS on
//! every listener (a TLS client listener, a SASL_SSL SCRAM-SHA-512 listener, REPLICATION and
//! CONTROLLER with mutual TLS) and KRaft's StandardAuthorizer, certificates issued by the
//! operator's own code, run as JVM processes on loopback. Node and bootstrap DNS names resolve
//! through a hosts file (`-Djdk.net.hosts.file`) for the JVMs and a name-keeping connector for
//! the Rust admin client, so hostname verification checks the real names. KafkaUsers are applied
//! through the operator's code path (`controller::user::apply_user` / `remove_user`: describe,
//! pure plan, execute) and checked with the Java clients and by reading back from Kafka. The
//! checks are steps of one test on one cluster; add new security checks as further steps. Run
//! with `make test-kafka`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod kafka_support;

// The CLI modules live in the binary; include them here to run them against the real cluster.
#[allow(dead_code)]
#[path = "../src/cli/admin.rs"]
mod cli_admin;
#[allow(dead_code)]
#[path = "../src/cli/kubeconfig.rs"]
mod kubeconfig;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kafka_support::{AddressMap, KafkaNode, NodeSpec, Res, libs_dir, parse_listeners, scratch_dir};
use kraftwerk::admin::{
    AdminClient, AdminConfig, ClientTls, Connector, HostPort, ScramCredentials, ScramMechanism, Secured,
};
use kraftwerk::controller::kafka::kafka_state;
use kraftwerk::controller::user::{apply_user, read_state, remove_user};
use kraftwerk::crd::{KafkaCluster, KafkaUserSpec};
use kraftwerk::names::ClusterNames;
use kraftwerk::render::{RenderOptions, render};
use kraftwerk::roll::gates::{broker_recovered, brokers_can_roll};
use kraftwerk::tls::issue::{KeyedCert, Subject, generate_ca, issue};
use kraftwerk::user::{self, CredentialAction, secret};

const CLUSTER: &str = "sec";
const NAMESPACE: &str = "kafka";
/// The client listener's name in the spec (TLS, no authentication: `User:ANONYMOUS`).
const CLIENT: &str = "INTERNAL";
/// The SCRAM-SHA-512 listener (SASL_SSL) and its port in the spec.
const SCRAM: &str = "CLIENTS";
const SCRAM_PORT: u16 = 9094;
/// The mutual-TLS listener (client certificates of the cluster CA) and its port in the spec.
const MTLS: &str = "MTLS";
const MTLS_PORT: u16 = 9095;
/// A TLS listener serving the user's own certificate (`certificateSecret`, another CA).
const OWN: &str = "OWN";
const OWN_PORT: u16 = 9096;

/// A user that may produce to and consume `topic` in groups named `<group_prefix>*`, with
/// `authentication` (a YAML line or empty) and `extra` YAML lines.
fn acl_user(authentication: &str, topic: &str, group_prefix: &str, extra: &str) -> KafkaUserSpec {
    let acls = [
        format!("    - resource: {{type: topic, name: {topic}}}"),
        "      operations: [Read, Write, Describe]".to_string(),
        format!("    - resource: {{type: group, name: {group_prefix}, patternType: prefixed}}"),
        "      operations: [Read]".to_string(),
    ];
    user_spec(&format!(
        "cluster: sec\n{authentication}authorization:\n  acls:\n{}\n{extra}",
        acls.join("\n")
    ))
}

/// `User:ANONYMOUS`: the TLS listener's unauthenticated clients, on the topic of the TLS checks
/// with console consumers' generated groups.
fn anonymous() -> KafkaUserSpec {
    acl_user("", "secure", "console-consumer-", "")
}

fn alice() -> KafkaUserSpec {
    acl_user(
        "authentication: {type: scram-sha-512}\n",
        "orders",
        "alice-",
        "quotas: {producerByteRate: 1048576, consumerByteRate: 2097152, requestPercentage: 50}\n",
    )
}

/// A `tls` user: a client certificate issued by the operator, ACLs on its own topic.
fn carol() -> KafkaUserSpec {
    acl_user("authentication: {type: tls}\n", "ledger", "carol-", "")
}

const BOB: &str = r#"
cluster: sec
authentication: {type: scram-sha-512}
"#;

macro_rules! step {
    ($name:expr, $body:block) => {{
        let started = Instant::now();
        eprintln!("--- step: {}", $name);
        $body;
        eprintln!(
            "--- step ok: {} ({:.1} s)",
            $name,
            started.elapsed().as_secs_f64()
        );
    }};
}

/// Connects to 127.0.0.1 whatever the name, so TLS still verifies the name dialled.
#[derive(Clone, Copy)]
struct Loopback;

impl Connector for Loopback {
    type Stream = tokio::net::TcpStream;
    async fn connect(&self, _host: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await
    }
}

/// The running secure cluster and what a client needs to reach it.
struct SecureCluster {
    root: PathBuf,
    nodes: Vec<KafkaNode>,
    ca: KeyedCert,
    operator: KeyedCert,
    /// The bootstrap Service's name on the client and REPLICATION listeners (mapped ports).
    client_bootstrap: String,
    replication_bootstrap: String,
    /// The SCRAM listener through the bootstrap name, and on broker 0's loopback address (an IP
    /// SAN of the brokers' certificates, for the CLI, which resolves names itself).
    scram_bootstrap: String,
    scram_loopback: String,
    /// The mutual-TLS listener through the bootstrap name.
    mtls_bootstrap: String,
    /// The listener with the user's certificate through the bootstrap name, and the CA that
    /// signed that certificate (PEM file).
    own_bootstrap: String,
    own_ca: PathBuf,
    hosts_flag: String,
}

fn spec() -> KafkaCluster {
    serde_yaml::from_str(&format!(
        "apiVersion: kraftwerk.dev/v1alpha1\nkind: KafkaCluster\nmetadata: {{name: {CLUSTER}, namespace: {NAMESPACE}}}\n\
         spec:\n  security: {{tls: {{enabled: true}}, authorization: {{type: simple}}}}\n  \
         listeners: [{{name: {CLIENT}, port: 9092, tls: true}}, \
         {{name: {SCRAM}, port: {SCRAM_PORT}, tls: true, authentication: {{type: scram-sha-512}}}}, \
         {{name: {MTLS}, port: {MTLS_PORT}, tls: true, authentication: {{type: tls}}}}, \
         {{name: {OWN}, port: {OWN_PORT}, tls: true, certificateSecret: own-cert}}]\n  \
         brokers: {{replicas: 3}}\n  controllers: {{replicas: 3}}\n"
    ))
    .unwrap()
}

impl SecureCluster {
    async fn start() -> Res<Self> {
        let cr = spec();
        let rendered = render(&cr, &RenderOptions::default()).map_err(|e| e.to_string())?;
        let specs: Vec<NodeSpec> = rendered.nodes.iter().map(NodeSpec::from).collect();
        let root = scratch_dir("security")?;
        kafka_support::remove_after_exit(&root);
        let names = ClusterNames::new(CLUSTER, NAMESPACE, "cluster.local");
        let (ca, _) = generate_ca("sec-cluster-ca", now(), 30).map_err(|e| e.to_string())?;
        let ca_dir = root.join("ca");
        write(&ca_dir.join("ca.crt"), &ca.cert_pem)?;
        let map = AddressMap::for_nodes(&specs)?;
        let hosts = root.join("hosts");
        let mut all_names: Vec<String> = specs.iter().map(|s| s.fqdn.clone()).collect();
        all_names.extend([names.bootstrap_fqdn(), "wrong-name.example".to_string()]);
        write(&hosts, &format!("127.0.0.1 {}\n", all_names.join(" ")))?;
        let hosts_flag = format!("-Djdk.net.hosts.file={}", hosts.display());
        let own_secret = own_certificate(&cr, &names, &root)?;
        let own_ca_path = root.join("own-ca.crt");
        let libs = libs_dir()?;
        let mut nodes = Vec::new();
        for s in &specs {
            let dir = root.join(&s.name);
            let sans = kraftwerk::tls::node_sans(&names, role_of(s), s.node_id, &loopback_san(s));
            let subject = Subject {
                common_name: kraftwerk::tls::node_common_name(&names),
                sans,
            };
            let (cert, _) = issue(&ca, &subject, now(), 10).map_err(|e| e.to_string())?;
            write(
                &dir.join("tls/node/tls.crt"),
                &format!("{}{}", cert.cert_pem, ca.cert_pem),
            )?;
            write(&dir.join("tls/node/tls.key"), &cert.key_pem)?;
            if !s.role.is_controller() {
                for (key, value) in own_secret.data.clone().unwrap_or_default() {
                    let text = String::from_utf8(value.0).map_err(|e| e.to_string())?;
                    write(&dir.join("tls/listener/own").join(key), &text)?;
                }
            }
            let props = localize(s, &specs, &map, &dir, &ca_dir)?;
            let mut node = KafkaNode::new(&s.name, s.node_id, kafka_role(s), &dir, &props, &libs)?;
            node.format_args = s.format_args.iter().map(|a| remap(a, &specs, &map)).collect();
            node.extra_jvm = vec![hosts_flag.clone()];
            nodes.push(node);
        }
        let operator_subject = Subject {
            common_name: kraftwerk::tls::OPERATOR_COMMON_NAME.into(),
            sans: vec![],
        };
        let (operator, _) = issue(&ca, &operator_subject, now(), 10).map_err(|e| e.to_string())?;
        let broker0 = specs.iter().find(|s| s.node_id == 0).ok_or("no broker 0")?;
        let port = |p: u16| map.get(&broker0.fqdn, p).ok_or(format!("no mapping of {p}"));
        let mut cluster = Self {
            root,
            nodes,
            client_bootstrap: format!("{}:{}", names.bootstrap_fqdn(), port(9092)?),
            replication_bootstrap: format!("{}:{}", names.bootstrap_fqdn(), port(9091)?),
            scram_bootstrap: format!("{}:{}", names.bootstrap_fqdn(), port(SCRAM_PORT)?),
            scram_loopback: format!("127.0.0.1:{}", port(SCRAM_PORT)?),
            mtls_bootstrap: format!("{}:{}", names.bootstrap_fqdn(), port(MTLS_PORT)?),
            own_bootstrap: format!("{}:{}", names.bootstrap_fqdn(), port(OWN_PORT)?),
            own_ca: own_ca_path,
            ca,
            operator,
            hosts_flag,
        };
        for n in &cluster.nodes {
            n.format(&rendered.cluster_id)?;
        }
        for n in &mut cluster.nodes {
            n.start()?;
        }
        Ok(cluster)
    }

    /// The client material as the operator has it: the trust bundle as currently written.
    fn tls(&self, with_cert: bool) -> ClientTls {
        ClientTls {
            ca_pem: fs::read_to_string(self.root.join("ca/ca.crt")).unwrap(),
            identity: with_cert.then(|| (self.operator.cert_pem.clone(), self.operator.key_pem.clone())),
        }
    }

    /// An admin client to `bootstrap` with `tls`; names verified.
    fn admin(&self, tls: Option<ClientTls>, bootstrap: &str) -> AdminClient<Secured<Loopback>> {
        self.admin_as(tls, None, bootstrap)
    }

    /// An admin client of SCRAM user `user` on the SCRAM listener (TLS, names verified).
    fn scram_admin(&self, user: &str, password: &str) -> AdminClient<Secured<Loopback>> {
        let sasl = ScramCredentials {
            mechanism: ScramMechanism::Sha512,
            username: user.into(),
            password: password.into(),
        };
        self.admin_as(Some(self.tls(false)), Some(sasl), &self.scram_bootstrap)
    }

    fn admin_as(
        &self,
        tls: Option<ClientTls>,
        sasl: Option<ScramCredentials>,
        bootstrap: &str,
    ) -> AdminClient<Secured<Loopback>> {
        let config = AdminConfig {
            client_id: "kraftwerk-test".into(),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            tls,
            sasl,
        };
        let connector = Secured::new(Loopback, config.tls.as_ref()).unwrap();
        AdminClient::with_connector(connector, HostPort::parse_list(bootstrap).unwrap(), config).unwrap()
    }

    fn operator_admin(&self) -> AdminClient<Secured<Loopback>> {
        self.admin(Some(self.tls(true)), &self.replication_bootstrap)
    }

    async fn wait_ready(&self, timeout: Duration) -> Res<Duration> {
        let started = Instant::now();
        let admin = self.operator_admin();
        loop {
            if let Ok(c) = admin.describe_cluster().await
                && c.brokers.len() == 3
                && c.brokers.iter().all(|b| !b.fenced)
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                return Err(format!("not ready after {timeout:?}:\n{}", self.log_tails()));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn log_tails(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("== {} ==\n{}", n.name, n.log_tail(30)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn node_mut(&mut self, id: i32) -> &mut KafkaNode {
        self.nodes.iter_mut().find(|n| n.node_id == id).unwrap()
    }

    /// Restarts node `id` as the operator's roll does: once its gate allows, then waits until
    /// it is back (a broker unfenced and in every ISR, a controller caught up). Returns how long
    /// the node was away.
    async fn gated_restart(&mut self, admin: &AdminClient<Secured<Loopback>>, id: i32) -> Duration {
        use kraftwerk::roll::gates::{controller_can_roll, controller_recovered};
        let controller = id >= kraftwerk::names::CONTROLLER_ID_BASE;
        let gate = |s: &kraftwerk::roll::gates::KafkaState| {
            if controller {
                controller_can_roll(s, id).map_err(|e| e.to_string())
            } else {
                brokers_can_roll(s, &[id]).map_err(|e| e.to_string())
            }
        };
        let back = |s: &kraftwerk::roll::gates::KafkaState| {
            if controller {
                controller_recovered(s, id)
            } else {
                broker_recovered(s, id)
            }
        };
        let started = Instant::now();
        loop {
            if let Ok(s) = kafka_state(admin).await
                && gate(&s).is_ok()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "gate for {id} never opened"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let down = Instant::now();
        self.node_mut(id).restart(Duration::from_secs(60)).unwrap();
        loop {
            if let Ok(s) = kafka_state(admin).await
                && back(&s).is_ok()
            {
                return down.elapsed();
            }
            assert!(
                down.elapsed() < Duration::from_secs(180),
                "node {id} not back:\n{}",
                self.log_tails()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Writes node `id`'s certificate, issued by `ca` for its names.
    fn reissue(&self, id: i32, ca: &KeyedCert) {
        let names = ClusterNames::new(CLUSTER, NAMESPACE, "cluster.local");
        let node = self.nodes.iter().find(|n| n.node_id == id).unwrap();
        let role = if id >= kraftwerk::names::CONTROLLER_ID_BASE {
            kraftwerk::names::Role::Controller
        } else {
            kraftwerk::names::Role::Broker
        };
        let subject = Subject {
            common_name: kraftwerk::tls::node_common_name(&names),
            sans: kraftwerk::tls::node_sans(&names, role, id, &[]),
        };
        let (cert, _) = issue(ca, &subject, now(), 10).unwrap();
        write(
            &node.dir.join("tls/node/tls.crt"),
            &format!("{}{}", cert.cert_pem, ca.cert_pem),
        )
        .unwrap();
        write(&node.dir.join("tls/node/tls.key"), &cert.key_pem).unwrap();
    }

    /// A Java client properties file: TLS with the cluster CA, hostname verification on (Kafka's
    /// default, stated anyway).
    fn client_properties(&self) -> Res<PathBuf> {
        self.properties("client", "security.protocol=SSL\n")
    }

    /// A Java client properties file for SCRAM user `user` on the SASL_SSL listener (the
    /// Secret's `sasl.jaas.config`, as a user would paste it).
    fn scram_properties(&self, user: &str, password: &str) -> Res<PathBuf> {
        let name = format!("{user}-{}", secret::fingerprint(password));
        let text = format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config={}\n",
            secret::jaas_config(user, password)
        );
        self.properties(&name, &text)
    }

    fn properties(&self, name: &str, auth: &str) -> Res<PathBuf> {
        self.properties_trusting(name, auth, &self.root.join("ca/ca.crt"))
    }

    fn properties_trusting(&self, name: &str, auth: &str, ca: &Path) -> Res<PathBuf> {
        let path = self.root.join(format!("{name}.properties"));
        write(
            &path,
            &format!(
                "{auth}ssl.truststore.type=PEM\nssl.truststore.location={}\n\
                 ssl.endpoint.identification.algorithm=https\n",
                ca.display()
            ),
        )?;
        Ok(path)
    }

    /// Kafka's console producer with `config`, one message per line of `lines`; returns its
    /// exit success and output.
    fn java_produce(
        &self,
        config: &Path,
        bootstrap: &str,
        topic: &str,
        lines: &[String],
    ) -> Res<(bool, String)> {
        use std::io::Write as _;
        let mut child = kafka_support::tool_command(&libs_dir()?)
            .arg(&self.hosts_flag)
            .arg("org.apache.kafka.tools.ConsoleProducer")
            .args(["--bootstrap-server", bootstrap, "--topic", topic])
            .arg("--command-config")
            .arg(config)
            .args([
                "--producer-property",
                "acks=all",
                "--producer-property",
                "max.block.ms=20000",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        stdin
            .write_all(lines.join("\n").as_bytes())
            .map_err(|e| e.to_string())?;
        stdin.write_all(b"\n").map_err(|e| e.to_string())?;
        drop(stdin);
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.success() && !text.contains("ERROR"), text))
    }

    /// Kafka's console consumer with `config` from the beginning (group `group`, else a
    /// generated `console-consumer-*`); returns the values it printed and its stderr.
    fn java_consume(
        &self,
        config: &Path,
        bootstrap: &str,
        topic: &str,
        group: Option<&str>,
        max: usize,
    ) -> Res<(Vec<String>, String)> {
        let mut command = kafka_support::tool_command(&libs_dir()?);
        command
            .arg(&self.hosts_flag)
            .arg("org.apache.kafka.tools.consumer.ConsoleConsumer")
            .args([
                "--bootstrap-server",
                bootstrap,
                "--topic",
                topic,
                "--from-beginning",
            ])
            .arg("--command-config")
            .arg(config)
            .args(["--max-messages", &max.to_string(), "--timeout-ms", "30000"]);
        if let Some(group) = group {
            command.args(["--group", group]);
        }
        let out = command.output().map_err(|e| e.to_string())?;
        let values = String::from_utf8_lossy(&out.stdout)
            .lines()
            // Values only: no log lines, no tool notices (they contain spaces, values do not).
            .filter(|l| !l.starts_with('[') && !l.contains(' '))
            .map(str::to_string)
            .collect();
        Ok((values, String::from_utf8_lossy(&out.stderr).into_owned()))
    }

    /// The TLS listener's anonymous produce and consume of `lines` on topic `secure`.
    fn tls_produce(&self, lines: &[String]) -> Res<(bool, String)> {
        self.java_produce(
            &self.client_properties()?,
            &self.client_bootstrap,
            "secure",
            lines,
        )
    }

    fn tls_consume(&self, max: usize) -> Res<Vec<String>> {
        let config = self.client_properties()?;
        Ok(self
            .java_consume(&config, &self.client_bootstrap, "secure", None, max)?
            .0)
    }
}

/// The user's own certificate for the OWN listener, as its Secret would hold it: signed by
/// another CA (written to `own-ca.crt`), covering the names the operator's check requires, and
/// passing that check (`tls::listener_cert`).
fn own_certificate(
    cr: &KafkaCluster,
    names: &ClusterNames,
    root: &Path,
) -> Res<k8s_openapi::api::core::v1::Secret> {
    use kraftwerk::tls::listener_cert;
    let listener = cr
        .spec
        .listeners
        .iter()
        .find(|l| l.name == OWN)
        .ok_or("no OWN listener")?;
    let hosts = listener_cert::hostnames(&cr.spec, names, listener);
    let (own_ca, _) = generate_ca("own-ca", now(), 30).map_err(|e| e.to_string())?;
    write(&root.join("own-ca.crt"), &own_ca.cert_pem)?;
    let subject = Subject {
        common_name: "kafka.example.com".into(),
        sans: hosts.clone(),
    };
    let (cert, info) = issue(&own_ca, &subject, now(), 10).map_err(|e| e.to_string())?;
    let secret =
        kraftwerk::tls::secrets::cert_secret(names, "own-cert", &cert, &own_ca.cert_pem, &info, None);
    listener_cert::check("own-cert", Some(&secret), &hosts, now())?;
    Ok(secret)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn write(path: &Path, text: &str) -> Res<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("mkdir {dir:?}: {e}"))?;
    }
    fs::write(path, text).map_err(|e| format!("write {path:?}: {e}"))
}

/// Brokers' certificates also name 127.0.0.1 (an IP SAN), so the CLI can dial a broker's
/// loopback address with hostname verification.
fn loopback_san(s: &NodeSpec) -> Vec<String> {
    if s.role.is_controller() {
        Vec::new()
    } else {
        vec!["127.0.0.1".to_string()]
    }
}

fn role_of(s: &NodeSpec) -> kraftwerk::names::Role {
    if s.role.is_controller() {
        kraftwerk::names::Role::Controller
    } else {
        kraftwerk::names::Role::Broker
    }
}

fn kafka_role(s: &NodeSpec) -> kafka_support::Role {
    s.role
}

/// Every `<fqdn>:<port>` of a node becomes `<fqdn>:<mapped port>`: names stay (they resolve
/// to loopback through the hosts file), so TLS verifies them.
fn remap(value: &str, specs: &[NodeSpec], map: &AddressMap) -> String {
    let mut out = value.to_string();
    for s in specs {
        let re = regex::Regex::new(&format!(r"{}:(\d+)", regex::escape(&s.fqdn))).unwrap();
        out = re
            .replace_all(&out, |c: &regex::Captures| {
                let port: u16 = c[1].parse().unwrap_or(0);
                format!("{}:{}", s.fqdn, map.get(&s.fqdn, port).unwrap_or(port))
            })
            .into_owned();
    }
    out
}

/// The rendered `server.properties` of `s` on loopback: mapped ports, binds on 127.0.0.1,
/// data and TLS mounts in the node's directory. Nothing else changes.
fn localize(s: &NodeSpec, specs: &[NodeSpec], map: &AddressMap, dir: &Path, ca_dir: &Path) -> Res<String> {
    let mut out = String::new();
    for line in s.server_properties.lines() {
        let Some((key, value)) = line.split_once('=').filter(|_| !line.starts_with('#')) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let mut value = remap(value, specs, map)
            .replace(
                kraftwerk::tls::listener_cert::MOUNT_ROOT,
                &dir.join("tls/listener").display().to_string(),
            )
            .replace(
                kraftwerk::tls::NODE_CERT_MOUNT,
                &dir.join("tls/node").display().to_string(),
            )
            .replace(kraftwerk::tls::CA_MOUNT, &ca_dir.display().to_string());
        match key {
            "listeners" => {
                let bound: Res<Vec<String>> = parse_listeners(&value)?
                    .into_iter()
                    .map(|(name, _, port)| {
                        let p = map.get(&s.fqdn, port).ok_or(format!("no mapping of {port}"))?;
                        Ok(format!("{name}://127.0.0.1:{p}"))
                    })
                    .collect();
                value = bound?.join(",");
            }
            "log.dirs" => value = dir.join("data").display().to_string(),
            _ => {}
        }
        out.push_str(&format!("{key}={value}\n"));
    }
    Ok(out)
}

/// The effective value of `key` on broker `id`, read back from Kafka.
async fn broker_config(admin: &AdminClient<Secured<Loopback>>, id: i32, key: &str) -> Option<String> {
    let resource = kraftwerk::admin::ConfigResource::Broker(id);
    let entries = admin.describe_configs(&resource, Some(&[key])).await.ok()?;
    entries.into_iter().find(|e| e.name == key).and_then(|e| e.value)
}

#[tokio::test]
#[ignore = "needs Java and the Kafka jars; run with make test-kafka"]
async fn tls_on_every_listener_with_hostname_verification_and_the_operators_gates() {
    let mut cluster = SecureCluster::start().await.unwrap();
    step!(
        "the cluster forms over TLS (controllers and replication with mutual TLS)",
        {
            let took = cluster.wait_ready(Duration::from_secs(180)).await.unwrap();
            eprintln!("3+3 TLS cluster ready in {:.1} s", took.as_secs_f64());
        }
    );
    let admin = cluster.operator_admin();

    step!(
        "Kafka runs what the operator rendered: SSL everywhere, PEM stores",
        {
            let map = broker_config(&admin, 0, "listener.security.protocol.map")
                .await
                .unwrap();
            for pair in [
                "CONTROLLER:SSL",
                "INTERNAL:SSL",
                "REPLICATION:SSL",
                "CLIENTS:SASL_SSL",
            ] {
                assert!(map.contains(pair), "{map}");
            }
            assert_eq!(
                broker_config(&admin, 0, "inter.broker.listener.name")
                    .await
                    .as_deref(),
                Some("REPLICATION")
            );
            assert_eq!(
                broker_config(&admin, 1, "ssl.keystore.type").await.as_deref(),
                Some("PEM")
            );
            assert_eq!(
                broker_config(&admin, 2, "authorizer.class.name").await.as_deref(),
                Some(kraftwerk::auth::STANDARD_AUTHORIZER)
            );
            // User:ANONYMOUS is no super user: an unauthenticated TLS client may not create a topic.
            let anonymous = cluster.admin(Some(cluster.tls(false)), &cluster.client_bootstrap);
            let refused = anonymous
                .create_topic(&kraftwerk::admin::NewTopic::new("anonymous", 1, 1))
                .await
                .expect_err("User:ANONYMOUS must not create topics");
            eprintln!("anonymous create_topic: {refused}");
            let quorum = admin.describe_quorum().await.unwrap();
            assert_eq!(
                quorum.voters.len(),
                3,
                "the quorum formed over the SSL controller listener"
            );
        }
    );

    step!(
        "a Java client produces and consumes over TLS through the bootstrap name",
        {
            // Unauthenticated TLS clients are User:ANONYMOUS, under ACLs like any user.
            apply_user(&admin, "ANONYMOUS", &anonymous(), true, None, None)
                .await
                .unwrap();
            state_eventually(&admin, "ANONYMOUS", |s| s.acls.len() == 4).await;
            kafka_support::create_topic(&admin, "secure", 3).await;
            let lines: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
            let (ok, log) = cluster.tls_produce(&lines).unwrap();
            assert!(ok, "produce over TLS failed:\n{log}");
            let mut got = cluster.tls_consume(100).unwrap();
            got.sort();
            let mut want = lines.clone();
            want.sort();
            assert_eq!(got, want, "every message read back over TLS");
        }
    );

    step!(
        "hostname verification: a name the certificates do not carry is refused",
        {
            let port = cluster.client_bootstrap.rsplit_once(':').unwrap().1.to_string();
            let wrong = format!("wrong-name.example:{port}");
            let config = cluster.client_properties().unwrap();
            let (ok, log) = cluster
                .java_produce(&config, &wrong, "secure", &["x".to_string()])
                .unwrap();
            assert!(
                !ok,
                "a Java client must not accept a certificate without its name:\n{log}"
            );
            let rust = cluster.admin(Some(cluster.tls(false)), &wrong);
            let err = rust
                .describe_cluster()
                .await
                .expect_err("rustls must refuse the name");
            eprintln!("rustls with a wrong name: {err}");
        }
    );

    step!(
        "plaintext clients and clients without a certificate are refused",
        {
            for bootstrap in [&cluster.client_bootstrap, &cluster.replication_bootstrap] {
                let plain = cluster.admin(None, bootstrap);
                let err = plain
                    .describe_cluster()
                    .await
                    .expect_err("plaintext must be refused");
                eprintln!("plaintext to {bootstrap}: {err}");
            }
            let no_cert = cluster.admin(Some(cluster.tls(false)), &cluster.replication_bootstrap);
            let err = no_cert
                .describe_cluster()
                .await
                .expect_err("REPLICATION requires a client certificate");
            eprintln!("no client certificate on REPLICATION: {err}");
            // The client listener has TLS without client authentication.
            let server_only = cluster.admin(Some(cluster.tls(false)), &cluster.client_bootstrap);
            server_only.describe_cluster().await.unwrap();
        }
    );

    scram_users_apply_and_authenticate(&cluster, &admin).await;
    tls_user_on_the_mutual_tls_listener(&cluster, &admin).await;

    step!(
        "a listener serves the user's own certificate (certificateSecret)",
        {
            let own = cluster
                .properties_trusting("own", "security.protocol=SSL\n", &cluster.own_ca)
                .unwrap();
            let at = cluster.own_bootstrap.clone();
            let lines: Vec<String> = (0..10).map(|i| format!("own{i}")).collect();
            let (ok, log) = cluster.java_produce(&own, &at, "secure", &lines).unwrap();
            assert!(ok, "a client trusting only the user's CA, names verified: {log}");
            let cluster_ca_only = cluster.client_properties().unwrap();
            let (ok, log) = cluster
                .java_produce(&cluster_ca_only, &at, "secure", &["x".to_string()])
                .unwrap();
            assert!(
                !ok,
                "the OWN listener must not serve the cluster CA's certificate: {log}"
            );
        }
    );

    step!("the operator's gates work through the rustls admin client", {
        let state = kafka_state(&admin).await.unwrap();
        brokers_can_roll(&state, &[1]).expect("a healthy cluster may roll broker 1");
        cluster.node_mut(1).stop(Duration::from_secs(60)).unwrap();
        let started = Instant::now();
        loop {
            let state = kafka_state(&admin).await.unwrap();
            if let Err(refusal) = brokers_can_roll(&state, &[2]) {
                eprintln!("broker 1 down: rolling broker 2 refused: {refusal}");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "can_roll never refused"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        cluster.node_mut(1).start().unwrap();
        let started = Instant::now();
        loop {
            let state = kafka_state(&admin).await;
            if let Ok(s) = &state
                && broker_recovered(s, 1).is_ok()
            {
                eprintln!(
                    "broker 1 back in every ISR after {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "broker 1 not back: {:?}\n{}",
                state.map(|s| broker_recovered(&s, 1)),
                cluster.log_tails()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });

    step!(
        "CA renewal with trust overlap: both CAs trusted, certificates of the new CA mixed in",
        {
            let before: Vec<String> = (0..100).map(|i| format!("before{i}")).collect();
            let (ok, log) = cluster.tls_produce(&before).unwrap();
            assert!(ok, "{log}");
            let (new_ca, _) = generate_ca("sec-cluster-ca-2", now(), 30).unwrap();
            // (1) The bundle holds new and previous CA; every node restarts onto it, gated.
            let bundle = format!("{}{}", new_ca.cert_pem, cluster.ca.cert_pem);
            write(&cluster.root.join("ca/ca.crt"), &bundle).unwrap();
            let admin = cluster.operator_admin();
            let ids: Vec<i32> = [9000, 9001, 9002, 0, 1, 2].into();
            let mut longest = Duration::ZERO;
            for id in &ids {
                longest = longest.max(cluster.gated_restart(&admin, *id).await);
            }
            // (2) A controller and a broker get certificates of the new CA while the others keep
            // the previous CA's: the overlap lets them all talk.
            for id in [9001, 2] {
                cluster.reissue(id, &new_ca);
                longest = longest.max(cluster.gated_restart(&admin, id).await);
            }
            eprintln!(
                "8 gated restarts over TLS; longest time a node was away: {:.1} s",
                longest.as_secs_f64()
            );
            let took = cluster.wait_ready(Duration::from_secs(60)).await.unwrap();
            eprintln!("mixed-CA cluster ready ({:.1} s)", took.as_secs_f64());
            let after: Vec<String> = (0..100).map(|i| format!("after{i}")).collect();
            let (ok, log) = cluster.tls_produce(&after).unwrap();
            assert!(ok, "produce with mixed certificates: {log}");
            // 100 + 10 (the OWN listener's step) + 100 + 100 in the topic.
            let got = cluster.tls_consume(310).unwrap();
            for m in before.iter().chain(&after) {
                assert!(got.contains(m), "{m} lost; read {} messages", got.len());
            }
            eprintln!(
                "read back {} messages (100 + 10 + 100 + 100), none missing",
                got.len()
            );
        }
    );
}

fn user_spec(yaml: &str) -> KafkaUserSpec {
    serde_yaml::from_str(yaml).unwrap()
}

/// The ACLs Kafka holds for `principal`.
async fn acls_of(
    admin: &AdminClient<Secured<Loopback>>,
    principal: &str,
) -> BTreeSet<kraftwerk::admin::AclBinding> {
    admin
        .describe_acls(principal)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// What Kafka holds for `user` once `done` accepts it (metadata reaches the brokers
/// asynchronously after the controller applied a change); fails after 20 s.
async fn state_eventually(
    admin: &AdminClient<Secured<Loopback>>,
    user: &str,
    done: impl Fn(&kraftwerk::user::KafkaUserState) -> bool,
) -> kraftwerk::user::KafkaUserState {
    let started = Instant::now();
    loop {
        let state = read_state(admin, user, true).await.unwrap();
        if done(&state) {
            return state;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "Kafka never showed the change of {user}: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn has_authorization_error(text: &str) -> bool {
    text.contains("TopicAuthorizationException") || text.contains("Not authorized")
}

/// SCRAM users alice (ACLs, quotas) and bob (none) applied through the operator's code path;
/// read back from Kafka; Java and Rust clients authenticate on the SASL_SSL listener, a user
/// without ACLs, a wrong password and an unauthenticated client are refused; then the edits.
async fn scram_users_apply_and_authenticate(cluster: &SecureCluster, admin: &AdminClient<Secured<Loopback>>) {
    for t in ["orders", "secret"] {
        kafka_support::create_topic(admin, t, 1).await;
    }
    let (alice, bob) = (alice(), user_spec(BOB));
    let alice_pw = secret::generate_password().unwrap();
    let bob_pw = secret::generate_password().unwrap();
    step!(
        "KafkaUsers applied through the operator's code path, read back",
        {
            let plan = apply_user(admin, "alice", &alice, true, Some(&alice_pw), None)
                .await
                .unwrap();
            assert_eq!(plan.credential, Some(CredentialAction::Upsert));
            assert_eq!(plan.acls.create.len(), 4);
            apply_user(admin, "bob", &bob, true, Some(&bob_pw), None)
                .await
                .unwrap();
            state_eventually(admin, "alice", |s| {
                s.scram && s.acls.len() == 4 && s.quotas.len() == 3
            })
            .await;
            state_eventually(admin, "bob", |s| s.scram).await;
            let creds = admin
                .describe_scram_credentials(&["alice", "bob", "nobody"])
                .await
                .unwrap();
            assert_eq!(creds["alice"], vec![(ScramMechanism::Sha512, 8192)]);
            assert!(creds.contains_key("bob") && !creds.contains_key("nobody"));
            assert_eq!(
                acls_of(admin, "User:alice").await,
                user::desired_acls("alice", &alice)
            );
            let quotas = admin.describe_user_quotas("alice").await.unwrap();
            assert_eq!(quotas, user::desired_quotas(&alice));
            assert_eq!(quotas["producer_byte_rate"], 1048576.0);
            assert!(admin.describe_acls("User:bob").await.unwrap().is_empty());
            // A converged user plans nothing (no write request).
            let fp = secret::fingerprint(&alice_pw);
            let plan = apply_user(admin, "alice", &alice, true, Some(&alice_pw), Some(&fp))
                .await
                .unwrap();
            assert!(plan.is_empty(), "{plan:?}");
        }
    );

    step!(
        "the admin client authenticates with SCRAM over TLS; a wrong password and no SASL are refused",
        {
            let md = cluster
                .scram_admin("alice", &alice_pw)
                .metadata(Some(&["orders"]))
                .await
                .unwrap();
            assert_eq!(md.topics.len(), 1);
            let err = cluster
                .scram_admin("alice", "not-the-password")
                .metadata(None)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.to_lowercase().contains("authentication"), "{err}");
            let anonymous = cluster.admin(Some(cluster.tls(false)), &cluster.scram_bootstrap);
            assert!(
                anonymous.metadata(None).await.is_err(),
                "an unauthenticated client is refused"
            );
        }
    );

    step!(
        "Java: alice produces and consumes; bob is not authorised; a wrong password is refused",
        {
            let three: Vec<String> = ["one", "two", "three"].map(String::from).into();
            let alice_cfg = cluster.scram_properties("alice", &alice_pw).unwrap();
            let at = cluster.scram_bootstrap.clone();
            let (ok, log) = cluster.java_produce(&alice_cfg, &at, "orders", &three).unwrap();
            assert!(ok, "alice produce: {log}");
            let (records, err) = cluster
                .java_consume(&alice_cfg, &at, "orders", Some("alice-readers"), 3)
                .unwrap();
            assert_eq!(records, three, "alice consume: {err}");
            let bob_cfg = cluster.scram_properties("bob", &bob_pw).unwrap();
            let (ok, log) = cluster
                .java_produce(&bob_cfg, &at, "orders", &["nope".into()])
                .unwrap();
            assert!(!ok && has_authorization_error(&log), "bob produce: {log}");
            let (records, err) = cluster
                .java_consume(&alice_cfg, &at, "secret", Some("alice-readers"), 1)
                .unwrap();
            assert!(
                records.is_empty() && has_authorization_error(&err),
                "alice on secret: {err}"
            );
            let wrong_cfg = cluster.scram_properties("alice", "wrong-password").unwrap();
            let (ok, log) = cluster
                .java_produce(&wrong_cfg, &at, "orders", &["nope".into()])
                .unwrap();
            assert!(
                !ok && (log.contains("SaslAuthenticationException") || log.contains("Authentication failed")),
                "wrong password: {log}"
            );
        }
    );
    scram_users_edit_rotate_delete(cluster, admin, &alice, &alice_pw, &bob_pw).await;
}

/// A `tls` KafkaUser: its Secret as the operator writes it (`user::cert`), the certificate
/// issued by the operator's code; a Java client with the Secret's PEM key store and bundle
/// produces and consumes on the mutual-TLS listener under the user's ACLs (`User:carol`: the CN
/// mapping); a topic without ACLs is refused; a client without a certificate is refused.
async fn tls_user_on_the_mutual_tls_listener(
    cluster: &SecureCluster,
    admin: &AdminClient<Secured<Loopback>>,
) {
    step!(
        "a tls KafkaUser's certificate works on the mutual-TLS listener under its ACLs",
        {
            let (cert, info) = kraftwerk::tls::issue::issue_user(&cluster.ca, "carol", now(), 10).unwrap();
            let bundle = fs::read_to_string(cluster.root.join("ca/ca.crt")).unwrap();
            let secret = user::cert::cert_secret(NAMESPACE, CLUSTER, "carol", &cert, &info, &bundle, None);
            let dir = cluster.root.join("carol");
            for (key, value) in secret.data.unwrap() {
                write(&dir.join(key), &String::from_utf8(value.0).unwrap()).unwrap();
            }
            apply_user(admin, "carol", &carol(), true, None, None)
                .await
                .unwrap();
            state_eventually(admin, "carol", |s| s.acls.len() == 4).await;
            kafka_support::create_topic(admin, "ledger", 1).await;
            let config = cluster
                .properties(
                    "carol",
                    &format!(
                        "security.protocol=SSL\nssl.keystore.type=PEM\nssl.keystore.location={}\n",
                        dir.join(user::cert::KEYSTORE_KEY).display()
                    ),
                )
                .unwrap();
            let at = cluster.mtls_bootstrap.clone();
            let three: Vec<String> = ["l1", "l2", "l3"].map(String::from).into();
            let (ok, log) = cluster.java_produce(&config, &at, "ledger", &three).unwrap();
            assert!(ok, "carol produce with her certificate: {log}");
            let (records, err) = cluster
                .java_consume(&config, &at, "ledger", Some("carol-readers"), 3)
                .unwrap();
            assert_eq!(records, three, "carol consume: {err}");
            let (ok, log) = cluster
                .java_produce(&config, &at, "orders", &["nope".into()])
                .unwrap();
            assert!(!ok && has_authorization_error(&log), "carol on orders: {log}");
            let no_cert = cluster.client_properties().unwrap();
            let (ok, log) = cluster
                .java_produce(&no_cert, &at, "ledger", &["nope".into()])
                .unwrap();
            assert!(!ok, "a client without a certificate must be refused: {log}");
            eprintln!(
                "no certificate on {MTLS}: {}",
                log.lines().find(|l| l.contains("Exception")).unwrap_or("refused")
            );
        }
    );
}

/// An ACL edit applied exactly, a password rotation, the CLI with SCRAM, and deletion.
async fn scram_users_edit_rotate_delete(
    cluster: &SecureCluster,
    admin: &AdminClient<Secured<Loopback>>,
    alice: &KafkaUserSpec,
    alice_pw: &str,
    bob_pw: &str,
) {
    let fp = secret::fingerprint(alice_pw);
    step!("an ACL edit is applied exactly (read back)", {
        let mut edited = alice.clone();
        let auth = edited.authorization.as_mut().unwrap();
        auth.acls[0].operations = vec![kraftwerk::admin::AclOperation::Read];
        auth.acls.pop();
        edited.quotas.as_mut().unwrap().consumer_byte_rate = None;
        let plan = apply_user(admin, "alice", &edited, true, Some(alice_pw), Some(&fp))
            .await
            .unwrap();
        assert_eq!(
            (plan.acls.create.len(), plan.acls.delete.len()),
            (0, 3),
            "{plan:?}"
        );
        state_eventually(admin, "alice", |s| s.acls.len() == 1 && s.quotas.len() == 2).await;
        assert_eq!(
            acls_of(admin, "User:alice").await,
            user::desired_acls("alice", &edited)
        );
        assert_eq!(
            admin.describe_user_quotas("alice").await.unwrap(),
            user::desired_quotas(&edited)
        );
    });

    step!(
        "a new password in the Secret is applied; the old one stops working",
        {
            let new_pw = secret::generate_password().unwrap();
            let plan = apply_user(admin, "alice", alice, true, Some(&new_pw), Some(&fp))
                .await
                .unwrap();
            assert_eq!(plan.credential, Some(CredentialAction::Upsert));
            // The new credential reaches the broker asynchronously.
            let started = Instant::now();
            while cluster
                .scram_admin("alice", &new_pw)
                .metadata(None)
                .await
                .is_err()
            {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "the new password never worked"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            cluster
                .scram_admin("alice", &new_pw)
                .metadata(None)
                .await
                .unwrap();
            assert!(
                cluster
                    .scram_admin("alice", alice_pw)
                    .metadata(None)
                    .await
                    .is_err()
            );
        }
    );

    step!(
        "the CLI authenticates with --sasl-username/--sasl-password over TLS",
        {
            use cli_admin::{AdminArgs, OutputFormat, TopicCli, TopicCommand};
            let topics = |password: &str| TopicCli {
                args: AdminArgs {
                    kube: kubeconfig::KubeArgs {
                        namespace: None,
                        context: None,
                    },
                    cluster: None,
                    bootstrap: Some(cluster.scram_loopback.clone()),
                    output: OutputFormat::Table,
                    timeout: 10,
                    tls_ca: Some(cluster.root.join("ca/ca.crt")),
                    tls_cert: None,
                    tls_key: None,
                    sasl_username: Some("bob".into()),
                    sasl_password: Some(password.into()),
                    kafka_user: None,
                },
                command: TopicCommand::List { internal: false },
            };
            cli_admin::run_topic(&topics(bob_pw)).await.unwrap();
            let err = cli_admin::run_topic(&topics("wrong")).await.unwrap_err();
            assert!(err.contains("authentication"), "{err}");
        }
    );

    step!(
        "deleting the KafkaUser removes its credential, ACLs and quotas (read back)",
        {
            let plan = remove_user(admin, "alice", true).await.unwrap();
            assert_eq!(plan.credential, Some(CredentialAction::Delete));
            let state = state_eventually(admin, "alice", |s| s.acls.is_empty() && !s.scram).await;
            assert!(
                state.acls.is_empty() && state.quotas.is_empty() && !state.scram,
                "{state:?}"
            );
            assert!(
                remove_user(admin, "alice", true).await.unwrap().is_empty(),
                "idempotent"
            );
            assert!(
                cluster.scram_admin("bob", bob_pw).metadata(None).await.is_ok(),
                "bob unaffected"
            );
        }
    );
}
