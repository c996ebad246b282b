//! How the CLI finds the cluster and the brokers: the kubeconfig (its current context and that
//! context's namespace, as kubectl; `--context`, `-n` override), and for the Kafka admin
//! commands a port-forward through the Kubernetes API to the broker pods (as
//! `kubectl port-forward`), so no broker address has to be reachable from the laptop.

use clap::Args;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::core::v1::Secret;
use kraftwerk::admin::{AdminClient, AdminConfig, ClientTls, Connector, HostPort, Secured};
use kraftwerk::crd::KafkaCluster;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use tokio::io::DuplexStream;

/// Where a command finds the cluster.
#[derive(Debug, Clone, Args)]
pub struct KubeArgs {
    /// Namespace [default: the kubeconfig context's namespace, else "default"].
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Kubeconfig context [default: the current context].
    #[arg(long, global = true)]
    pub context: Option<String>,
}

impl KubeArgs {
    /// A client for the context, and the namespace to use. Outside a kubeconfig (in a pod) the
    /// in-cluster configuration.
    pub async fn connect(&self) -> Result<(Client, String), String> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let config = match Kubeconfig::read() {
            Ok(kubeconfig) => Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| format!("kubeconfig: {e}"))?,
            Err(_) if self.context.is_none() => {
                Config::incluster().map_err(|e| format!("no kubeconfig and not in a pod: {e}"))?
            }
            Err(e) => return Err(format!("kubeconfig: {e}")),
        };
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config).map_err(|e| e.to_string())?;
        Ok((client, namespace))
    }
}

