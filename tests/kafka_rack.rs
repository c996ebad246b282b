//! Rack awareness with real Kafka (issue 7): the operator's rendering of a cluster with
//! `rack.topologyKey` boots, each broker's `broker.rack` is set the way the pod's start script
//! sets it, and Kafka places the replicas of a new RF=3 topic in three racks.
//!
//! The rendering is mapped to loopback as in tests/kafka_boot.rs (`kafka_support::map_to_loopback`).
//! `broker.rack` is appended by running the rack part of the rendered pod's own start script
//! (the container command) with the pod's mounts pointed at scratch directories and the
//! downward API file `rack` holding the zone the broker's node would have: zone-a, zone-b,
//! zone-c for brokers 0, 1, 2 (and 3, 4, 5).
//!
//! Phase 1 boots 3 controllers and brokers 0–2, one per rack. With 3 brokers every RF=3
//! partition spans all brokers, so phase 2 adds brokers 3–5 (a second broker in each rack): an
//! RF=3 topic on 6 brokers spans three racks only if Kafka's assignment is rack-aware (a
//! rack-unaware assignment puts two replicas in one rack for most partitions).
//!
//! Needs Java 17+ and the jars of `tests/kafka/fetch.sh`; run with `make test-kafka`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: failing loudly is the point

mod kafka_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kafka_support::{NodeSpec, Role, TestCluster};
use kraftwerk::admin::{AdminClient, NewTopic};
use kraftwerk::crd::KafkaCluster;
use kraftwerk::desired::Object;
use kraftwerk::render::{RenderOptions, render};

const CR: &str = r#"
apiVersion: kraftwerk.dev/v1alpha1
kind: KafkaCluster
metadata:
  name: rack
  namespace: kafka-test
spec:
  version: "4.3.1"
  controllers:
    replicas: 3
  brokers:
    replicas: 6
    placement:
      constraints: "@zone:GROUP_BY:3"
  rack:
    topologyKey: topology.kubernetes.io/zone
"#;

const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

/// The zone broker `id`'s node is in (what `@zone:GROUP_BY:3` gives on the kwok cluster).
fn zone_of(id: i32) -> &'static str {
    ZONES[(id % 3) as usize]
}

/// Runs the rendered pod's start script up to (not including) Kafka itself, with its mounts
/// redirected to scratch directories and the downward API file `rack` = `rack`; returns the
/// `server.properties` the broker would start with.
fn run_start_script(pod: &Pod, server_properties: &str, rack: Option<&str>, scratch: &Path) -> String {
    let spec = pod.spec.as_ref().expect("pod spec");
    let container = &spec.containers[0];
    let command = container.command.as_ref().expect("command");
    assert_eq!(&command[..2], ["/bin/bash", "-c"], "{command:?}");
    let mut script = command[2].clone();
    let mut dirs = BTreeMap::new();
    for m in container.volume_mounts.iter().flatten() {
        let dir = scratch.join(&m.name);
        std::fs::create_dir_all(&dir).unwrap();
        dirs.insert(m.name.clone(), dir.clone());
        // Only paths the script names (the scratch dirs live under /tmp, itself a mount).
        if command[2].contains(&m.mount_path) {
            script = script.replace(&m.mount_path, &dir.display().to_string());
        }
    }
    // The ConfigMap volume holds the rendered properties; the downward API volume the rack.
    let config = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.config_map.is_some())
        .expect("the config volume");
    std::fs::write(dirs[&config.name].join("server.properties"), server_properties).unwrap();
    if let (Some(rack), Some(podinfo)) = (
        rack,
        spec.volumes.iter().flatten().find(|v| v.downward_api.is_some()),
    ) {
        let item = &podinfo.downward_api.as_ref().unwrap().items.as_ref().unwrap()[0];
        assert_eq!(
            item.field_ref.as_ref().unwrap().field_path,
            "metadata.annotations['kraftwerk.dev/rack']"
        );
        std::fs::write(dirs[&podinfo.name].join(&item.path), rack).unwrap();
    }
    // Everything before Kafka's own tools.
    let prefix: Vec<&str> = script
        .lines()
        .take_while(|l| !l.contains("/opt/kafka/bin/"))
        .collect();
    assert!(
        prefix.len() < script.lines().count(),
        "the start script runs Kafka: {script}"
    );
    let out = std::process::Command::new("/bin/bash")
        .arg("-c")
        .arg(format!("{}\nprintf '%s' \"$cfg\"", prefix.join("\n")))
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "the start script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = String::from_utf8(out.stdout).unwrap();
    std::fs::read_to_string(cfg).unwrap()
}

