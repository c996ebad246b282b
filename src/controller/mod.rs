//! The controller: wiring of watches, the shared context, and the run loop.

pub mod apply;
mod kafka;
pub mod observe;
mod reconcile;
pub mod roll;
pub mod scale;
pub mod shutdown;
pub mod status;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use kube::client::ClientBuilder;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, Config};
use tracing::{info, warn};

pub use reconcile::{error_policy, reconcile};

use crate::crd::KafkaCluster;
use crate::error::{Error, Result};
use crate::labels;
use crate::metrics::Metrics;
use crate::validate::Options;

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub options: Options,
    /// Consecutive failures per object, for the retry delay only (never for decisions).
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(client: Client, metrics: Arc<Metrics>, options: Options) -> Self {
        let reporter = Reporter {
            controller: "kraftwerk".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            options,
            failures: Mutex::default(),
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

/// A pod as the related object of an Event. kube's `Recorder` folds Events with the same
/// regarding object, reason, action and related object into one (counting up, keeping the first
/// note), so Events about different pods must name their pod (and, when known, its uid) to stay
/// apart.
pub(crate) fn pod_ref(
    ns: &str,
    name: &str,
    uid: Option<String>,
) -> k8s_openapi::api::core::v1::ObjectReference {
    k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: Some(ns.into()),
        name: Some(name.into()),
        uid,
        ..Default::default()
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

/// A client whose every request is counted by HTTP verb (the no-churn measure).
pub async fn counting_client(metrics: Arc<Metrics>) -> Result<Client> {
    let config = Config::infer().await.map_err(|e| Error::Config(e.to_string()))?;
    let builder = ClientBuilder::try_from(config)?;
    let layer = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        metrics.observe_request(req.method());
        req
    });
    Ok(builder.with_layer(&layer).build())
}

/// Runs the controllers until SIGTERM/SIGINT.
pub async fn run(
    client: Client,
    config: RunConfig,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
) -> Result<()> {
    // Fail fast with an install hint when the CRD is missing.
    Api::<KafkaCluster>::all(client.clone())
        .list(&ListParams::default().limit(1))
        .await
        .map_err(Error::CrdMissing)?;
    let ctx = Arc::new(Context::new(client.clone(), metrics, config.options.clone()));
    let scopes: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    info!(namespaces = ?config.namespaces, "starting controllers");
    ready.store(true, Ordering::Relaxed);
    let controllers = scopes
        .into_iter()
        .map(|ns| run_scope(client.clone(), ns, config.concurrency, ctx.clone()));
    futures::future::join_all(controllers).await;
    Ok(())
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

async fn run_scope(client: Client, ns: Option<String>, concurrency: u16, ctx: Arc<Context>) {
    let ns = ns.as_deref();
    let clusters: Api<DeserializeGuard<KafkaCluster>> = api(&client, ns);
    // Only the operator's own objects are watched: the label keeps memory flat in busy clusters.
    let owned = watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGER));
    Controller::new(clusters, watcher::Config::default().any_semantic())
        .owns(api::<Pod>(&client, ns), owned.clone())
        .owns(api::<Service>(&client, ns), owned.clone())
        .owns(api::<ConfigMap>(&client, ns), owned.clone())
        .owns(api::<PersistentVolumeClaim>(&client, ns), owned.clone())
        .owns(api::<PodDisruptionBudget>(&client, ns), owned)
        .with_config(controller::Config::default().concurrency(concurrency))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "controller event");
            }
        })
        .await;
}
