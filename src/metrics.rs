//! Prometheus metrics: reconciles, failures by error kind, reconcile duration, every request the
//! operator sends to the API server by Kubernetes verb (the "a no-op reconcile sends nothing"
//! guarantee is measured with it), what rollouts did (restarts and live reconfigurations, by node
//! role), and leader election (whether this replica leads, and its Lease requests, kept out of
//! the request counters).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// get, list, watch, create, patch, update or delete.
    pub verb: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RollLabels {
    /// `restart`, `reconfigure` or `reconfigure_failed`.
    pub action: String,
    /// `broker` or `controller`.
    pub role: String,
}

pub struct Metrics {
    pub reconciles: Counter,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Histogram,
    pub requests: Family<RequestLabels, Counter>,
    pub roll_actions: Family<RollLabels, Counter>,
    /// 1 while this replica holds the leader Lease (or runs without leader election).
    pub is_leader: Gauge,
    pub lease_requests: Family<RequestLabels, Counter>,
    requests_total: AtomicU64,
    registry: Registry,
}

/// The Kubernetes verb of a request: a GET is a watch (`watch=true`), a list (its path ends in
/// a resource collection) or a get.
pub fn verb(method: &http::Method, uri: &http::Uri) -> &'static str {
    match *method {
        http::Method::GET => {
            let query = uri.query().unwrap_or_default();
            if query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1") {
                "watch"
            } else if is_collection(uri.path()) {
                "list"
            } else {
                "get"
            }
        }
        http::Method::POST => "create",
        http::Method::PATCH => "patch",
        http::Method::PUT => "update",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

