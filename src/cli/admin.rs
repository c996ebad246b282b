//! `kraftwerk broker …` and `kraftwerk topic …`: Kafka admin commands on
//! [`kraftwerk::admin`], modelled on DC/OS `dcos kafka broker …` / `dcos kafka topic …`.
//! Without `--bootstrap` they reach the KafkaCluster's brokers by port-forward through the
//! Kubernetes API ([`super::kubeconfig`]); with it, directly.
//!
//! Wiring (in the binary's `Command` enum):
//! ```ignore
//! Broker(cli::admin::BrokerCli),   // kraftwerk broker list --bootstrap h:p
//! Topic(cli::admin::TopicCli),     // kraftwerk topic list|describe|create|under-replicated|unavailable
//! ...
//! Command::Broker(b) => cli::admin::run_broker(&b).await?,
//! Command::Topic(t) => cli::admin::run_topic(&t).await?,
//! ```
//! This file only uses the public `kraftwerk::admin` API, so it can live in the binary.

use std::fmt::Write as _;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use kraftwerk::admin::{
    AdminClient, AdminConfig, AdminError, AlterConfigOp, BrokerInfo, ClientTls, ConfigEntry, ConfigResource,
    Connector, NewTopic, PartitionInfo, ScramCredentials, ScramMechanism, Secured, TopicInfo,
};
use serde::Serialize;

use super::kubeconfig::{KubeArgs, PortForward};

/// Connection options shared by `broker` and `topic`.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// The KafkaCluster [default: the only one in the namespace].
    #[arg(long, global = true)]
    pub cluster: Option<String>,
    /// Kafka bootstrap servers, `host:port[,host:port…]`, reachable from here; without it the
    /// brokers are reached by port-forward through the Kubernetes API.
    #[arg(
        long,
        global = true,
        env = "KRAFTWERK_BOOTSTRAP",
        value_name = "HOST:PORT[,HOST:PORT]"
    )]
    pub bootstrap: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Per-request timeout in seconds (connect timeout is a third of it, at least 1 s).
    #[arg(long, global = true, default_value_t = 15, value_name = "SECONDS")]
    pub timeout: u64,
    /// TLS: the CA certificate(s) to trust (PEM file). Without `--bootstrap`, a cluster whose
    /// inter-broker listener uses TLS is reached with its CA and the operator's client
    /// certificate, read from their Secrets (needs `get` on Secrets).
    #[arg(long, global = true, env = "KRAFTWERK_TLS_CA", value_name = "PEM_FILE")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// TLS: the client certificate for mutual TLS (PEM file; with `--tls-key`).
    #[arg(
        long,
        global = true,
        env = "KRAFTWERK_TLS_CERT",
        value_name = "PEM_FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<std::path::PathBuf>,
    /// TLS: the client certificate's private key (PEM file, PKCS#8).
    #[arg(
        long,
        global = true,
        env = "KRAFTWERK_TLS_KEY",
        value_name = "PEM_FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<std::path::PathBuf>,
    /// SASL/SCRAM-SHA-512 user for a listener with `authentication: {type: scram-sha-512}`.
    #[arg(
        long,
        global = true,
        env = "KRAFTWERK_SASL_USERNAME",
        requires = "sasl_password"
    )]
    pub sasl_username: Option<String>,
    /// Its password.
    #[arg(long, global = true, env = "KRAFTWERK_SASL_PASSWORD", hide_env_values = true)]
    pub sasl_password: Option<String>,
    /// Authenticate as this KafkaUser: its Secret's `username` and `password` (SCRAM-SHA-512).
    #[arg(long, global = true, conflicts_with = "sasl_username", value_name = "NAME")]
    pub kafka_user: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Yaml,
}

/// JSON or YAML of `value` (the table is each command's own).
pub fn structured<T: Serialize + ?Sized>(format: OutputFormat, value: &T) -> Result<String, String> {
    match format {
        OutputFormat::Yaml => {
            serde_yaml::to_string(value).map_err(|e| format!("cannot serialize output: {e}"))
        }
        _ => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| format!("cannot serialize output: {e}")),
    }
}

