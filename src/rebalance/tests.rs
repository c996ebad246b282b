use std::collections::{BTreeMap, BTreeSet};

use super::plan::{Assignment, Input, Plan, balance, drain};

/// `n` partitions of RF `rf` laid out round-robin over `brokers` (Kafka's own layout).
fn layout(topic: &str, n: i32, rf: usize, brokers: &[i32]) -> Vec<Assignment> {
    (0..n)
        .map(|p| Assignment {
            topic: topic.into(),
            partition: p,
            replicas: (0..rf)
                .map(|k| brokers[(p as usize + k) % brokers.len()])
                .collect(),
            min_isr: 2,
            size_bytes: None,
        })
        .collect()
}

fn input(partitions: Vec<Assignment>, brokers: &[i32]) -> Input {
    Input {
        partitions,
        brokers: brokers.iter().copied().collect(),
        racks: BTreeMap::new(),
    }
}

/// The assignment after every move of `plan`.
fn apply(input: &Input, plan: &Plan) -> Vec<Assignment> {
    let mut out = input.partitions.clone();
    for m in &plan.moves {
        let p = out
            .iter_mut()
            .find(|p| p.topic == m.topic && p.partition == m.partition)
            .unwrap();
        assert_eq!(p.replicas, m.from, "a move starts from the current replicas");
        p.replicas = m.to.clone();
    }
    out
}

fn replica_counts(parts: &[Assignment], brokers: &BTreeSet<i32>) -> BTreeMap<i32, usize> {
    let mut c: BTreeMap<i32, usize> = brokers.iter().map(|&b| (b, 0)).collect();
    for p in parts {
        for b in &p.replicas {
            *c.entry(*b).or_default() += 1;
        }
    }
    c
}

fn leader_counts(parts: &[Assignment], brokers: &BTreeSet<i32>) -> BTreeMap<i32, usize> {
    let mut c: BTreeMap<i32, usize> = brokers.iter().map(|&b| (b, 0)).collect();
    for p in parts {
        *c.entry(p.replicas[0]).or_default() += 1;
    }
    c
}

fn spread(c: &BTreeMap<i32, usize>) -> usize {
    c.values().max().unwrap() - c.values().min().unwrap()
}

fn racks(map: &[(i32, &str)]) -> BTreeMap<i32, String> {
    map.iter().map(|(b, r)| (*b, r.to_string())).collect()
}

fn diversity(p: &Assignment, racks: &BTreeMap<i32, String>) -> usize {
    p.replicas
        .iter()
        .map(|b| racks[b].clone())
        .collect::<BTreeSet<_>>()
        .len()
}

#[test]
fn scale_up_balances_replicas_and_leaders_within_one() {
    let i = input(layout("t", 24, 3, &[0, 1, 2]), &[0, 1, 2, 3, 4]);
    let plan = balance(&i).unwrap();
    let after = apply(&i, &plan);
    let replicas = replica_counts(&after, &i.brokers);
    let leaders = leader_counts(&after, &i.brokers);
    assert!(spread(&replicas) <= 1, "{replicas:?}");
    assert!(spread(&leaders) <= 1, "{leaders:?}");
    // 72 replicas over 5 brokers: the new brokers get 14 or 15 each.
    assert!(replicas[&3] >= 14 && replicas[&4] >= 14, "{replicas:?}");
    for p in &after {
        let set: BTreeSet<i32> = p.replicas.iter().copied().collect();
        assert_eq!(set.len(), 3, "{p:?} keeps 3 distinct replicas");
    }
}

#[test]
fn a_balanced_cluster_moves_nothing() {
    let i = input(layout("t", 20, 3, &[0, 1, 2, 3, 4]), &[0, 1, 2, 3, 4]);
    assert!(balance(&i).unwrap().moves.is_empty());
}

#[test]
fn only_surplus_replicas_move_on_scale_up() {
    let i = input(layout("t", 24, 3, &[0, 1, 2]), &[0, 1, 2, 3, 4]);
    let plan = balance(&i).unwrap();
    // Each old broker holds 24 and ends with at most ceil(72/5) = 15: exactly the surplus moves,
    // and every replica moved lands on a new broker.
    let moved: usize = plan.moves.iter().map(|m| m.added().len()).sum();
    let before = replica_counts(&i.partitions, &i.brokers);
    let after = replica_counts(&apply(&i, &plan), &i.brokers);
    let minimal: usize = before.iter().map(|(b, c)| c.saturating_sub(after[b])).sum();
    assert_eq!(moved, minimal);
    // 72 over 5 is 15, 15, 14, 14, 14: the old brokers keep 15, 15, 14 and 28 replicas move.
    assert_eq!(moved, 28);
    for m in &plan.moves {
        for b in m.added() {
            assert!(b == 3 || b == 4, "{m:?} lands on a new broker");
        }
    }
}

