//! The `kraftwerk` binary: the operator (`run`) and its tools (`crd`, `render`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

mod cli;

use clap::{Parser, Subcommand};
use kraftwerk::controller::{self, RunConfig};
use kraftwerk::crd::KafkaCluster;
use kraftwerk::http::{self, Health, HttpState};
use kraftwerk::lease::{self, LeaseConfig};
use kraftwerk::metrics::Metrics;
use kraftwerk::render::{self, RenderOptions};
use kraftwerk::validate::Options;
use kraftwerk::{crd_yaml, telemetry, user_crd_yaml};

#[derive(Parser)]
#[command(name = "kraftwerk", version = VERSION_LINE, about = "Apache Kafka (KRaft) on Kubernetes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator (in-cluster config or KUBECONFIG).
    Run {
        /// Namespaces to watch, comma-separated; all namespaces when empty.
        #[arg(long, env = "KRAFTWERK_NAMESPACES", value_delimiter = ',', default_value = "")]
        namespaces: Vec<String>,
        /// Log level (trace, debug, info, warn, error); RUST_LOG wins when set.
        #[arg(long, env = "KRAFTWERK_LOG_LEVEL", default_value = "info")]
        log_level: String,
        /// Log as JSON lines.
        #[arg(long, env = "KRAFTWERK_LOG_JSON")]
        log_json: bool,
        /// Address of /healthz, /readyz and /metrics.
        #[arg(long, env = "KRAFTWERK_METRICS_ADDR", default_value = "0.0.0.0:8080")]
        metrics_addr: SocketAddr,
        /// The cluster's DNS domain, used in node and bootstrap addresses.
        #[arg(long, env = "KRAFTWERK_CLUSTER_DOMAIN", default_value = "cluster.local")]
        cluster_domain: String,
        /// KafkaClusters reconciled at once.
        #[arg(long, env = "KRAFTWERK_CONCURRENCY", default_value_t = 4)]
        concurrency: u16,
        /// Leader election: only the replica holding the Lease acts, the others stand by
        /// (`--leader-election=false`: act at once, for a lone process).
        #[arg(long, env = "KRAFTWERK_LEADER_ELECTION", default_value_t = true,
              action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
        leader_election: bool,
        /// Namespace of the Lease [default: POD_NAMESPACE, else the pod's service account
        /// namespace, else kraftwerk-system].
        #[arg(long, env = "KRAFTWERK_LEASE_NAMESPACE")]
        lease_namespace: Option<String>,
        /// Name of the Lease.
        #[arg(long, env = "KRAFTWERK_LEASE_NAME", default_value = lease::LEASE_NAME)]
        lease_name: String,
        /// This replica's name in the Lease [default: host name and a random suffix].
        #[arg(long, env = "POD_NAME")]
        lease_identity: Option<String>,
    },
    /// Print a CRD as YAML: KafkaCluster (default) or KafkaUser.
    Crd {
        #[arg(value_enum, default_value_t = CrdKind::Kafkacluster)]
        kind: CrdKind,
    },
    /// Print the version and the git revision of this binary.
    Version,
    /// Print a KafkaCluster's rollout plan from its status (the kubeconfig's context and
    /// namespace unless --context / -n).
    Plan {
        /// The KafkaCluster's name.
        cluster: String,
        #[command(flatten)]
        kube: cli::kubeconfig::KubeArgs,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = cli::admin::OutputFormat::Table)]
        output: cli::admin::OutputFormat,
        /// Approve the change a canary holds (status.rollout.awaitingApproval), so the rest of
        /// the cluster rolls: sets the annotation kraftwerk.dev/canary-approved.
        #[arg(long)]
        approve: bool,
    },
    /// Kafka brokers: `broker list|get` (like `dcos kafka broker list`).
    Broker(cli::admin::BrokerCli),
    /// Kafka topics: `topic list|describe|create|delete|partitions|config|under-replicated|unavailable`.
    Topic(cli::admin::TopicCli),
    /// Where clients reach a KafkaCluster: bootstrap addresses, every node's address and listeners.
    Endpoints {
        /// The KafkaCluster [default: the only one in the namespace].
        cluster: Option<String>,
        #[command(flatten)]
        kube: cli::kubeconfig::KubeArgs,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = cli::admin::OutputFormat::Table)]
        output: cli::admin::OutputFormat,
    },
    /// The cluster's nodes: `pod list|info|restart|replace` (like `dcos kafka pod …`).
    Pod(cli::pod::PodCli),
    /// Print a shell completion script: `source <(kraftwerk completion bash)`.
    Completion { shell: clap_complete::Shell },
    /// Print every object the operator would create for a KafkaCluster, without a cluster.
    Render {
        /// The KafkaCluster manifest ("-" for standard input).
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// Namespace when the manifest has none.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        /// The cluster's DNS domain.
        #[arg(long, default_value = "cluster.local")]
        cluster_domain: String,
        /// KRaft cluster id to render (default: status.clusterId, else a new one).
        #[arg(long)]
        cluster_id: Option<String>,
    },
}