/// `kraftwerk broker …`
#[derive(Debug, Clone, Args)]
pub struct BrokerCli {
    #[command(flatten)]
    pub args: AdminArgs,
    #[command(subcommand)]
    pub command: BrokerCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum BrokerCommand {
    /// List registered brokers with address, rack and fenced state.
    List,
    /// One broker: its registration and its non-default configuration.
    Get { id: i32 },
}

/// `kraftwerk topic …`
#[derive(Debug, Clone, Args)]
pub struct TopicCli {
    #[command(flatten)]
    pub args: AdminArgs,
    #[command(subcommand)]
    pub command: TopicCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TopicCommand {
    /// List topic names.
    List {
        /// Include internal topics (__consumer_offsets, …).
        #[arg(long)]
        internal: bool,
    },
    /// Partitions of a topic: leader, replicas, ISR, and its min.insync.replicas.
    Describe { name: String },
    /// Create a topic.
    Create {
        name: String,
        /// Number of partitions.
        #[arg(short = 'p', long, default_value_t = 1)]
        partitions: i32,
        /// Replication factor.
        #[arg(short = 'r', long, default_value_t = 3)]
        replication: i16,
        /// Topic config `key=value` (repeatable), e.g. `-c min.insync.replicas=2`.
        #[arg(short = 'c', long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
    },
    /// Delete a topic.
    Delete { name: String },
    /// A topic's partitions: leader, replicas, ISR, state.
    Partitions { name: String },
    /// A topic's configuration: `config get <topic> [key]`, `config set <topic> key=value…`.
    #[command(subcommand)]
    Config(TopicConfigCommand),
    /// Partitions whose ISR is smaller than their replica set.
    #[command(alias = "under_replicated_partitions")]
    UnderReplicated,
    /// Partitions without a leader.
    #[command(alias = "unavailable_partitions")]
    Unavailable,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TopicConfigCommand {
    /// Every entry (or one key) with its value and where it comes from.
    Get { name: String, key: Option<String> },
    /// Set dynamic topic configs (`key=value`, repeatable); `key=` removes the override.
    Set {
        name: String,
        #[arg(required = true, value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
    },
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

fn admin_config(args: &AdminArgs, tls: Option<ClientTls>, sasl: Option<ScramCredentials>) -> AdminConfig {
    let request = Duration::from_secs(args.timeout.max(1));
    AdminConfig {
        client_id: "kraftwerk-cli".into(),
        connect_timeout: (request / 3).max(Duration::from_secs(1)),
        request_timeout: request,
        tls,
        sasl,
    }
}

/// The TLS client the flags name: `--tls-ca`, with `--tls-cert`/`--tls-key` for mutual TLS.
fn tls_from_files(args: &AdminArgs) -> Result<Option<ClientTls>, String> {
    let read = |p: &std::path::Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let Some(ca) = &args.tls_ca else {
        return Ok(None);
    };
    let identity = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
        _ => None,
    };
    Ok(Some(ClientTls {
        ca_pem: read(ca)?,
        identity,
    }))
}

/// SCRAM credentials from `--sasl-username`/`--sasl-password`, or from the Secret of the
/// KafkaUser `--kafka-user`.
async fn credentials(args: &AdminArgs) -> Result<Option<ScramCredentials>, String> {
    let scram = |username: String, password: String| ScramCredentials {
        mechanism: ScramMechanism::Sha512,
        username,
        password,
    };
    if let (Some(u), Some(p)) = (&args.sasl_username, &args.sasl_password) {
        return Ok(Some(scram(u.clone(), p.clone())));
    }
    let Some(user) = &args.kafka_user else {
        return Ok(None);
    };
    let (client, namespace) = args.kube.connect().await?;
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(client, &namespace);
    let secret = secrets
        .get(user)
        .await
        .map_err(|e| format!("reading the Secret of KafkaUser {user}: {e}"))?;
    let key = |k: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(k))
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .ok_or_else(|| format!("Secret {user} has no {k}"))
    };
    Ok(Some(scram(
        key(kraftwerk::user::secret::USERNAME_KEY)?,
        key(kraftwerk::user::secret::PASSWORD_KEY)?,
    )))
}

/// An admin client: direct to `--bootstrap`, else by port-forward to the KafkaCluster's pods.
enum Admin {
    Direct(Box<AdminClient>),
    Forwarded(Box<AdminClient<Secured<PortForward>>>),
}

async fn connect(args: &AdminArgs) -> Result<Admin, String> {
    let tls = tls_from_files(args)?;
    let sasl = credentials(args).await?;
    if let Some(bootstrap) = &args.bootstrap {
        return AdminClient::new(bootstrap, admin_config(args, tls, sasl))
            .map(|a| Admin::Direct(Box::new(a)))
            .map_err(|e| e.to_string());
    }
    let (client, namespace) = args.kube.connect().await?;
    let kc = super::kubeconfig::cluster(&client, &namespace, args.cluster.as_deref()).await?;
    let tls = match tls {
        Some(tls) => Some(tls),
        None => super::kubeconfig::cluster_tls(&client, &kc).await?,
    };
    super::kubeconfig::port_forward_admin(&client, &kc, admin_config(args, tls, sasl))
        .map(|a| Admin::Forwarded(Box::new(a)))
}

/// Runs `kraftwerk broker …` and prints the result on stdout.
pub async fn run_broker(cli: &BrokerCli) -> Result<(), String> {
    let text = match connect(&cli.args).await? {
        Admin::Direct(a) => broker_output(&a, cli).await,
        Admin::Forwarded(a) => broker_output(&a, cli).await,
    };
    print!("{}", text.map_err(|e| e.to_string())?);
    Ok(())
}

/// Runs `kraftwerk topic …` and prints the result on stdout.
pub async fn run_topic(cli: &TopicCli) -> Result<(), String> {
    let text = match connect(&cli.args).await? {
        Admin::Direct(a) => topic_output(&a, cli).await,
        Admin::Forwarded(a) => topic_output(&a, cli).await,
    };
    print!("{}", text.map_err(|e| e.to_string())?);
    Ok(())
}

/// The text `kraftwerk broker …` prints.
pub async fn broker_output<C: Connector>(
    admin: &AdminClient<C>,
    cli: &BrokerCli,
) -> Result<String, AdminError> {
    let out = cli.args.output;
    match cli.command {
        BrokerCommand::List => {
            let d = admin.describe_cluster().await?;
            Ok(match out {
                OutputFormat::Table => broker_table(&d.brokers),
                _ => json(out, &d.brokers)?,
            })
        }
        BrokerCommand::Get { id } => {
            let d = admin.describe_cluster().await?;
            let broker = d
                .brokers
                .into_iter()
                .find(|b| b.id == id)
                .ok_or_else(|| AdminError::InvalidArgument(format!("no broker {id} is registered")))?;
            let configs: Vec<ConfigEntry> = admin
                .describe_configs(&ConfigResource::Broker(id), None)
                .await?
                .into_iter()
                .filter(|c| c.source != "DEFAULT_CONFIG")
                .collect();
            Ok(match out {
                OutputFormat::Table => {
                    broker_table(std::slice::from_ref(&broker)) + "\n" + &config_table(&configs)
                }
                _ => {
                    #[derive(Serialize)]
                    struct Broker<'a> {
                        #[serde(flatten)]
                        broker: &'a BrokerInfo,
                        configs: &'a [ConfigEntry],
                    }
                    json(
                        out,
                        &Broker {
                            broker: &broker,
                            configs: &configs,
                        },
                    )?
                }
            })
        }
    }
}

