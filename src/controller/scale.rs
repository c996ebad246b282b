//! Broker scale-down, decided from observed state only. A broker above the desired count is
//! removed only when it is known to hold no partition replicas; otherwise it is kept running and
//! the status says why. An unsafe scale-down is refused, never executed.

use crate::annotations;
use std::collections::BTreeSet;

/// What is known about a surplus broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerUsage {
    /// Kafka reports no partition replica on the broker.
    Empty,
    /// Kafka reports this many replicas on it.
    Hosts(usize),
    /// Kafka could not be asked.
    Unknown(String),
}

/// The decision for the surplus brokers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScaleDownPlan {
    /// Kept running although above the desired count.
    pub retained: BTreeSet<i32>,
    /// Safe to remove now.
    pub removable: BTreeSet<i32>,
    /// Why brokers are retained, for the status.
    pub blocked_reason: Option<String>,
    /// Brokers are removed without asking Kafka (the unsafe scale-down annotation).
    pub unsafe_removal: bool,
}

/// Broker ids that exist (pod or claim) but are not among the `wanted` ones.
pub fn surplus(existing: &BTreeSet<i32>, wanted: &BTreeSet<i32>) -> BTreeSet<i32> {
    existing.difference(wanted).copied().collect()
}

/// Decides which surplus brokers may go. `usage(id)` reports what Kafka says about each.
pub fn plan(
    surplus: &BTreeSet<i32>,
    allow_unsafe: bool,
    usage: impl Fn(i32) -> BrokerUsage,
) -> ScaleDownPlan {
    let mut plan = ScaleDownPlan::default();
    let mut reasons = Vec::new();
    // Brokers that cannot be checked usually share one reason (Kafka unreachable): say it once.
    let mut unknown: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for &id in surplus {
        match usage(id) {
            _ if allow_unsafe => {
                plan.removable.insert(id);
                plan.unsafe_removal = true;
            }
            BrokerUsage::Empty => {
                plan.removable.insert(id);
            }
            BrokerUsage::Hosts(n) => {
                plan.retained.insert(id);
                reasons.push(format!("broker {id} still hosts {n} partition replicas"));
            }
            BrokerUsage::Unknown(why) => {
                plan.retained.insert(id);
                unknown.entry(why).or_default().push(id.to_string());
            }
        }
    }
    for (why, ids) in unknown {
        let subject = if ids.len() == 1 {
            format!("broker {}", ids[0])
        } else {
            format!("brokers {}", ids.join(", "))
        };
        reasons.push(format!("{subject} cannot be checked ({why})"));
    }
    if !plan.retained.is_empty() {
        plan.blocked_reason = Some(format!(
            "scale-down refused: {}. Reassign the partitions off these brokers; they are removed once empty \
             (or set the annotation {}=true to remove them anyway, losing their data)",
            reasons.join("; "),
            annotations::ALLOW_UNSAFE_SCALE_DOWN
        ));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surplus_is_ids_not_wanted() {
        let existing = BTreeSet::from([0, 1, 2, 3, 4]);
        assert_eq!(
            surplus(&existing, &BTreeSet::from([0, 1, 2])),
            BTreeSet::from([3, 4])
        );
        assert_eq!(
            surplus(&existing, &BTreeSet::from([0, 2, 4])),
            BTreeSet::from([1, 3])
        );
        assert!(surplus(&existing, &BTreeSet::from([0, 1, 2, 3, 4, 5])).is_empty());
    }

    #[test]
    fn brokers_with_data_or_unknown_state_are_retained() {
        let s = BTreeSet::from([3, 4, 5]);
        let p = plan(&s, false, |id| match id {
            3 => BrokerUsage::Empty,
            4 => BrokerUsage::Hosts(7),
            _ => BrokerUsage::Unknown("Kafka unreachable".into()),
        });
        assert_eq!(p.removable, BTreeSet::from([3]));
        assert_eq!(p.retained, BTreeSet::from([4, 5]));
        let reason = p.blocked_reason.unwrap();
        assert!(
            reason.contains("broker 4 still hosts 7 partition replicas"),
            "{reason}"
        );
        assert!(
            reason.contains("broker 5 cannot be checked (Kafka unreachable)"),
            "{reason}"
        );
    }

    #[test]
    fn one_unknown_reason_is_said_once() {
        let s = BTreeSet::from([3, 4]);
        let p = plan(&s, false, |_| BrokerUsage::Unknown("Kafka unreachable".into()));
        let reason = p.blocked_reason.unwrap();
        assert!(
            reason.contains("brokers 3, 4 cannot be checked (Kafka unreachable)"),
            "{reason}"
        );
        assert_eq!(reason.matches("Kafka unreachable").count(), 1);
    }

    #[test]
    fn the_unsafe_annotation_removes_everything() {
        let s = BTreeSet::from([3, 4]);
        let p = plan(&s, true, |_| BrokerUsage::Hosts(1));
        assert_eq!(p.removable, s);
        assert!(p.retained.is_empty());
        assert!(p.blocked_reason.is_none());
        assert!(
            p.unsafe_removal,
            "an unsafe removal is flagged for its Warning Event"
        );
        assert!(!plan(&s, false, |_| BrokerUsage::Empty).unsafe_removal);
    }
}
