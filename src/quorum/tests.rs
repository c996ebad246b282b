use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

fn r(id: i32, dir: &str, caught_up: bool) -> Replica {
    Replica {
        id,
        directory_id: dir.into(),
        caught_up,
        last_fetch: None,
    }
}

/// A replica that last fetched at `at` (ms, the leader's clock).
fn fetched(mut r: Replica, at: i64) -> Replica {
    r.last_fetch = Some(at);
    r
}

/// Voters 9000.. (all caught up), brokers 0 and 1 as observers, plus `extra` observers.
fn view(voters: &[i32], extra: &[Replica]) -> QuorumView {
    let mut observers = vec![r(0, "b0", true), r(1, "b1", true)];
    observers.extend(extra.iter().cloned());
    QuorumView {
        leader: voters.first().copied(),
        voters: voters.iter().map(|&id| r(id, &format!("d{id}"), true)).collect(),
        observers,
    }
}

fn ids(n: i32) -> BTreeSet<i32> {
    (9000..9000 + n).collect()
}

fn add(id: i32, dir: &str) -> QuorumStep {
    QuorumStep::Change(VoterChange::Add {
        id,
        directory_id: dir.into(),
    })
}

fn remove(id: i32, dir: &str) -> QuorumStep {
    QuorumStep::Change(VoterChange::Remove {
        id,
        directory_id: dir.into(),
    })
}

/// Applies a change to the view as Kafka would (the added observer becomes a voter).
fn apply(v: &mut QuorumView, step: &QuorumStep) {
    match step {
        QuorumStep::Change(VoterChange::Add { id, directory_id }) => {
            v.observers
                .retain(|o| !(o.id == *id && &o.directory_id == directory_id));
            v.voters.push(r(*id, directory_id, true));
        }
        QuorumStep::Change(VoterChange::Remove { id, directory_id }) => {
            v.voters
                .retain(|o| !(o.id == *id && &o.directory_id == directory_id));
        }
        _ => {}
    }
}

#[test]
fn settled_when_the_voters_are_the_desired_controllers() {
    assert_eq!(
        plan(&ids(3), &view(&[9000, 9001, 9002], &[])),
        QuorumStep::Settled
    );
}

#[test]
fn nothing_changes_without_a_leader() {
    let mut v = view(&[9000, 9001, 9002], &[r(9003, "n3", true)]);
    v.leader = None;
    assert!(matches!(plan(&ids(4), &v), QuorumStep::Wait(w) if w.contains("no leader")));
}

#[test]
fn a_new_controller_is_added_only_once_caught_up() {
    let desired = ids(5);
    // Not running yet: wait.
    let v = view(&[9000, 9001, 9002], &[]);
    assert!(matches!(plan(&desired, &v), QuorumStep::Wait(w) if w.contains("controller 9003")));
    // Running but behind: wait.
    let v = view(&[9000, 9001, 9002], &[r(9003, "n3", false)]);
    assert!(matches!(plan(&desired, &v), QuorumStep::Wait(w) if w.contains("caught-up observer")));
    // Caught up: added with the directory id it reports.
    let v = view(&[9000, 9001, 9002], &[r(9003, "n3", true)]);
    assert_eq!(plan(&desired, &v), add(9003, "n3"));
}

#[test]
fn scaling_3_to_5_to_3_changes_one_voter_at_a_time_keeping_a_majority() {
    let mut v = view(&[9000, 9001, 9002], &[r(9003, "n3", true), r(9004, "n4", true)]);
    let mut steps = Vec::new();
    for desired in [ids(5), ids(3)] {
        loop {
            let step = plan(&desired, &v);
            if step == QuorumStep::Settled {
                break;
            }
            assert!(matches!(step, QuorumStep::Change(_)), "{step:?}");
            apply(&mut v, &step);
            // Every intermediate voter set keeps all its members live: a majority.
            assert!(v.live_voters(None) >= majority(v.voters.len()));
            steps.push(step);
            assert!(steps.len() <= 4, "{steps:?}");
        }
        assert_eq!(v.voter_ids(), desired);
    }
    assert_eq!(
        steps,
        vec![
            add(9003, "n3"),
            add(9004, "n4"),
            remove(9004, "n4"),
            remove(9003, "n3")
        ]
    );
}

