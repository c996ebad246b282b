//! Reflector caches of everything the operator reads from the API server. One watch per kind,
//! label-selected to the operator's own objects (Nodes: metadata only), shared with the
//! `Controller` so the same watch both fills the cache and triggers reconciles. A reconcile
//! reads only from here, so a pass that changes nothing sends no request at all.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{
    ConfigMap, ContainerState, ContainerStatus, Node, NodeAddress, NodeCondition, NodeStatus,
    PersistentVolumeClaim, PersistentVolumeClaimStatus, Pod, PodCondition, PodSpec, PodStatus, Secret,
    Service,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::labels;

/// The read caches of one watch scope (a namespace, or all of them).
#[derive(Clone)]
pub struct Caches {
    pub pods: Store<Pod>,
    pub services: Store<Service>,
    pub config_maps: Store<ConfigMap>,
    pub pvcs: Store<PersistentVolumeClaim>,
    pub pdbs: Store<PodDisruptionBudget>,
    /// The operator's TLS Secrets (CA, trust bundle, node and operator certificates), with
    /// their data: the admin client and issuance read them.
    pub secrets: Store<Secret>,
    pub network_policies: Store<NetworkPolicy>,
    /// The metadata of every Secret in scope, for the user's listener certificates
    /// (`listeners[].certificateSecret`): a pass reads such a Secret only when its
    /// resourceVersion here differs from the one it last read.
    pub secret_metadata: Store<PartialObjectMeta<Secret>>,
    /// Node labels (rack awareness, LIKE/UNLIKE constraints), the `Ready` condition (node
    /// loss) and addresses (node port listeners); nothing else is kept.
    pub nodes: Store<Node>,
}

/// What a watch saw change, appear or go (the object as cached), for `Controller::owns_stream`.
/// Deletions are included: kube-runtime's shared-reflector subscriber (`ReflectHandle`) drops
/// an event whose object has left the store by the time it is read, and then never wakes
/// again, so a deleted pod triggered no pass and a roll waited for the 5-minute requeue.
/// Unbounded: the controller starts only once every cache has synced, so the first list is
/// queued here until then (slimmed objects; the controller de-duplicates by owner).
pub type Trigger<K> = mpsc::UnboundedReceiver<Result<K, watcher::Error>>;

/// Trigger streams of the owned kinds.
pub struct Triggers {
    pub pods: Trigger<Pod>,
    pub services: Trigger<Service>,
    pub config_maps: Trigger<ConfigMap>,
    pub pvcs: Trigger<PersistentVolumeClaim>,
    pub pdbs: Trigger<PodDisruptionBudget>,
    pub secrets: Trigger<Secret>,
    /// Names of the nodes whose readiness changed (or that went): node-loss recovery looks
    /// at the clusters with pods there.
    pub nodes: mpsc::UnboundedReceiver<String>,
    pub network_policies: Trigger<NetworkPolicy>,
    /// (namespace, name) of every Secret that changed, appeared or went: the clusters that name
    /// it as a listener certificate look again.
    pub any_secrets: mpsc::UnboundedReceiver<(String, String)>,
}

/// A watch task that fills a cache; it must be polled (spawned) for the cache to fill.
pub type Watch = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;
pub type Watches = Vec<Watch>;

pub(crate) fn api<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Only the operator's own objects are watched: the label keeps memory flat in busy clusters.
fn owned_config() -> watcher::Config {
    watcher::Config::default()
        .labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGER))
        .streaming_lists()
}

/// One reflector: the store, the trigger stream, and the task that fills both.
fn shared<K, F>(api: Api<K>, slim: F) -> (Store<K>, Trigger<K>, Watch)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    F: FnMut(&mut K) + Send + 'static,
{
    let (reader, writer) = reflector::store();
    let (tx, rx) = mpsc::unbounded();
    let stream = watcher(api, owned_config())
        .default_backoff()
        .modify(slim)
        .reflect(writer);
    let kind = K::kind(&()).to_string();
    (reader, rx, Box::pin(drain(stream, kind, forward(tx))))
}