/// The rendered nodes, brokers with the properties their start script produces.
fn rendered_specs(scratch: &Path) -> (String, Vec<NodeSpec>) {
    let cr: KafkaCluster = serde_yaml::from_str(CR).expect("CR parses");
    let rendered = render(&cr, &RenderOptions::default()).expect("CR renders");
    let pods: BTreeMap<String, Pod> = rendered
        .objects
        .iter()
        .filter_map(|o| match o {
            Object::Pod(p) => Some((p.metadata.name.clone().unwrap(), p.clone())),
            _ => None,
        })
        .collect();
    let specs = rendered
        .nodes
        .iter()
        .map(|n| {
            let role = match n.role {
                kraftwerk::names::Role::Broker => Role::Broker,
                kraftwerk::names::Role::Controller => Role::Controller,
            };
            assert!(
                !n.server_properties.contains("broker.rack"),
                "{}: broker.rack must come from the pod, not the rendering",
                n.pod_name
            );
            let rack = (role == Role::Broker).then(|| zone_of(n.node_id));
            let props = run_start_script(
                &pods[&n.pod_name],
                &n.server_properties,
                rack,
                &scratch.join(&n.pod_name),
            );
            match rack {
                Some(r) => assert!(
                    props.ends_with(&format!("\nbroker.rack={r}\n")),
                    "{}: the start script must append broker.rack={r}:\n{props}",
                    n.pod_name
                ),
                None => assert_eq!(
                    props, n.server_properties,
                    "{}: a controller's start script adds nothing",
                    n.pod_name
                ),
            }
            NodeSpec {
                name: n.pod_name.clone(),
                node_id: n.node_id,
                role,
                fqdn: n.fqdn.clone(),
                server_properties: props,
                format_args: n.format_args.clone(),
            }
        })
        .collect();
    (rendered.cluster_id, specs)
}

