use super::*;
use crate::roll::gates::{Partition, Quorum, Voter};

fn member(role: Role, id: i32, host: &str) -> Member {
    let pod = format!("c-{role}-{id}");
    Member {
        id,
        role,
        claim: format!("data-{pod}"),
        pod,
        uid: Some(format!("u{id}")),
        host: Some(host.into()),
        ready: true,
        pinned_to: Vec::new(),
    }
}

fn cluster() -> Vec<Member> {
    vec![
        member(Role::Controller, 9000, "n0"),
        member(Role::Broker, 0, "n0"),
        member(Role::Broker, 1, "n1"),
        member(Role::Broker, 2, "n2"),
    ]
}

fn nodes(states: &[(&str, NodeState)]) -> BTreeMap<String, NodeState> {
    let mut all: BTreeMap<String, NodeState> = ["n0", "n1", "n2", "n3"]
        .iter()
        .map(|n| (n.to_string(), NodeState::Ready))
        .collect();
    for (n, s) in states {
        all.insert(n.to_string(), s.clone());
    }
    all
}

/// The plan's message says `text`.
#[track_caller]
fn assert_says(p: &Plan, text: &str) {
    assert!(p.message.contains(text), "{}", p.message);
}

fn not_ready(since: i64) -> NodeState {
    NodeState::NotReady { since: Some(since) }
}

const AUTO: Settings = Settings {
    automatic: true,
    timeout_seconds: 300,
};

fn run(
    members: &[Member],
    nodes: &BTreeMap<String, NodeState>,
    kafka: &KafkaView,
    settings: &Settings,
    now: i64,
) -> Plan {
    plan(members, nodes, kafka, settings, ("c", now))
}

#[test]
fn nothing_is_lost_while_every_node_is_ready() {
    let p = run(&cluster(), &nodes(&[]), &KafkaView::Skipped, &AUTO, 1000);
    assert_eq!(p, Plan::default());
}

#[test]
fn a_node_not_ready_within_the_timeout_is_only_rechecked() {
    let p = run(
        &cluster(),
        &nodes(&[("n1", not_ready(900))]),
        &KafkaView::Skipped,
        &AUTO,
        1000,
    );
    assert!(p.lost.is_empty() && p.step.is_none() && p.stranded.is_empty());
    assert_eq!(p.recheck_in, Some(200), "lost at 900 + 300");
    // Without a transition time it is never counted as lost.
    let p = run(
        &cluster(),
        &nodes(&[("n1", NodeState::NotReady { since: None })]),
        &KafkaView::Skipped,
        &AUTO,
        1000,
    );
    assert!(p.lost.is_empty() && p.recheck_in.is_none());
}

#[test]
fn past_the_timeout_the_stranded_pod_is_force_deleted_and_kept_on_its_volume() {
    let p = run(
        &cluster(),
        &nodes(&[("n1", not_ready(700))]),
        &KafkaView::Skipped,
        &AUTO,
        1000,
    );
    assert_eq!(
        p.lost,
        vec![LostNode {
            node: "n1".into(),
            since: Some(700),
            pods: vec!["c-broker-1".into()]
        }]
    );
    assert_eq!(p.stranded, BTreeMap::from([(1, "n1".to_string())]));
    assert_eq!(
        p.step,
        Some(Step::Recreate {
            id: 1,
            pod: "c-broker-1".into(),
            uid: Some("u1".into())
        })
    );
    assert_says(&p, "force-deleting c-broker-1 from lost node n1");
}

#[test]
fn a_gone_node_is_lost_at_once() {
    let mut all = nodes(&[]);
    all.remove("n2");
    let p = run(&cluster(), &all, &KafkaView::Skipped, &AUTO, 1000);
    assert_eq!(p.lost[0].since, None);
    assert!(matches!(p.step, Some(Step::Recreate { id: 2, .. })));
}

#[test]
fn a_volume_pinned_to_the_lost_node_is_replaced_one_pinned_elsewhere_is_not() {
    let mut members = cluster();
    members[2].pinned_to = vec!["n1".into()];
    let p = run(
        &members,
        &nodes(&[("n1", not_ready(0))]),
        &KafkaView::Skipped,
        &AUTO,
        1000,
    );
    assert_eq!(
        p.step,
        Some(Step::Replace {
            id: 1,
            pod: "c-broker-1".into(),
            uid: Some("u1".into()),
            claim: "data-c-broker-1".into()
        })
    );
    members[2].pinned_to = vec!["n3".into()];
    let p = run(
        &members,
        &nodes(&[("n1", not_ready(0))]),
        &KafkaView::Skipped,
        &AUTO,
        1000,
    );
    assert!(matches!(p.step, Some(Step::Recreate { id: 1, .. })));
}

