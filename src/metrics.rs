//! Prometheus metrics: reconciles, failures by error kind, reconcile duration, every request the
//! operator sends to the API server by Kubernetes verb (the "a no-op reconcile sends nothing"
//! guarantee is measured with it), what rollouts did (restarts and live reconfigurations, by node
//! role), and leader election (whether this replica leads, and its Lease requests, kept out of
//! the request counters), and the state of every KafkaCluster the leader manages (Ready,
//! Progressing, Degraded, rollout progress), one series per cluster, gone when it is deleted.
//! Served in the OpenMetrics text format.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::crd::{ConditionType, KafkaClusterStatus, StepState};

/// The content type of [`Metrics::encode`]'s output, for a scraper that asks for OpenMetrics
/// (Prometheus does); others get [`CONTENT_TYPE_TEXT`], which reads the same body.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The content type to answer a scrape with, from its Accept header.
pub fn content_type(accept: Option<&str>) -> &'static str {
    match accept {
        Some(a) if a.contains("application/openmetrics-text") => CONTENT_TYPE,
        _ => CONTENT_TYPE_TEXT,
    }
}

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    pub namespace: String,
    pub name: String,
}

/// What the per-cluster gauges show, from a computed status (pure).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ClusterGauges {
    pub ready: i64,
    pub progressing: i64,
    pub degraded: i64,
    /// Nodes in the current rollout plan, and those done (0 and 0 without a plan).
    pub rollout_nodes: i64,
    pub rollout_nodes_done: i64,
    /// 1 while the rollout waits for the user (paused, or a canary awaiting approval).
    pub rollout_waiting: i64,
    /// 1 while partitions move (a rebalance or a drain in progress or waiting).
    pub rebalance_active: i64,
    /// Partitions the current rebalance or drain still has to move, has moved, has in flight.
    pub rebalance_partitions_to_move: i64,
    pub rebalance_partitions_moved: i64,
    pub rebalance_in_flight: i64,
    /// Bytes the current rebalance or drain still has to copy (0 when unknown).
    pub rebalance_bytes_to_move: i64,
}

impl ClusterGauges {
    pub fn of(status: &KafkaClusterStatus) -> Self {
        let is_true = |t: ConditionType| {
            i64::from(
                status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == t.as_str() && c.status == "True"),
            )
        };
        let mut g = ClusterGauges {
            ready: is_true(ConditionType::Ready),
            progressing: is_true(ConditionType::Progressing),
            degraded: is_true(ConditionType::Degraded),
            ..Default::default()
        };
        if let Some(rollout) = &status.rollout {
            for phase in &rollout.phases {
                let steps = phase.steps.len() as i64 + i64::from(phase.steps_omitted);
                g.rollout_nodes += steps;
                g.rollout_nodes_done += if phase.state == StepState::Complete {
                    steps
                } else {
                    phase
                        .steps
                        .iter()
                        .filter(|s| s.state == StepState::Complete)
                        .count() as i64
                };
            }
            g.rollout_waiting = i64::from(rollout.state == StepState::Waiting);
        }
        if let Some(r) = &status.rebalance {
            g.rebalance_active = i64::from(matches!(r.state, StepState::InProgress | StepState::Waiting));
            g.rebalance_partitions_to_move = i64::from(r.partitions_to_move);
            g.rebalance_partitions_moved = i64::from(r.partitions_moved);
            g.rebalance_in_flight = i64::from(r.in_flight);
            g.rebalance_bytes_to_move = r.bytes_to_move.unwrap_or(0);
        }
        g
    }
}

/// The per-cluster gauge families.
#[derive(Default)]
struct ClusterFamilies {
    ready: Family<ClusterLabels, Gauge>,
    progressing: Family<ClusterLabels, Gauge>,
    degraded: Family<ClusterLabels, Gauge>,
    rollout_nodes: Family<ClusterLabels, Gauge>,
    rollout_nodes_done: Family<ClusterLabels, Gauge>,
    rollout_waiting: Family<ClusterLabels, Gauge>,
    rebalance_active: Family<ClusterLabels, Gauge>,
    rebalance_partitions_to_move: Family<ClusterLabels, Gauge>,
    rebalance_partitions_moved: Family<ClusterLabels, Gauge>,
    rebalance_in_flight: Family<ClusterLabels, Gauge>,
    rebalance_bytes_to_move: Family<ClusterLabels, Gauge>,
}

