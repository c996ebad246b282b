//! Start-up checks of a watch scope: the KafkaCluster CRD is served and the operator may list
//! KafkaClusters there. Installed in one step (a Helm chart, `kubectl apply -f` of a directory),
//! the operator may start before its CRD is served or before its Roles exist: it waits, not ready,
//! saying what it waits for, instead of exiting. A scope that is not permitted keeps the others
//! running.

use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::{Client, Error};
use tracing::{error, info, warn};

use crate::crd::KafkaCluster;

/// How often a blocked scope is checked again.
const RETRY: Duration = Duration::from_secs(3);
/// How often the same blocker is logged again while it lasts.
const REPEAT_LOG: u32 = 20;

/// Why a scope cannot start yet (pure, from the answer of a list).
#[derive(Debug, PartialEq, Eq)]
pub enum Blocker {
    /// 404: the API server does not serve kafkaclusters.kraftwerk.dev (yet).
    CrdNotServed,
    /// 403: the service account may not list KafkaClusters in this scope.
    Forbidden(String),
    /// Anything else (API server unreachable, ...).
    Other(String),
}

impl Blocker {
    pub fn of(scope: Option<&str>, err: &Error) -> Self {
        match err {
            Error::Api(s) if s.code == 404 => Blocker::CrdNotServed,
            Error::Api(s) if s.code == 403 => Blocker::Forbidden(match scope {
                Some(ns) => format!(
                    "not permitted to list KafkaClusters in namespace {ns}: the service account needs a Role \
                     and RoleBinding there (the Helm chart makes them for every namespace in `watchNamespaces`): {}",
                    s.message
                ),
                None => format!(
                    "not permitted to list KafkaClusters in all namespaces: the service account needs the ClusterRole \
                     (or run with --namespaces and a Role per namespace): {}",
                    s.message
                ),
            }),
            other => Blocker::Other(other.to_string()),
        }
    }

    fn log(&self, scope: &str) {
        match self {
            Blocker::CrdNotServed => info!(
                %scope,
                "waiting for the KafkaCluster CRD (kafkaclusters.kraftwerk.dev) to be served; install it: kubectl apply -f crds/"
            ),
            Blocker::Forbidden(m) => error!(%scope, "{m}"),
            Blocker::Other(m) => warn!(%scope, error = %m, "cannot list KafkaClusters yet; retrying"),
        }
    }
}

fn scope_name(ns: Option<&str>) -> String {
    ns.map_or_else(|| "all namespaces".to_string(), str::to_string)
}

/// Lists KafkaClusters (limit 1) in the scope until that succeeds, logging each new blocker
/// at once and a lasting one every minute.
pub async fn wait_for_scope(client: &Client, ns: Option<&str>) {
    let api: Api<KafkaCluster> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let scope = scope_name(ns);
    let mut last: Option<Blocker> = None;
    let mut repeats = 0u32;
    loop {
        match api.list(&ListParams::default().limit(1)).await {
            Ok(_) => {
                if last.is_some() {
                    info!(%scope, "KafkaClusters can be listed now; starting");
                }
                return;
            }
            Err(e) => {
                let blocker = Blocker::of(ns, &e);
                if last.as_ref() != Some(&blocker) || repeats >= REPEAT_LOG {
                    blocker.log(&scope);
                    repeats = 0;
                }
                repeats += 1;
                last = Some(blocker);
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Whether the operator may read nodes (cluster-scoped). A namespace-scoped install with Roles
/// only cannot; then node labels are unknown: rack awareness and node-label placement rules
/// (LIKE/UNLIKE on labels) cannot be evaluated, everything else works.
pub async fn can_read_nodes(client: &Client) -> bool {
    let api: Api<PartialObjectMeta<Node>> = Api::all(client.clone());
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => true,
        Err(Error::Api(s)) if s.code == 403 => {
            warn!(
                "not permitted to list nodes: node labels are unknown, so rack awareness (broker.rack) and \
                 placement rules on node labels cannot be evaluated; grant get/list/watch on nodes \
                 (the Helm chart's rbac.nodes) to enable them"
            );
            false
        }
        // Anything else: the node watch retries with backoff as before.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api_error(code: u16, message: &str) -> Error {
        Error::Api(Status::failure(message, "").with_code(code).boxed())
    }

    #[test]
    fn a_missing_crd_is_waited_for() {
        assert_eq!(
            Blocker::of(
                None,
                &api_error(404, "the server could not find the requested resource")
            ),
            Blocker::CrdNotServed
        );
    }

    #[test]
    fn a_forbidden_namespace_is_named_with_what_is_missing() {
        let Blocker::Forbidden(m) = Blocker::of(Some("team-a"), &api_error(403, "forbidden")) else {
            panic!("not Forbidden");
        };
        assert!(m.contains("namespace team-a") && m.contains("Role"), "{m}");
        let Blocker::Forbidden(m) = Blocker::of(None, &api_error(403, "forbidden")) else {
            panic!("not Forbidden");
        };
        assert!(m.contains("all namespaces") && m.contains("ClusterRole"), "{m}");
    }

    #[test]
    fn other_errors_are_retried() {
        assert!(matches!(
            Blocker::of(None, &api_error(500, "etcd timeout")),
            Blocker::Other(_)
        ));
    }
}
