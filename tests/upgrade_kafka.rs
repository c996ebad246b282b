//! Kafka version changes against real Kafka processes (issue 17): one 3+3 cluster formatted by
//! the older release, a continuous idempotent `acks=all` producer throughout, and in order:
//! upgrade with `metadata.version` pinned → binary downgrade → upgrade and finalise → a refused
//! downgrade. Every step is decided by the operator's planners (`kraftwerk::upgrade::plan` for
//! the version change, `kraftwerk::roll::plan` with the Kafka gates for the restarts); a
//! "restart" stops the node's process (SIGTERM) and starts it on the other release's jars.
//!
//! Needs Java 17+ and the jars of both releases (`tests/kafka/fetch.sh`, `KAFKA_VERSION=4.2.2
//! tests/kafka/fetch.sh`); run with `make test-kafka`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: failing loudly is the point

mod kafka_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kafka_support::producer::{Report, ZeroLossProducer};
use kafka_support::{
    KAFKA_VERSION, NodeSpec, TestCluster, create_topic, libs_dir, libs_dir_for, listener_open, tool_command,
};
use kraftwerk::admin::{AdminClient, METADATA_VERSION_FEATURE, Target};
use kraftwerk::controller::kafka::kafka_state;
use kraftwerk::crd::KafkaCluster;
use kraftwerk::render::{RenderOptions, render};
use kraftwerk::roll::{Action, Controls, KafkaView, NodeView, PodState, Update, plan};
use kraftwerk::upgrade::releases::{self, metadata_version_name};
use kraftwerk::upgrade::{self, Input, NodeVersion, Step};

/// The older release: the newest 4.2 patch (a small extra download next to 4.3.1).
const OLD: &str = "4.2.2";
const NEW: &str = KAFKA_VERSION;

fn rendered_specs(version: &str) -> Vec<NodeSpec> {
    let cr = format!(
        "apiVersion: kraftwerk.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: upgrade\n  namespace: kafka-test\n\
         spec:\n  version: \"{version}\"\n  controllers:\n    replicas: 3\n  brokers:\n    replicas: 3\n"
    );
    let cr: KafkaCluster = serde_yaml::from_str(&cr).expect("CR parses");
    let rendered = render(&cr, &RenderOptions::default()).expect("CR renders");
    rendered.nodes.iter().map(NodeSpec::from).collect()
}

fn role(node: &kafka_support::KafkaNode) -> kraftwerk::names::Role {
    if node.role.is_controller() {
        kraftwerk::names::Role::Controller
    } else {
        kraftwerk::names::Role::Broker
    }
}

/// The process cluster and the release each node runs.
struct Fleet {
    cluster: TestCluster,
    admin: AdminClient,
    libs: BTreeMap<&'static str, PathBuf>,
    running: BTreeMap<i32, String>,
    restarted_at: BTreeMap<i32, Instant>,
}

/// One version change, as driven.
struct Phase {
    name: String,
    from: Instant,
    to: Instant,
    restarts: Vec<i32>,
    /// Nodes the roll restarted out of order because they were down (the roll's rule: a down
    /// node that is stale restarts first).
    down_first: Vec<i32>,
    /// The upgrade planner's steps, consecutive repeats folded.
    steps: Vec<String>,
    finalized: Vec<(String, i16)>,
}

impl Fleet {
    /// The roll planner's view: a node runs the wrong release until restarted on `desired`.
    fn roll_views(&mut self, desired: &str) -> Vec<NodeView> {
        let ids: Vec<i32> = self.cluster.nodes.iter().map(|n| n.node_id).collect();
        ids.into_iter()
            .map(|id| {
                let running = self.cluster.node_mut(id).map(|n| n.is_running()).unwrap_or(false);
                let state = if !running {
                    PodState::Missing
                } else if listener_open(&self.cluster, id) {
                    PodState::Ready
                } else {
                    PodState::NotReady("listener not open yet".into())
                };
                let node = self.cluster.node(id).expect("node");
                let release = &self.running[&id];
                NodeView {
                    id,
                    role: role(node),
                    pod: node.name.clone(),
                    state,
                    age_seconds: self.age(id),
                    update: if release == desired {
                        Update::None
                    } else {
                        Update::Restart(format!("{release} → {desired}"))
                    },
                    rack: None,
                    canary_of: None,
                }
            })
            .collect()
    }

    fn age(&self, id: i32) -> i64 {
        self.restarted_at
            .get(&id)
            .map_or(10_000, |t| t.elapsed().as_secs() as i64)
    }