impl ClusterFamilies {
    fn register(&self, registry: &mut Registry) {
        for (name, help, family) in [
            (
                "cluster_ready",
                "1 while the KafkaCluster's Ready condition is True",
                &self.ready,
            ),
            (
                "cluster_progressing",
                "1 while the KafkaCluster's Progressing condition is True (starting, rolling, scaling)",
                &self.progressing,
            ),
            (
                "cluster_degraded",
                "1 while the KafkaCluster's Degraded condition is True",
                &self.degraded,
            ),
            (
                "cluster_rollout_nodes",
                "Nodes in the KafkaCluster's current rollout plan",
                &self.rollout_nodes,
            ),
            (
                "cluster_rollout_nodes_done",
                "Nodes of the current rollout plan that are done",
                &self.rollout_nodes_done,
            ),
            (
                "cluster_rollout_waiting",
                "1 while the rollout waits for the user (paused, or a canary awaiting approval)",
                &self.rollout_waiting,
            ),
            (
                "cluster_rebalance_active",
                "1 while partitions of the KafkaCluster move (rebalance after a scale-up, or a drain)",
                &self.rebalance_active,
            ),
            (
                "cluster_rebalance_partitions_to_move",
                "Partitions the current rebalance or drain still has to move (in flight included)",
                &self.rebalance_partitions_to_move,
            ),
            (
                "cluster_rebalance_partitions_moved",
                "Partitions the current rebalance or drain has moved",
                &self.rebalance_partitions_moved,
            ),
            (
                "cluster_rebalance_in_flight",
                "Partition reassignments Kafka reports in progress",
                &self.rebalance_in_flight,
            ),
            (
                "cluster_rebalance_bytes_to_move",
                "Bytes the current rebalance or drain still has to copy (0 when unknown)",
                &self.rebalance_bytes_to_move,
            ),
        ] {
            registry.register(name, help, family.clone());
        }
    }

