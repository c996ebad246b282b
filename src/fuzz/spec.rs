//! Property-based tests over the whole `KafkaClusterSpec` plus what already exists:
//! validate → build → check_objects → render never panics; a spec made of admissible values
//! builds objects the API server accepts; every node's `server.properties` reads back, by Java's
//! rules, to exactly the properties the operator meant.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

use crate::crd::KafkaCluster;
use crate::desired::{self, java_properties, properties};
use crate::fixtures::{CLUSTER_ID, claim};

use crate::names::Role;
use crate::render;
use crate::validate::{Existing, InvalidSpec, Options, check_objects, validate};

/// Cases per run of each property; the CI budget is in docs/testing.md.
pub const CLEAN_CASES: u32 = 5_000;
pub const WILD_CASES: u32 = 5_000;

/// Property values, including the ones Java reads differently from how they look.
fn config_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        "[ \t\u{c}\\\\=:#!a-z\u{e9}\u{1F600}\u{1}]{0,8}".prop_map(Value::from),
    ]
}

/// Overrides; `cluster` adds `min.insync.replicas`, which pools may not set under ELR.
fn config(cluster: bool) -> impl Strategy<Value = BTreeMap<String, Value>> {
    let mut keys = vec![
        "num.partitions",
        "log.retention.ms",
        "message.max.bytes",
        "ssl.cipher.suites",
        "client.quota.callback.class",
        "a.b-c_d",
    ];
    if cluster {
        keys.push("min.insync.replicas");
    }
    proptest::collection::btree_map(select(keys).prop_map(String::from), config_value(), 0..4)
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,20}[a-zA-Z0-9])?"
    ]
}

fn label_key() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z]{1,8}", "example\\.com/[a-z][a-z0-9_.-]{0,10}[a-z0-9]"]
}

fn template() -> impl Strategy<Value = Value> {
    (
        proptest::collection::btree_map(label_key(), label_value(), 0..3),
        proptest::collection::btree_map(label_key(), "[ -~]{0,20}", 0..2),
        proptest::collection::btree_map(label_key(), label_value(), 0..2),
        prop::option::of(select(vec!["kafka", "kafka.sa-1"])),
        prop::option::of(10i64..=86400),
        prop::option::of(0i64..=2_147_483_647),
        any::<bool>(),
    )
        .prop_map(|(labels, annotations, selector, sa, grace, uid, tolerate)| {
            let mut t = json!({ "labels": labels, "annotations": annotations, "nodeSelector": selector });
            t["serviceAccountName"] = json!(sa);
            t["terminationGracePeriodSeconds"] = json!(grace);
            t["securityContext"] = json!({ "runAsUser": uid });
            if tolerate {
                t["tolerations"] = json!([{ "key": "dedicated", "operator": "Equal", "value": "kafka", "effect": "NoSchedule" }]);
                t["topologySpreadConstraints"] = json!([{ "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway" }]);
            }
            t
        })
}

fn placement() -> impl Strategy<Value = Option<String>> {
    prop::option::of(select(vec![
        "hostname:MAX_PER:1",
        "hostname:UNIQUE",
        "@zone:GROUP_BY:3",
        "[[\"@zone\",\"GROUP_BY\",\"3\"],[\"hostname\",\"MAX_PER\",\"2\"]]",
        "rack:CLUSTER:r1",
        "@zone:LIKE:us-east-1[ab]",
        "disk:UNLIKE:hdd",
        "@region:IS:eu-west-1",
        "",
    ]))
    .prop_map(|c| c.map(String::from))
}