/// `0.1.0 (revision abc123def456)`: `kraftwerk version` and `--version`.
const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("KRAFTWERK_GIT_REVISION"),
    ")"
);

/// The CRDs `kraftwerk crd` prints.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum CrdKind {
    Kafkacluster,
    Kafkauser,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd { kind } => match kind {
            CrdKind::Kafkacluster => crd_yaml(),
            CrdKind::Kafkauser => user_crd_yaml(),
        }
        .map(|y| print!("{y}"))
        .map_err(|e| e.to_string()),
        Command::Version => {
            println!("kraftwerk {VERSION_LINE}");
            Ok(())
        }
        Command::Plan {
            cluster,
            kube,
            output,
            approve,
        } => block_on(plan_cmd(cluster, kube, output, approve)),
        Command::Broker(b) => block_on(async move { cli::admin::run_broker(&b).await }),
        Command::Topic(t) => block_on(async move { cli::admin::run_topic(&t).await }),
        Command::Endpoints {
            cluster,
            kube,
            output,
        } => block_on(endpoints_cmd(cluster, kube, output)),
        Command::Pod(p) => block_on(async move { cli::pod::run(&p).await }),
        Command::Completion { shell } => completion_cmd(shell),
        Command::Render {
            file,
            namespace,
            cluster_domain,
            cluster_id,
        } => render_cmd(&file, &namespace, cluster_domain, cluster_id),
        Command::Run {
            namespaces,
            log_level,
            log_json,
            metrics_addr,
            cluster_domain,
            concurrency,
            leader_election,
            lease_namespace,
            lease_name,
            lease_identity,
        } => {
            telemetry::init(&log_level, log_json);
            tracing::info!(
                version = kraftwerk::VERSION,
                revision = kraftwerk::GIT_REVISION,
                "kraftwerk starting"
            );
            let config = RunConfig {
                namespaces: namespaces.into_iter().filter(|n| !n.is_empty()).collect(),
                options: Options {
                    cluster_domain,
                    operator_namespace: std::env::var("POD_NAMESPACE").ok().filter(|n| !n.is_empty()),
                },
                concurrency: concurrency.max(1),
            };
            let lease =
                leader_election.then(|| LeaseConfig::new(lease_namespace, lease_name, lease_identity));
            run_operator(config, metrics_addr, lease)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kraftwerk: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render_cmd(
    file: &PathBuf,
    namespace: &str,
    cluster_domain: String,
    cluster_id: Option<String>,
) -> Result<(), String> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("reading standard input: {e}"))?
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?
    };
    let mut cr: KafkaCluster = serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    if cr.metadata.namespace.is_none() {
        cr.metadata.namespace = Some(namespace.to_string());
    }
    let options = RenderOptions {
        validate: Options {
            cluster_domain,
            operator_namespace: None,
        },
        cluster_id,
        quorum_formed: false,
        static_quorum: false,
    };
    let rendered = render::render(&cr, &options).map_err(|e| format!("invalid KafkaCluster: {e}"))?;
    print!(
        "{}",
        render::to_yaml(&rendered.objects).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// Prints the completion script of `shell` (generated in memory: a closed pipe is an error,
/// not a panic).
fn completion_cmd(shell: clap_complete::Shell) -> Result<(), String> {
    use std::io::Write as _;
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut <Cli as clap::CommandFactory>::command(),
        binary_name(),
        &mut script,
    );
    std::io::stdout()
        .write_all(&script)
        .map_err(|e| format!("writing the completion script: {e}"))
}