#[test]
fn a_removal_that_would_lose_the_live_majority_waits() {
    // 5 voters, two of them down; removing a live one leaves 2 live of 4: no majority.
    let mut v = view(&[9000, 9001, 9002, 9003, 9004], &[]);
    v.voters[1].caught_up = false;
    v.voters[2].caught_up = false;
    let step = plan(&ids(4), &v);
    assert!(
        matches!(&step, QuorumStep::Wait(w) if w.contains("9004")),
        "{step:?}"
    );
    // A down surplus voter can go: 3 live of the remaining 4 voters.
    let mut v = view(&[9000, 9001, 9002, 9003, 9004], &[]);
    v.voters[4].caught_up = false;
    assert_eq!(plan(&ids(4), &v), remove(9004, "d9004"));
}

#[test]
fn an_add_that_would_leave_no_live_majority_waits() {
    // 3 voters with two down: adding a fourth gives 2 live of 4.
    let mut v = view(&[9000, 9001, 9002], &[r(9003, "n3", true)]);
    v.voters[1].caught_up = false;
    v.voters[2].caught_up = false;
    assert!(matches!(plan(&ids(4), &v), QuorumStep::Wait(w) if w.contains("2 of 4")));
}

#[test]
fn a_replaced_volume_is_removed_then_added_under_its_new_directory_id() {
    // 9002 lost its volume: its old identity stopped fetching, its new one is caught up.
    let mut v = view(&[9000, 9001, 9002], &[r(9002, "new", true)]);
    v.voters[2].caught_up = false;
    let first = plan(&ids(3), &v);
    assert_eq!(first, remove(9002, "d9002"));
    apply(&mut v, &first);
    assert_eq!(plan(&ids(3), &v), add(9002, "new"));
}

#[test]
fn a_fetching_voter_is_never_taken_for_a_replaced_one() {
    // A stale observer entry of 9002 with another directory id while the voter itself fetches.
    let v = view(&[9000, 9001, 9002], &[r(9002, "old", true)]);
    assert_eq!(plan(&ids(3), &v), QuorumStep::Settled);
}

#[test]
fn a_replaced_volume_is_swapped_while_its_old_identity_still_counts_as_caught_up() {
    // Right after the restart the old identity of 9002 is still within the catch-up lag, but
    // its new identity fetched after it stopped: the swap starts at once.
    let mut v = view(&[9000, 9001, 9002], &[fetched(r(9002, "new", true), 2_000)]);
    v.voters[2].last_fetch = Some(1_000);
    let first = plan(&ids(3), &v);
    assert_eq!(first, remove(9002, "d9002"));
    assert_eq!(requeue_seconds(&first, &v), Some(2), "the add follows promptly");
    // Kafka lists the removed identity as an observer, still caught up: the live one is added.
    apply(&mut v, &first);
    v.observers.push(fetched(r(9002, "d9002", true), 1_000));
    assert_eq!(plan(&ids(3), &v), add(9002, "new"));
    v.observers.rotate_right(1);
    assert_eq!(plan(&ids(3), &v), add(9002, "new"), "whatever the order");
}

#[test]
fn a_replaced_controller_catches_up_before_its_old_identity_leaves() {
    let mut v = view(&[9000, 9001, 9002], &[fetched(r(9002, "new", false), 2_000)]);
    v.voters[2].last_fetch = Some(1_000);
    let step = plan(&ids(3), &v);
    assert!(
        matches!(&step, QuorumStep::Wait(w) if w.contains("controller 9002 is back with a new volume (directory new)")),
        "{step:?}"
    );
    assert!(v.replacing());
    assert_eq!(
        requeue_seconds(&step, &v),
        Some(5),
        "polled: Kafka raises no event"
    );
}