    /// Each node's highest supported `metadata.version` as it reports it (ApiVersions):
    /// brokers through the cluster client, controllers on their own listener.
    async fn supported(&self) -> BTreeMap<i32, i16> {
        let mut out = BTreeMap::new();
        for node in &self.cluster.nodes {
            let features = if node.role.is_controller() {
                let Some(address) = node.controller_address() else {
                    continue;
                };
                match AdminClient::new(&address, kraftwerk::controller::kafka::admin_config(None)) {
                    Ok(c) => c.supported_features(Target::Any).await,
                    Err(e) => Err(e),
                }
            } else {
                self.admin.supported_features(Target::Node(node.node_id)).await
            };
            if let Some((_, max)) = features
                .ok()
                .and_then(|f| f.get(METADATA_VERSION_FEATURE).copied())
            {
                out.insert(node.node_id, max);
            }
        }
        out
    }

    fn upgrade_nodes(&self, supported: &BTreeMap<i32, i16>) -> Vec<NodeVersion> {
        self.cluster
            .nodes
            .iter()
            .map(|n| NodeVersion {
                id: n.node_id,
                role: role(n),
                pod: n.name.clone(),
                running: Some(self.running[&n.node_id].clone()),
                supported_max: supported.get(&n.node_id).copied(),
                age_seconds: self.age(n.node_id),
            })
            .collect()
    }

    fn restart_on(&mut self, id: i32, release: &'static str) {
        let libs = self.libs[release].clone();
        let node = self.cluster.node_mut(id).unwrap();
        let (_, clean) = node.stop(Duration::from_secs(120)).unwrap();
        assert!(clean, "node {id} shut down cleanly");
        node.set_libs(&libs);
        node.start().unwrap();
        self.running.insert(id, release.to_string());
        self.restarted_at.insert(id, Instant::now());
    }