    /// Every family with its value in `g`.
    fn values(&self, g: ClusterGauges) -> [(&Family<ClusterLabels, Gauge>, i64); 11] {
        [
            (&self.ready, g.ready),
            (&self.progressing, g.progressing),
            (&self.degraded, g.degraded),
            (&self.rollout_nodes, g.rollout_nodes),
            (&self.rollout_nodes_done, g.rollout_nodes_done),
            (&self.rollout_waiting, g.rollout_waiting),
            (&self.rebalance_active, g.rebalance_active),
            (&self.rebalance_partitions_to_move, g.rebalance_partitions_to_move),
            (&self.rebalance_partitions_moved, g.rebalance_partitions_moved),
            (&self.rebalance_in_flight, g.rebalance_in_flight),
            (&self.rebalance_bytes_to_move, g.rebalance_bytes_to_move),
        ]
    }
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
    clusters: ClusterFamilies,
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
        let clusters = ClusterFamilies::default();
        clusters.register(&mut registry);
        Self {
            reconciles,
            failures,
            duration,
            requests,
            roll_actions,
            is_leader,
            lease_requests,
            clusters,
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

    /// Sets the gauges of the KafkaCluster `namespace/name` from its computed status.
    pub fn cluster_state(&self, namespace: &str, name: &str, status: &KafkaClusterStatus) {
        let labels = ClusterLabels {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        for (family, value) in self.clusters.values(ClusterGauges::of(status)) {
            family.get_or_create(&labels).set(value);
        }
    }

    /// Drops the series of a deleted KafkaCluster.
    pub fn forget_cluster(&self, namespace: &str, name: &str) {
        let labels = ClusterLabels {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        for (family, _) in self.clusters.values(ClusterGauges::default()) {
            family.remove(&labels);
        }
    }

    /// Starts timing a reconcile; the time is recorded when the guard drops.
    pub fn measure(&self) -> ReconcileTimer<'_> {
        self.reconciles.inc();
        ReconcileTimer {
            metrics: self,
            start: Instant::now(),
        }
    }

    /// The OpenMetrics text format ([`CONTENT_TYPE`]), which Prometheus negotiates; it also
    /// reads it as the classic text format.
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
    fn prometheus_gets_openmetrics() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(content_type(Some(prometheus)), CONTENT_TYPE);
        assert_eq!(content_type(Some("*/*")), CONTENT_TYPE_TEXT);
        assert_eq!(content_type(None), CONTENT_TYPE_TEXT);
        assert!(
            Metrics::new().encode().ends_with("# EOF\n"),
            "an OpenMetrics body"
        );
    }

    fn status(yaml: &str) -> KafkaClusterStatus {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn cluster_gauges_follow_the_conditions_and_the_rollout() {
        let rolling = status(
            "conditions:
- {type: Ready, status: 'True', reason: AllNodesReady, message: '', lastTransitionTime: '2026-01-01T00:00:00Z'}
- {type: Progressing, status: 'True', reason: Restarting, message: '', lastTransitionTime: '2026-01-01T00:00:00Z'}
- {type: Degraded, status: 'False', reason: AsExpected, message: '', lastTransitionTime: '2026-01-01T00:00:00Z'}
rollout:
  state: IN_PROGRESS
  message: ''
  phases:
  - {name: controllers, state: COMPLETE, stepsOmitted: 1, steps: [{id: 9000, pod: c-0, state: COMPLETE, reason: ''}, {id: 9001, pod: c-1, state: COMPLETE, reason: ''}]}
  - {name: brokers, state: IN_PROGRESS, steps: [{id: 0, pod: b-0, state: COMPLETE, reason: ''}, {id: 1, pod: b-1, state: IN_PROGRESS, reason: ''}, {id: 2, pod: b-2, state: PENDING, reason: ''}]}
",
        );
        let g = ClusterGauges::of(&rolling);
        assert_eq!(
            g,
            ClusterGauges {
                ready: 1,
                progressing: 1,
                degraded: 0,
                rollout_nodes: 6,
                rollout_nodes_done: 4,
                rollout_waiting: 0,
                ..Default::default()
            }
        );
        let m = Metrics::new();
        m.cluster_state("kafka", "demo", &rolling);
        let text = m.encode();
        for line in [
            "kraftwerk_cluster_ready{namespace=\"kafka\",name=\"demo\"} 1",
            "kraftwerk_cluster_progressing{namespace=\"kafka\",name=\"demo\"} 1",
            "kraftwerk_cluster_degraded{namespace=\"kafka\",name=\"demo\"} 0",
            "kraftwerk_cluster_rollout_nodes{namespace=\"kafka\",name=\"demo\"} 6",
            "kraftwerk_cluster_rollout_nodes_done{namespace=\"kafka\",name=\"demo\"} 4",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        m.forget_cluster("kafka", "demo");
        assert!(
            !m.encode().contains("name=\"demo\""),
            "deleted clusters leave no series"
        );
        let waiting = status("rollout: {state: WAITING, message: paused, phases: []}");
        assert_eq!(ClusterGauges::of(&waiting).rollout_waiting, 1);
        assert_eq!(
            ClusterGauges::of(&KafkaClusterStatus::default()),
            ClusterGauges::default()
        );
    }

    #[test]
    fn rebalance_gauges_follow_status_rebalance() {
        let moving = status(
            "rebalance: {operation: drain, state: IN_PROGRESS, message: '', partitionsToMove: 12, partitionsMoved: 30, inFlight: 5, bytesToMove: 4096}",
        );
        let g = ClusterGauges::of(&moving);
        assert_eq!(
            (
                g.rebalance_active,
                g.rebalance_partitions_to_move,
                g.rebalance_partitions_moved,
                g.rebalance_in_flight,
                g.rebalance_bytes_to_move
            ),
            (1, 12, 30, 5, 4096)
        );
        let m = Metrics::new();
        m.cluster_state("kafka", "demo", &moving);
        let text = m.encode();
        for line in [
            "kraftwerk_cluster_rebalance_active{namespace=\"kafka\",name=\"demo\"} 1",
            "kraftwerk_cluster_rebalance_partitions_to_move{namespace=\"kafka\",name=\"demo\"} 12",
            "kraftwerk_cluster_rebalance_bytes_to_move{namespace=\"kafka\",name=\"demo\"} 4096",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        let done = status(
            "rebalance: {operation: rebalance, state: COMPLETE, message: '', partitionsToMove: 0, partitionsMoved: 30, inFlight: 0}",
        );
        m.cluster_state("kafka", "demo", &done);
        assert!(
            m.encode()
                .contains("kraftwerk_cluster_rebalance_active{namespace=\"kafka\",name=\"demo\"} 0")
        );
        m.forget_cluster("kafka", "demo");
        assert!(!m.encode().contains("name=\"demo\""));
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