/// The text `kraftwerk topic …` prints.
pub async fn topic_output<C: Connector>(
    admin: &AdminClient<C>,
    cli: &TopicCli,
) -> Result<String, AdminError> {
    let out = cli.args.output;
    match &cli.command {
        TopicCommand::List { internal } => {
            let names = admin.list_topics(*internal).await?;
            Ok(match out {
                OutputFormat::Table => names.iter().map(|n| format!("{n}\n")).collect(),
                _ => json(out, &names)?,
            })
        }
        TopicCommand::Describe { name } => describe_output(admin, name, out).await,
        TopicCommand::Create {
            name,
            partitions,
            replication,
            configs,
        } => create_output(admin, name, *partitions, *replication, configs, out).await,
        TopicCommand::Delete { name } => {
            admin.delete_topic(name).await?;
            Ok(match out {
                OutputFormat::Table => format!("Deleted topic {name}\n"),
                _ => json(out, &serde_json::json!({ "deleted": name }))?,
            })
        }
        TopicCommand::Partitions { name } => {
            let topic = admin.describe_topic(name).await?;
            let rows: Vec<PartitionRow> = topic
                .partitions
                .iter()
                .map(|p| PartitionRow::new(name, p))
                .collect();
            Ok(match out {
                OutputFormat::Table => partition_table(&rows),
                _ => json(out, &rows)?,
            })
        }
        TopicCommand::Config(TopicConfigCommand::Get { name, key }) => {
            let keys = key.as_deref().map(|k| vec![k]);
            let entries = admin
                .describe_configs(&ConfigResource::Topic(name.clone()), keys.as_deref())
                .await?;
            Ok(match out {
                OutputFormat::Table => config_table(&entries),
                _ => json(out, &entries)?,
            })
        }
        TopicCommand::Config(TopicConfigCommand::Set { name, configs }) => {
            config_set_output(admin, name, configs, out).await
        }
        TopicCommand::UnderReplicated => {
            partitions_output(admin, PartitionInfo::is_under_replicated, out).await
        }
        TopicCommand::Unavailable => partitions_output(admin, PartitionInfo::is_unavailable, out).await,
    }
}