/// Without Kafka (plain `cargo test`): the start script appends `broker.rack` for brokers only.
#[test]
fn start_script_appends_the_rack_of_each_broker() {
    let scratch = kafka_support::scratch_dir("rack-script").unwrap();
    let (_, specs) = rendered_specs(&scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let racks: Vec<(i32, Option<String>)> = specs
        .iter()
        .map(|s| {
            let props = kafka_support::parse_properties(&s.server_properties);
            (s.node_id, props.get("broker.rack").cloned())
        })
        .collect();
    let want: Vec<(i32, Option<String>)> = (0..6)
        .map(|i| (i, Some(zone_of(i).to_string())))
        .chain((9000..9003).map(|i| (i, None)))
        .collect();
    let mut got = racks;
    got.sort();
    let mut want = want;
    want.sort();
    assert_eq!(got, want);
}

/// Polls until the quorum has all controllers as voters and exactly `brokers` are unfenced.
async fn wait_brokers(admin: &AdminClient, brokers: &[i32], timeout: Duration) -> Duration {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeout {
        match (admin.describe_quorum().await, admin.describe_cluster().await) {
            (Ok(q), Ok(c)) => {
                let mut voters: Vec<i32> = q.voters.iter().map(|v| v.id).collect();
                voters.sort();
                let mut unfenced: Vec<i32> = c.brokers.iter().filter(|b| !b.fenced).map(|b| b.id).collect();
                unfenced.sort();
                if voters == [9000, 9001, 9002] && unfenced == brokers {
                    return start.elapsed();
                }
                last = format!("voters {voters:?}, unfenced {unfenced:?}");
            }
            (q, c) => last = format!("{:?} / {:?}", q.err(), c.err()),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("brokers {brokers:?} not all unfenced after {timeout:?}: {last}");
}

/// Creates an RF=3 topic and returns each partition's replicas once every partition has a
/// leader and a full ISR.
async fn create_rf3(admin: &AdminClient, topic: &str, partitions: i32) -> Vec<(i32, Vec<i32>)> {
    admin
        .create_topic(&NewTopic::new(topic, partitions, 3))
        .await
        .unwrap_or_else(|e| panic!("CreateTopics {topic}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match admin.describe_topic(topic).await {
            Ok(t)
                if t.partitions.len() == partitions as usize
                    && t.partitions
                        .iter()
                        .all(|p| p.leader.is_some() && p.isr.len() == 3) =>
            {
                let mut out: Vec<(i32, Vec<i32>)> = t
                    .partitions
                    .iter()
                    .map(|p| (p.partition, p.replicas.clone()))
                    .collect();
                out.sort();
                return out;
            }
            other if Instant::now() > deadline => panic!("{topic} not fully replicated: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

/// Every partition's replicas are in three different racks (racks as Kafka reports them).
fn assert_three_racks(topic: &str, assignment: &[(i32, Vec<i32>)], racks: &BTreeMap<i32, String>) {
    for (p, replicas) in assignment {
        assert_eq!(replicas.len(), 3, "{topic}-{p}: {replicas:?}");
        let in_racks: BTreeSet<&str> = replicas
            .iter()
            .map(|b| racks.get(b).map(String::as_str).unwrap_or("(none)"))
            .collect();
        assert_eq!(
            in_racks.len(),
            3,
            "{topic}-{p}: replicas {replicas:?} are in racks {in_racks:?}; all racks: {racks:?}"
        );
    }
}

/// The racks Kafka reports for the registered brokers (DescribeCluster).
async fn reported_racks(admin: &AdminClient) -> BTreeMap<i32, String> {
    admin
        .describe_cluster()
        .await
        .expect("DescribeCluster")
        .brokers
        .into_iter()
        .map(|b| (b.id, b.rack.unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "boots up to 9 real Kafka JVMs; run with `make test-kafka`"]
async fn rf3_topic_replicas_span_three_racks() {
    let t0 = Instant::now();
    let scratch = kafka_support::scratch_dir("rack-script").unwrap();
    kafka_support::remove_after_exit(&scratch);
    let (rendered_cluster_id, specs) = rendered_specs(&scratch);
    let mut cluster = TestCluster::new("rack", &specs).unwrap_or_else(|e| panic!("{e}"));
    cluster.cluster_id = rendered_cluster_id;
    cluster.format_all().unwrap_or_else(|e| panic!("{e}"));

    // Phase 1: the controllers and one broker per rack.
    for id in [9000, 9001, 9002, 0, 1, 2] {
        cluster
            .node_mut(id)
            .unwrap()
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let admin = kraftwerk_admin(&cluster, &[0, 1, 2]);
    let ready = wait_brokers(&admin, &[0, 1, 2], Duration::from_secs(240)).await;
    eprintln!("phase 1: 3 controllers + brokers 0-2 ready in {ready:?}");
    let racks = reported_racks(&admin).await;
    let want: BTreeMap<i32, String> = (0..3).map(|i| (i, zone_of(i).to_string())).collect();
    assert_eq!(racks, want, "Kafka must report the rack the start script set");

    let three = create_rf3(&admin, "rack-rf3", 6).await;
    eprintln!("rack-rf3 on 3 brokers: {three:?}");
    assert_three_racks("rack-rf3", &three, &racks);

    // Phase 2: a second broker in each rack; now rack awareness decides.
    for id in [3, 4, 5] {
        cluster
            .node_mut(id)
            .unwrap()
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let all: Vec<i32> = (0..6).collect();
    let ready = wait_brokers(&admin, &all, Duration::from_secs(240)).await;
    eprintln!("phase 2: brokers 3-5 ready in {ready:?}");
    let racks = reported_racks(&admin).await;
    let want: BTreeMap<i32, String> = (0..6).map(|i| (i, zone_of(i).to_string())).collect();
    assert_eq!(racks, want);
    let wide = create_rf3(&admin, "rack-rf3-six", 12).await;
    eprintln!("rack-rf3-six on 6 brokers: {wide:?}");
    assert_three_racks("rack-rf3-six", &wide, &racks);
    let used: BTreeSet<i32> = wide.iter().flat_map(|(_, r)| r.iter().copied()).collect();
    assert_eq!(
        used,
        all.iter().copied().collect(),
        "the topic uses all six brokers"
    );
    // The replicas of each partition as racks, for the report.
    let by_rack: Vec<String> = wide
        .iter()
        .map(|(p, r)| {
            let rs: Vec<&str> = r.iter().map(|b| racks[b].as_str()).collect();
            format!("{p}:{r:?}={}", rs.join("/"))
        })
        .collect();
    eprintln!("RACKS | {}", by_rack.join(" "));

    let problems = cluster.config_problems();
    assert!(
        problems.is_empty(),
        "Kafka rejected or did not know rendered config keys:\n{}",
        problems.join("\n")
    );
    eprintln!("MEASURE rack: test {:?}", t0.elapsed());
}

/// An admin client bootstrapping from the given (running) brokers only.
fn kraftwerk_admin(cluster: &TestCluster, brokers: &[i32]) -> AdminClient {
    let bootstrap: Vec<String> = brokers
        .iter()
        .filter_map(|&id| cluster.node(id).ok()?.client_address())
        .collect();
    kafka_support::admin_client(&bootstrap.join(",")).unwrap_or_else(|e| panic!("{e}"))
}