/// A pool: resources with requests ≤ limits, a heap below the memory limit, storage, config,
/// template and placement.
fn pool() -> impl Strategy<Value = Value> {
    (
        prop::option::of((1u32..=4, 2u32..=8)),
        prop::option::of(select(vec!["1Gi", "500Mi", "10Gi", "1Ti", "1"])),
        prop::option::of(select(vec!["fast", "fast.ssd-1"])),
        config(false),
        prop::option::of(template()),
        placement(),
        proptest::collection::vec("-[A-Za-z:=.0-9 ]{1,16}", 0..2),
    )
        .prop_map(|(res, size, class, config, template, placement, options)| {
            let mut p = json!({ "config": config, "storage": { "size": size, "storageClassName": class } });
            if let Some((cpu, mem_gi)) = res {
                p["resources"] = json!({
                    "requests": { "cpu": format!("{cpu}00m"), "memory": format!("{}Gi", mem_gi / 2) },
                    "limits": { "cpu": cpu.to_string(), "memory": format!("{mem_gi}Gi") },
                });
                p["jvm"] = json!({ "heap": format!("{}Mi", mem_gi * 256), "options": options });
            }
            p["template"] = json!(template);
            p["placement"] = json!({ "constraints": placement });
            p
        })
}

/// Listeners, the controller port, and a metrics port none of them uses.
fn listeners() -> impl Strategy<Value = (Vec<Value>, i32, i32)> {
    let names = select(vec![
        "INTERNAL",
        "EXTERNAL",
        "CLIENT_1",
        "A",
        "L2345678901234X",
        "REPLICATION",
    ]);
    (
        proptest::collection::btree_map(names, 1024i32..=65535, 1..=4),
        1024i32..=65535,
        1024i32..=65535,
    )
        .prop_map(|(by_name, controller_port, metrics_port)| {
            // Listener ports first (at least one listener stays, as the CRD requires), then
            // the controller and metrics ports on ports no listener uses.
            let mut used = BTreeSet::new();
            let list = by_name
                .into_iter()
                .filter(|(_, port)| used.insert(*port))
                .map(|(name, port)| json!({ "name": name, "port": port }))
                .collect();
            let mut free = |wanted: i32| {
                let port = (wanted..=65535)
                    .chain(1024..wanted)
                    .find(|p| !used.contains(p))
                    .unwrap_or(wanted);
                used.insert(port);
                port
            };
            let controller_port = free(controller_port);
            let metrics_port = free(metrics_port);
            (list, controller_port, metrics_port)
        })
}