/// Hands every object a watch event carries (applied, listed or deleted) to the trigger.
fn forward<K: Clone>(tx: mpsc::UnboundedSender<Result<K, watcher::Error>>) -> impl FnMut(&watcher::Event<K>) {
    move |event| {
        if let watcher::Event::Apply(o) | watcher::Event::InitApply(o) | watcher::Event::Delete(o) = event {
            // Fails only once the controller has stopped; the cache keeps filling regardless.
            let _ = tx.unbounded_send(Ok(o.clone()));
        }
    }
}

/// Polls a watch stream for ever (the watcher retries with backoff), handing each event to
/// `on_event` after the reflector has applied it.
async fn drain<S, K>(stream: S, kind: String, mut on_event: impl FnMut(&watcher::Event<K>))
where
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
{
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => on_event(&event),
            Err(e) => warn!(%kind, error = %e, "watch failed; retrying with backoff"),
        }
    }
}

/// Fields no decision reads are dropped before an object is cached: managed fields always,
/// and a pod's spec down to its node (the desired pod is built, never read back).
fn slim_meta<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

fn slim_pod(pod: &mut Pod) {
    slim_meta(pod);
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    pod.spec = Some(PodSpec {
        node_name,
        containers: Vec::new(),
        ..Default::default()
    });
    // Status: phase and reason, conditions, and each container's waiting reason.
    if let Some(status) = pod.status.take() {
        let waiting = |cs: Option<Vec<ContainerStatus>>| {
            cs.map(|list| {
                list.into_iter()
                    .map(|c| ContainerStatus {
                        name: c.name,
                        ready: c.ready,
                        restart_count: c.restart_count,
                        state: c.state.map(|s| ContainerState {
                            waiting: s.waiting,
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .collect()
            })
        };
        pod.status = Some(PodStatus {
            phase: status.phase,
            reason: status.reason,
            conditions: status.conditions.map(|cs| {
                cs.into_iter()
                    .map(|c| PodCondition {
                        last_probe_time: None,
                        last_transition_time: None,
                        ..c
                    })
                    .collect()
            }),
            container_statuses: waiting(status.container_statuses),
            init_container_statuses: waiting(status.init_container_statuses),
            ..Default::default()
        });
    }
}

/// A node keeps its labels and its `Ready` condition's status and last transition (the
/// heartbeat times, which change every few seconds, are dropped).
fn slim_node(node: &mut Node) {
    node.metadata.managed_fields = None;
    node.metadata.annotations = None;
    node.spec = None;
    let status = node.status.take().unwrap_or_default();
    let addresses = status.addresses;
    let ready = status
        .conditions
        .and_then(|cs| cs.into_iter().find(|c| c.type_ == "Ready"));
    node.status = Some(NodeStatus {
        addresses,
        conditions: ready.map(|c| {
            vec![NodeCondition {
                last_heartbeat_time: None,
                message: None,
                ..c
            }]
        }),
        ..Default::default()
    });
}

/// A claim keeps its spec (size and class are checked against the spec) and its phase.
fn slim_pvc(pvc: &mut PersistentVolumeClaim) {
    slim_meta(pvc);
    if let Some(status) = pvc.status.take() {
        pvc.status = Some(PersistentVolumeClaimStatus {
            phase: status.phase,
            ..Default::default()
        });
    }
}

/// A node ConfigMap's data is compared, never read: the cache keeps a digest of each value
/// ([`digest_data`]), and the desired ConfigMap is digested the same way before comparing.
fn slim_config_map(cm: &mut ConfigMap) {
    slim_meta(cm);
    digest_data(cm);
}

/// Replaces every data value by its SHA-256 (hex, prefixed `sha256:`).
pub fn digest_data(cm: &mut ConfigMap) {
    if let Some(data) = cm.data.as_mut() {
        for value in data.values_mut() {
            if !value.starts_with(DIGEST_PREFIX) {
                let digest = Sha256::digest(value.as_bytes());
                *value = format!("{DIGEST_PREFIX}{}", hex(&digest));
            }
        }
    }
}

const DIGEST_PREFIX: &str = "sha256:";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Builds every cache of a scope. The returned watches must be spawned. Without `watch_nodes`
/// (no permission to read nodes) the node cache stays empty and counts as synced.
pub fn start(client: &Client, ns: Option<&str>, watch_nodes: bool) -> (Caches, Triggers, Watches) {
    let (pods, pod_sub, pod_watch) = shared(api::<Pod>(client, ns), slim_pod);
    let (services, svc_sub, svc_watch) = shared(api::<Service>(client, ns), slim_meta);
    let (config_maps, cm_sub, cm_watch) = shared(api::<ConfigMap>(client, ns), slim_config_map);
    let (pvcs, pvc_sub, pvc_watch) = shared(api::<PersistentVolumeClaim>(client, ns), slim_pvc);
    let (pdbs, pdb_sub, pdb_watch) = shared(api::<PodDisruptionBudget>(client, ns), slim_meta);
    let (secrets, secret_sub, secret_watch) = shared(api::<Secret>(client, ns), slim_meta);
    let (node_tx, node_rx) = mpsc::unbounded();
    let (nodes, node_watch) = node_cache(client, watch_nodes, node_tx);
    let (network_policies, np_sub, np_watch) = shared(api::<NetworkPolicy>(client, ns), slim_meta);
    let (any_tx, any_rx) = mpsc::unbounded();
    let (secret_metadata, secret_meta_watch) =
        secret_metadata(api::<PartialObjectMeta<Secret>>(client, ns), any_tx);
    let triggers = Triggers {
        pods: pod_sub,
        services: svc_sub,
        config_maps: cm_sub,
        pvcs: pvc_sub,
        pdbs: pdb_sub,
        secrets: secret_sub,
        nodes: node_rx,
        network_policies: np_sub,
        any_secrets: any_rx,
    };
    let caches = Caches {
        pods,
        services,
        config_maps,
        pvcs,
        pdbs,
        secrets,
        network_policies,
        secret_metadata,
        nodes,
    };
    let watches: Watches = vec![
        pod_watch,
        svc_watch,
        cm_watch,
        pvc_watch,
        pdb_watch,
        secret_watch,
        np_watch,
        node_watch,
        secret_meta_watch,
    ];
    (caches, triggers, watches)
}

/// The metadata of every Secret in scope (no data, no managed fields), and the (namespace,
/// name) of each one that changes, for the user's listener certificates.
fn secret_metadata(
    api: Api<PartialObjectMeta<Secret>>,
    changed: mpsc::UnboundedSender<(String, String)>,
) -> (Store<PartialObjectMeta<Secret>>, Watch) {
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default().streaming_lists())
        .default_backoff()
        .modify(|m: &mut PartialObjectMeta<Secret>| m.metadata.managed_fields = None)
        .reflect(writer);
    let forward = move |event: &watcher::Event<PartialObjectMeta<Secret>>| {
        if let watcher::Event::Apply(m) | watcher::Event::Delete(m) = event {
            let _ = changed.unbounded_send((m.namespace().unwrap_or_default(), m.name_any()));
        }
    };
    (
        reader,
        Box::pin(drain(stream, "Secret metadata".to_string(), forward)),
    )
}

/// Nodes (labels and readiness), or an empty cache that counts as synced when nodes are not
/// watched.
fn node_cache(
    client: &Client,
    watch_nodes: bool,
    changed: mpsc::UnboundedSender<String>,
) -> (Store<Node>, Watch) {
    let (nodes, mut node_writer) = reflector::store();
    if !watch_nodes {
        node_writer.apply_watcher_event(&watcher::Event::InitDone);
        return (nodes, Box::pin(std::future::pending()));
    }
    let node_stream = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(slim_node)
        .reflect(node_writer);
    (
        nodes,
        Box::pin(drain(node_stream, "Node".to_string(), readiness_changes(changed))),
    )
}

/// Hands on the name of a node whose `Ready` condition changed (status or transition time),
/// or that was deleted; heartbeats and label edits are not passed on.
fn readiness_changes(tx: mpsc::UnboundedSender<String>) -> impl FnMut(&watcher::Event<Node>) {
    let mut seen: std::collections::HashMap<String, Option<NodeCondition>> = std::collections::HashMap::new();
    move |event| {
        let (node, deleted) = match event {
            watcher::Event::Apply(n) | watcher::Event::InitApply(n) => (n, false),
            watcher::Event::Delete(n) => (n, true),
            _ => return,
        };
        let name = node.name_any();
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.first().cloned());
        let changed = if deleted {
            seen.remove(&name);
            true
        } else {
            seen.insert(name.clone(), ready.clone())
                .is_some_and(|before| before != ready)
        };
        if changed {
            let _ = tx.unbounded_send(name);
        }
    }
}

impl Caches {
    /// Resolves once every cache has its first complete list.
    pub async fn synced(&self) -> bool {
        let results = tokio::join!(
            self.pods.wait_until_ready(),
            self.services.wait_until_ready(),
            self.config_maps.wait_until_ready(),
            self.pvcs.wait_until_ready(),
            self.pdbs.wait_until_ready(),
            self.nodes.wait_until_ready(),
            self.secrets.wait_until_ready(),
            self.network_policies.wait_until_ready(),
            self.secret_metadata.wait_until_ready(),
        );
        results.0.is_ok()
            && results.1.is_ok()
            && results.2.is_ok()
            && results.3.is_ok()
            && results.4.is_ok()
            && results.5.is_ok()
            && results.6.is_ok()
            && results.7.is_ok()
            && results.8.is_ok()
    }

    /// Labels of every node, by node name.
    pub fn node_labels(
        &self,
    ) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
        self.nodes
            .state()
            .iter()
            .map(|n| (n.name_any(), n.labels().clone()))
            .collect()
    }

    /// Every node's readiness, by node name (empty when nodes are not watched).
    pub fn node_states(&self) -> std::collections::BTreeMap<String, crate::recovery::node_loss::NodeState> {
        self.nodes
            .state()
            .iter()
            .map(|n| (n.name_any(), crate::recovery::view::node_state(n)))
            .collect()
    }

    /// The KafkaClusters (namespace, name) with a pod bound to `node`.
    pub fn clusters_on(&self, node: &str) -> std::collections::BTreeSet<(String, String)> {
        self.pods
            .state()
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
            .filter_map(|p| Some((p.namespace()?, p.labels().get(labels::CLUSTER)?.clone())))
            .collect()
    }

    /// Addresses of every node, by node name.
    pub fn node_addresses(&self) -> std::collections::BTreeMap<String, Vec<NodeAddress>> {
        self.nodes
            .state()
            .iter()
            .map(|n| {
                let addresses = n.status.as_ref().and_then(|s| s.addresses.clone());
                (n.name_any(), addresses.unwrap_or_default())
            })
            .collect()
    }

    /// Waits (briefly) until the pod cache shows `done` for the pod `name`, so the next pass
    /// never acts again on a pod this pass already changed.
    pub async fn await_pod(&self, ns: &str, name: &str, done: impl Fn(Option<&Pod>) -> bool) {
        await_store(&self.pods, ns, name, done).await;
    }

    pub async fn await_pvc(
        &self,
        ns: &str,
        name: &str,
        done: impl Fn(Option<&PersistentVolumeClaim>) -> bool,
    ) {
        await_store(&self.pvcs, ns, name, done).await;
    }

    pub async fn await_config_map(&self, ns: &str, name: &str, done: impl Fn(Option<&ConfigMap>) -> bool) {
        await_store(&self.config_maps, ns, name, done).await;
    }
}

/// Objects of one cluster (by its label) in one namespace, from a cache.
pub fn of_cluster<K>(store: &Store<K>, ns: &str, cluster: &str) -> Vec<K>
where
    K: Resource<DynamicType = ()> + Clone,
{
    store
        .state()
        .iter()
        .filter(|o| o.meta().namespace.as_deref() == Some(ns))
        .filter(|o| {
            let l = o.labels();
            l.get(labels::CLUSTER).map(String::as_str) == Some(cluster)
                && l.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER)
        })
        .map(|o| K::clone(o))
        .collect()
}

