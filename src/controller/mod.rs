//! The controller: caches, the shared context, and the run loop.

pub mod apply;
pub mod cache;
mod durability;
pub mod events;
mod external;
pub mod kafka;
pub mod observe;
pub mod quorum;
mod rack;
pub mod rebalance;
mod reconcile;
mod recovery;
pub mod roll;
pub mod scale;
pub mod shutdown;
pub mod startup;
mod status;
mod sync;
mod tls;
mod upgrade;
pub mod user;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::client::ClientBuilder;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Config, ResourceExt};
use tracing::{info, warn};

pub use events::pod_ref;
pub use reconcile::{error_policy, reconcile};

use self::cache::Caches;
use crate::crd::KafkaCluster;
use crate::error::{Error, Result};
use crate::http::Health;
use crate::metrics::Metrics;
use crate::validate::Options;

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub options: Options,
    /// What the reconcile reads: the operator's own objects, from watches.
    pub caches: Caches,
    /// Paces the durability pass (Kafka reads), per cluster.
    durability: durability::Pacer,
    /// Consecutive failures per object, for the retry delay only (never for decisions).
    failures: Mutex<HashMap<String, u32>>,
    /// The user's listener certificate Secrets as last read.
    listener_secrets: tls::ListenerSecrets,
}

impl Context {
    pub fn new(client: Client, metrics: Arc<Metrics>, options: Options, caches: Caches) -> Self {
        let reporter = Reporter {
            controller: "kraftwerk".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            options,
            caches,
            durability: durability::Pacer::default(),
            failures: Mutex::default(),
            listener_secrets: tls::ListenerSecrets::default(),
        }
    }

    fn key(name: &str, ns: Option<&str>) -> String {
        format!("{}/{name}", ns.unwrap_or_default())
    }

    /// 1 s, 2 s, 4 s … up to 5 minutes.
    pub fn next_backoff(&self, name: &str, ns: Option<&str>) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(Self::key(name, ns)).or_insert(0);
        *n = n.saturating_add(1);
        Duration::from_secs(2u64.saturating_pow(n.saturating_sub(1).min(9)).min(300))
    }

    pub fn reset_backoff(&self, name: &str, ns: Option<&str>) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&Self::key(name, ns));
    }
}

/// Settings of `kraftwerk run`.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    pub options: Options,
    /// Reconciles running at once.
    pub concurrency: u16,
}

/// A client whose every request is counted by HTTP verb (the no-churn measure), and whose
/// outcomes tell `health` whether the API server answers (a transport error: it does not; any
/// HTTP response: it does).
pub async fn counting_client(metrics: Arc<Metrics>, health: Arc<Health>) -> Result<Client> {
    let config = Config::infer().await.map_err(|e| Error::Config(e.to_string()))?;
    let builder = ClientBuilder::try_from(config)?;
    let count = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        metrics.observe_request(req.method(), req.uri());
        req
    });
    let answered = tower::util::MapResultLayer::new(record_answer(health));
    Ok(builder.with_layer(&count).with_layer(&answered).build())
}

/// Runs the controllers until SIGTERM/SIGINT. Each scope waits, not ready, until the CRD is
/// served and KafkaClusters may be listed there ([`startup`]).
pub async fn run(
    client: Client,
    config: RunConfig,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> Result<()> {
    let watch_nodes = startup::can_read_nodes(&client).await;
    let scopes: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    info!(namespaces = ?config.namespaces, "starting controllers");
    let controllers = scopes.into_iter().map(|ns| {
        run_scope(
            client.clone(),
            ns,
            config.clone(),
            metrics.clone(),
            health.clone(),
            watch_nodes,
        )
    });
    health.alive.store(true, Ordering::Relaxed);
    futures::future::join_all(controllers).await;
    health.alive.store(false, Ordering::Relaxed);
    Ok(())
}

/// For each Secret that changed: the clusters of its namespace that name it as their CA or a
/// listener certificate ([`crate::tls::user_secrets`]).
fn certificate_users(
    clusters: Store<DeserializeGuard<KafkaCluster>>,
    changed: futures::channel::mpsc::UnboundedReceiver<(String, String)>,
) -> impl futures::Stream<Item = ObjectRef<DeserializeGuard<KafkaCluster>>> {
    changed.flat_map(move |(ns, name)| {
        let refs: Vec<_> = clusters
            .state()
            .iter()
            .filter_map(|guard| guard.0.as_ref().ok())
            .filter(|kc| kc.namespace().as_deref() == Some(ns.as_str()))
            .filter(|kc| crate::tls::user_secrets(&kc.spec).contains(&name.as_str()))
            .map(|kc| ObjectRef::new(&kc.name_any()).within(&ns))
            .collect();
        futures::stream::iter(refs)
    })
}

/// Passes a response through, noting in `health` whether there was one.
fn record_answer<R, E>(health: Arc<Health>) -> impl Fn(Result<R, E>) -> Result<R, E> + Clone {
    move |result| {
        health.api_answered(result.is_ok());
        result
    }
}

fn api<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// One watch scope: its caches, fed by one watch per kind, drive its controller.
async fn run_scope(
    client: Client,
    ns: Option<String>,
    config: RunConfig,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    watch_nodes: bool,
) {
    let ns = ns.as_deref();
    startup::wait_for_scope(&client, ns).await;
    let (caches, triggers, watches) = cache::start(&client, ns, watch_nodes);
    let watch_tasks: Vec<_> = watches.into_iter().map(tokio::spawn).collect();
    // No reconcile before every cache has its first complete list: a pass on a half-filled
    // cache would take existing objects for missing ones.
    if !caches.synced().await {
        warn!("a cache's watch ended before it synced; not starting the controller");
        return;
    }
    health.scopes_synced.fetch_add(1, Ordering::Relaxed);
    info!("caches synced");
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics,
        config.options.clone(),
        caches,
    ));
    let users = user::run(ctx.clone(), ns, config.concurrency);
    let clusters: Api<DeserializeGuard<KafkaCluster>> = api(&client, ns);
    // A node whose readiness changed: the clusters with pods on it (node-loss recovery).
    let pods_on = ctx.caches.clone();
    let node_changes = triggers.nodes.flat_map(move |node| {
        let refs: Vec<_> = pods_on
            .clusters_on(&node)
            .into_iter()
            .map(|(ns, name)| ObjectRef::<DeserializeGuard<KafkaCluster>>::new(&name).within(&ns))
            .collect();
        futures::stream::iter(refs)
    });
    let controller = Controller::new(clusters, watcher::Config::default().any_semantic());
    let certificate_changes = certificate_users(controller.store(), triggers.any_secrets);
    let kafka_clusters = controller
        .reconcile_on(node_changes)
        .reconcile_on(certificate_changes)
        .owns_stream(triggers.pods)
        .owns_stream(triggers.services)
        .owns_stream(triggers.config_maps)
        .owns_stream(triggers.pvcs)
        .owns_stream(triggers.pdbs)
        .owns_stream(triggers.secrets)
        .owns_stream(triggers.network_policies)
        .with_config(controller::Config::default().concurrency(config.concurrency))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "controller event");
            }
        });
    futures::join!(kafka_clusters, users);
    for task in watch_tasks {
        task.abort();
    }
}
