//! `kraftwerk pod list|info|restart|replace`, modelled on DC/OS `dcos kafka pod …`. `list` and
//! `info` read the KafkaCluster's status (and, for `info`, the pod and its claim); `restart`
//! and `replace` only set an annotation on the KafkaCluster
//! (`kraftwerk.dev/restart-nodes`, `kraftwerk.dev/replace-nodes`), so the operator does the
//! work through the roll's safety gates, and the request survives a restart of either side.

use clap::{Args, Subcommand};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kraftwerk::annotations;
use kraftwerk::crd::{KafkaCluster, NodeStatus};
use kraftwerk::names::{ClusterNames, Role};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;

use super::admin::{OutputFormat, structured};
use super::kubeconfig::{self, KubeArgs};

/// `kraftwerk pod …`
#[derive(Debug, Clone, Args)]
pub struct PodCli {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    #[command(subcommand)]
    pub command: PodCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PodCommand {
    /// Every node of the cluster: id, role, pod, Kubernetes node, readiness.
    List {
        /// The KafkaCluster [default: the only one in the namespace].
        cluster: Option<String>,
    },
    /// One node: its status, its pod and its volume.
    Info { cluster: String, pod: String },
    /// Restart a node through the roll's safety gates (its volume stays).
    Restart { cluster: String, pod: String },
    /// Replace a node: its volume is discarded and its pod scheduled afresh (placement
    /// re-evaluated); it re-replicates from its peers. Gated like a roll.
    Replace { cluster: String, pod: String },
}

/// A node named on the command line: the pod name (`demo-broker-1`), `broker-1`, or the id.
pub fn resolve<'a>(kc: &'a KafkaCluster, arg: &str) -> Result<&'a NodeStatus, String> {
    let nodes = kc.status.as_ref().map(|s| s.nodes.as_slice()).unwrap_or_default();
    let cluster = kc.name_any();
    nodes
        .iter()
        .find(|n| {
            n.pod == arg
                || format!("{}-{}", n.role, n.id) == arg
                || arg.parse::<i32>().ok() == Some(n.id)
                || n.pod == format!("{cluster}-{arg}")
        })
        .ok_or_else(|| {
            let known: Vec<&str> = nodes.iter().map(|n| n.pod.as_str()).collect();
            format!(
                "KafkaCluster {cluster} has no node {arg} (nodes: {})",
                known.join(", ")
            )
        })
}

/// What `pod info` shows.
#[derive(Debug, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodInfo {
    pub id: i32,
    pub role: String,
    pub pod: String,
    pub node: Option<String>,
    pub ready: bool,
    pub up_to_date: bool,
    pub phase: Option<String>,
    pub uid: Option<String>,
    pub claim: String,
    /// The PersistentVolume bound to the claim.
    pub volume: Option<String>,
    pub placement: Option<String>,
    pub message: Option<String>,
    /// Pending requests on the KafkaCluster that name this node.
    pub restart_request: Option<String>,
    pub replace_request: Option<String>,
}

/// `pod info` from the status entry, the pod and its claim (pure).
pub fn info(
    kc: &KafkaCluster,
    n: &NodeStatus,
    pod: Option<&Pod>,
    claim: Option<&PersistentVolumeClaim>,
) -> PodInfo {
    let names = ClusterNames::new(&kc.name_any(), "", "");
    let request = |key: &str| {
        kc.annotations()
            .get(key)
            .filter(|v| {
                let list = v.split('@').next().unwrap_or_default();
                list.split(',')
                    .any(|x| x.trim().parse::<i32>().ok() == Some(n.id))
            })
            .cloned()
    };
    PodInfo {
        id: n.id,
        role: n.role.as_str().into(),
        pod: n.pod.clone(),
        node: n.node.clone(),
        ready: n.ready,
        up_to_date: n.up_to_date,
        phase: pod.and_then(|p| p.status.as_ref()?.phase.clone()),
        uid: pod.and_then(|p| p.metadata.uid.clone()),
        claim: names.pvc(n.role, n.id),
        volume: claim.and_then(|c| c.spec.as_ref()?.volume_name.clone()),
        placement: n.placement.clone(),
        message: n.message.clone(),
        restart_request: request(annotations::RESTART_NODES),
        replace_request: request(annotations::REPLACE_NODES),
    }
}

/// The table of `pod list`.
pub fn list_table(nodes: &[NodeStatus]) -> String {
    let mut out = String::from(
        "ID    ROLE        POD                                 NODE                  READY  UP-TO-DATE\n",
    );
    for n in nodes {
        out.push_str(&format!(
            "{:<5} {:<11} {:<35} {:<21} {:<6} {}\n",
            n.id,
            n.role,
            n.pod,
            n.node.as_deref().unwrap_or("-"),
            n.ready,
            n.up_to_date
        ));
    }
    out
}

/// The table form of `pod info`.
pub fn info_table(i: &PodInfo) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    format!(
        "Pod:        {}\nNode id:    {} ({})\nNode:       {}\nReady:      {}\nUp to date: {}\nPhase:      {}\nUid:        {}\nClaim:      {} (volume {})\nPlacement:  {}\nMessage:    {}\nRestart:    {}\nReplace:    {}\n",
        i.pod,
        i.id,
        i.role,
        opt(&i.node),
        i.ready,
        i.up_to_date,
        opt(&i.phase),
        opt(&i.uid),
        i.claim,
        opt(&i.volume),
        opt(&i.placement),
        opt(&i.message),
        opt(&i.restart_request),
        opt(&i.replace_request),
    )
}