/// `kraftwerk`, or `kubectl-kraftwerk` when run as the kubectl plugin (completions name it).
fn binary_name() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "kraftwerk".into())
}

async fn endpoints_cmd(
    cluster: Option<String>,
    kube: cli::kubeconfig::KubeArgs,
    output: cli::admin::OutputFormat,
) -> Result<(), String> {
    let (client, namespace) = kube.connect().await?;
    let kc = cli::kubeconfig::cluster(&client, &namespace, cluster.as_deref()).await?;
    let endpoints = cli::endpoints::of(&kc);
    match output {
        cli::admin::OutputFormat::Table => print!("{}", cli::endpoints::table(&endpoints)),
        format => print!("{}", cli::admin::structured(format, &endpoints)?),
    }
    Ok(())
}

async fn plan_cmd(
    cluster: String,
    kube: cli::kubeconfig::KubeArgs,
    output: cli::admin::OutputFormat,
    approve: bool,
) -> Result<(), String> {
    let (client, namespace) = kube.connect().await?;
    let api: kube::Api<KafkaCluster> = kube::Api::namespaced(client, &namespace);
    let kc = api
        .get(&cluster)
        .await
        .map_err(|e| format!("KafkaCluster {namespace}/{cluster}: {e}"))?;
    if approve {
        let Some(change) = kc
            .status
            .as_ref()
            .and_then(|s| s.rollout.as_ref())
            .and_then(|r| r.awaiting_approval.clone())
        else {
            return Err(format!(
                "KafkaCluster {namespace}/{cluster}: no canary is waiting for approval"
            ));
        };
        // A merge patch of one annotation: the user's own manifests keep owning the rest.
        let patch = serde_json::json!({"metadata": {"annotations": {
            kraftwerk::annotations::CANARY_APPROVED: change,
        }}});
        api.patch(
            &cluster,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .map_err(|e| format!("KafkaCluster {namespace}/{cluster}: {e}"))?;
        println!("approved change {change} of KafkaCluster {namespace}/{cluster}; the rollout continues");
        return Ok(());
    }
    let rollout = kc.status.as_ref().and_then(|s| s.rollout.as_ref());
    let rebalance = kc.status.as_ref().and_then(|s| s.rebalance.as_ref());
    let quorum = kc.status.as_ref().and_then(|s| s.controller_quorum.as_ref());
    if output != cli::admin::OutputFormat::Table {
        let doc = cli::plan::plan_document(rollout, rebalance, quorum)?;
        print!("{}", cli::admin::structured(output, &doc)?);
        return Ok(());
    }
    match rollout {
        Some(plan) => print!("{}", cli::plan::format_plan(plan)),
        None => println!("KafkaCluster {namespace}/{cluster} has no rollout plan in its status yet"),
    }
    if let Some(r) = rebalance {
        print!("{}", cli::plan::format_rebalance(r));
    }
    if let Some(q) = quorum.and_then(cli::plan::format_quorum) {
        print!("{q}");
    }
    Ok(())
}

fn block_on<F: std::future::Future<Output = Result<(), String>>>(f: F) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(f)
}

fn run_operator(
    config: RunConfig,
    metrics_addr: SocketAddr,
    lease: Option<LeaseConfig>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::new(config.namespaces.len()));
        let state = HttpState {
            metrics: metrics.clone(),
            health: health.clone(),
        };
        let server = tokio::spawn(http::serve(metrics_addr, state));
        let client = controller::counting_client(metrics.clone(), health.clone())
            .await
            .map_err(|e| e.to_string())?;
        // With leader election, the controllers run only while this replica holds the Lease.
        let result = match lease {
            Some(lease) => {
                let (m, h) = (metrics.clone(), health.clone());
                lease::lead(lease, m, h, client, |client| {
                    controller::run(client, config, metrics, health)
                })
                .await
            }
            None => {
                metrics.is_leader.set(1);
                controller::run(client, config, metrics, health).await
            }
        }
        .map_err(|e| e.to_string());
        server.abort();
        result
    })
}