#[test]
fn a_pod_ready_on_a_ready_node_is_never_touched_and_neither_is_a_ready_node() {
    let mut members = cluster();
    members[2].ready = false;
    let p = run(&members, &nodes(&[]), &KafkaView::Skipped, &AUTO, 10_000);
    assert_eq!(
        p,
        Plan::default(),
        "a pod not ready on a Ready node is the roll's business"
    );
}

#[test]
fn two_lost_nodes_are_recovered_one_at_a_time_controllers_first() {
    let n = nodes(&[("n0", not_ready(0)), ("n1", not_ready(0))]);
    let p = run(&cluster(), &n, &KafkaView::Skipped, &AUTO, 1000);
    assert_eq!(p.lost.len(), 2);
    assert_eq!(p.stranded.len(), 3);
    assert!(matches!(p.step, Some(Step::Recreate { id: 9000, .. })), "{p:?}");
    // Controller 9000 recreated on n3, not ready yet: the next waits.
    let mut members = cluster();
    members[0].host = Some("n3".into());
    members[0].ready = false;
    let p = run(&members, &n, &KafkaView::Skipped, &AUTO, 1000);
    assert_eq!(p.step, None);
    assert!(
        p.message
            .contains("c-controller-9000 is not ready yet (one node at a time)"),
        "{}",
        p.message
    );
    members[0].ready = true;
    let p = run(&members, &n, &KafkaView::Skipped, &AUTO, 1000);
    assert!(matches!(p.step, Some(Step::Recreate { id: 0, .. })), "{p:?}");
    // Broker 0 force-deleted, its pod not recreated yet: broker 1 waits for it.
    members[1].host = None;
    members[1].uid = None;
    members[1].ready = false;
    let p = run(&members, &n, &KafkaView::Skipped, &AUTO, 1000);
    assert_eq!(p.step, None);
    assert_says(&p, "c-broker-0 is not ready yet");
}

#[test]
fn the_manual_policy_only_reports_with_the_commands() {
    let mut members = cluster();
    members[2].pinned_to = vec!["n1".into()];
    let manual = Settings {
        automatic: false,
        timeout_seconds: 300,
    };
    let p = run(
        &members,
        &nodes(&[("n1", not_ready(0))]),
        &KafkaView::Skipped,
        &manual,
        1000,
    );
    assert_eq!(p.step, None);
    assert_eq!(p.stranded.len(), 1, "the roll still skips it");
    assert_says(
        &p,
        "kubectl delete pvc data-c-broker-1 --wait=false && kubectl delete pod c-broker-1 --force --grace-period=0",
    );
}

fn partition(replicas: &[i32], isr: &[i32]) -> Partition {
    Partition {
        topic: "t".into(),
        partition: 0,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        min_isr: 2,
    }
}

fn kafka(partitions: Vec<Partition>, caught_up: &[(i32, Option<i64>)]) -> KafkaView {
    KafkaView::Known(KafkaState {
        brokers: BTreeMap::new(),
        quorum: Some(Quorum {
            leader: caught_up[0].0,
            voters: caught_up
                .iter()
                .map(|(id, t)| Voter {
                    id: *id,
                    last_caught_up_ms: *t,
                })
                .collect(),
        }),
        partitions,
        fetch_timeout_ms: 2000,
    })
}

#[test]
fn kafka_must_have_the_other_replicas_in_sync() {
    let n = nodes(&[("n1", not_ready(0))]);
    let voters = [(9000, Some(10_000))];
    // Broker 2 is behind on a partition broker 1 shares: wait.
    let k = kafka(vec![partition(&[0, 1, 2], &[0])], &voters);
    let p = run(&cluster(), &n, &k, &AUTO, 1000);
    assert_eq!(p.step, None);
    assert_says(&p, "partition t-0 has replicas [2] out of sync");
    // Everyone but the lost broker in sync: go.
    let k = kafka(vec![partition(&[0, 1, 2], &[0, 2])], &voters);
    assert!(run(&cluster(), &n, &k, &AUTO, 1000).step.is_some());
    // Unreachable: wait.
    let p = run(
        &cluster(),
        &n,
        &KafkaView::Unreachable("timeout".into()),
        &AUTO,
        1000,
    );
    assert!(p.step.is_none() && p.message.contains("timeout"), "{}", p.message);
}

#[test]
fn a_volume_is_never_discarded_while_it_holds_the_only_in_sync_copy() {
    let mut members = cluster();
    members[2].pinned_to = vec!["n1".into()];
    let n = nodes(&[("n1", not_ready(0))]);
    let voters = [(9000, Some(10_000))];
    let k = kafka(vec![partition(&[1, 2], &[1])], &voters);
    let p = run(&members, &n, &k, &AUTO, 1000);
    assert_eq!(p.step, None);
    assert_says(&p, "no in-sync replica outside the lost node(s)");
    // The same partition on a network volume: recreating it loses nothing... but broker 2 is
    // out of sync, so it waits for that first.
    members[2].pinned_to.clear();
    let p = run(&members, &n, &k, &AUTO, 1000);
    assert_says(&p, "out of sync");
}