/// The KafkaCluster a command is about: the one named, else the only one in the namespace.
pub async fn cluster(client: &Client, namespace: &str, name: Option<&str>) -> Result<KafkaCluster, String> {
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), namespace);
    if let Some(name) = name {
        return api
            .get(name)
            .await
            .map_err(|e| format!("KafkaCluster {namespace}/{name}: {e}"));
    }
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing KafkaClusters in {namespace}: {e}"))?;
    match list.items.len() {
        1 => Ok(list.items.into_iter().next().ok_or("no KafkaCluster")?),
        0 => Err(format!(
            "no KafkaCluster in namespace {namespace} (-n to choose another)"
        )),
        _ => Err(format!(
            "{} KafkaClusters in namespace {namespace}: name one with --cluster ({})",
            list.items.len(),
            list.items
                .iter()
                .map(|k| k.name_any())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The pod a Kafka address names: a node's advertised host is `<pod>.<headless service>...`;
/// anything else (the bootstrap Service) is no pod (pure).
pub fn pod_of_host(host: &str, cluster: &str) -> Option<String> {
    let first = host.split('.').next()?;
    let id = first
        .strip_prefix(&format!("{cluster}-broker-"))
        .or_else(|| first.strip_prefix(&format!("{cluster}-controller-")))?;
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then(|| first.to_string())
}

/// Opens every Kafka connection as a port-forward to the pod the address names (a ready
/// broker for the bootstrap address) through the API server.
#[derive(Clone)]
pub struct PortForward {
    pods: Api<Pod>,
    cluster: String,
}

impl PortForward {
    pub fn new(client: &Client, namespace: &str, cluster: &str) -> Self {
        Self {
            pods: Api::namespaced(client.clone(), namespace),
            cluster: cluster.to_string(),
        }
    }

    async fn a_ready_broker(&self) -> std::io::Result<String> {
        let selector = format!(
            "{}={},{}=broker",
            kraftwerk::labels::CLUSTER,
            self.cluster,
            kraftwerk::labels::ROLE
        );
        let pods = self
            .pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(std::io::Error::other)?;
        pods.items
            .iter()
            .find(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .map(|p| p.name_any())
            .ok_or_else(|| std::io::Error::other(format!("no ready broker pod of {}", self.cluster)))
    }
}

impl Connector for PortForward {
    type Stream = DuplexStream;
    async fn connect(&self, host: &str, port: u16) -> std::io::Result<DuplexStream> {
        let pod = match pod_of_host(host, &self.cluster) {
            Some(pod) => pod,
            None => self.a_ready_broker().await?,
        };
        let mut forwarder = self
            .pods
            .portforward(&pod, &[port])
            .await
            .map_err(|e| std::io::Error::other(format!("port-forward to {pod}:{port}: {e}")))?;
        let stream = forwarder
            .take_stream(port)
            .ok_or_else(|| std::io::Error::other(format!("port-forward to {pod}:{port}: no stream")))?;
        // The forwarder runs until the stream is closed.
        tokio::spawn(async move {
            let _ = forwarder.join().await;
        });
        Ok(stream)
    }
}

/// The operator's TLS client material for `kc` (its trust bundle and the operator's client
/// certificate, read from their Secrets), when the listener the operator uses has TLS.
pub async fn cluster_tls(client: &Client, kc: &KafkaCluster) -> Result<Option<ClientTls>, String> {
    if !kraftwerk::tls::admin_listener(&kc.spec).1 {
        return Ok(None);
    }
    let namespace = kc.namespace().unwrap_or_default();
    let names = kraftwerk::names::ClusterNames::new(&kc.name_any(), &namespace, "cluster.local");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let read = |name: String| {
        let secrets = secrets.clone();
        let namespace = namespace.clone();
        async move {
            secrets
                .get(&name)
                .await
                .map_err(|e| format!("reading Secret {namespace}/{name} for TLS: {e}"))
        }
    };
    let bundle = read(names.ca_cert_secret()).await?;
    let operator = read(names.operator_tls_secret()).await?;
    let ca_pem = kraftwerk::tls::secrets::text(&bundle, kraftwerk::tls::BUNDLE_KEY)
        .ok_or("the trust bundle Secret has no ca.crt")?;
    let identity = kraftwerk::tls::secrets::keyed(&operator).map(|k| (k.cert_pem, k.key_pem));
    Ok(Some(ClientTls { ca_pem, identity }))
}

/// An admin client that reaches the cluster's brokers by port-forward, bootstrapping from the
/// bootstrap Service in its status on the listener the operator uses (the inter-broker one),
/// with TLS when `config.tls` is set.
pub fn port_forward_admin(
    client: &Client,
    kc: &KafkaCluster,
    config: AdminConfig,
) -> Result<AdminClient<Secured<PortForward>>, String> {
    let namespace = kc.namespace().unwrap_or_default();
    let bootstrap = kc
        .status
        .as_ref()
        .and_then(|s| s.bootstrap_servers.clone())
        .ok_or_else(|| {
            format!(
                "KafkaCluster {namespace}/{} has no status.bootstrapServers yet",
                kc.name_any()
            )
        })?;
    let (port, _) = kraftwerk::tls::admin_listener(&kc.spec);
    let addresses: Vec<HostPort> = HostPort::parse_list(&bootstrap)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|a| HostPort {
            port: port as u16,
            ..a
        })
        .collect();
    let connector = Secured::new(
        PortForward::new(client, &namespace, &kc.name_any()),
        config.tls.as_ref(),
    )
    .map_err(|e| e.to_string())?;
    AdminClient::with_connector(connector, addresses, config).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_name_their_pod_and_the_bootstrap_names_none() {
        assert_eq!(
            pod_of_host(
                "demo-broker-2.demo-kafka-headless.kafka.svc.cluster.local",
                "demo"
            )
            .as_deref(),
            Some("demo-broker-2")
        );
        assert_eq!(
            pod_of_host("demo-controller-9001.demo-kafka-headless.kafka.svc", "demo").as_deref(),
            Some("demo-controller-9001")
        );
        assert_eq!(
            pod_of_host("demo-kafka-bootstrap.kafka.svc.cluster.local", "demo"),
            None
        );
        assert_eq!(pod_of_host("other-broker-0.x", "demo"), None);
        assert_eq!(pod_of_host("demo-broker-x.y", "demo"), None);
    }
}