/// A spec made only of values the CRD admits.
fn clean_spec() -> impl Strategy<Value = (String, Value)> {
    (
        select(vec![
            "demo".to_string(),
            "k".into(),
            "kafka-prod-1".into(),
            format!("a{}", "9".repeat(46)),
        ]),
        select(
            crate::upgrade::releases::RELEASES
                .iter()
                .map(|r| r.version)
                .collect::<Vec<_>>(),
        ),
        listeners(),
        (1i32..=5, select(vec![1, 3, 5])),
        (pool(), pool()),
        config(true),
        prop::option::of(select(vec!["topology.kubernetes.io/zone", "rack"])),
        (any::<bool>(), prop::option::of(1u32..=3)),
        any::<bool>(),
    )
        .prop_map(
            |(
                name,
                version,
                (listeners, cport, mport),
                (b, c),
                (bp, cp),
                config,
                rack,
                (paused, batch),
                ib,
            )| {
                let mut spec = json!({
                    "version": version,
                    "listeners": listeners,
                    "controllerListener": { "port": cport },
                    "metrics": { "port": mport },
                    "config": config,
                    "rollout": { "paused": paused, "maxBatchPerRack": batch },
                });
                let mut brokers = bp;
                brokers["replicas"] = json!(b);
                let mut controllers = cp;
                controllers["replicas"] = json!(c);
                spec["brokers"] = brokers;
                spec["controllers"] = controllers;
                if let Some(key) = rack {
                    spec["rack"] = json!({ "topologyKey": key });
                }
                if ib && let Some(last) = spec["listeners"].as_array().and_then(|l| l.last()).cloned() {
                    spec["interBrokerListener"] = last["name"].clone();
                }
                (name, strip_nulls(spec))
            },
        )
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// What exists: controller and broker claims (some smaller or larger, some of another class),
/// brokers retained above the desired count, node labels for LIKE/UNLIKE.
fn existing() -> impl Strategy<Value = Existing> {
    (
        select(vec![0, 1, 3, 5]),
        0i32..=6,
        select(vec!["1Gi", "10Gi", "100Gi"]),
        prop::option::of(select(vec!["fast", "slow"])),
        proptest::collection::btree_set(0i32..=8, 0..3),
        proptest::collection::vec(select(vec!["us-east-1a", "us-east-1b", "eu-west-1a"]), 0..4),
    )
        .prop_map(|(controllers, brokers, size, class, retained, zones)| Existing {
            pvcs: (0..controllers)
                .map(|i| claim(Role::Controller, 9000 + i, "2Gi", None))
                .chain((0..brokers).map(|i| claim(Role::Broker, i, size, class)))
                .collect(),
            pods: Vec::new(),
            retained_broker_ids: retained,
            nodes: zones
                .into_iter()
                .map(|z| BTreeMap::from([("topology.kubernetes.io/zone".to_string(), z.to_string())]))
                .collect(),
            ..Default::default()
        })
}

fn cluster(name: &str, spec: &Value) -> Option<KafkaCluster> {
    serde_json::from_value(json!({
        "apiVersion": "kraftwerk.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": { "name": name, "namespace": "kafka", "uid": "7c2f0e4e-0000-4000-8000-000000000001" },
        "spec": spec,
    }))
    .ok()
}

/// Problems name a field of the resource.
fn assert_named(e: &InvalidSpec) {
    assert!(!e.problems.is_empty());
    for p in &e.problems {
        assert!(
            p.field == "metadata.name" || p.field.starts_with("spec."),
            "{p:?}"
        );
        assert!(!p.reason.is_empty(), "{p:?}");
    }
}

/// Every node's file reads back (Java rules) to the properties the operator computed.
fn assert_properties_round_trip(built: &desired::Desired, validated: &crate::validate::ValidatedCluster) {
    for node in &built.nodes {
        let wanted: BTreeMap<String, String> = properties::node_properties(validated, node.role, node.id)
            .into_iter()
            .collect();
        let read = java_properties::load(&node.text)
            .unwrap_or_else(|e| panic!("{} does not load: {e}\n{}", node.pod, node.text));
        assert_eq!(read, wanted, "{}:\n{}", node.pod, node.text);
    }
}

/// The whole pipeline for one input; returns whether the spec was accepted.
fn pipeline(name: &str, spec: &Value, existing: &Existing) -> bool {
    let Some(cr) = cluster(name, spec) else {
        return false;
    };
    let validated = match validate(&cr, existing, CLUSTER_ID, &Options::default()) {
        Ok(v) => v,
        Err(e) => {
            assert_named(&e);
            return false;
        }
    };
    let built = desired::build(&validated, None);
    let problems = check_objects(&validated, &built.objects);
    if !problems.is_empty() {
        assert_named(&InvalidSpec { problems });
        return false;
    }
    assert_properties_round_trip(&built, &validated);
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CLEAN_CASES, ..ProptestConfig::default() })]

    /// Admissible specs: accepted, or refused only for what exists (a quorum size change, a
    /// shrink, a class change); when accepted, every object passes the API server's checks.
    #[test]
    fn admissible_specs_build_objects_the_api_server_accepts(
        (name, spec) in clean_spec(),
        existing in prop_oneof![Just(Existing::default()), existing()],
    ) {
        let cr = cluster(&name, &spec).unwrap_or_else(|| panic!("does not deserialize: {spec}"));
        match validate(&cr, &existing, CLUSTER_ID, &Options::default()) {
            Ok(validated) => {
                let built = desired::build(&validated, None);
                let problems = check_objects(&validated, &built.objects);
                prop_assert!(problems.is_empty(), "{problems:?}\n{spec}");
                assert_properties_round_trip(&built, &validated);
            }
            Err(e) => {
                let allowed = [
                    "spec.controllers.replicas",
                    "spec.brokers.storage.size",
                    "spec.brokers.storage.storageClassName",
                    "spec.controllers.storage.size",
                    "spec.controllers.storage.storageClassName",
                ];
                prop_assert!(e.problems.iter().all(|p| allowed.contains(&p.field.as_str())), "{e}\n{spec}");
                // On a new cluster the same spec is accepted.
                let fresh = validate(&cr, &Existing::default(), CLUSTER_ID, &Options::default());
                prop_assert!(fresh.is_ok(), "{fresh:?}\n{spec}");
            }
        }
    }
}