/// The annotation a request sets, and what it is called.
fn request_key(replace: bool) -> (&'static str, &'static str) {
    if replace {
        (annotations::REPLACE_NODES, "replace")
    } else {
        (annotations::RESTART_NODES, "restart")
    }
}

pub async fn run(p: &PodCli) -> Result<(), String> {
    let (client, namespace) = p.kube.connect().await?;
    match &p.command {
        PodCommand::List { cluster } => {
            let kc = kubeconfig::cluster(&client, &namespace, cluster.as_deref()).await?;
            let nodes = kc.status.clone().unwrap_or_default().nodes;
            match p.output {
                OutputFormat::Table => print!("{}", list_table(&nodes)),
                format => print!("{}", structured(format, &nodes)?),
            }
        }
        PodCommand::Info { cluster, pod } => {
            let kc = kubeconfig::cluster(&client, &namespace, Some(cluster)).await?;
            let n = resolve(&kc, pod)?;
            let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
            let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
            let live = pods.get_opt(&n.pod).await.map_err(|e| e.to_string())?;
            let claim_name = ClusterNames::new(cluster, &namespace, "").pvc(n.role, n.id);
            let claim = claims.get_opt(&claim_name).await.map_err(|e| e.to_string())?;
            let i = info(&kc, n, live.as_ref(), claim.as_ref());
            match p.output {
                OutputFormat::Table => print!("{}", info_table(&i)),
                format => print!("{}", structured(format, &i)?),
            }
        }
        PodCommand::Restart { cluster, pod } => request(&client, &namespace, cluster, pod, false).await?,
        PodCommand::Replace { cluster, pod } => request(&client, &namespace, cluster, pod, true).await?,
    }
    Ok(())
}

/// Sets the restart or replace annotation naming one node, with a new token (the time), so
/// the operator serves it once.
async fn request(
    client: &kube::Client,
    namespace: &str,
    cluster: &str,
    pod: &str,
    replace: bool,
) -> Result<(), String> {
    let kc = kubeconfig::cluster(client, namespace, Some(cluster)).await?;
    let n = resolve(&kc, pod)?;
    let (key, what) = request_key(replace);
    let token = k8s_openapi::jiff::Timestamp::now().as_second();
    let value = format!("{}@{token}", n.id);
    // A merge patch of one annotation: the user's own manifests keep owning the rest.
    let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), namespace);
    api.patch(cluster, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| format!("KafkaCluster {namespace}/{cluster}: {e}"))?;
    let role = match n.role {
        Role::Broker => "broker",
        Role::Controller => "controller",
    };
    println!(
        "requested {what} of {role} {} ({}) with {key}={value}; the operator carries it out when the safety gates allow (follow it with `kraftwerk plan {cluster}`)",
        n.id, n.pod
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> KafkaCluster {
        serde_yaml::from_str(
            "apiVersion: kraftwerk.dev/v1alpha1
kind: KafkaCluster
metadata:
  name: demo
  namespace: kafka
  annotations: {kraftwerk.dev/replace-nodes: '1@100', kraftwerk.dev/restart-nodes: '0,9000@5'}
spec: {}
status:
  nodes:
  - {id: 9000, role: controller, pod: demo-controller-9000, node: n1, ready: true, upToDate: true}
  - {id: 1, role: broker, pod: demo-broker-1, node: n2, ready: false, upToDate: true, placement: 'zone:LIKE:a'}
",
        )
        .unwrap()
    }

    #[test]
    fn a_node_is_named_by_pod_role_and_id_or_id() {
        let kc = cluster();
        for arg in ["demo-broker-1", "broker-1", "1"] {
            assert_eq!(resolve(&kc, arg).unwrap().pod, "demo-broker-1", "{arg}");
        }
        assert_eq!(resolve(&kc, "controller-9000").unwrap().id, 9000);
        let err = resolve(&kc, "broker-7").unwrap_err();
        assert!(
            err.contains("no node broker-7") && err.contains("demo-broker-1"),
            "{err}"
        );
    }

    #[test]
    fn info_shows_the_claim_and_the_requests_naming_the_node() {
        let kc = cluster();
        let n = resolve(&kc, "1").unwrap();
        let mut claim = PersistentVolumeClaim::default();
        claim.spec.get_or_insert_default().volume_name = Some("pv-7".into());
        let i = info(&kc, n, None, Some(&claim));
        assert_eq!(i.claim, "data-demo-broker-1");
        assert_eq!(i.volume.as_deref(), Some("pv-7"));
        assert_eq!(i.replace_request.as_deref(), Some("1@100"));
        assert_eq!(i.restart_request, None);
        assert_eq!(i.placement.as_deref(), Some("zone:LIKE:a"));
        let c = info(&kc, resolve(&kc, "9000").unwrap(), None, None);
        assert_eq!(c.restart_request.as_deref(), Some("0,9000@5"));
        assert!(info_table(&i).contains("Claim:      data-demo-broker-1 (volume pv-7)"));
        assert!(list_table(&kc.status.unwrap().nodes).contains("demo-broker-1"));
    }
}
