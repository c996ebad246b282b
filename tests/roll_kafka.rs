//! The roll's safety gates and dynamic updates against real Kafka processes (issue 6).
//!
//! The roll is driven by the same planner (`kraftwerk::roll::plan`) and the same Kafka
//! snapshot (`kraftwerk::controller::kafka::kafka_state`) the operator uses; a "restart" is a
//! graceful stop (SIGTERM, controlled shutdown) and start of the node's process instead of a pod
//! deletion, and a node is "Ready" when its listener accepts connections (the pods' readiness
//! probe).
//!
//! Needs Java 17+ and the jars of `tests/kafka/fetch.sh`; run with `make test-kafka`
//! (`cargo test --test roll_kafka -- --ignored --nocapture --test-threads=1`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: failing loudly is the point

mod kafka_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_support::{NodeSpec, TestCluster, create_topic, java_console_consume, libs_dir, listener_open};
use kraftwerk::admin::{AdminClient, ConfigResource};
use kraftwerk::controller::kafka::kafka_state;
use kraftwerk::crd::KafkaCluster;
use kraftwerk::render::{RenderOptions, render};
use kraftwerk::roll::dynamic::{self, ConfigChange, Running};
use kraftwerk::roll::gates::brokers_can_roll;
use kraftwerk::roll::{Action, Controls, KafkaView, NodeView, PodState, Update, plan};

const CR: &str = r#"
apiVersion: kraftwerk.dev/v1alpha1
kind: KafkaCluster
metadata:
  name: roll
  namespace: kafka-test
spec:
  version: "4.3.1"
  controllers:
    replicas: 3
  brokers:
    replicas: 3
"#;

/// The operator's own rendering for 3 controllers + 3 brokers.
fn rendered_specs() -> Vec<NodeSpec> {
    render_specs(&RenderOptions::default())
}

fn render_specs(options: &RenderOptions) -> Vec<NodeSpec> {
    let cr: KafkaCluster = serde_yaml::from_str(CR).expect("CR parses");
    let rendered = render(&cr, options).expect("CR renders");
    rendered.nodes.iter().map(NodeSpec::from).collect()
}

/// The same nodes as operator releases before the dynamic quorum formatted them: a static
/// `controller.quorum.voters` list, `kraft.version` 0.
fn static_specs() -> Vec<NodeSpec> {
    render_specs(&RenderOptions {
        static_quorum: true,
        ..Default::default()
    })
}

/// The nodes once the operator switched an upgraded static cluster to the dynamic quorum
/// (`controller.quorum.bootstrap.servers`, the quorum formed).
fn switched_specs() -> BTreeMap<i32, NodeSpec> {
    let options = RenderOptions {
        quorum_formed: true,
        ..Default::default()
    };
    render_specs(&options)
        .into_iter()
        .map(|s| (s.node_id, s))
        .collect()
}

/// Controllers 9003 and 9004 as the operator renders them when `controllers.replicas` goes to 5
/// on the formed quorum: they join as observers (`--no-initial-controllers`).
fn spare_controllers() -> Vec<NodeSpec> {
    let mut cr: KafkaCluster = serde_yaml::from_str(CR).expect("CR parses");
    cr.spec.controllers.replicas = 5;
    let options = RenderOptions {
        quorum_formed: true,
        ..Default::default()
    };
    let rendered = render(&cr, &options).expect("CR renders");
    rendered
        .nodes
        .iter()
        .filter(|n| n.node_id >= 9003)
        .map(NodeSpec::from)
        .collect()
}

async fn boot(label: &str) -> TestCluster {
    boot_specs(label, &rendered_specs()).await
}

async fn boot_specs(label: &str, specs: &[NodeSpec]) -> TestCluster {
    let mut cluster =
        TestCluster::with_spares(label, specs, &spare_controllers()).unwrap_or_else(|e| panic!("{e}"));
    let took = cluster.boot(Duration::from_secs(240)).await;
    println!("{label}: cluster ready in {took:?}");
    cluster
}

/// The planner's view of the process cluster; `stale` nodes run an old configuration.
fn views(
    cluster: &mut TestCluster,
    stale: &BTreeSet<i32>,
    started: &BTreeMap<i32, Instant>,
) -> Vec<NodeView> {
    let ids: Vec<i32> = cluster.nodes.iter().map(|n| n.node_id).collect();
    ids.into_iter()
        .map(|id| {
            let running = cluster.node_mut(id).map(|n| n.is_running()).unwrap_or(false);
            let state = if !running {
                PodState::Missing
            } else if listener_open(cluster, id) {
                PodState::Ready
            } else {
                PodState::NotReady("listener not open yet".into())
            };
            let node = cluster.node(id).expect("node");
            NodeView {
                id,
                role: if node.role.is_controller() {
                    kraftwerk::names::Role::Controller
                } else {
                    kraftwerk::names::Role::Broker
                },
                pod: node.name.clone(),
                state,
                age_seconds: started
                    .get(&id)
                    .map(|t| t.elapsed().as_secs() as i64)
                    .unwrap_or(10_000),
                update: if stale.contains(&id) {
                    Update::Restart("configuration changed".into())
                } else {
                    Update::None
                },
                rack: None,
                canary_of: None,
            }
        })
        .collect()
}