/// `kraftwerk topic describe`: the topic's partitions, replication factor and min.insync.replicas.
async fn describe_output<C: Connector>(
    admin: &AdminClient<C>,
    name: &str,
    out: OutputFormat,
) -> Result<String, AdminError> {
    let topic = admin.describe_topic(name).await?;
    let min_isr = admin.topic_min_insync_replicas(name).await?;
    Ok(match out {
        OutputFormat::Json | OutputFormat::Yaml => {
            #[derive(Serialize)]
            struct Described<'a> {
                #[serde(flatten)]
                topic: &'a TopicInfo,
                replication_factor: usize,
                min_insync_replicas: Option<i32>,
            }
            json(
                out,
                &Described {
                    topic: &topic,
                    replication_factor: topic.replication_factor(),
                    min_insync_replicas: min_isr,
                },
            )?
        }
        OutputFormat::Table => describe_table(&topic, min_isr),
    })
}

/// `kraftwerk topic create`.
async fn create_output<C: Connector>(
    admin: &AdminClient<C>,
    name: &str,
    partitions: i32,
    replication: i16,
    configs: &[(String, String)],
    out: OutputFormat,
) -> Result<String, AdminError> {
    let mut topic = NewTopic::new(name.to_string(), partitions, replication);
    for (k, v) in configs {
        topic = topic.with_config(k.clone(), v.clone());
    }
    admin.create_topic(&topic).await?;
    Ok(match out {
        OutputFormat::Json | OutputFormat::Yaml => json(
            out,
            &serde_json::json!({
                "created": name, "partitions": partitions, "replicationFactor": replication,
                "configs": topic.configs,
            }),
        )?,
        OutputFormat::Table => {
            format!("Created topic {name} (partitions={partitions}, replication={replication})\n")
        }
    })
}

/// `kraftwerk topic config set`: an empty value deletes the key (back to the default).
async fn config_set_output<C: Connector>(
    admin: &AdminClient<C>,
    name: &str,
    configs: &[(String, String)],
    out: OutputFormat,
) -> Result<String, AdminError> {
    let ops: Vec<AlterConfigOp> = configs
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                AlterConfigOp::Delete(k.clone())
            } else {
                AlterConfigOp::Set(k.clone(), v.clone())
            }
        })
        .collect();
    admin
        .incremental_alter_configs(&ConfigResource::Topic(name.to_string()), &ops)
        .await?;
    Ok(match out {
        OutputFormat::Table => format!("Updated {} config(s) of topic {name}\n", ops.len()),
        _ => json(
            out,
            &serde_json::json!({ "topic": name, "updated": configs.len() }),
        )?,
    })
}

/// `kraftwerk topic under-replicated|unavailable`: every partition of every topic `wanted` selects.
async fn partitions_output<C: Connector>(
    admin: &AdminClient<C>,
    wanted: fn(&PartitionInfo) -> bool,
    out: OutputFormat,
) -> Result<String, AdminError> {
    let meta = admin.metadata(None).await?;
    let rows: Vec<PartitionRow> = meta
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| wanted(p))
                .map(|p| PartitionRow::new(&t.name, p))
        })
        .collect();
    Ok(match out {
        OutputFormat::Table => partition_table(&rows),
        _ => json(out, &rows)?,
    })
}

#[derive(Debug, Serialize)]
struct PartitionRow {
    topic: String,
    partition: i32,
    leader: Option<i32>,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

impl PartitionRow {
    fn new(topic: &str, p: &PartitionInfo) -> Self {
        Self {
            topic: topic.to_string(),
            partition: p.partition,
            leader: p.leader,
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
        }
    }
}

fn json<T: Serialize + ?Sized>(format: OutputFormat, value: &T) -> Result<String, AdminError> {
    structured(format, value).map_err(AdminError::InvalidArgument)
}

fn config_table(entries: &[ConfigEntry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.value.clone().unwrap_or_else(|| {
                    if c.sensitive {
                        "(sensitive)".into()
                    } else {
                        "-".into()
                    }
                }),
                c.source.to_string(),
            ]
        })
        .collect();
    table(&["NAME", "VALUE", "SOURCE"], &rows)
}