    /// Drives the change to `desired` (with the pin) until the upgrade planner says Done.
    async fn drive(&mut self, name: &str, desired: &'static str, pin: Option<i16>) -> Phase {
        let release = upgrade::find(desired).expect("a supported release");
        let mut phase = Phase {
            name: name.into(),
            from: Instant::now(),
            to: Instant::now(),
            restarts: Vec::new(),
            down_first: Vec::new(),
            steps: Vec::new(),
            finalized: Vec::new(),
        };
        loop {
            assert!(
                phase.from.elapsed() < Duration::from_secs(900),
                "{name} did not finish: {:?}",
                phase.steps
            );
            let kafka = match kafka_state(&self.admin).await {
                Ok(s) => KafkaView::Known(s),
                Err(e) => KafkaView::Unreachable(e.to_string()),
            };
            let views = self.roll_views(desired);
            let roll = plan(&views, &kafka, &Controls::default());
            let finalized = self.admin.finalized_features().await.ok().map(|f| f.levels);
            let supported = self.supported().await;
            let nodes = self.upgrade_nodes(&supported);
            let decision = upgrade::plan(&Input {
                desired: release,
                pin,
                finalize_after_seconds: 0,
                nodes: &nodes,
                finalized: finalized.as_ref(),
                roll_idle: roll.action == Action::Idle,
            });
            let label = format!("{:?}", decision.step)
                .split(['(', ' '])
                .next()
                .unwrap_or_default()
                .to_string();
            if phase.steps.last() != Some(&label) {
                println!("{name}: {label}: {}", decision.message);
                phase.steps.push(label);
            }
            match (&roll.action, &decision.step) {
                (Action::Restart { ids, .. }, _) => {
                    assert_eq!(ids.len(), 1, "one node at a time");
                    println!("{name}: restart {} on {desired}: {}", ids[0], roll.message);
                    self.restart_on(ids[0], desired);
                    phase.restarts.push(ids[0]);
                    if roll.message.contains("it is down") {
                        phase.down_first.push(ids[0]);
                    }
                }
                (Action::Idle, Step::Finalize(updates)) => {
                    self.admin
                        .update_features(updates, false)
                        .await
                        .unwrap_or_else(|e| panic!("UpdateFeatures {updates:?}: {e}"));
                    phase.finalized.extend(updates.iter().cloned());
                    // Every broker learns the new level from the metadata log; wait for it.
                    let level = updates
                        .iter()
                        .find(|(f, _)| f == METADATA_VERSION_FEATURE)
                        .map(|u| u.1);
                    let asked = Instant::now();
                    while let Some(l) = level {
                        let now = self
                            .admin
                            .finalized_features()
                            .await
                            .ok()
                            .and_then(|f| f.metadata_version());
                        if now == Some(l) {
                            break;
                        }
                        assert!(asked.elapsed() < Duration::from_secs(30), "{updates:?} not seen");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                (Action::Idle, Step::Done) => break,
                (Action::Idle | Action::Wait, _) => tokio::time::sleep(Duration::from_millis(250)).await,
                (other, _) => panic!("unexpected {other:?}: {}", roll.message),
            }
        }
        phase.to = Instant::now();
        phase
    }

    async fn metadata_version(&self) -> i16 {
        self.admin
            .finalized_features()
            .await
            .unwrap()
            .metadata_version()
            .unwrap()
    }
}

/// A Kafka tool of the release in `libs`, its stdout.
fn tool(libs: &Path, args: &[&str]) -> String {
    let out = tool_command(libs).args(args).output().expect("run a Kafka tool");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kafka-features.sh describe`: the finalized level name of `metadata.version`.
fn features_describe(libs: &Path, bootstrap: &str) -> String {
    let text = tool(
        libs,
        &[
            "org.apache.kafka.tools.FeatureCommand",
            "--bootstrap-server",
            bootstrap,
            "describe",
        ],
    );
    let line = text
        .lines()
        .find(|l| l.contains(&format!("Feature: {METADATA_VERSION_FEATURE}")))
        .unwrap_or_else(|| panic!("no metadata.version in {text}"));
    println!("kafka-features.sh describe: {line}");
    line.split("FinalizedVersionLevel:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_default()
        .to_string()
}

/// The release table agrees with each release's own `kafka-features.sh version-mapping`.
fn table_matches_the_tool(libs: &Path, version: &str) {
    let release = upgrade::find(version).unwrap();
    let text = tool(
        libs,
        &[
            "org.apache.kafka.tools.FeatureCommand",
            // 4.2's tool insists on a server even for this offline lookup; nothing connects.
            "--bootstrap-server",
            "127.0.0.1:1",
            "version-mapping",
            "--release-version",
            releases::line(version),
        ],
    );
    let mapped: BTreeMap<String, i16> = text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_string(), v.split_whitespace().next()?.parse().ok()?))
        })
        .collect();
    assert_eq!(
        mapped.get(METADATA_VERSION_FEATURE),
        Some(&release.metadata_version),
        "{text}"
    );
    for (feature, level) in release.features {
        assert_eq!(mapped.get(*feature), Some(level), "{version} {feature}: {text}");
    }
}

fn report(phases: &[Phase], producer: &ZeroLossProducer, r: &Report) {
    println!("=== upgrade report ===");
    // Copied out: `largest_stall` takes the same lock.
    let at: Vec<Instant> = producer
        .acks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .map(|a| a.at)
        .collect();
    let between = |from: Instant, to: Instant| at.iter().filter(|t| **t >= from && **t <= to).count();
    for p in phases {
        println!(
            "{}: {:?}, restarts {:?} (down, so first: {:?}), steps {:?}, finalized {:?}, acks {}, largest stall {:?}",
            p.name,
            p.to - p.from,
            p.restarts,
            p.down_first,
            p.steps,
            p.finalized,
            between(p.from, p.to),
            producer.largest_stall(p.from, p.to),
        );
    }
    let first = at.first().copied().unwrap_or_else(Instant::now);
    let last = at.last().copied().unwrap_or_else(Instant::now);
    println!(
        "messages: sent {}, acknowledged {}, send errors {}, received {} (distinct), missing acknowledged {}; largest stall {:?}",
        r.sent,
        r.acked,
        r.errors.len(),
        r.received,
        r.missing.len(),
        producer.largest_stall(first, last),
    );
}

fn assert_controllers_first(phase: &Phase) {
    assert_eq!(phase.restarts.len(), 6, "{}: every node once", phase.name);
    let in_order: Vec<i32> = phase
        .restarts
        .iter()
        .copied()
        .filter(|id| !phase.down_first.contains(id))
        .collect();
    let controllers = in_order.iter().filter(|id| **id >= 9000).count();
    assert!(
        in_order[..controllers].iter().all(|id| *id >= 9000),
        "{}: controllers first: {:?}",
        phase.name,
        phase.restarts
    );
    let controllers_after_brokers = phase
        .steps
        .iter()
        .skip_while(|s| *s != "RollBrokers")
        .any(|s| s == "RollControllers");
    assert!(!controllers_after_brokers, "{}: {:?}", phase.name, phase.steps);
}

#[tokio::test]
#[ignore = "needs Java and the Kafka jars of two releases; run with make test-kafka"]
async fn upgrade_pin_downgrade_finalise_and_refuse_lose_no_acknowledged_message() {
    let libs_new = libs_dir().unwrap();
    let libs_old = libs_dir_for(OLD).unwrap();
    table_matches_the_tool(&libs_old, OLD);
    table_matches_the_tool(&libs_new, NEW);
    let mut cluster = TestCluster::with_libs("upgrade", &rendered_specs(OLD), &libs_old).unwrap();
    let took = cluster.boot(Duration::from_secs(240)).await;
    println!("cluster on {OLD} ready in {took:?}");
    let admin = cluster.admin().unwrap();
    let running = cluster
        .nodes
        .iter()
        .map(|n| (n.node_id, OLD.to_string()))
        .collect();
    let mut fleet = Fleet {
        cluster,
        admin,
        libs: BTreeMap::from([(OLD, libs_old.clone()), (NEW, libs_new.clone())]),
        running,
        restarted_at: BTreeMap::new(),
    };
    let old_level = upgrade::find(OLD).unwrap().metadata_version;
    let new_level = upgrade::find(NEW).unwrap().metadata_version;
    assert_eq!(fleet.metadata_version().await, old_level, "formatted by {OLD}");
    let topic = "upgrade";
    create_topic(&fleet.admin, topic, 3).await;
    let bootstrap = fleet.cluster.bootstrap();
    let mut producer = ZeroLossProducer::start(&bootstrap, topic, 200).await.unwrap();
    let mut phases = Vec::new();

    // 1. Upgrade with the level pinned at the old release's: binaries only.
    let pin = releases::parse_metadata_version(releases::line(OLD));
    let p = fleet.drive("upgrade pinned", NEW, pin).await;
    assert_controllers_first(&p);
    assert!(p.finalized.is_empty(), "the pin holds the level");
    assert_eq!(fleet.metadata_version().await, old_level);
    assert_eq!(
        features_describe(&libs_new, &bootstrap),
        metadata_version_name(old_level)
    );
    let supported = fleet.supported().await;
    assert!(
        supported.values().all(|m| *m == new_level),
        "every node runs {NEW}: {supported:?}"
    );
    phases.push(p);

    // 2. Binary downgrade: admitted, since the old release runs the pinned level.
    let running: Vec<String> = fleet.running.values().cloned().collect();
    let running: Vec<&str> = running.iter().map(String::as_str).collect();
    let old = upgrade::find(OLD).unwrap();
    upgrade::admit(old, &running, Some(fleet.metadata_version().await)).expect("downgrade admitted");
    let p = fleet.drive("binary downgrade", OLD, None).await;
    assert_controllers_first(&p);
    assert!(p.finalized.is_empty());
    let supported = fleet.supported().await;
    assert!(
        supported.values().all(|m| *m == old_level),
        "every node runs {OLD}: {supported:?}"
    );
    phases.push(p);

    // 3. Upgrade, then finalise the new release's level.
    let p = fleet.drive("upgrade and finalise", NEW, None).await;
    assert_controllers_first(&p);
    assert_eq!(
        p.finalized.first(),
        Some(&(METADATA_VERSION_FEATURE.to_string(), new_level))
    );
    assert_eq!(p.steps.last().map(String::as_str), Some("Done"));
    assert_eq!(fleet.metadata_version().await, new_level, "DescribeFeatures");
    assert_eq!(
        features_describe(&libs_new, &bootstrap),
        metadata_version_name(new_level)
    );
    phases.push(p);

    // 4. A downgrade now is refused, naming spec.version; nothing is restarted.
    let pids: Vec<Option<u32>> = fleet.cluster.nodes.iter().map(|n| n.pid()).collect();
    let running: Vec<String> = fleet.running.values().cloned().collect();
    let running: Vec<&str> = running.iter().map(String::as_str).collect();
    let refused = upgrade::admit(old, &running, Some(fleet.metadata_version().await)).expect_err("refused");
    println!("refused: {}: {}", refused.field, refused.message);
    assert_eq!(refused.field, "spec.version");
    assert!(
        refused.message.contains(&metadata_version_name(new_level)),
        "{}",
        refused.message
    );
    assert_eq!(
        pids,
        fleet.cluster.nodes.iter().map(|n| n.pid()).collect::<Vec<_>>()
    );

    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = producer.finish(&bootstrap).await.unwrap();
    report(&phases, &producer, &r);
    assert!(
        r.missing.is_empty(),
        "acknowledged messages lost: {:?}",
        &r.missing[..r.missing.len().min(20)]
    );
    assert!(
        r.errors.is_empty(),
        "send errors: {:?}",
        &r.errors[..r.errors.len().min(5)]
    );
    assert_eq!(
        r.acked,
        r.received.min(r.acked),
        "every acknowledged message read back"
    );
}