#[test]
fn a_fetching_voter_with_a_stale_observer_entry_stays() {
    // After a swap: the new identity is the voter and fetches; the old one, listed as an
    // observer, still counts as caught up but fetched last before.
    let mut v = view(&[9000, 9001, 9002], &[fetched(r(9002, "old", true), 1_000)]);
    v.voters[2].last_fetch = Some(2_000);
    assert_eq!(plan(&ids(3), &v), QuorumStep::Settled);
    assert!(!v.replacing());
    assert_eq!(requeue_seconds(&QuorumStep::Settled, &v), None);
}

#[test]
fn surplus_pods_stay_while_they_are_voters_or_the_quorum_is_unknown() {
    let existing: BTreeSet<i32> = ids(5);
    let v = view(&[9000, 9001, 9002, 9003], &[]);
    assert_eq!(retained(&existing, &ids(3), Some(&v)), BTreeSet::from([9003]));
    assert_eq!(retained(&existing, &ids(3), None), BTreeSet::from([9003, 9004]));
    assert!(retained(&ids(3), &ids(3), None).is_empty());
}

#[test]
fn restart_mid_change_does_not_repeat_a_committed_change() {
    // The add of 9003 committed before the operator died: the next plan moves on to 9004.
    let v = view(&[9000, 9001, 9002, 9003], &[r(9004, "n4", true)]);
    assert_eq!(plan(&ids(5), &v), add(9004, "n4"));
}

fn meta(annotation: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        annotations: annotation.map(|a| BTreeMap::from([(annotations::QUORUM.to_string(), a.to_string())])),
        ..Default::default()
    }
}

#[test]
fn the_mode_comes_from_the_controller_objects() {
    assert_eq!(QuorumMode::of([]), QuorumMode::Dynamic);
    assert_eq!(QuorumMode::of([&meta(Some("Dynamic"))]), QuorumMode::Dynamic);
    assert_eq!(
        QuorumMode::of([&meta(Some("Dynamic")), &meta(None)]),
        QuorumMode::Static
    );
}

#[test]
fn initial_directory_ids_are_stable_kafka_uuids() {
    let a = initial_directory_id("tC7VFwiJRvq7Tnn6WFSa1g", 9000);
    assert_eq!(a, initial_directory_id("tC7VFwiJRvq7Tnn6WFSa1g", 9000));
    assert_ne!(a, initial_directory_id("tC7VFwiJRvq7Tnn6WFSa1g", 9001));
    assert_ne!(a, initial_directory_id("other-cluster-id-aaaaa", 9000));
    assert!(crate::cluster_id::is_valid(&a), "{a}");
    assert!(!a.starts_with('-'));
    let list = initial_controllers("c", &[(9000, "h0".into()), (9001, "h1".into())], 9093);
    assert_eq!(
        list,
        format!(
            "9000@h0:9093:{},9001@h1:9093:{}",
            initial_directory_id("c", 9000),
            initial_directory_id("c", 9001)
        )
    );
}

#[test]
fn an_unread_quorum_is_settled_only_when_nothing_differs() {
    let none = BTreeSet::new();
    // A new cluster: its initial voters run.
    assert!(settled_unread(&ids(3), &ids(3), &none, &ids(3)));
    // Scaled up: the new controllers run, but the voters were 3.
    assert!(!settled_unread(&ids(5), &ids(5), &none, &ids(3)));
    assert!(!settled_unread(&ids(5), &ids(5), &ids(3), &ids(3)));
    // Scaled down: the surplus controllers still run.
    assert!(!settled_unread(&ids(3), &ids(5), &ids(3), &ids(3)));
    assert!(settled_unread(&ids(5), &ids(5), &ids(5), &ids(3)));
}
