//! The Kafka-side safety checks of a roll, as pure functions of a snapshot of Kafka's state
//! (Strimzi's `KafkaAvailability` and `KafkaQuorumCheck` rules).

use std::collections::{BTreeMap, BTreeSet};

/// `controller.quorum.fetch.timeout.ms` default: a voter whose last catch-up is older than this
/// (relative to the leader's) is not caught up.
pub const DEFAULT_FETCH_TIMEOUT_MS: i64 = 2000;

/// One partition as Kafka reports it, with its topic's effective `min.insync.replicas`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub min_isr: usize,
}

/// One voter of the metadata quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub last_caught_up_ms: Option<i64>,
}

/// The metadata quorum as the leader reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quorum {
    pub leader: i32,
    pub voters: Vec<Voter>,
}

/// A snapshot of what the gates need from Kafka.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaState {
    /// Registered brokers and whether each is fenced.
    pub brokers: BTreeMap<i32, bool>,
    pub quorum: Option<Quorum>,
    pub partitions: Vec<Partition>,
    pub fetch_timeout_ms: i64,
}

impl KafkaState {
    /// The state with `silent` brokers (they did not answer a request of their own) counted
    /// as fenced and out of every ISR, as Kafka will see them once it notices.
    pub fn without_unresponsive(mut self, silent: &BTreeSet<i32>) -> KafkaState {
        if silent.is_empty() {
            return self;
        }
        for id in silent {
            self.brokers.insert(*id, true);
        }
        for p in &mut self.partitions {
            p.isr.retain(|r| !silent.contains(r));
        }
        self
    }
}

impl Quorum {
    fn leader_caught_up(&self) -> Option<i64> {
        self.voters
            .iter()
            .find(|v| v.id == self.leader)
            .and_then(|v| v.last_caught_up_ms)
    }

    /// A voter is caught up when its last catch-up is within the fetch timeout of the leader's.
    pub fn is_caught_up(&self, id: i32, fetch_timeout_ms: i64) -> bool {
        if id == self.leader {
            return true;
        }
        let Some(leader) = self.leader_caught_up() else {
            return false;
        };
        self.voters
            .iter()
            .find(|v| v.id == id)
            .and_then(|v| v.last_caught_up_ms)
            .is_some_and(|t| leader - t < fetch_timeout_ms)
    }
}

/// Result of a gate: `Ok(notes)` to go ahead (notes are reported, not blocking), `Err(why)` to wait.
pub type Gate = Result<Vec<String>, String>;

/// Controller gate: restarting `id` must leave a majority of all voters caught up with the
/// leader among the *other* voters. With one voter it rolls with a note.
pub fn controller_can_roll(state: &KafkaState, id: i32) -> Gate {
    let Some(q) = &state.quorum else {
        return Err("the metadata quorum could not be described".into());
    };
    let total = q.voters.len();
    if total <= 1 {
        return Ok(vec![format!(
            "controller {id} is the only voter; restarting it stops the quorum"
        )]);
    }
    let caught_up: Vec<i32> = q
        .voters
        .iter()
        .filter(|v| v.id != id && q.is_caught_up(v.id, state.fetch_timeout_ms))
        .map(|v| v.id)
        .collect();
    // With two voters the other one must be caught up (Strimzi's special case).
    let needed = if total == 2 { 1 } else { total / 2 + 1 };
    if caught_up.len() >= needed {
        Ok(Vec::new())
    } else {
        Err(format!(
            "controller {id}: only {} of the other voters are caught up with the leader {} ({caught_up:?}); {needed} needed",
            caught_up.len(),
            q.leader
        ))
    }
}

