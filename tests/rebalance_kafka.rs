//! Rebalance on scale-up and drain on scale-down against real Kafka processes (issue 13), on one
//! cluster: 3 controllers and 5 brokers rendered by the operator, brokers 3 and 4 started later.
//!
//! The operation is driven by the operator's own Kafka-side executor
//! (`kraftwerk::controller::rebalance::kafka_step`) with the status kept between passes as the
//! KafkaCluster would keep it; an operator killed mid-pass is a pass whose task is aborted at a
//! random moment (between or inside its Kafka requests). A continuous idempotent `acks=all`
//! producer runs throughout; every acknowledged message must be read back.
//!
//! Run with `make test-kafka` (`cargo test --test rebalance_kafka -- --ignored --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: failing loudly is the point

mod kafka_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_support::producer::ZeroLossProducer;
use kafka_support::{NodeSpec, TestCluster};
use kraftwerk::admin::{AdminClient, NewTopic};
use kraftwerk::controller::rebalance::{Settings, Target, kafka_step};
use kraftwerk::crd::{KafkaCluster, RebalanceStatus, StepState};
use kraftwerk::rebalance::progress::Operation;
use kraftwerk::render::{RenderOptions, render};

/// 3 controllers and 5 brokers (YAML flow style).
const CR: &str = "{apiVersion: kraftwerk.dev/v1alpha1, kind: KafkaCluster, \
    metadata: {name: scale, namespace: kafka-test}, \
    spec: {version: '4.3.1', controllers: {replicas: 3}, brokers: {replicas: 5}}}";

const TOPIC: &str = "scale";
const PARTITIONS: i32 = 24;

fn rendered_specs() -> Vec<NodeSpec> {
    let cr: KafkaCluster = serde_yaml::from_str(CR).expect("CR parses");
    let rendered = render(&cr, &RenderOptions::default()).expect("CR renders");
    rendered.nodes.iter().map(NodeSpec::from).collect()
}

