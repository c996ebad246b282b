//! The balancing and drain planner: a pure function from the current assignment, the broker
//! set and the racks to a target assignment and an ordered list of moves.
//!
//! Three passes, each moving only what must move (a drain runs the first and the third):
//! 1. drain: every replica on a broker outside the target set goes to the least loaded target
//!    broker that keeps the partition's rack diversity;
//! 2. replicas: while the most and least loaded brokers differ by more than one replica, one
//!    replica moves from the former to the latter (rack diversity never drops);
//! 3. leaders: while preferred-leader counts differ by more than one, a partition's replica order
//!    changes so a less loaded broker comes first (no data moves).
//!
//! Ties are broken by broker id and by (topic, partition), so the same input always gives the
//! same plan, and a plan computed from the targets of the moves already in flight gives the
//! remaining moves only.

use std::collections::{BTreeMap, BTreeSet};

/// One partition as the planner sees it: its replicas (the target of a reassignment in flight),
/// preferred leader first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    /// The topic's effective `min.insync.replicas`.
    pub min_isr: usize,
    /// Bytes on disk of one replica, where known.
    pub size_bytes: Option<u64>,
}

/// What the planner is asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Input {
    pub partitions: Vec<Assignment>,
    /// The brokers that are to hold every replica once done.
    pub brokers: BTreeSet<i32>,
    /// Rack of each broker, when rack awareness is on.
    pub racks: BTreeMap<i32, String>,
}

/// One reassignment: `from` → `to` (same length; `to[0]` is the preferred leader).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    pub topic: String,
    pub partition: i32,
    pub from: Vec<i32>,
    pub to: Vec<i32>,
    /// Bytes to copy (one replica's size per new broker), where known.
    pub bytes: Option<u64>,
}

impl Move {
    /// Only the replica order changes: no data is copied.
    pub fn is_reorder(&self) -> bool {
        let a: BTreeSet<i32> = self.from.iter().copied().collect();
        let b: BTreeSet<i32> = self.to.iter().copied().collect();
        a == b
    }

    /// Brokers that receive a new replica.
    pub fn added(&self) -> Vec<i32> {
        self.to
            .iter()
            .copied()
            .filter(|b| !self.from.contains(b))
            .collect()
    }
}

/// The plan: moves in the order they are to run (data moves first, then reorders).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub moves: Vec<Move>,
}

/// Why the planner refuses: each entry names a topic or partition and what is missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub Vec<String>);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

/// The balancing plan for `input`: replicas off brokers outside the set, then replicas and
/// preferred leaders spread within ±1, or why it cannot be made (nothing is to move then).
pub fn balance(input: &Input) -> Result<Plan, Refusal> {
    check(input)?;
    let mut state = State::new(input);
    state.drain()?;
    state.balance_replicas();
    state.balance_leaders();
    Ok(state.into_plan(input))
}

/// The drain plan: only the replicas on brokers outside `input.brokers` move data (to the least
/// loaded remaining brokers, rack-safe); then preferred leaders are spread within ±1 by
/// reordering replicas (no data moves), since the drained brokers' leaderships land unevenly.
/// Refused when the remaining brokers are fewer than a topic's replication factor or
/// `min.insync.replicas`, or lack the racks.
pub fn drain(input: &Input) -> Result<Plan, Refusal> {
    check(input)?;
    let mut state = State::new(input);
    state.drain()?;
    state.balance_leaders();
    Ok(state.into_plan(input))
}

/// Refusals that do not depend on the placement: too few brokers for a topic.
fn check(input: &Input) -> Result<(), Refusal> {
    let n = input.brokers.len();
    let mut problems: BTreeMap<String, String> = BTreeMap::new();
    for p in &input.partitions {
        if p.replicas.len() > n {
            problems.entry(p.topic.clone()).or_insert_with(|| {
                format!(
                    "topic {} has replication factor {} but only {n} brokers would remain",
                    p.topic,
                    p.replicas.len()
                )
            });
        } else if p.min_isr > n {
            problems.entry(p.topic.clone()).or_insert_with(|| {
                format!(
                    "topic {} has min.insync.replicas {} but only {n} brokers would remain",
                    p.topic, p.min_isr
                )
            });
        }
    }
    if n == 0 && !input.partitions.is_empty() {
        problems.insert(String::new(), "no broker would remain".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Refusal(problems.into_values().collect()))
    }
}