#[test]
fn a_controller_waits_for_a_live_majority_of_the_other_voters() {
    let members = vec![
        member(Role::Controller, 9000, "n0"),
        member(Role::Controller, 9001, "n1"),
        member(Role::Controller, 9002, "n2"),
    ];
    let n = nodes(&[("n0", not_ready(0))]);
    let k = kafka(
        Vec::new(),
        &[(9001, Some(10_000)), (9000, None), (9002, Some(9_500))],
    );
    assert!(matches!(
        run(&members, &n, &k, &AUTO, 1000).step,
        Some(Step::Recreate { id: 9000, .. })
    ));
    let k = kafka(
        Vec::new(),
        &[(9001, Some(10_000)), (9000, None), (9002, Some(1_000))],
    );
    let p = run(&members, &n, &k, &AUTO, 1000);
    assert_eq!(p.step, None);
    assert_says(&p, "only 1 of 3 controller voters are live");
}

#[test]
fn the_summary_names_the_node_the_time_the_pods_and_the_action() {
    assert_eq!(summary(&Plan::default()), None);
    let p = run(
        &cluster(),
        &nodes(&[("n1", not_ready(1_790_000_000))]),
        &KafkaView::Skipped,
        &AUTO,
        1_790_000_400,
    );
    assert_eq!(
        summary(&p).unwrap(),
        "node n1 lost (not Ready since 2026-09-21T14:13:20Z) with c-broker-1; force-deleting c-broker-1 from lost node n1; it is recreated elsewhere on its volume"
    );
}

#[test]
fn a_node_counts_as_lost_only_past_the_timeout() {
    assert!(!any_node_lost(&nodes(&[]), &AUTO, 1000));
    assert!(!any_node_lost(&nodes(&[("n1", not_ready(900))]), &AUTO, 1000));
    assert!(any_node_lost(&nodes(&[("n1", not_ready(700))]), &AUTO, 1000));
    assert!(!any_node_lost(
        &nodes(&[("n1", NodeState::NotReady { since: None })]),
        &AUTO,
        1000
    ));
}

#[test]
fn an_unbound_pod_whose_volume_pins_it_to_a_deleted_node_is_replaced() {
    // The Node n2 was deleted; the pod collector deleted broker 2's pod and the pod made again
    // waits, unschedulable, for the node its volume is pinned to.
    let mut all = nodes(&[]);
    all.remove("n2");
    let mut members = cluster();
    members[3].host = None;
    members[3].ready = false;
    members[3].uid = Some("u2b".into());
    let unpinned = run(&members, &all, &KafkaView::Skipped, &AUTO, 1000);
    assert!(unpinned.lost.is_empty(), "without its volume, nowhere");
    let unschedulable = BTreeSet::from(["c-broker-2".to_string()]);
    let read = claims_to_read(&unpinned, &members, &unschedulable, (&all, &AUTO, 1000));
    assert_eq!(read, BTreeSet::from(["data-c-broker-2".to_string()]));
    // Once its volume is known (pinned to n2), its host is n2: gone, lost at once.
    members[3].pinned_to = vec!["n2".into()];
    members[3].host = Some("n2".into());
    let p = run(&members, &all, &KafkaView::Skipped, &AUTO, 1000);
    assert_eq!(p.lost[0].node, "n2");
    assert_eq!(p.lost[0].since, None);
    assert_eq!(
        p.step,
        Some(Step::Replace {
            id: 2,
            pod: "c-broker-2".into(),
            uid: Some("u2b".into()),
            claim: "data-c-broker-2".into()
        })
    );
}

#[test]
fn only_the_volumes_that_may_pin_a_pod_to_a_lost_node_are_read() {
    let mut members = cluster();
    members[3].host = None;
    members[3].ready = false;
    let none = BTreeSet::new();
    let idle = run(&members, &nodes(&[]), &KafkaView::Skipped, &AUTO, 1000);
    assert!(
        claims_to_read(&idle, &members, &none, (&nodes(&[]), &AUTO, 1000)).is_empty(),
        "a pod being scheduled, every node Ready: nothing read"
    );
    // A node lost past the timeout: every unbound pod's volume, and the stranded pods'.
    let lost = nodes(&[("n1", not_ready(0))]);
    let p = run(&members, &lost, &KafkaView::Skipped, &AUTO, 1000);
    assert_eq!(
        claims_to_read(&p, &members, &none, (&lost, &AUTO, 1000)),
        BTreeSet::from(["data-c-broker-1".to_string(), "data-c-broker-2".to_string()])
    );
    // Not yet past the timeout: only the scheduler's verdict makes an unbound pod's volume matter.
    let early = nodes(&[("n1", not_ready(900))]);
    let p = run(&members, &early, &KafkaView::Skipped, &AUTO, 1000);
    assert!(claims_to_read(&p, &members, &none, (&early, &AUTO, 1000)).is_empty());
}