/// Broker gate (Strimzi canRoll, generalised to a batch): for every partition with a replica on
/// one of `ids`, refuse when its ISR is already below min.insync.replicas, or when taking the
/// batch's members out of the ISR would leave fewer than min.insync.replicas. Topics whose
/// replication factor is at most min.insync.replicas can never pass and are reported instead.
pub fn brokers_can_roll(state: &KafkaState, ids: &[i32]) -> Gate {
    let batch: BTreeSet<i32> = ids.iter().copied().collect();
    let mut notes = BTreeSet::new();
    for p in &state.partitions {
        if !p.replicas.iter().any(|r| batch.contains(r)) {
            continue;
        }
        if p.replicas.len() <= p.min_isr {
            notes.insert(format!(
                "topic {} has replication factor {} <= min.insync.replicas {}: its partitions are unavailable to acks=all producers while a replica restarts",
                p.topic,
                p.replicas.len(),
                p.min_isr
            ));
            continue;
        }
        if p.isr.len() < p.min_isr {
            return Err(format!(
                "{}-{} is under min.insync.replicas (ISR {:?}, min {})",
                p.topic, p.partition, p.isr, p.min_isr
            ));
        }
        let remaining = p.isr.iter().filter(|r| !batch.contains(r)).count();
        if remaining < p.min_isr {
            return Err(format!(
                "restarting {ids:?} would take {}-{} below min.insync.replicas (ISR {:?}, min {})",
                p.topic, p.partition, p.isr, p.min_isr
            ));
        }
    }
    Ok(notes.into_iter().collect())
}

/// A (restarted) broker has recovered: registered, unfenced, and in the ISR of every partition
/// it hosts.
pub fn broker_recovered(state: &KafkaState, id: i32) -> Result<(), String> {
    match state.brokers.get(&id) {
        None => return Err(format!("broker {id} is not registered")),
        Some(true) => return Err(format!("broker {id} is fenced")),
        Some(false) => {}
    }
    let behind: Vec<String> = state
        .partitions
        .iter()
        .filter(|p| p.replicas.contains(&id) && !p.isr.contains(&id))
        .map(|p| format!("{}-{}", p.topic, p.partition))
        .collect();
    if behind.is_empty() {
        Ok(())
    } else {
        let shown: Vec<&str> = behind.iter().take(5).map(String::as_str).collect();
        Err(format!(
            "broker {id} is not yet in the ISR of {} partition(s): {}",
            behind.len(),
            shown.join(", ")
        ))
    }
}