#[test]
fn plans_are_deterministic_whatever_the_input_order() {
    let mut parts = layout("a", 10, 3, &[0, 1, 2]);
    parts.extend(layout("b", 7, 2, &[0, 1, 2]));
    let i = input(parts.clone(), &[0, 1, 2, 3]);
    parts.reverse();
    let shuffled = input(parts, &[0, 1, 2, 3]);
    assert_eq!(balance(&i).unwrap(), balance(&shuffled).unwrap());
    assert_eq!(balance(&i).unwrap(), balance(&i).unwrap());
}

#[test]
fn replanning_after_the_moves_gives_nothing_more() {
    let i = input(layout("t", 30, 3, &[0, 1, 2]), &[0, 1, 2, 3, 4, 5]);
    let plan = balance(&i).unwrap();
    let mut next = i.clone();
    next.partitions = apply(&i, &plan);
    assert!(balance(&next).unwrap().moves.is_empty());
    // Halfway (the first moves done, as after an operator restart): the rest only.
    let half = plan.moves.len() / 2;
    let mut midway = i.clone();
    midway.partitions = apply(
        &i,
        &Plan {
            moves: plan.moves[..half].to_vec(),
        },
    );
    let rest = balance(&midway).unwrap();
    assert_eq!(rest.moves, plan.moves[half..].to_vec());
}

#[test]
fn data_moves_come_before_reorders() {
    let i = input(layout("t", 24, 3, &[0, 1, 2]), &[0, 1, 2, 3, 4]);
    let plan = balance(&i).unwrap();
    let first_reorder = plan.moves.iter().position(|m| m.is_reorder());
    if let Some(k) = first_reorder {
        assert!(plan.moves[k..].iter().all(|m| m.is_reorder()));
    }
}

#[test]
fn rack_diversity_is_never_lost_on_scale_up() {
    let r = racks(&[(0, "a"), (1, "b"), (2, "c"), (3, "a"), (4, "b"), (5, "c")]);
    let mut i = input(layout("t", 30, 3, &[0, 1, 2]), &[0, 1, 2, 3, 4, 5]);
    i.racks = r.clone();
    let plan = balance(&i).unwrap();
    assert!(!plan.moves.is_empty());
    for p in apply(&i, &plan) {
        assert_eq!(diversity(&p, &r), 3, "{p:?}");
    }
    let after = replica_counts(&apply(&i, &plan), &i.brokers);
    assert!(spread(&after) <= 1, "{after:?}");
}

#[test]
fn racks_limit_balance_rather_than_diversity() {
    // Rack a has one broker, rack b three: an RF 2 partition must keep one replica on a.
    let r = racks(&[(0, "a"), (1, "b"), (2, "b"), (3, "b")]);
    let mut i = input(layout("t", 8, 2, &[0, 1]), &[0, 1, 2, 3]);
    i.racks = r.clone();
    let plan = balance(&i).unwrap();
    for p in apply(&i, &plan) {
        assert_eq!(diversity(&p, &r), 2, "{p:?}");
    }
}

#[test]
fn drain_moves_only_the_replicas_of_removed_brokers() {
    let before = layout("t", 24, 3, &[0, 1, 2, 3, 4]);
    let i = input(before.clone(), &[0, 2, 4]);
    let plan = drain(&i).unwrap();
    let after = apply(&i, &plan);
    for (a, b) in before.iter().zip(&after) {
        assert!(!b.replicas.contains(&1) && !b.replicas.contains(&3), "{b:?}");
        for r in &a.replicas {
            if *r != 1 && *r != 3 {
                assert!(
                    b.replicas.contains(r),
                    "a replica on a kept broker stays: {a:?} -> {b:?}"
                );
            }
        }
        assert_eq!(b.replicas.iter().collect::<BTreeSet<_>>().len(), 3);
    }
    // With RF 3 on three remaining brokers every partition is on all of them.
    let counts = replica_counts(&after, &i.brokers);
    assert_eq!(counts.values().collect::<Vec<_>>(), vec![&24, &24, &24]);
    // Data moves only for partitions with a replica on a drained broker; the rest only reorder.
    for m in &plan.moves {
        assert!(
            m.is_reorder() || m.from.iter().any(|b| *b == 1 || *b == 3),
            "{m:?}"
        );
    }
}