fn ids(v: &[i32]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
    }
}

/// Left-aligned columns separated by two spaces.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

fn broker_table(brokers: &[BrokerInfo]) -> String {
    let rows: Vec<Vec<String>> = brokers
        .iter()
        .map(|b| {
            vec![
                b.id.to_string(),
                format!("{}:{}", b.host, b.port),
                b.rack.clone().unwrap_or_else(|| "-".into()),
                if b.fenced {
                    "fenced".into()
                } else {
                    "active".into()
                },
            ]
        })
        .collect();
    table(&["ID", "ADDRESS", "RACK", "STATE"], &rows)
}

fn partition_state(p: &PartitionInfo, min_isr: Option<i32>) -> String {
    if p.is_unavailable() {
        "unavailable".into()
    } else if min_isr.is_some_and(|m| p.is_under_min_isr(usize::try_from(m).unwrap_or(0))) {
        "under-min-isr".into()
    } else if p.is_under_replicated() {
        "under-replicated".into()
    } else {
        "ok".into()
    }
}

fn describe_table(t: &TopicInfo, min_isr: Option<i32>) -> String {
    let mut out = format!(
        "Topic: {}  TopicId: {}  Partitions: {}  ReplicationFactor: {}  min.insync.replicas: {}{}\n",
        t.name,
        t.topic_id,
        t.partitions.len(),
        t.replication_factor(),
        min_isr.map_or("-".to_string(), |m| m.to_string()),
        if t.internal { "  (internal)" } else { "" },
    );
    let rows: Vec<Vec<String>> = t
        .partitions
        .iter()
        .map(|p| {
            vec![
                p.partition.to_string(),
                p.leader.map_or("none".to_string(), |l| l.to_string()),
                ids(&p.replicas),
                ids(&p.isr),
                partition_state(p, min_isr),
            ]
        })
        .collect();
    out.push_str(&table(
        &["PARTITION", "LEADER", "REPLICAS", "ISR", "STATE"],
        &rows,
    ));
    out
}