/// Waits until exactly `want` brokers are registered and unfenced.
async fn wait_unfenced(admin: &AdminClient, want: &[i32]) {
    let started = Instant::now();
    loop {
        if let Ok(c) = admin.describe_cluster().await {
            let unfenced: Vec<i32> = c.brokers.iter().filter(|b| !b.fenced).map(|b| b.id).collect();
            if unfenced == want {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "brokers {want:?} not unfenced"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A tiny deterministic-per-run random source (no extra crate): milliseconds to wait before
/// killing the executor.
struct Chaos(u64);

impl Chaos {
    fn new() -> Self {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        println!("chaos seed {seed}");
        Self(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Replicas and leaders per broker, and the smallest replica count and ISR of any partition.
async fn layout(admin: &AdminClient) -> (BTreeMap<i32, usize>, BTreeMap<i32, usize>, usize, usize) {
    let m = admin.metadata(Some(&[TOPIC])).await.unwrap();
    let mut replicas = BTreeMap::new();
    let mut leaders = BTreeMap::new();
    let (mut min_rf, mut min_isr) = (usize::MAX, usize::MAX);
    for p in m.topics.iter().flat_map(|t| t.partitions.iter()) {
        for b in &p.replicas {
            *replicas.entry(*b).or_insert(0) += 1;
        }
        if let Some(l) = p.leader {
            *leaders.entry(l).or_insert(0) += 1;
        }
        min_rf = min_rf.min(p.replicas.len());
        min_isr = min_isr.min(p.isr.len());
    }
    (replicas, leaders, min_rf, min_isr)
}

/// What one operation measured.
struct Run {
    passes: usize,
    kills: usize,
    moved: i32,
    took: Duration,
    min_rf: usize,
    min_isr: usize,
    /// The largest `bytesToMove` a status reported.
    max_bytes: i64,
}

/// Drives `op` to COMPLETE with the operator's executor, aborting at least `kills` passes at a
/// random moment; checks after every pass that no partition lost a replica.
async fn drive(
    bootstrap: &str,
    admin: &AdminClient,
    op: Operation,
    brokers: &BTreeSet<i32>,
    kills: usize,
) -> Run {
    let mut chaos = Chaos::new();
    let settings = Settings {
        max_in_flight: 4,
        throttle: 10 * 1024 * 1024,
        paused: false,
    };
    let racks = BTreeMap::new();
    let mut status: Option<RebalanceStatus> = None;
    let mut run = Run {
        passes: 0,
        kills: 0,
        moved: 0,
        took: Duration::ZERO,
        min_rf: usize::MAX,
        min_isr: usize::MAX,
        max_bytes: 0,
    };
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{} did not finish",
            op.name()
        );
        run.passes += 1;
        let (bs, o, b, prev) = (bootstrap.to_string(), op.clone(), brokers.clone(), status.clone());
        let racks = racks.clone();
        let settings = settings.clone();
        let task = tokio::spawn(async move {
            let a = kafka_support::admin_client(&bs).unwrap();
            let target = Target {
                op: &o,
                brokers: &b,
                racks: &racks,
                trigger: None,
            };
            kafka_step(&a, &target, &settings, prev.as_ref()).await
        });
        let kill_now = run.kills < kills && chaos.below(3) == 0;
        let outcome = if kill_now {
            tokio::time::sleep(Duration::from_millis(chaos.below(150))).await;
            task.abort();
            match task.await {
                Ok(done) => Some(done),
                Err(_) => {
                    run.kills += 1;
                    println!("{}: executor killed in pass {}", op.name(), run.passes);
                    None
                }
            }
        } else {
            Some(task.await.unwrap())
        };
        if let Some(outcome) = outcome {
            let outcome = outcome.unwrap_or_else(|e| panic!("{} pass failed: {e}", op.name()));
            status = outcome.pass.status;
        }
        let (_, _, min_rf, min_isr) = layout(admin).await;
        run.min_rf = run.min_rf.min(min_rf);
        run.min_isr = run.min_isr.min(min_isr);
        assert!(min_rf >= 3, "a partition lost a replica during the {}", op.name());
        if let Some(s) = &status
            && s.state == StepState::Complete
            && run.kills >= kills
        {
            run.moved = s.partitions_to_move.max(run.moved);
            break;
        }
        if let Some(s) = &status {
            run.moved = s.partitions_to_move.max(run.moved);
            run.max_bytes = run.max_bytes.max(s.bytes_to_move.unwrap_or(0));
            assert_ne!(s.state, StepState::Error, "{}", s.message);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    run.took = started.elapsed();
    run
}

fn spread(c: &BTreeMap<i32, usize>, brokers: &BTreeSet<i32>) -> usize {
    let v: Vec<usize> = brokers.iter().map(|b| c.get(b).copied().unwrap_or(0)).collect();
    v.iter().max().unwrap() - v.iter().min().unwrap()
}

#[tokio::test]
#[ignore = "needs Java and the Kafka jars; run with make test-kafka"]
async fn scale_up_rebalances_and_drain_empties_brokers_without_loss() {
    let specs = rendered_specs();
    let mut cluster = TestCluster::new("rebalance", &specs).unwrap_or_else(|e| panic!("{e}"));
    cluster.format_all().unwrap();
    for id in [9000, 9001, 9002, 0, 1, 2] {
        cluster.node_mut(id).unwrap().start().unwrap();
    }
    let admin = cluster.admin().unwrap();
    wait_unfenced(&admin, &[0, 1, 2]).await;
    admin
        .create_topic(&NewTopic::new(TOPIC, PARTITIONS, 3).with_config("min.insync.replicas", "2"))
        .await
        .unwrap();
    let mut producer = ZeroLossProducer::start(&cluster.bootstrap(), TOPIC, 300)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Scale-up: brokers 3 and 4 join, the executor spreads replicas and leaders onto them.
    for id in [3, 4] {
        cluster.node_mut(id).unwrap().start().unwrap();
    }
    wait_unfenced(&admin, &[0, 1, 2, 3, 4]).await;
    let all: BTreeSet<i32> = (0..5).collect();
    let up_from = Instant::now();
    let up = drive(&cluster.bootstrap(), &admin, Operation::Rebalance, &all, 5).await;
    let up_to = Instant::now();
    let (replicas, leaders, _, _) = layout(&admin).await;
    println!(
        "scale-up: {} partitions moved in {:?} ({} passes, {} kills); replicas {replicas:?}, leaders {leaders:?}; \
         smallest replica set {}, smallest ISR {}",
        up.moved, up.took, up.passes, up.kills, up.min_rf, up.min_isr
    );
    assert!(up.kills >= 5);
    assert!(
        spread(&replicas, &all) <= 1,
        "replicas balanced within ±1: {replicas:?}"
    );
    assert!(
        spread(&leaders, &all) <= 1,
        "leaders balanced within ±1: {leaders:?}"
    );
    assert!(up.moved > 0);
    // bytesToMove comes from DescribeLogDirs: some data had to move, and never more than the
    // cluster holds (each moved replica copies one replica's bytes)
    let mut held = 0u64;
    for b in 0..5 {
        held += admin.describe_log_dirs(b).await.unwrap().values().sum::<u64>();
    }
    println!(
        "scale-up: largest bytesToMove reported {} of {held} bytes held",
        up.max_bytes
    );
    assert!(
        up.max_bytes > 0 && (up.max_bytes as u64) <= held,
        "bytesToMove {} within (0, {held}]",
        up.max_bytes
    );

    // A drain to two brokers is refused (RF 3): nothing starts.
    let two: BTreeSet<i32> = [0, 4].into();
    let refused = kafka_step(
        &admin,
        &Target {
            op: &Operation::Drain([1, 2, 3].into()),
            brokers: &two,
            racks: &BTreeMap::new(),
            trigger: None,
        },
        &Settings {
            max_in_flight: 4,
            throttle: 10 * 1024 * 1024,
            paused: false,
        },
        None,
    )
    .await
    .unwrap();
    let why = refused
        .pass
        .drain_refused
        .expect("a drain to 2 brokers is refused");
    println!("refused: {why}");
    assert!(
        why.contains("replication factor 3 but only 2 brokers would remain"),
        "{why}"
    );
    assert_eq!(refused.pass.status.unwrap().state, StepState::Error);
    assert!(admin.list_partition_reassignments(None).await.unwrap().is_empty());

    // Drain brokers 1 and 3 (not the highest ids).
    let remaining: BTreeSet<i32> = [0, 2, 4].into();
    let down_from = Instant::now();
    let down = drive(
        &cluster.bootstrap(),
        &admin,
        Operation::Drain([1, 3].into()),
        &remaining,
        5,
    )
    .await;
    let down_to = Instant::now();
    let (replicas, leaders, _, _) = layout(&admin).await;
    println!(
        "drain: {} partitions moved in {:?} ({} passes, {} kills); replicas {replicas:?}, leaders {leaders:?}; \
         smallest replica set {}, smallest ISR {}",
        down.moved, down.took, down.passes, down.kills, down.min_rf, down.min_isr
    );
    assert!(down.kills >= 5);
    assert!(
        !replicas.contains_key(&1) && !replicas.contains_key(&3),
        "nothing left on 1 and 3"
    );
    assert!(spread(&leaders, &remaining) <= 1, "leaders balanced: {leaders:?}");

    // Remove brokers 1 and 3: a clean shutdown, then the executor unregisters them.
    for id in [1, 3] {
        let (_, clean) = cluster
            .node_mut(id)
            .unwrap()
            .stop(Duration::from_secs(120))
            .unwrap();
        assert!(clean, "broker {id} shut down cleanly");
    }
    let started = Instant::now();
    loop {
        let target = Target {
            op: &Operation::Rebalance,
            brokers: &remaining,
            racks: &BTreeMap::new(),
            trigger: None,
        };
        let settings = Settings {
            max_in_flight: 4,
            throttle: 10 * 1024 * 1024,
            paused: false,
        };
        kafka_step(&admin, &target, &settings, None).await.unwrap();
        let registered: Vec<i32> = admin
            .describe_cluster()
            .await
            .unwrap()
            .brokers
            .iter()
            .map(|b| b.id)
            .collect();
        if registered == vec![0, 2, 4] {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "brokers 1 and 3 still registered: {registered:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let stall_up = producer.largest_stall(up_from, up_to);
    let stall_down = producer.largest_stall(down_from, down_to);
    let report = producer.finish(&cluster.bootstrap()).await.unwrap();
    println!("=== rebalance/drain zero-loss report ===");
    println!(
        "scale-up 3→5: {} partitions moved, balanced in {:?}, largest produce stall {stall_up:?}",
        up.moved, up.took
    );
    println!(
        "drain 5→3 (brokers 1, 3): {} partitions moved, drained in {:?}, largest produce stall {stall_down:?}",
        down.moved, down.took
    );
    println!(
        "messages: sent {}, acknowledged {}, received {} (distinct), missing acknowledged {}, send errors {}",
        report.sent,
        report.acked,
        report.received,
        report.missing.len(),
        report.errors.len()
    );
    assert!(
        report.missing.is_empty(),
        "acknowledged messages lost: {:?}",
        &report.missing[..report.missing.len().min(20)]
    );
    assert!(
        report.errors.is_empty(),
        "send errors: {:?}",
        &report.errors[..report.errors.len().min(5)]
    );
}