#[test]
fn a_drain_leaves_preferred_leaders_balanced() {
    // Leaders piled on the drained brokers and on broker 0: after the drain they are within ±1.
    let before: Vec<Assignment> = (0..24)
        .map(|p| {
            let replicas = match p % 4 {
                0 => vec![1, 0, 2],
                1 => vec![3, 0, 4],
                2 => vec![0, 2, 4],
                _ => vec![0, 1, 3],
            };
            Assignment {
                topic: "t".into(),
                partition: p,
                replicas,
                min_isr: 2,
                size_bytes: None,
            }
        })
        .collect();
    let i = input(before, &[0, 2, 4]);
    let after = apply(&i, &drain(&i).unwrap());
    let mut leaders: BTreeMap<i32, usize> = i.brokers.iter().map(|b| (*b, 0)).collect();
    for p in &after {
        *leaders.entry(p.replicas[0]).or_default() += 1;
    }
    assert!(spread(&leaders) <= 1, "{leaders:?}");
}

#[test]
fn drain_spreads_over_the_least_loaded() {
    let i = input(layout("t", 20, 2, &[0, 1, 2, 3, 4]), &[0, 1, 2, 4]);
    let after = apply(&i, &drain(&i).unwrap());
    let counts = replica_counts(&after, &i.brokers);
    assert!(spread(&counts) <= 1, "{counts:?}");
}

#[test]
fn drain_below_the_replication_factor_is_refused() {
    let i = input(layout("t", 6, 3, &[0, 1, 2, 3]), &[0, 1]);
    let refusal = drain(&i).unwrap_err().to_string();
    assert!(
        refusal.contains("topic t has replication factor 3 but only 2 brokers would remain"),
        "{refusal}"
    );
}

#[test]
fn drain_below_min_insync_is_refused() {
    let mut parts = layout("t", 4, 1, &[0, 1, 2]);
    for p in &mut parts {
        p.min_isr = 3;
    }
    let i = input(parts, &[0, 1]);
    let refusal = drain(&i).unwrap_err().to_string();
    assert!(
        refusal.contains("topic t has min.insync.replicas 3 but only 2 brokers would remain"),
        "{refusal}"
    );
}

#[test]
fn drain_that_would_lose_a_rack_is_refused() {
    // Removing rack c's only broker leaves two racks for RF 3 partitions spread over three.
    let r = racks(&[(0, "a"), (1, "b"), (2, "c"), (3, "a"), (4, "b")]);
    let mut i = input(layout("t", 5, 3, &[0, 1, 2]), &[0, 1, 3, 4]);
    i.racks = r;
    let refusal = drain(&i).unwrap_err().to_string();
    assert!(refusal.contains("not enough rack diversity"), "{refusal}");
    assert!(refusal.contains("t-0"), "{refusal}");
}

#[test]
fn drain_within_a_rack_keeps_diversity() {
    let r = racks(&[(0, "a"), (1, "b"), (2, "c"), (3, "a"), (4, "b"), (5, "c")]);
    let mut i = input(layout("t", 12, 3, &[0, 1, 2]), &[0, 1, 3, 4, 5]);
    i.racks = r.clone();
    let after = apply(&i, &drain(&i).unwrap());
    for p in &after {
        assert!(!p.replicas.contains(&2));
        assert_eq!(diversity(p, &r), 3, "{p:?}");
        assert!(p.replicas.contains(&5), "rack c's other broker takes over: {p:?}");
    }
}

#[test]
fn nothing_to_drain_is_an_empty_plan() {
    let i = input(layout("t", 6, 3, &[0, 1, 2]), &[0, 1, 2, 3]);
    assert!(drain(&i).unwrap().moves.is_empty());
}