/// `/api/v1/pods`, `/api/v1/namespaces/x/pods`, `/apis/g/v/namespaces/x/kafkaclusters` are
/// collections; one more segment names an object (`namespaces/x` itself is an object).
fn is_collection(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segments.first() {
        Some(&"api") => segments.get(2..),
        Some(&"apis") => segments.get(3..),
        _ => None,
    };
    matches!(rest.unwrap_or_default(), [_] | ["namespaces", _, _])
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kraftwerk");
        let reconciles = Counter::default();
        let failures = Family::<ErrorLabels, Counter>::default();
        let duration = Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]);
        let requests = Family::<RequestLabels, Counter>::default();
        let roll_actions = Family::<RollLabels, Counter>::default();
        registry.register("reconcile", "Reconciliations run", reconciles.clone());
        registry.register(
            "reconcile_failures",
            "Reconciliations that failed, by error kind",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconciliation",
            duration.clone(),
        );
        registry.register(
            "kube_requests",
            "Requests sent to the API server, by Kubernetes verb",
            requests.clone(),
        );
        registry.register(
            "roll_actions",
            "Nodes restarted and brokers reconfigured live by rollouts, by action and role",
            roll_actions.clone(),
        );
        let is_leader = Gauge::default();
        let lease_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "is_leader",
            "1 while this replica holds the leader Lease and acts, 0 while it stands by",
            is_leader.clone(),
        );
        registry.register(
            "lease_requests",
            "Requests about the leader Lease sent to the API server, by HTTP verb",
            lease_requests.clone(),
        );
        Self {
            reconciles,
            failures,
            duration,
            requests,
            roll_actions,
            is_leader,
            lease_requests,
            requests_total: AtomicU64::new(0),
            registry,
        }
    }

    /// Counts one request the client is about to send.
    pub fn observe_request(&self, method: &http::Method, uri: &http::Uri) {
        self.requests
            .get_or_create(&RequestLabels {
                verb: verb(method, uri).to_string(),
            })
            .inc();
        self.requests_total.fetch_add(1, Ordering::Relaxed);
    }

    /// All requests so far.
    pub fn requests_total(&self) -> u64 {
        self.requests_total.load(Ordering::Relaxed)
    }

    /// Counts one request about the leader Lease; not a request of the controllers.
    pub fn observe_lease_request(&self, method: &http::Method, uri: &http::Uri) {
        self.lease_requests
            .get_or_create(&RequestLabels {
                verb: verb(method, uri).to_string(),
            })
            .inc();
    }

    pub fn failure(&self, kind: &str) {
        self.failures
            .get_or_create(&ErrorLabels {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Counts one rollout action on a node of `role`.
    pub fn roll_action(&self, action: &str, role: &str) {
        self.roll_actions
            .get_or_create(&RollLabels {
                action: action.to_string(),
                role: role.to_string(),
            })
            .inc();
    }

    /// Starts timing a reconcile; the time is recorded when the guard drops.
    pub fn measure(&self) -> ReconcileTimer<'_> {
        self.reconciles.inc();
        ReconcileTimer {
            metrics: self,
            start: Instant::now(),
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics.duration.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> http::Uri {
        s.parse().unwrap()
    }

    #[test]
    fn counts_every_request_by_kubernetes_verb() {
        let m = Metrics::new();
        let get = http::Method::GET;
        m.observe_request(&get, &uri("/api/v1/namespaces/a/pods?labelSelector=x"));
        m.observe_request(&get, &uri("/api/v1/pods?watch=true&resourceVersion=1"));
        m.observe_request(&get, &uri("/api/v1/namespaces/a/pods/p"));
        m.observe_request(&get, &uri("/apis/kraftwerk.dev/v1alpha1/kafkaclusters?limit=1"));
        m.observe_request(&http::Method::PATCH, &uri("/api/v1/namespaces/a/pods/p"));
        m.observe_request(&http::Method::DELETE, &uri("/api/v1/namespaces/a/pods/p"));
        assert_eq!(m.requests_total(), 6);
        let text = m.encode();
        for line in [
            "kraftwerk_kube_requests_total{verb=\"list\"} 2",
            "kraftwerk_kube_requests_total{verb=\"watch\"} 1",
            "kraftwerk_kube_requests_total{verb=\"get\"} 1",
            "kraftwerk_kube_requests_total{verb=\"patch\"} 1",
            "kraftwerk_kube_requests_total{verb=\"delete\"} 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn a_namespace_object_is_not_a_collection() {
        assert_eq!(verb(&http::Method::GET, &uri("/api/v1/namespaces/a")), "get");
        assert_eq!(verb(&http::Method::GET, &uri("/api/v1/namespaces")), "list");
        assert_eq!(
            verb(&http::Method::POST, &uri("/api/v1/namespaces/a/pods")),
            "create"
        );
    }

    #[test]
    fn lease_requests_are_counted_apart_from_the_controllers_writes() {
        let m = Metrics::new();
        let lease = uri("/apis/coordination.k8s.io/v1/namespaces/k/leases/kraftwerk-operator");
        m.observe_lease_request(&http::Method::GET, &lease);
        m.observe_lease_request(&http::Method::PUT, &lease);
        m.is_leader.set(1);
        assert_eq!(m.requests_total(), 0);
        let text = m.encode();
        assert!(
            text.contains("kraftwerk_lease_requests_total{verb=\"update\"} 1"),
            "{text}"
        );
        assert!(text.contains("kraftwerk_is_leader 1"), "{text}");
        assert!(!text.contains("kraftwerk_kube_requests_total{"), "{text}");
    }

    #[test]
    fn records_reconciles_and_failures() {
        let m = Metrics::new();
        drop(m.measure());
        m.failure("kube");
        let text = m.encode();
        assert!(text.contains("kraftwerk_reconcile_total 1"), "{text}");
        assert!(
            text.contains("kraftwerk_reconcile_failures_total{kind=\"kube\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("kraftwerk_reconcile_duration_seconds_count 1"),
            "{text}"
        );
    }

    #[test]
    fn counts_roll_actions_by_action_and_role() {
        let m = Metrics::new();
        m.roll_action("restart", "broker");
        m.roll_action("restart", "broker");
        m.roll_action("reconfigure", "broker");
        let text = m.encode();
        assert!(
            text.contains("kraftwerk_roll_actions_total{action=\"restart\",role=\"broker\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("kraftwerk_roll_actions_total{action=\"reconfigure\",role=\"broker\"} 1"),
            "{text}"
        );
    }
}