/// The working assignment and per-broker counts.
struct State<'a> {
    racks: &'a BTreeMap<i32, String>,
    brokers: &'a BTreeSet<i32>,
    /// `topic-partition` of each partition, for messages.
    names: Vec<String>,
    /// Sorted by (topic, partition).
    replicas: Vec<Vec<i32>>,
    order: Vec<usize>,
    count: BTreeMap<i32, usize>,
    leaders: BTreeMap<i32, usize>,
}

impl<'a> State<'a> {
    fn new(input: &'a Input) -> Self {
        let mut order: Vec<usize> = (0..input.partitions.len()).collect();
        order.sort_by(|&a, &b| {
            let (pa, pb) = (&input.partitions[a], &input.partitions[b]);
            (&pa.topic, pa.partition).cmp(&(&pb.topic, pb.partition))
        });
        let replicas: Vec<Vec<i32>> = input.partitions.iter().map(|p| p.replicas.clone()).collect();
        let mut state = State {
            racks: &input.racks,
            brokers: &input.brokers,
            names: input
                .partitions
                .iter()
                .map(|p| format!("{}-{}", p.topic, p.partition))
                .collect(),
            replicas,
            order,
            count: input.brokers.iter().map(|&b| (b, 0)).collect(),
            leaders: input.brokers.iter().map(|&b| (b, 0)).collect(),
        };
        state.recount();
        state
    }

    fn recount(&mut self) {
        for v in self.count.values_mut().chain(self.leaders.values_mut()) {
            *v = 0;
        }
        for r in &self.replicas {
            for b in r {
                if let Some(c) = self.count.get_mut(b) {
                    *c += 1;
                }
            }
            if let Some(l) = r.first().and_then(|b| self.leaders.get_mut(b)) {
                *l += 1;
            }
        }
    }

    fn rack(&self, b: i32) -> Option<&str> {
        self.racks.get(&b).map(String::as_str)
    }

    /// Distinct racks of a replica set (brokers without a rack count as their own rack).
    fn diversity(&self, replicas: &[i32]) -> usize {
        let set: BTreeSet<String> = replicas
            .iter()
            .map(|b| match self.rack(*b) {
                Some(r) => format!("r:{r}"),
                None => format!("b:{b}"),
            })
            .collect();
        set.len()
    }

    /// Replacing `replicas[pos]` by `to` keeps the rack diversity the partition has (or, for a
    /// replica on a broker being removed, the best the remaining brokers allow is checked by the
    /// caller through the same rule).
    fn keeps_diversity(&self, replicas: &[i32], pos: usize, to: i32) -> bool {
        if self.racks.is_empty() {
            return true;
        }
        let mut next = replicas.to_vec();
        next[pos] = to;
        self.diversity(&next) >= self.diversity(replicas)
    }