/// A (restarted) controller has recovered: it is a voter caught up with the leader.
pub fn controller_recovered(state: &KafkaState, id: i32) -> Result<(), String> {
    let Some(q) = &state.quorum else {
        return Err("the metadata quorum could not be described".into());
    };
    if q.is_caught_up(id, state.fetch_timeout_ms) {
        Ok(())
    } else {
        Err(format!(
            "controller {id} is not caught up with the leader {}",
            q.leader
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(replicas: &[i32], isr: &[i32], min_isr: usize) -> Partition {
        Partition {
            topic: "t".into(),
            partition: 0,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            min_isr,
        }
    }

    fn state(parts: Vec<Partition>) -> KafkaState {
        KafkaState {
            brokers: BTreeMap::from([(0, false), (1, false), (2, false)]),
            quorum: None,
            partitions: parts,
            fetch_timeout_ms: DEFAULT_FETCH_TIMEOUT_MS,
        }
    }

    fn quorum(leader: i32, voters: &[(i32, Option<i64>)]) -> KafkaState {
        KafkaState {
            quorum: Some(Quorum {
                leader,
                voters: voters
                    .iter()
                    .map(|&(id, t)| Voter {
                        id,
                        last_caught_up_ms: t,
                    })
                    .collect(),
            }),
            fetch_timeout_ms: DEFAULT_FETCH_TIMEOUT_MS,
            ..Default::default()
        }
    }

    /// A broker that does not answer (frozen) counts as out of the ISRs: with it silent, no
    /// other broker of its partitions may restart, and it is not "recovered".
    #[test]
    fn a_silent_broker_blocks_the_others() {
        let healthy = state(vec![part(&[0, 1, 2], &[0, 1, 2], 2)]);
        assert!(brokers_can_roll(&healthy, &[0]).is_ok());
        let frozen = healthy.clone().without_unresponsive(&BTreeSet::from([1]));
        let refusal = brokers_can_roll(&frozen, &[0]).expect_err("must wait");
        assert!(refusal.contains("ISR [0, 2]"), "{refusal}");
        assert!(brokers_can_roll(&frozen, &[2]).is_err());
        assert_eq!(frozen.brokers.get(&1), Some(&true), "counted as fenced");
        assert_eq!(healthy.clone().without_unresponsive(&BTreeSet::new()), healthy);
    }

    #[test]
    fn broker_can_roll_with_full_isr() {
        assert_eq!(
            brokers_can_roll(&state(vec![part(&[0, 1, 2], &[0, 1, 2], 2)]), &[0]),
            Ok(vec![])
        );
    }

    #[test]
    fn broker_refused_when_isr_below_min() {
        // another broker is down: ISR 1 < min 2 → refuse any broker of that partition
        let s = state(vec![part(&[0, 1, 2], &[1], 2)]);
        assert!(brokers_can_roll(&s, &[1]).is_err());
        assert!(brokers_can_roll(&s, &[2]).is_err());
    }

    #[test]
    fn broker_refused_when_at_min_and_in_isr() {
        let s = state(vec![part(&[0, 1, 2], &[0, 1], 2)]);
        assert!(brokers_can_roll(&s, &[0]).is_err());
    }

    #[test]
    fn broker_allowed_when_at_min_but_not_in_isr() {
        let s = state(vec![part(&[0, 1, 2], &[0, 1], 2)]);
        assert!(brokers_can_roll(&s, &[2]).is_ok());
    }

    #[test]
    fn broker_without_replicas_of_partition_is_not_checked() {
        let s = state(vec![part(&[1, 2, 3], &[1], 2)]);
        assert!(brokers_can_roll(&s, &[0]).is_ok());
    }

    #[test]
    fn rf_at_most_min_isr_is_reported_not_blocking() {
        let s = state(vec![part(&[0, 1], &[0, 1], 2), part(&[0], &[0], 1)]);
        let notes = brokers_can_roll(&s, &[0]).expect("not blocking");
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes.iter().all(|n| n.contains("replication factor")));
    }

    #[test]
    fn batch_counts_every_member() {
        let s = state(vec![part(&[0, 1, 2], &[0, 1, 2], 2)]);
        assert!(brokers_can_roll(&s, &[0]).is_ok());
        assert!(brokers_can_roll(&s, &[0, 1]).is_err());
        let s = state(vec![part(&[0, 1, 2, 3], &[0, 1, 2, 3], 2)]);
        assert!(brokers_can_roll(&s, &[0, 1]).is_ok());
    }

    #[test]
    fn controller_gate_needs_majority_of_others_caught_up() {
        let s = quorum(
            9000,
            &[(9000, Some(10_000)), (9001, Some(9_500)), (9002, Some(9_900))],
        );
        assert!(controller_can_roll(&s, 9001).is_ok());
        // 9002 lags by more than the fetch timeout: restarting 9001 would leave 1 caught up of 3
        let s = quorum(
            9000,
            &[(9000, Some(10_000)), (9001, Some(9_500)), (9002, Some(1_000))],
        );
        assert!(controller_can_roll(&s, 9001).is_err());
        // but restarting the lagging one leaves the leader and 9001: a majority
        assert!(controller_can_roll(&s, 9002).is_ok());
    }

    #[test]
    fn controller_gate_unknown_timestamp_is_not_caught_up() {
        let s = quorum(9000, &[(9000, Some(10_000)), (9001, None), (9002, Some(9_999))]);
        assert!(controller_can_roll(&s, 9002).is_err());
    }

    #[test]
    fn controller_gate_single_voter_rolls_with_note() {
        let s = quorum(9000, &[(9000, Some(1))]);
        assert_eq!(controller_can_roll(&s, 9000).map(|n| n.len()), Ok(1));
    }

    #[test]
    fn controller_gate_two_voters_needs_the_other() {
        let s = quorum(9000, &[(9000, Some(10_000)), (9001, Some(9_999))]);
        assert!(controller_can_roll(&s, 9001).is_ok());
        let s = quorum(9000, &[(9000, Some(10_000)), (9001, None)]);
        assert!(controller_can_roll(&s, 9000).is_err());
    }

    #[test]
    fn broker_recovery_needs_registration_unfencing_and_isr() {
        let mut s = state(vec![part(&[0, 1, 2], &[1, 2], 2)]);
        assert!(broker_recovered(&s, 0).is_err());
        s.partitions[0].isr = vec![0, 1, 2];
        assert!(broker_recovered(&s, 0).is_ok());
        s.brokers.insert(0, true);
        assert!(broker_recovered(&s, 0).unwrap_err().contains("fenced"));
        s.brokers.remove(&0);
        assert!(broker_recovered(&s, 0).unwrap_err().contains("registered"));
    }

    #[test]
    fn controller_recovery_needs_catch_up() {
        let s = quorum(9000, &[(9000, Some(10_000)), (9001, Some(5_000))]);
        assert!(controller_recovered(&s, 9001).is_err());
        assert!(controller_recovered(&s, 9000).is_ok());
    }
}