async fn kafka_view(admin: &AdminClient) -> KafkaView {
    match kafka_state(admin).await {
        Ok(s) => KafkaView::Known(s),
        Err(e) => KafkaView::Unreachable(e.to_string()),
    }
}

#[tokio::test]
#[ignore = "needs Java and the Kafka jars; run with make test-kafka"]
async fn can_roll_refuses_when_a_broker_is_down() {
    let mut cluster = boot("roll-gate").await;
    let admin = cluster.admin().unwrap();
    create_topic(&admin, "gated", 3).await;

    // healthy: every broker may restart
    let KafkaView::Known(state) = kafka_view(&admin).await else {
        panic!("Kafka state")
    };
    for b in [0, 1, 2] {
        assert!(
            brokers_can_roll(&state, &[b]).is_ok(),
            "broker {b} on a healthy cluster"
        );
    }

    // broker 0 goes down (not by the operator): once Kafka shrank the ISRs, neither other
    // broker may restart
    cluster
        .node_mut(0)
        .unwrap()
        .stop(Duration::from_secs(60))
        .unwrap();
    let started = Instant::now();
    let state = loop {
        if let KafkaView::Known(s) = kafka_view(&admin).await
            && s.partitions
                .iter()
                .filter(|p| p.topic == "gated")
                .all(|p| !p.isr.contains(&0))
        {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "ISR did not shrink");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for b in [1, 2] {
        let refusal = brokers_can_roll(&state, &[b]).expect_err("must refuse");
        println!("broker {b} refused: {refusal}");
        assert!(refusal.contains("min.insync.replicas"), "{refusal}");
    }

    // The planner, with brokers 1 and 2 stale and broker 0 down but up to date, waits and
    // restarts nothing.
    let stale: BTreeSet<i32> = [1, 2].into();
    let d = plan(
        &views(&mut cluster, &stale, &BTreeMap::new()),
        &KafkaView::Known(state.clone()),
        &Controls::default(),
    );
    assert_eq!(d.action, Action::Wait, "{}", d.message);
    println!("planner: {}", d.message);
    // With broker 0 itself stale, it is restarted first (it is down anyway).
    let stale: BTreeSet<i32> = [0, 1, 2].into();
    let mut v = views(&mut cluster, &stale, &BTreeMap::new());
    // a stopped process is what a crash-looping pod looks like to the planner
    for n in &mut v {
        if n.id == 0 {
            n.state = PodState::Stuck("CrashLoopBackOff".into());
        }
    }
    let d = plan(&v, &KafkaView::Known(state), &Controls::default());
    assert_eq!(
        d.action,
        Action::Restart {
            ids: vec![0],
            canary: false
        }
    );

    // Admin calls timing out: broker 0 back, then broker 1 frozen (SIGSTOP) while Kafka still
    // lists it unfenced and in every ISR. It does not answer its probe, so the gates count it
    // out: neither other broker may restart, the planner waits and says why; once it resumes,
    // the gates open again.
    cluster.node_mut(0).unwrap().start().unwrap();
    let full_isr = |s: &kraftwerk::roll::gates::KafkaState| {
        s.partitions
            .iter()
            .filter(|p| p.topic == "gated")
            .all(|p| p.isr.len() == 3)
    };
    let started = Instant::now();
    while !matches!(kafka_view(&admin).await, KafkaView::Known(s) if full_isr(&s)) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "broker 0 did not rejoin the ISRs"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    cluster.node(1).unwrap().pause().unwrap();
    // Three looks while it is frozen: the first may go to broker 1 itself (then Kafka is
    // "unreachable"); the next ones go elsewhere and see Kafka's unchanged view, in which the
    // probe finds broker 1 silent.
    let stale: BTreeSet<i32> = [0, 2].into();
    let mut probed = false;
    for look in 1..=3 {
        let asked = Instant::now();
        let view = kafka_view(&admin).await;
        let took = asked.elapsed();
        let d = plan(
            &views(&mut cluster, &stale, &BTreeMap::new()),
            &view,
            &Controls::default(),
        );
        println!(
            "broker 1 frozen, look {look}: the Kafka view took {took:?}; planner: {:?}: {}",
            d.action, d.message
        );
        assert_eq!(d.action, Action::Wait, "{}", d.message);
        if let KafkaView::Known(state) = &view {
            probed = true;
            assert_eq!(state.brokers.get(&1), Some(&true), "broker 1 counted out");
            for b in [0, 2] {
                let refusal = brokers_can_roll(state, &[b]).expect_err("must wait while broker 1 is frozen");
                println!("broker {b} refused: {refusal}");
            }
        }
    }
    println!("the probe path was exercised: {probed}");
    cluster.node(1).unwrap().resume().unwrap();
    let resumed = Instant::now();
    loop {
        if let KafkaView::Known(s) = kafka_view(&admin).await
            && brokers_can_roll(&s, &[0]).is_ok()
        {
            break;
        }
        assert!(
            resumed.elapsed() < Duration::from_secs(120),
            "the gates stayed closed after SIGCONT"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("gates open again {:?} after SIGCONT", resumed.elapsed());
}

#[tokio::test]
#[ignore = "needs Java and the Kafka jars; run with make test-kafka"]
async fn dynamic_config_change_is_applied_without_restart() {
    let cluster = boot("roll-dynamic").await;
    let admin = cluster.admin().unwrap();
    let broker = cluster.node(1).unwrap();
    let pid_before = broker.pid();
    let old_text = rendered_specs()
        .into_iter()
        .find(|s| s.node_id == 1)
        .unwrap()
        .server_properties;
    let new_text = format!("{old_text}log.retention.ms=3600000\nmessage.max.bytes=2000000\n");
    let old = dynamic::parse(&old_text);
    let new = dynamic::parse(&new_text);
    let running = Running {
        static_hash: Some(dynamic::static_hash(&old, None)),
        dynamic: Some(dynamic::dynamic_part(&old)),
    };
    let change = dynamic::classify(
        &running,
        &dynamic::static_hash(&new, None),
        &dynamic::dynamic_part(&new),
    );
    let ConfigChange::Live(set) = change else {
        panic!("expected a live change, got {change:?}")
    };
    // The planner picks the live update (no gate, no restart).
    let mut cluster = cluster;
    let mut v = views(&mut cluster, &BTreeSet::new(), &BTreeMap::new());
    for n in &mut v {
        if n.id == 1 {
            n.update = Update::Live(set.clone());
        }
    }
    let d = plan(&v, &kafka_view(&admin).await, &Controls::default());
    let Action::Reconfigure {
        id: 1, set: to_apply, ..
    } = d.action
    else {
        panic!("expected a reconfigure, got {:?}", d.action)
    };
    let ops: Vec<_> = to_apply
        .iter()
        .map(|(k, v)| kraftwerk::admin::AlterConfigOp::Set(k.clone(), dynamic::unescape(v)))
        .collect();
    admin
        .incremental_alter_configs(&ConfigResource::Broker(1), &ops)
        .await
        .unwrap_or_else(|e| panic!("alter: {e}"));
    // The change is committed to the metadata log; the broker applies it when its metadata
    // catches up (milliseconds): poll briefly.
    let started = Instant::now();
    let values = loop {
        let entries = admin
            .describe_configs(
                &ConfigResource::Broker(1),
                Some(&["log.retention.ms", "message.max.bytes"]),
            )
            .await
            .unwrap();
        let values: BTreeMap<String, Option<String>> = entries
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        if values["log.retention.ms"].as_deref() == Some("3600000")
            || started.elapsed() > Duration::from_secs(30)
        {
            break values;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "broker 1 {:?} after the live update: {values:?}",
        started.elapsed()
    );
    assert_eq!(values["log.retention.ms"].as_deref(), Some("3600000"));
    assert_eq!(values["message.max.bytes"].as_deref(), Some("2000000"));
    let broker = cluster.node(1).unwrap();
    assert_eq!(broker.pid(), pid_before, "the broker was not restarted");
    assert_eq!(
        broker
            .log_text()
            .matches("kraftwerk test runner: starting")
            .count(),
        1,
        "the broker process was started once"
    );
    // A static change is never live.
    let static_text = format!("{old_text}queued.max.requests=600\n");
    let s = dynamic::parse(&static_text);
    assert!(matches!(
        dynamic::classify(
            &running,
            &dynamic::static_hash(&s, None),
            &dynamic::dynamic_part(&s)
        ),
        ConfigChange::Restart(_)
    ));
}

/// Kills a child process when dropped, also when the test panics: an orphaned producer would
/// keep the test's Kafka lock (an inherited descriptor) and block every other real-Kafka run.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One acknowledged message from Kafka's VerifiableProducer.
struct Ack {
    value: String,
    at: Instant,
}

#[tokio::test]
#[ignore = "needs Java and the Kafka jars; run with make test-kafka"]
async fn full_roll_loses_no_acknowledged_message() {
    // Formatted static, as by an earlier operator release: the operator upgrades the quorum to
    // kraft.version 1, rolls every node to the dynamic configuration, then changes the voters.
    let mut cluster = boot_specs("roll-zero-loss", &static_specs()).await;
    let admin = cluster.admin().unwrap();
    let topic = "zero-loss";
    create_topic(&admin, topic, 3).await;

    // A continuous idempotent acks=all producer (Kafka's own VerifiableProducer).
    let libs = libs_dir().unwrap();
    let dir = kafka_support::scratch_dir("roll-producer").unwrap();
    let config = dir.join("producer.properties");
    std::fs::write(
        &config,
        "enable.idempotence=true\nacks=all\ndelivery.timeout.ms=300000\nrequest.timeout.ms=10000\n\
         retries=2147483647\nmax.in.flight.requests.per.connection=5\nlinger.ms=5\n",
    )
    .unwrap();
    let mut producer = ChildGuard(
        Command::new("java")
            .args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!(
                "-Dlog4j2.configurationFile=file:{}/tests/kafka/log4j2-tools.properties",
                env!("CARGO_MANIFEST_DIR")
            ))
            .arg("-cp")
            .arg(format!("{}/*", libs.display()))
            .arg("org.apache.kafka.tools.VerifiableProducer")
            .args(["--bootstrap-server", &cluster.bootstrap(), "--topic", topic])
            .args(["--throughput", "200", "--max-messages", "-1", "--acks", "-1"])
            .arg("--producer.config")
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the producer"),
    );
    let stdout = producer.0.stdout.take().expect("stdout");
    let acks: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let tool_sent: Arc<Mutex<Option<usize>>> = Arc::default();
    let reader = {
        let acks = acks.clone();
        let errors = errors.clone();
        let tool_sent = tool_sent.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                match v["name"].as_str() {
                    Some("producer_send_success") => acks.lock().unwrap().push(Ack {
                        value: v["value"].as_str().unwrap_or_default().to_string(),
                        at: Instant::now(),
                    }),
                    Some("producer_send_error") => errors.lock().unwrap().push(line),
                    Some("tool_data") => {
                        *tool_sent.lock().unwrap() = v["sent"].as_u64().map(|n| n as usize);
                    }
                    _ => {}
                }
            }
        })
    };
    // warm up until acks flow
    let started = Instant::now();
    while acks.lock().unwrap().len() < 200 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "producer did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut windows: Vec<(i32, Instant, Instant)> = Vec::new();

    let upgrade_from = Instant::now();
    let upgrade_took = upgrade_static_quorum(&cluster, &admin).await;
    windows.push((-2, upgrade_from, Instant::now()));
    // The switch to controller.quorum.bootstrap.servers, read at each node's restart.
    let switched = switched_specs();
    for spec in switched.values() {
        cluster.reconfigure(spec).unwrap_or_else(|e| panic!("{e}"));
    }

    // The roll: every node is stale; the planner decides, the test restarts processes.
    let mut stale: BTreeSet<i32> = cluster.nodes.iter().map(|n| n.node_id).collect();
    let mut restarted_at: BTreeMap<i32, Instant> = BTreeMap::new();
    let mut order = Vec::new();
    let mut waits = 0usize;
    let roll_started = Instant::now();
    let mut in_flight: Option<(i32, Instant)> = None;
    loop {
        assert!(
            roll_started.elapsed() < Duration::from_secs(900),
            "roll did not finish"
        );
        let kafka = kafka_view(&admin).await;
        let v = views(&mut cluster, &stale, &restarted_at);
        let d = plan(&v, &kafka, &Controls::default());
        // a restarted node is back when its step is COMPLETE: running, listener open,
        // registered and unfenced (broker) and in every ISR, or caught up (controller)
        let complete = |id: i32| {
            d.steps
                .iter()
                .any(|s| s.id == id && s.state == kraftwerk::roll::StepState::Complete)
        };
        if let Some((id, t0)) = in_flight
            && matches!(kafka, KafkaView::Known(_))
            && complete(id)
        {
            windows.push((id, t0, Instant::now()));
            println!("node {id} back after {:?}", t0.elapsed());
            in_flight = None;
        }
        match d.action {
            Action::Idle if in_flight.is_none() => break,
            Action::Idle => tokio::time::sleep(Duration::from_millis(250)).await,
            Action::Restart { ids, .. } => {
                assert_eq!(ids.len(), 1, "one node at a time");
                let id = ids[0];
                assert!(in_flight.is_none(), "never two nodes down");
                println!("restart {id}: {}", d.message);
                let t0 = Instant::now();
                let node = cluster.node_mut(id).unwrap();
                let (_, clean) = node.stop(Duration::from_secs(120)).unwrap();
                assert!(clean, "node {id} shut down cleanly");
                node.start().unwrap();
                stale.remove(&id);
                restarted_at.insert(id, Instant::now());
                order.push(id);
                in_flight = Some((id, t0));
            }
            Action::Wait => {
                waits += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => panic!("unexpected {other:?}: {}", d.message),
        }
    }
    let roll_time = roll_started.elapsed();
    assert_switched(&admin).await;
    let quorum_from = Instant::now();
    let quorum = change_quorum(&mut cluster, &admin).await;
    windows.push((-1, quorum_from, Instant::now()));
    // `kraftwerk pod replace` of a broker, then of a controller, under the same producer.
    let replaced = replace_nodes(&mut cluster, &admin, &mut windows).await;
    // keep producing a little after the roll, then stop the producer gracefully
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(producer.0.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = producer.0.try_wait() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(producer);
    let _ = reader.join();

    let acks = std::mem::take(&mut *acks.lock().unwrap());
    let errors = errors.lock().unwrap().clone();
    let acked: BTreeSet<String> = acks.iter().map(|a| a.value.clone()).collect();
    let highest = acked
        .iter()
        .filter_map(|v| v.parse::<usize>().ok())
        .max()
        .map_or(0, |m| m + 1);
    let sent = tool_sent.lock().unwrap().unwrap_or(highest);
    // Stall per restart: the longest gap between two acknowledgements inside its window.
    let mut stalls = Vec::new();
    for (id, from, to) in &windows {
        let mut last = *from;
        let mut worst = Duration::ZERO;
        for a in acks.iter().filter(|a| a.at >= *from && a.at <= *to) {
            worst = worst.max(a.at - last);
            last = a.at;
        }
        worst = worst.max(to.saturating_duration_since(last).min(Duration::from_secs(3600)));
        stalls.push((*id, worst, *to - *from));
    }

    let received: BTreeSet<String> = java_console_consume(&cluster.bootstrap(), topic, sent.max(acked.len()))
        .unwrap()
        .into_iter()
        .collect();
    let missing: Vec<&String> = acked.difference(&received).collect();
    println!("=== zero-loss roll report ===");
    println!("restart order: {order:?} ({waits} planner waits)");
    for (id, stall, window) in &stalls {
        if *id == -2 {
            println!(
                "static -> dynamic quorum (kraft.version 1): took {window:?} (upgrade {upgrade_took:?}), \
                 longest gap between acks {stall:?}"
            );
            continue;
        }
        if *id == -1 {
            println!("controller quorum 3 -> 5 -> 3: took {window:?}, longest gap between acks {stall:?}");
            continue;
        }
        if let Some(r) = replaced.iter().find(|r| -r.id - 10 == *id) {
            println!(
                "replace of node {}: back in {window:?} ({}), longest gap between acks {stall:?}",
                r.id, r.note
            );
            continue;
        }
        println!("node {id}: back in {window:?}, longest gap between acks in that window {stall:?}");
    }
    println!(
        "quorum changes {:?}; longest time without a known quorum leader {:?} ({} leader changes)",
        quorum.changes, quorum.longest_leaderless, quorum.leader_changes
    );
    let largest = stalls.iter().map(|s| s.1).max().unwrap_or_default();
    println!(
        "messages: sent {sent}, acknowledged {}, send errors {}, received {} (distinct), missing acknowledged {}",
        acked.len(),
        errors.len(),
        received.len(),
        missing.len()
    );
    println!("largest stall {largest:?}; roll time {roll_time:?}");
    assert_eq!(order.len(), 6, "every node restarted exactly once");
    assert!(
        quorum.longest_leaderless < Duration::from_secs(10),
        "the quorum had no leader for {:?}",
        quorum.longest_leaderless
    );
    assert_eq!(
        &order[..3].iter().all(|id| *id >= 9000),
        &true,
        "controllers first"
    );
    assert!(
        missing.is_empty(),
        "acknowledged messages lost: {:?}",
        &missing[..missing.len().min(20)]
    );
    assert!(
        errors.is_empty(),
        "send errors: {:?}",
        &errors[..errors.len().min(5)]
    );
}

/// The operator's pass over a static quorum, as its executor runs it: read the quorum and the
/// finalized `kraft.version` (`controller::quorum::read_from`), decide (`quorum::kraft::plan`),
/// raise the level (`controller::quorum::raise_kraft_version`), until the read reports the
/// quorum dynamic. Returns how long that took.
async fn upgrade_static_quorum(cluster: &TestCluster, admin: &AdminClient) -> Duration {
    use kraftwerk::controller::quorum::{Read, raise_kraft_version, read_from};
    use kraftwerk::quorum::QuorumMode;
    use kraftwerk::quorum::kraft::{Inputs, KraftStep, plan};

    let before = admin.finalized_features().await.unwrap();
    assert_eq!(
        before.level("kraft.version").unwrap_or(0),
        0,
        "formatted static: {before:?}"
    );
    let started = Instant::now();
    let mut raised = 0;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "kraft.version upgrade stuck"
        );
        let (mode, read) = read_from(QuorumMode::Static, admin, &cluster.bootstrap()).await;
        let Read::Static(r) = &read else {
            assert_eq!(mode, QuorumMode::Dynamic, "{read:?}");
            let view = read.view().expect("the upgraded quorum was read");
            assert!(view.voters.iter().all(|v| !v.directory_id.is_empty()), "{view:?}");
            break;
        };
        assert_eq!(mode, QuorumMode::Static);
        // The opt-out keeps it static.
        let inputs = |keep_static| Inputs {
            read: r,
            version: kafka_support::KAFKA_VERSION,
            running: &[kafka_support::KAFKA_VERSION; 6],
            keep_static,
        };
        assert!(matches!(plan(&inputs(true)), KraftStep::Keep(_)));
        match plan(&inputs(false)) {
            KraftStep::Upgrade => {
                let t0 = Instant::now();
                raise_kraft_version(admin).await.unwrap();
                raised += 1;
                println!("raised kraft.version to 1 in {:?}", t0.elapsed());
            }
            KraftStep::Wait(why) => {
                println!("kraft.version upgrade waits: {why}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(raised, 1, "kraft.version raised exactly once");
    let after = admin.finalized_features().await.unwrap();
    assert_eq!(after.level("kraft.version"), Some(1), "{after:?}");
    started.elapsed()
}

/// After the roll every node runs the dynamic configuration: Kafka reports the broker's
/// `controller.quorum.bootstrap.servers` and no `controller.quorum.voters`.
async fn assert_switched(admin: &AdminClient) {
    for broker in [0, 1, 2] {
        let entries = admin
            .describe_configs(
                &ConfigResource::Broker(broker),
                Some(&["controller.quorum.voters", "controller.quorum.bootstrap.servers"]),
            )
            .await
            .unwrap();
        let value = |k: &str| {
            entries
                .iter()
                .find(|e| e.name == k)
                .and_then(|e| e.value.clone())
                .unwrap_or_default()
        };
        assert_eq!(value("controller.quorum.voters"), "", "broker {broker}");
        assert!(
            value("controller.quorum.bootstrap.servers").contains("127.0.0.1:"),
            "broker {broker}: {entries:?}"
        );
    }
}

/// One node replaced: its id and what happened.
struct Replaced {
    id: i32,
    note: String,
}

/// Wipes a node's data (log.dirs, metadata.log.dir): a new, empty volume.
fn wipe_volume(node: &kafka_support::KafkaNode) {
    for key in ["log.dirs", "metadata.log.dir"] {
        for dir in node.props.get(key).into_iter().flat_map(|v| v.split(',')) {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir).unwrap();
        }
    }
}

/// Replaces broker 1 and one controller that is not the quorum leader as `kraftwerk pod
/// replace` does on Kubernetes (processes here): the roll's gate first, then the process
/// stopped, its volume wiped, formatted afresh by the start script's command (the recorded
/// cluster id; a controller, the quorum having formed, as an observer) and started. The broker
/// is back once Kafka has it in every ISR again (re-replicated); the controller once the quorum
/// planner (`kraftwerk::quorum::plan`, rule 1) removed its old voter identity and added it
/// again under its new directory id. Each window goes to `windows` as `-10 - id`.
async fn replace_nodes(
    cluster: &mut TestCluster,
    admin: &AdminClient,
    windows: &mut Vec<(i32, Instant, Instant)>,
) -> Vec<Replaced> {
    use kraftwerk::controller::quorum::send;
    use kraftwerk::quorum::{QuorumStep, QuorumView, VoterChange, plan as quorum_plan};
    use kraftwerk::roll::gates::{broker_recovered, controller_can_roll};

    let mut out = Vec::new();
    let known = |v: KafkaView| match v {
        KafkaView::Known(s) => Some(s),
        _ => None,
    };
    // Broker 1.
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "broker 1 never passed the gate"
        );
        if let Some(s) = known(kafka_view(admin).await)
            && brokers_can_roll(&s, &[1]).is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let t0 = Instant::now();
    let node = cluster.node_mut(1).unwrap();
    node.stop(Duration::from_secs(120)).unwrap();
    wipe_volume(node);
    let cluster_id = cluster.cluster_id.clone();
    let node = cluster.node_mut(1).unwrap();
    node.format(&cluster_id).unwrap();
    node.start().unwrap();
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "replaced broker 1 never rejoined every ISR"
        );
        if let Some(s) = known(kafka_view(admin).await)
            && broker_recovered(&s, 1).is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    windows.push((-11, t0, Instant::now()));
    let partitions = known(kafka_view(admin).await)
        .map(|s| s.partitions.iter().filter(|p| p.replicas.contains(&1)).count())
        .unwrap_or_default();
    println!(
        "broker 1 replaced: back in every ISR ({partitions} partitions) after {:?}",
        t0.elapsed()
    );
    out.push(Replaced {
        id: 1,
        note: format!("empty log dir, re-replicated {partitions} partitions"),
    });

    // A controller that is not the leader.
    let desired: BTreeSet<i32> = (9000..9003).collect();
    let view = QuorumView::from(&admin.describe_quorum().await.unwrap());
    let victim = view
        .voters
        .iter()
        .find(|v| Some(v.id) != view.leader)
        .expect("a voter that is not the leader")
        .clone();
    loop {
        if let Some(s) = known(kafka_view(admin).await)
            && controller_can_roll(&s, victim.id).is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let port = cluster
        .specs
        .iter()
        .find(|s| s.node_id == victim.id)
        .and_then(|s| cluster.map.get(&s.fqdn, 9093))
        .unwrap();
    let endpoint = kraftwerk::admin::VoterEndpoint {
        listener: "CONTROLLER".into(),
        host: "127.0.0.1".into(),
        port,
    };
    let t0 = Instant::now();
    let node = cluster.node_mut(victim.id).unwrap();
    node.stop(Duration::from_secs(120)).unwrap();
    wipe_volume(node);
    node.format_args = vec!["--no-initial-controllers".into()];
    node.format(&cluster_id).unwrap();
    node.start().unwrap();
    let mut changes = Vec::new();
    let mut refused = 0;
    let mut caught_up_at = None;
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "the replaced controller never rejoined: {changes:?}"
        );
        let view = QuorumView::from(&admin.describe_quorum().await.unwrap());
        let swapped = view
            .voters
            .iter()
            .any(|v| v.id == victim.id && v.directory_id != victim.directory_id);
        // The new identity, caught up while the old one is still a voter: the planner must act
        // now (the old identity still counts as caught up for about a minute after the stop).
        let waiting_new = !swapped
            && view
                .observers
                .iter()
                .any(|o| o.id == victim.id && o.directory_id != victim.directory_id && o.caught_up);
        if waiting_new {
            caught_up_at.get_or_insert_with(Instant::now);
        }
        match quorum_plan(&desired, &view) {
            QuorumStep::Settled if swapped => break,
            QuorumStep::Settled => {
                assert!(!waiting_new, "settled while the new identity waits: {view:?}");
                tokio::time::sleep(Duration::from_millis(250)).await
            }
            QuorumStep::Wait(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            QuorumStep::Change(change) => {
                // As in change_quorum: a refused change is retried, as the operator's next pass does.
                if let Err(e) = send(admin, &cluster_id, &change, &endpoint).await {
                    refused += 1;
                    assert!(refused <= 5, "{change:?} refused {refused} times: {e}");
                    println!("{change:?} refused ({e}); retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
                println!("{change:?} after {:?}", t0.elapsed());
                changes.push(change);
            }
        }
    }
    let view = QuorumView::from(&admin.describe_quorum().await.unwrap());
    let now = view
        .voters
        .iter()
        .find(|v| v.id == victim.id)
        .expect("a voter again");
    assert_ne!(now.directory_id, victim.directory_id, "a new directory id");
    assert!(
        matches!(&changes[..], [VoterChange::Remove { id: a, directory_id: old }, VoterChange::Add { id: b, directory_id: new }]
            if *a == victim.id && *b == victim.id && *old == victim.directory_id && *new == now.directory_id),
        "the old identity removed, then the new one added: {changes:?}"
    );
    assert_eq!(view.voter_ids(), desired);
    windows.push((-10 - victim.id, t0, Instant::now()));
    println!(
        "controller {} replaced: voter again under a new directory id after {:?} ({:?} after its new identity caught up)",
        victim.id,
        t0.elapsed(),
        caught_up_at.map(|t| t.elapsed())
    );
    out.push(Replaced {
        id: victim.id,
        note: format!(
            "new directory id {} (was {}), removed then re-added",
            now.directory_id, victim.directory_id
        ),
    });
    out
}

/// What the controller quorum change did.
struct QuorumChange {
    /// The voter changes made, in order.
    changes: Vec<String>,
    /// The longest time DescribeQuorum (polled every 100 ms) named no leader.
    longest_leaderless: Duration,
    leader_changes: usize,
}

/// `controllers.replicas` 3 -> 5 -> 3 as the operator does it: the new controllers' pods start
/// (processes here), the planner (`kraftwerk::quorum::plan`) picks one voter change at a time
/// from DescribeQuorum, the executor's `send` makes it, and a removed controller's pod goes only
/// once it is no longer a voter (`kraftwerk::quorum::retained`). A poller records how long the
/// quorum is without a leader.
async fn change_quorum(cluster: &mut TestCluster, admin: &AdminClient) -> QuorumChange {
    use kraftwerk::controller::quorum::send;
    use kraftwerk::quorum::{QuorumStep, QuorumView, VoterChange, plan, retained};

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        let bootstrap = cluster.bootstrap();
        tokio::spawn(async move {
            let client = kafka_support::admin_client(&bootstrap).unwrap();
            let (mut longest, mut since, mut leader, mut changes) = (Duration::ZERO, None::<Instant>, -1, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let now = Instant::now();
                match client.describe_quorum().await {
                    Ok(q) if q.leader_id >= 0 => {
                        if let Some(t) = since.take() {
                            longest = longest.max(now - t);
                        }
                        if q.leader_id != leader {
                            changes += usize::from(leader >= 0);
                            leader = q.leader_id;
                        }
                    }
                    _ => {
                        since.get_or_insert(now);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (longest, changes)
        })
    };
    let spares: Vec<NodeSpec> = cluster
        .specs
        .iter()
        .filter(|s| s.node_id >= 9003)
        .cloned()
        .collect();
    // The controller endpoints as mapped to loopback (the operator announces the pod's name).
    let ports: BTreeMap<i32, u16> = cluster
        .specs
        .iter()
        .filter_map(|s| Some((s.node_id, cluster.map.get(&s.fqdn, 9093)?)))
        .collect();
    let endpoint = |id: i32| kraftwerk::admin::VoterEndpoint {
        listener: "CONTROLLER".into(),
        host: "127.0.0.1".into(),
        port: ports[&id],
    };
    let cluster_id = cluster.cluster_id.clone();
    let mut changes = Vec::new();
    let mut refused = 0;
    for replicas in [5, 3] {
        let desired: BTreeSet<i32> = (9000..9000 + replicas).collect();
        // The operator creates the new controllers' pods at once.
        for s in spares.iter().filter(|s| desired.contains(&s.node_id)) {
            cluster.add_node(s).unwrap_or_else(|e| panic!("{e}"));
        }
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "quorum change stuck"
            );
            let view = QuorumView::from(&admin.describe_quorum().await.unwrap());
            // Pods of controllers that are neither desired nor voters go.
            let existing: BTreeSet<i32> = cluster.controller_ids().into_iter().collect();
            let keep = retained(&existing, &desired, Some(&view));
            for id in existing
                .iter()
                .filter(|id| !desired.contains(id) && !keep.contains(id))
            {
                assert!(!view.voter_ids().contains(id), "pod of voter {id} removed");
                cluster.remove_node(*id).unwrap_or_else(|e| panic!("{e}"));
                println!("controller {id} stopped (no longer a voter)");
            }
            match plan(&desired, &view) {
                QuorumStep::Settled if cluster.controller_ids().len() == desired.len() => break,
                QuorumStep::Settled | QuorumStep::Wait(_) => {
                    tokio::time::sleep(Duration::from_millis(250)).await
                }
                QuorumStep::Change(change) => {
                    let id = match &change {
                        VoterChange::Add { id, .. } | VoterChange::Remove { id, .. } => *id,
                    };
                    let t0 = Instant::now();
                    // The leader refuses an add while it cannot reach the new voter yet (it
                    // asks its ApiVersions first); the operator retries on its next pass.
                    if let Err(e) = send(admin, &cluster_id, &change, &endpoint(id)).await {
                        refused += 1;
                        assert!(refused <= 5, "{change:?} refused {refused} times: {e}");
                        println!("{change:?} refused ({e}); retrying");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        continue;
                    }
                    println!(
                        "{change:?} after {:?}, took {:?}",
                        started.elapsed(),
                        t0.elapsed()
                    );
                    let after = QuorumView::from(&admin.describe_quorum().await.unwrap()).voter_ids();
                    let before = view.voter_ids();
                    assert_eq!(
                        after.symmetric_difference(&before).count(),
                        1,
                        "one voter change at a time: {before:?} -> {after:?}"
                    );
                    changes.push(format!("{change:?}"));
                }
            }
        }
        let voters = QuorumView::from(&admin.describe_quorum().await.unwrap()).voter_ids();
        assert_eq!(voters, desired, "voters after scaling to {replicas}");
        println!("quorum at {replicas} voters after {:?}", started.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (longest_leaderless, leader_changes) = poller.await.unwrap();
    assert_eq!(changes.len(), 4, "{changes:?}");
    QuorumChange {
        changes,
        longest_leaderless,
        leader_changes,
    }
}