    /// Pass 1: replicas on brokers outside the target set move to the least loaded target.
    fn drain(&mut self) -> Result<(), Refusal> {
        let mut problems = Vec::new();
        for i in self.order.clone() {
            for pos in 0..self.replicas[i].len() {
                let from = self.replicas[i][pos];
                if self.brokers.contains(&from) {
                    continue;
                }
                let current = self.replicas[i].clone();
                let best = self
                    .brokers
                    .iter()
                    .copied()
                    .filter(|b| !current.contains(b) && self.keeps_diversity(&current, pos, *b))
                    .min_by_key(|b| (self.count[b], self.leaders[b] * usize::from(pos == 0), *b));
                match best {
                    Some(to) => {
                        self.replicas[i][pos] = to;
                        *self.count.entry(to).or_default() += 1;
                        if pos == 0 {
                            *self.leaders.entry(to).or_default() += 1;
                        }
                    }
                    None => problems.push(i),
                }
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(Refusal(vec![format!(
            "not enough rack diversity among the remaining brokers for {} partition(s), e.g. {}",
            problems.len(),
            problems
                .iter()
                .take(3)
                .map(|&i| self.name(i))
                .collect::<Vec<_>>()
                .join(", ")
        )]))
    }

    fn name(&self, i: usize) -> String {
        self.names[i].clone()
    }

    /// Pass 2: one replica at a time from the most to a less loaded broker, until within ±1.
    fn balance_replicas(&mut self) {
        while let Some((i, pos, to)) = self.next_replica_move() {
            let from = self.replicas[i][pos];
            self.replicas[i][pos] = to;
            self.count.entry(from).and_modify(|c| *c -= 1);
            *self.count.entry(to).or_default() += 1;
            if pos == 0 {
                self.leaders.entry(from).and_modify(|c| *c -= 1);
                *self.leaders.entry(to).or_default() += 1;
            }
        }
    }

    /// Brokers by load, most loaded first (ties: lower id first).
    fn by_load(counts: &BTreeMap<i32, usize>) -> Vec<(i32, usize)> {
        let mut v: Vec<(i32, usize)> = counts.iter().map(|(b, c)| (*b, *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// The first `find(from, to)` answer over pairs of a loaded broker and one with at least two
    /// fewer, most loaded `from` first, least loaded `to` first.
    fn first_pair<T>(counts: &BTreeMap<i32, usize>, find: impl Fn(i32, i32) -> Option<T>) -> Option<T> {
        let loads = Self::by_load(counts);
        for &(from, high) in &loads {
            for &(to, low) in loads.iter().rev() {
                if low + 1 >= high {
                    break;
                }
                if let Some(found) = find(from, to) {
                    return Some(found);
                }
            }
        }
        None
    }

    /// The first valid move from the most loaded broker to a broker with at least two fewer.
    fn next_replica_move(&self) -> Option<(usize, usize, i32)> {
        Self::first_pair(&self.count, |from, to| {
            self.order.iter().find_map(|&i| {
                let r = &self.replicas[i];
                let pos = r.iter().position(|&b| b == from)?;
                (!r.contains(&to) && self.keeps_diversity(r, pos, to)).then_some((i, pos, to))
            })
        })
    }

    /// Pass 3: preferred leaders spread by reordering replicas, until within ±1.
    fn balance_leaders(&mut self) {
        while let Some((i, pos)) = self.next_leader_swap() {
            let r = &mut self.replicas[i];
            let (from, to) = (r[0], r[pos]);
            r.swap(0, pos);
            self.leaders.entry(from).and_modify(|c| *c -= 1);
            *self.leaders.entry(to).or_default() += 1;
        }
    }

    fn next_leader_swap(&self) -> Option<(usize, usize)> {
        Self::first_pair(&self.leaders, |from, to| {
            self.order.iter().find_map(|&i| {
                let r = &self.replicas[i];
                (r.first() == Some(&from))
                    .then(|| r.iter().position(|&b| b == to))
                    .flatten()
                    .map(|pos| (i, pos))
            })
        })
    }

    fn into_plan(self, input: &Input) -> Plan {
        let mut data = Vec::new();
        let mut reorders = Vec::new();
        for &i in &self.order {
            let p = &input.partitions[i];
            let to = &self.replicas[i];
            if *to == p.replicas {
                continue;
            }
            let mut m = Move {
                topic: p.topic.clone(),
                partition: p.partition,
                from: p.replicas.clone(),
                to: to.clone(),
                bytes: None,
            };
            m.bytes = p.size_bytes.map(|s| s * m.added().len() as u64);
            if m.is_reorder() {
                reorders.push(m);
            } else {
                data.push(m);
            }
        }
        data.extend(reorders);
        Plan { moves: data }
    }
}