/// A string where a name, label, quantity or number is expected: anything from valid to hostile.
fn wild_string() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => "[a-z][a-z0-9-]{0,10}".prop_map(Value::from),
        1 => "\\PC{0,70}".prop_map(Value::from),
        1 => "[-_. A-Z0-9a-z/]{0,70}".prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => select(vec![i64::from(i32::MIN), -1, 0, 2, 6, 9001, 65536, i64::from(i32::MAX)]).prop_map(Value::from),
        1 => Just(Value::from("")),
    ]
}

/// Replaces a few leaves of an admissible spec with wild values.
fn wild_spec() -> impl Strategy<Value = (String, Value)> {
    let paths = select(vec![
        "/image",
        "/version",
        "/imagePullPolicy",
        "/interBrokerListener",
        "/listeners/0/name",
        "/listeners/0/port",
        "/controllerListener/port",
        "/brokers/replicas",
        "/controllers/replicas",
        "/brokers/storage/size",
        "/brokers/storage/storageClassName",
        "/brokers/jvm/heap",
        "/brokers/resources/limits/cpu",
        "/brokers/resources/requests/memory",
        "/brokers/template/serviceAccountName",
        "/controllers/template/priorityClassName",
        "/brokers/template/labels/team",
        "/brokers/template/nodeSelector/disk",
        "/brokers/placement/constraints",
        "/rack/topologyKey",
        "/config/log.retention.ms",
        "/controllers/template/terminationGracePeriodSeconds",
        "/rollout/restartTimeoutSeconds",
    ]);
    (
        clean_spec(),
        prop_oneof!["[a-z0-9-]{0,50}", "\\PC{0,10}"],
        proptest::collection::vec((paths, wild_string()), 0..3),
        any::<bool>(),
    )
        .prop_map(|((name, mut spec), wild_name, leaves, rename)| {
            for (path, value) in leaves {
                set_path(&mut spec, path, value);
            }
            (if rename { wild_name } else { name }, spec)
        })
}

fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut node = root;
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            match node {
                Value::Object(m) => {
                    m.insert(part.to_string(), value);
                }
                Value::Array(a) if !a.is_empty() => a[0] = value,
                _ => {}
            }
            return;
        }
        if !node.is_object() && !node.is_array() {
            *node = json!({});
        }
        node = match node {
            Value::Array(a) if !a.is_empty() => &mut a[0],
            Value::Object(m) => m.entry(part.to_string()).or_insert_with(|| json!({})),
            _ => return,
        };
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: WILD_CASES, ..ProptestConfig::default() })]

    /// Any spec, however hostile: no panic anywhere, every refusal names a field, and what is
    /// accepted builds valid objects and loadable configuration.
    #[test]
    fn any_spec_is_accepted_cleanly_or_refused_with_a_named_field((name, spec) in wild_spec(), existing in existing()) {
        pipeline(&name, &spec, &existing);
    }
}

/// The generators reach both outcomes, so the properties are not vacuous.
#[test]
fn generators_reach_acceptance_and_refusal() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..200 {
        let (name, spec) = wild_spec()
            .new_tree(&mut runner)
            .map(|t| t.current())
            .unwrap_or_default();
        if pipeline(&name, &spec, &Existing::default()) {
            // Rendering (YAML) is slow in a debug build, so it runs here rather than per case.
            let cr = cluster(&name, &spec).unwrap();
            let rendered = render::render(&cr, &render::RenderOptions::default()).unwrap();
            assert!(render::to_yaml(&rendered.objects).is_ok());
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        accepted > 10 && refused > 10,
        "accepted {accepted}, refused {refused}"
    );
}