fn partition_table(rows: &[PartitionRow]) -> String {
    if rows.is_empty() {
        return "none\n".into();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.topic.clone(),
                r.partition.to_string(),
                r.leader.map_or("none".to_string(), |l| l.to_string()),
                ids(&r.replicas),
                ids(&r.isr),
            ]
        })
        .collect();
    table(&["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"], &cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, Subcommand)]
    enum Top {
        Broker(BrokerCli),
        Topic(TopicCli),
    }

    #[test]
    fn tls_flags_give_the_client_its_ca_and_certificate() {
        let dir = std::env::temp_dir().join(format!("kraftwerk-cli-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca, cert, key) = (dir.join("ca.crt"), dir.join("tls.crt"), dir.join("tls.key"));
        std::fs::write(&ca, "CA").unwrap();
        std::fs::write(&cert, "CERT").unwrap();
        std::fs::write(&key, "KEY").unwrap();
        let path = |p: &std::path::Path| p.display().to_string();
        let cli = Cli::try_parse_from([
            "k",
            "broker",
            "list",
            "--bootstrap",
            "a:1",
            "--tls-ca",
            &path(&ca),
            "--tls-cert",
            &path(&cert),
            "--tls-key",
            &path(&key),
        ])
        .unwrap();
        let Top::Broker(b) = cli.command else {
            panic!("broker")
        };
        let tls = tls_from_files(&b.args).unwrap().unwrap();
        assert_eq!(tls.ca_pem, "CA");
        assert_eq!(tls.identity, Some(("CERT".to_string(), "KEY".to_string())));
        // A certificate without its key is refused by the parser; no CA means no TLS.
        assert!(Cli::try_parse_from(["k", "broker", "list", "--tls-cert", &path(&cert)]).is_err());
        let plain = Cli::try_parse_from(["k", "broker", "list", "--bootstrap", "a:1"]).unwrap();
        let Top::Broker(b) = plain.command else {
            panic!("broker")
        };
        assert_eq!(tls_from_files(&b.args).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_dcos_like_commands() {
        let cli = Cli::try_parse_from(["k", "broker", "list", "--bootstrap", "a:1,b:2"]).unwrap();
        let Top::Broker(b) = cli.command else {
            panic!("broker")
        };
        assert_eq!(b.args.bootstrap.as_deref(), Some("a:1,b:2"));
        assert_eq!(b.args.output, OutputFormat::Table);

        let cli = Cli::try_parse_from([
            "k",
            "topic",
            "--bootstrap",
            "a:1",
            "create",
            "t",
            "-p",
            "3",
            "-r",
            "2",
            "-c",
            "min.insync.replicas=2",
            "-o",
            "json",
        ])
        .unwrap();
        let Top::Topic(t) = cli.command else {
            panic!("topic")
        };
        assert_eq!(t.args.output, OutputFormat::Json);
        match t.command {
            TopicCommand::Create {
                name,
                partitions,
                replication,
                configs,
            } => {
                assert_eq!((name.as_str(), partitions, replication), ("t", 3, 2));
                assert_eq!(
                    configs,
                    vec![("min.insync.replicas".to_string(), "2".to_string())]
                );
            }
            other => panic!("{other:?}"),
        }
        for sub in [
            "under-replicated",
            "under_replicated_partitions",
            "unavailable",
            "unavailable_partitions",
        ] {
            assert!(Cli::try_parse_from(["k", "topic", sub]).is_ok(), "{sub}");
        }
        assert!(Cli::try_parse_from(["k", "topic", "create", "t", "-c", "novalue"]).is_err());
    }

    #[test]
    fn kube_options_and_every_output_format_parse() {
        let cli = Cli::try_parse_from([
            "k",
            "topic",
            "config",
            "set",
            "t",
            "retention.ms=1000",
            "cleanup.policy=",
            "-n",
            "kafka",
            "--context",
            "prod",
            "--cluster",
            "demo",
            "-o",
            "yaml",
        ])
        .unwrap();
        let Top::Topic(t) = cli.command else {
            panic!("topic")
        };
        assert_eq!(t.args.kube.namespace.as_deref(), Some("kafka"));
        assert_eq!(t.args.kube.context.as_deref(), Some("prod"));
        assert_eq!(t.args.cluster.as_deref(), Some("demo"));
        assert_eq!(t.args.bootstrap, None, "no --bootstrap: port-forward");
        assert_eq!(t.args.output, OutputFormat::Yaml);
        let TopicCommand::Config(TopicConfigCommand::Set { configs, .. }) = t.command else {
            panic!("config set")
        };
        assert_eq!(configs[1], ("cleanup.policy".to_string(), String::new()));
        for args in [
            vec!["k", "broker", "get", "1"],
            vec!["k", "topic", "delete", "t"],
            vec!["k", "topic", "partitions", "t", "-o", "json"],
            vec!["k", "topic", "config", "get", "t", "min.insync.replicas"],
        ] {
            assert!(Cli::try_parse_from(&args).is_ok(), "{args:?}");
        }
        assert_eq!(structured(OutputFormat::Yaml, &vec![1, 2]).unwrap(), "- 1\n- 2\n");
    }

    #[test]
    fn tables_align_and_flag_partition_state() {
        let b = vec![
            BrokerInfo {
                id: 0,
                host: "h0".into(),
                port: 9092,
                rack: Some("r1".into()),
                fenced: false,
            },
            BrokerInfo {
                id: 10,
                host: "host-1".into(),
                port: 9092,
                rack: None,
                fenced: true,
            },
        ];
        assert_eq!(
            broker_table(&b),
            "ID  ADDRESS      RACK  STATE\n0   h0:9092      r1    active\n10  host-1:9092  -     fenced\n"
        );
        let p = |leader: Option<i32>, isr: &[i32]| PartitionInfo {
            partition: 0,
            leader,
            leader_epoch: 0,
            replicas: vec![0, 1, 2],
            isr: isr.to_vec(),
            offline_replicas: vec![],
            error: None,
        };
        assert_eq!(partition_state(&p(Some(0), &[0, 1, 2]), Some(2)), "ok");
        assert_eq!(partition_state(&p(Some(0), &[0, 1]), Some(2)), "under-replicated");
        assert_eq!(partition_state(&p(Some(0), &[0]), Some(2)), "under-min-isr");
        assert_eq!(partition_state(&p(None, &[]), Some(2)), "unavailable");
        let t = TopicInfo {
            name: "t".into(),
            topic_id: "id".into(),
            internal: false,
            partitions: vec![p(Some(1), &[1, 2])],
        };
        let text = describe_table(&t, Some(2));
        assert!(
            text.starts_with(
                "Topic: t  TopicId: id  Partitions: 1  ReplicationFactor: 3  min.insync.replicas: 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("0          1       0,1,2     1,2  under-replicated"),
            "{text}"
        );
        assert_eq!(partition_table(&[]), "none\n");
    }
}