#[test]
fn sizes_give_bytes_per_move() {
    let mut parts = layout("t", 6, 3, &[0, 1, 2]);
    for p in &mut parts {
        p.size_bytes = Some(1000);
    }
    let i = input(parts, &[0, 1, 2, 3]);
    let plan = balance(&i).unwrap();
    for m in &plan.moves {
        assert_eq!(m.bytes, Some(1000 * m.added().len() as u64));
    }
}

mod progress {
    use std::collections::BTreeSet;

    use super::{input, layout};
    use crate::crd::{RebalanceStatus, StepState};
    use crate::rebalance::progress::{
        Next, Operation, election_partitions, next, status, throttled_replicas, wanted,
    };

    fn ids(v: &[i32]) -> BTreeSet<i32> {
        v.iter().copied().collect()
    }

    fn complete(brokers: &[i32], trigger: Option<&str>) -> RebalanceStatus {
        RebalanceStatus {
            operation: "rebalance".into(),
            state: StepState::Complete,
            brokers: brokers.to_vec(),
            trigger: trigger.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn wanted_after_a_broker_change_a_new_trigger_or_an_unfinished_run() {
        let b = ids(&[0, 1, 2]);
        let done = complete(&[0, 1, 2], Some("a"));
        assert_eq!(wanted(&ids(&[]), true, &b, Some("a"), Some(&done)), None);
        assert_eq!(
            wanted(&ids(&[]), true, &ids(&[0, 1, 2, 3]), Some("a"), Some(&done)),
            Some(Operation::Rebalance)
        );
        assert_eq!(
            wanted(&ids(&[]), true, &b, Some("b"), Some(&done)),
            Some(Operation::Rebalance)
        );
        let running = RebalanceStatus {
            state: StepState::InProgress,
            ..done.clone()
        };
        assert_eq!(
            wanted(&ids(&[]), true, &b, Some("a"), Some(&running)),
            Some(Operation::Rebalance)
        );
        assert_eq!(
            wanted(&ids(&[]), false, &ids(&[0, 1, 2, 3]), None, Some(&done)),
            None
        );
        // A drain runs even with rebalancing off: a broker holding replicas is never removed.
        assert_eq!(
            wanted(&ids(&[3]), false, &b, None, Some(&done)),
            Some(Operation::Drain(ids(&[3])))
        );
    }

    #[test]
    fn batches_are_bounded_by_the_partitions_in_flight() {
        let i = input(layout("t", 24, 3, &[0, 1, 2]), &[0, 1, 2, 3, 4]);
        let d = next(&Operation::Rebalance, &i, 0, 5, false);
        match &d.next {
            Next::Start(m) => assert_eq!(m.len(), 5),
            other => panic!("{other:?}"),
        }
        let d = next(&Operation::Rebalance, &i, 3, 5, false);
        assert!(matches!(&d.next, Next::Start(m) if m.len() == 2), "{d:?}");
        let d = next(&Operation::Rebalance, &i, 5, 5, false);
        assert_eq!(d.next, Next::Wait);
        let d = next(&Operation::Rebalance, &i, 0, 5, true);
        assert_eq!(d.next, Next::Paused);
    }

    #[test]
    fn finish_only_when_nothing_moves_and_nothing_is_in_flight() {
        let balanced = input(layout("t", 20, 3, &[0, 1, 2, 3, 4]), &[0, 1, 2, 3, 4]);
        assert_eq!(
            next(&Operation::Rebalance, &balanced, 0, 5, false).next,
            Next::Finish
        );
        assert_eq!(
            next(&Operation::Rebalance, &balanced, 2, 5, false).next,
            Next::Wait
        );
        // Paused with only the in-flight moves left still finishes once they land.
        assert_eq!(
            next(&Operation::Rebalance, &balanced, 0, 5, true).next,
            Next::Finish
        );
    }

    #[test]
    fn the_finish_waits_for_a_preferred_replica_that_is_up_but_out_of_the_isr() {
        use crate::rebalance::progress::preferred_catching_up;
        use crate::roll::gates::{KafkaState, Partition};
        let part = |first: i32, isr: &[i32]| Partition {
            topic: "t".into(),
            partition: 0,
            replicas: vec![first, 1, 2],
            isr: isr.to_vec(),
            min_isr: 2,
        };
        let state = |partitions, fenced: bool| KafkaState {
            brokers: [(0, fenced), (1, false), (2, false)].into(),
            quorum: None,
            partitions,
            fetch_timeout_ms: 30_000,
        };
        assert_eq!(
            preferred_catching_up(&state(vec![part(0, &[0, 1, 2])], false)),
            None
        );
        assert_eq!(
            preferred_catching_up(&state(vec![part(0, &[1, 2])], false)).as_deref(),
            Some("t-0: preferred replica 0 not in the ISR yet")
        );
        // A broker that is down does not hold the finish up, nor does one that is not registered.
        assert_eq!(preferred_catching_up(&state(vec![part(0, &[1, 2])], true)), None);
        assert_eq!(preferred_catching_up(&state(vec![part(7, &[1, 2])], false)), None);

        // The decision: nothing left to move, so the finish, held while broker 0 catches up.
        use super::super::{Assignment, Input};
        use crate::rebalance::progress::decide;
        let input = Input {
            partitions: vec![Assignment {
                topic: "t".into(),
                partition: 0,
                replicas: vec![0, 1, 2],
                min_isr: 2,
                size_bytes: None,
            }],
            brokers: ids(&[0, 1, 2]),
            racks: Default::default(),
        };
        let op = Operation::Rebalance;
        let (done, held) = decide(&op, &input, &state(vec![part(0, &[0, 1, 2])], false), 0, 5, false);
        assert_eq!((done.next, held), (Next::Finish, None));
        let (wait, held) = decide(&op, &input, &state(vec![part(0, &[1, 2])], false), 0, 5, false);
        assert_eq!(wait.next, Next::Wait);
        assert_eq!(
            held.as_deref(),
            Some("t-0: preferred replica 0 not in the ISR yet")
        );
        // Reassignments in flight: a plain wait, no hold (the catching up only delays the finish).
        let (moving, held) = decide(&op, &input, &state(vec![part(0, &[1, 2])], false), 5, 5, false);
        assert_eq!((moving.next, held), (Next::Wait, None));
    }

    #[test]
    fn an_impossible_drain_is_refused_and_starts_nothing() {
        let i = input(layout("t", 6, 3, &[0, 1, 2, 3]), &[0, 1]);
        let d = next(&Operation::Drain(ids(&[2, 3])), &i, 0, 5, false);
        assert!(
            matches!(&d.next, Next::Refused(w) if w.contains("replication factor 3")),
            "{d:?}"
        );
        let s = status(&Operation::Drain(ids(&[2, 3])), &d, &ids(&[0, 1]), None, None);
        assert_eq!(s.state, StepState::Error);
        assert!(s.message.starts_with("drain refused: "), "{}", s.message);
    }

    #[test]
    fn status_counts_survive_a_restart() {
        let op = Operation::Rebalance;
        let brokers = ids(&[0, 1, 2, 3, 4]);
        let i = input(layout("t", 24, 3, &[0, 1, 2]), &[0, 1, 2, 3, 4]);
        let first = next(&op, &i, 0, 5, false);
        let s1 = status(&op, &first, &brokers, None, None);
        assert_eq!(s1.state, StepState::InProgress);
        assert_eq!(s1.partitions_moved, 0);
        let total = s1.partitions_to_move;
        assert!(total > 5);
        // Later: 4 fewer remain, 3 in flight; the total is the one recorded.
        let later = crate::rebalance::progress::Decision {
            next: Next::Wait,
            remaining: total as usize - 7,
            in_flight: 3,
            bytes: None,
        };
        let s2 = status(&op, &later, &brokers, None, Some(&s1));
        assert_eq!(
            (s2.partitions_to_move, s2.partitions_moved, s2.in_flight),
            (total, 4, 3)
        );
        assert!(s2.message.contains("4/"), "{}", s2.message);
    }

    #[test]
    fn throttled_replicas_name_sources_and_destinations() {
        let i = input(layout("t", 3, 2, &[0, 1, 2]), &[0, 1, 2, 3]);
        let plan = crate::rebalance::balance(&i).unwrap();
        let t = throttled_replicas(&plan.moves);
        let (leaders, followers) = &t["t"];
        let m = plan.moves.iter().find(|m| !m.is_reorder()).unwrap();
        for b in &m.from {
            assert!(leaders.contains(&format!("{}:{b}", m.partition)));
        }
        for b in m.added() {
            assert!(followers.contains(&format!("{}:{b}", m.partition)));
        }
    }

    #[test]
    fn only_fenced_brokers_outside_the_set_and_not_draining_are_stale() {
        let registered =
            std::collections::BTreeMap::from([(0, false), (1, true), (2, false), (3, true), (4, true)]);
        let stale = crate::rebalance::progress::stale_registrations(
            &registered,
            &ids(&[0, 2, 4]),
            &Operation::Drain(ids(&[3])),
        );
        assert_eq!(stale, vec![1], "4 is wanted (restarting), 3 is draining");
    }

    #[test]
    fn a_disabled_rebalance_still_closes_an_unfinished_run() {
        let running = RebalanceStatus {
            state: StepState::InProgress,
            ..complete(&[0, 2, 4], None)
        };
        assert_eq!(
            wanted(&ids(&[]), false, &ids(&[0, 2, 4]), None, Some(&running)),
            Some(Operation::Drain(ids(&[])))
        );
    }

    #[test]
    fn a_partition_listing_old_and_new_replicas_is_unsettled() {
        let mut parts = layout("t", 4, 3, &[0, 1, 2, 3]);
        assert_eq!(crate::rebalance::progress::unsettled(&parts), None);
        parts[2].replicas.push(3);
        assert_eq!(
            crate::rebalance::progress::unsettled(&parts).as_deref(),
            Some("t-2 lists 4 replicas")
        );
    }

    #[test]
    fn election_skips_partitions_whose_preferred_leader_restarts() {
        let parts = [("t", 0, vec![1, 2]), ("t", 1, vec![2, 1]), ("u", 0, vec![1, 0])];
        let got = election_partitions(parts.iter().map(|(t, p, r)| (*t, *p, r.as_slice())), &[2]);
        assert_eq!(got, vec![("t".to_string(), vec![0]), ("u".to_string(), vec![0])]);
    }

    fn held(
        entries: &[(i32, &str, i32, u64)],
    ) -> std::collections::BTreeMap<i32, std::collections::BTreeMap<(String, i32), u64>> {
        let mut m: std::collections::BTreeMap<i32, std::collections::BTreeMap<(String, i32), u64>> =
            Default::default();
        for (b, t, p, size) in entries {
            m.entry(*b).or_default().insert((t.to_string(), *p), *size);
        }
        m
    }

    #[test]
    fn a_partition_is_as_large_as_its_largest_replica() {
        let per_broker = held(&[(0, "t", 0, 100), (1, "t", 0, 80), (2, "t", 0, 0), (1, "t", 1, 7)]);
        let sizes = crate::rebalance::progress::partition_sizes(&per_broker);
        assert_eq!(sizes[&("t".to_string(), 0)], 100);
        assert_eq!(sizes[&("t".to_string(), 1)], 7);
    }

    #[test]
    fn bytes_in_flight_are_what_the_adding_brokers_lack() {
        use crate::rebalance::progress::in_flight_bytes;
        // t-0 (100 bytes) is being copied to 3 (holds 30 already) and 4 (nothing yet)
        let per_broker = held(&[(0, "t", 0, 100), (1, "t", 0, 100), (3, "t", 0, 30)]);
        let adding = [("t", 0, vec![3, 4])];
        let got = in_flight_bytes(adding.iter().map(|(t, p, a)| (*t, *p, a.as_slice())), &per_broker);
        assert_eq!(got, Some(70 + 100));
        let unknown = [("u", 0, vec![3])];
        assert_eq!(
            in_flight_bytes(
                unknown.iter().map(|(t, p, a)| (*t, *p, a.as_slice())),
                &per_broker
            ),
            None,
            "a partition no broker reports has no known size"
        );
    }

    #[test]
    fn total_bytes_add_planned_and_in_flight_and_say_none_when_unknown_or_idle() {
        use crate::rebalance::progress::total_bytes;
        assert_eq!(total_bytes(Some(500), 3, 2, Some(170)), Some(670));
        assert_eq!(total_bytes(None, 3, 2, Some(170)), None, "planned size unknown");
        assert_eq!(
            total_bytes(None, 0, 2, Some(170)),
            Some(170),
            "only moves in flight"
        );
        assert_eq!(total_bytes(Some(500), 3, 0, None), Some(500), "nothing in flight");
        assert_eq!(total_bytes(Some(0), 0, 0, Some(0)), None, "nothing moves");
    }
}