/// How long a pass waits for its own write to show in a cache before it returns anyway.
const REFLECT_TIMEOUT: Duration = Duration::from_secs(5);

async fn await_store<K>(store: &Store<K>, ns: &str, name: &str, done: impl Fn(Option<&K>) -> bool)
where
    K: Resource<DynamicType = ()> + Clone,
{
    let key = reflector::ObjectRef::<K>::new(name).within(ns);
    let start = tokio::time::Instant::now();
    while start.elapsed() < REFLECT_TIMEOUT {
        let current = store.get(&key);
        if done(current.as_deref()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    warn!(kind = %K::kind(&()), %name, "the cache did not show this pass's write in time");
}

/// Keeps `Arc` out of the signatures of callers that need owned objects.
pub fn cloned<K: Clone>(items: &[Arc<K>]) -> Vec<K> {
    items.iter().map(|o| K::clone(o)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Container;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    fn pod(name: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some(name.to_string());
        p.metadata.namespace = Some("ns".to_string());
        p
    }

    /// A pod modified then deleted before anyone reads the trigger still reaches the
    /// controller twice (the deletion too), and the trigger keeps delivering afterwards; the
    /// store, read after the events, no longer has the pod.
    #[tokio::test]
    async fn deletions_reach_the_trigger_after_the_store_dropped_the_object() {
        let (reader, writer) = reflector::store();
        let (tx, mut rx) = mpsc::unbounded();
        let events = vec![
            Ok(watcher::Event::Apply(pod("a"))),
            Ok(watcher::Event::Delete(pod("a"))),
            Ok(watcher::Event::Apply(pod("b"))),
        ];
        let stream = futures::stream::iter(events).reflect(writer);
        drain(stream, "Pod".to_string(), forward(tx)).await;
        let mut seen = Vec::new();
        while let Some(Ok(p)) = rx.next().await {
            seen.push(p.metadata.name.unwrap_or_default());
        }
        assert_eq!(seen, ["a", "a", "b"]);
        let cached: Vec<String> = reader.state().iter().map(|p| p.name_any()).collect();
        assert_eq!(cached, ["b"]);
    }

    /// Only a change of the Ready condition (or a deletion) is passed on, not heartbeats.
    #[tokio::test]
    async fn node_readiness_changes_are_passed_on_and_heartbeats_are_not() {
        let node = |status: &str, at: i64| {
            let mut n = Node::default();
            n.metadata.name = Some("n1".into());
            n.status = Some(k8s_openapi::api::core::v1::NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: status.into(),
                    last_transition_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        k8s_openapi::jiff::Timestamp::from_second(at).unwrap(),
                    )),
                    ..Default::default()
                }]),
                ..Default::default()
            });
            slim_node(&mut n);
            n
        };
        let (tx, mut rx) = mpsc::unbounded();
        let mut on_event = readiness_changes(tx);
        for e in [
            watcher::Event::InitApply(node("True", 1)),
            watcher::Event::Apply(node("True", 1)),
            watcher::Event::Apply(node("False", 5)),
            watcher::Event::Apply(node("False", 5)),
            watcher::Event::Apply(node("True", 9)),
            watcher::Event::Delete(node("True", 9)),
        ] {
            on_event(&e);
        }
        drop(on_event);
        let mut seen = Vec::new();
        while let Some(n) = rx.next().await {
            seen.push(n);
        }
        assert_eq!(seen, ["n1", "n1", "n1"], "to NotReady, back to Ready, deleted");
    }

    #[test]
    fn config_map_data_is_cached_as_digests() {
        let cm = |text: &str| ConfigMap {
            data: Some([("server.properties".to_string(), text.to_string())].into()),
            ..Default::default()
        };
        let mut a = cm("node.id=1\n");
        let mut b = a.clone();
        slim_config_map(&mut a);
        let cached = a.data.clone().unwrap()["server.properties"].clone();
        assert!(
            cached.starts_with("sha256:") && cached.len() == 7 + 64,
            "{cached}"
        );
        digest_data(&mut a);
        assert_eq!(a.data.clone().unwrap()["server.properties"], cached, "idempotent");
        digest_data(&mut b);
        assert_eq!(a.data, b.data);
        let mut c = cm("node.id=2\n");
        digest_data(&mut c);
        assert_ne!(a.data, c.data);
    }

    #[test]
    fn slim_pod_keeps_what_decisions_read() {
        let mut pod = Pod::default();
        pod.metadata.name = Some("c-broker-0".into());
        pod.metadata.annotations = Some([("a".to_string(), "b".to_string())].into());
        pod.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        pod.spec = Some(PodSpec {
            node_name: Some("node-1".into()),
            containers: vec![Container {
                name: "kafka".into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        slim_pod(&mut pod);
        assert_eq!(pod.metadata.managed_fields, None);
        assert_eq!(pod.annotations().get("a").map(String::as_str), Some("b"));
        let spec = pod.spec.expect("spec");
        assert_eq!(spec.node_name.as_deref(), Some("node-1"));
        assert!(spec.containers.is_empty());
    }
}
