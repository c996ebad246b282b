//! The admin client (`kraftwerk::admin`) against a real 3-controller + 3-broker KRaft
//! cluster (hand-written configs in the contract's shape, mapped to loopback), plus the
//! runner's lifecycle (SIGTERM stop, kill -9, restart) and the error paths.
//!
//! One test function, sequential steps: the steps share one cluster (booting six JVMs
//! takes ~30-60 s on 2 cores) and some of them disturb it on purpose.
//! Run with `make test-kafka` (`cargo test --test kafka_admin -- --ignored --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test crate: failing loudly is the point

mod kafka_support;

// The CLI modules live in the binary; include them here to run them against the real cluster.
#[allow(dead_code)]
#[path = "../src/cli/admin.rs"]
mod cli_admin;
#[allow(dead_code)]
#[path = "../src/cli/kubeconfig.rs"]
mod kubeconfig;

use std::time::{Duration, Instant};

use kafka_support::{TestCluster, admin_client, hand_written_specs};
use kraftwerk::admin::{
    AdminClient, AdminConfig, AlterConfigOp, ConfigResource, NewTopic, Reassignment, Target,
};

macro_rules! step {
    ($name:expr, $body:expr) => {{
        let t = Instant::now();
        eprintln!("==> {}", $name);
        let r = $body;
        eprintln!("<== {} ({:?})", $name, t.elapsed());
        r
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "boots 6 real Kafka JVMs; run with `make test-kafka`"]
async fn admin_client_against_real_cluster() {
    let specs = hand_written_specs("adm", 3, 3);
    let mut cluster = TestCluster::new("admin", &specs).unwrap_or_else(|e| panic!("{e}"));
    let ready = cluster.boot(Duration::from_secs(180)).await;
    eprintln!("cluster ready after {ready:?}");
    let problems = cluster.config_problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let admin = cluster.admin().unwrap();

    step!("api versions negotiated", {
        let v = admin.api_versions(Target::Any).await.expect("ApiVersions");
        assert!(v.len() > 40, "Kafka 4.3 advertises many APIs, got {}", v.len());
        let (min, max) = v.broker_range(55).expect("DescribeQuorum advertised");
        assert!(min <= 2 && max >= 2, "DescribeQuorum {min}..{max}");
        assert!(v.broker_range(60).is_some(), "DescribeCluster advertised");
    });

    step!("describe cluster and quorum", {
        let d = admin.describe_cluster().await.expect("DescribeCluster");
        assert_eq!(d.cluster_id, cluster.cluster_id);
        assert!(d.includes_fenced, "Kafka 4.3 speaks DescribeCluster v2");
        assert_eq!(d.brokers.iter().map(|b| b.id).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(d.brokers.iter().all(|b| !b.fenced && b.host == "127.0.0.1"));
        let q = admin.describe_quorum().await.expect("DescribeQuorum");
        assert!([9000, 9001, 9002].contains(&q.leader_id));
        assert!(q.leader_epoch >= 1);
        assert!(q.high_watermark > 0);
        assert_eq!(q.voters.len(), 3);
        let leader = q.voters.iter().find(|v| v.id == q.leader_id).unwrap();
        assert_eq!(leader.lag, Some(0));
        assert!(
            q.voters
                .iter()
                .all(|v| v.lag.is_some() && v.last_caught_up_timestamp.is_some()),
            "{q:?}"
        );
        assert!(q.max_voter_lag().unwrap() < 1000, "{q:?}");
        assert_eq!(
            q.observers
                .iter()
                .map(|o| o.id)
                .collect::<std::collections::BTreeSet<_>>(),
            [0, 1, 2].into()
        );
        // Any broker forwards DescribeQuorum to the active controller.
        for b in 0..3 {
            assert_eq!(
                admin.describe_quorum_at(Target::Node(b)).await.unwrap().leader_id,
                q.leader_id
            );
        }
    });

    let topic = "adm-topic";
    step!("create topic, metadata, configs", {
        admin
            .create_topic(&NewTopic::new(topic, 3, 2).with_config("min.insync.replicas", "2"))
            .await
            .expect("CreateTopics");
        let t = wait_topic(&admin, topic, |t| {
            t.partitions.len() == 3 && t.partitions.iter().all(|p| p.isr.len() == 2)
        })
        .await;
        for p in &t.partitions {
            assert_eq!(p.replicas.len(), 2);
            let leader = p.leader.expect("leader");
            assert!(p.replicas.contains(&leader) && p.isr.contains(&leader));
            assert!(!p.is_under_replicated() && !p.is_unavailable());
        }
        assert!(!t.internal);
        assert!(
            admin
                .list_topics(false)
                .await
                .unwrap()
                .contains(&topic.to_string())
        );
        let all = admin.metadata(None).await.unwrap();
        assert_eq!(all.brokers.len(), 3);
        assert_eq!(admin.topic_min_insync_replicas(topic).await.unwrap(), Some(2));
        // The batched lookup the roll gates use: one request for many topics; a topic that
        // does not exist is left out of the answer.
        let batch = admin
            .topics_min_insync_replicas(&[topic.to_string(), "no-such-topic".into()])
            .await
            .unwrap();
        assert_eq!(batch.get(topic), Some(&2), "{batch:?}");
        assert!(!batch.contains_key("no-such-topic"), "{batch:?}");
        let cfg = admin
            .describe_configs(&ConfigResource::Topic(topic.into()), None)
            .await
            .unwrap();
        assert!(cfg.len() > 20, "all topic configs");
        let ret = cfg.iter().find(|c| c.name == "retention.ms").unwrap();
        assert_eq!(ret.source, "DEFAULT_CONFIG");
        // Duplicate creation is a typed error.
        let e = admin.create_topic(&NewTopic::new(topic, 1, 1)).await.unwrap_err();
        assert_eq!(e.kind(), "topic_already_exists", "{e}");
    });

    step!("incremental alter configs: topic, one broker, cluster-wide", {
        let t = ConfigResource::Topic(topic.into());
        admin
            .incremental_alter_configs(&t, &[AlterConfigOp::Set("retention.ms".into(), "3600000".into())])
            .await
            .unwrap();
        // Config changes reach the brokers' metadata caches asynchronously: poll.
        wait_config(&admin, &t, "retention.ms", "3600000").await;
        // Incremental: min.insync.replicas untouched.
        assert_eq!(admin.topic_min_insync_replicas(topic).await.unwrap(), Some(2));
        admin
            .incremental_alter_configs(&t, &[AlterConfigOp::Delete("retention.ms".into())])
            .await
            .unwrap();
        wait_config(&admin, &t, "retention.ms", "604800000").await;

        let b1 = ConfigResource::Broker(1);
        admin
            .incremental_alter_configs(
                &b1,
                &[AlterConfigOp::Set(
                    "log.cleaner.backoff.ms".into(),
                    "20000".into(),
                )],
            )
            .await
            .unwrap();
        wait_config(&admin, &b1, "log.cleaner.backoff.ms", "20000").await;
        let entries = admin
            .describe_configs(&b1, Some(&["log.cleaner.backoff.ms"]))
            .await
            .unwrap();
        assert_eq!(
            (entries[0].value.as_deref(), entries[0].source),
            (Some("20000"), "DYNAMIC_BROKER_CONFIG")
        );
        let b0 = admin
            .describe_configs(&ConfigResource::Broker(0), Some(&["log.cleaner.backoff.ms"]))
            .await
            .unwrap();
        assert_eq!(b0[0].value.as_deref(), Some("15000"), "broker 0 unchanged");

        let all = ConfigResource::ClusterBrokerDefault;
        admin
            .incremental_alter_configs(
                &all,
                &[AlterConfigOp::Set("max.connections".into(), "5000".into())],
            )
            .await
            .unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let e = admin
                .describe_configs(&ConfigResource::Broker(2), Some(&["max.connections"]))
                .await
                .unwrap();
            if e[0].value.as_deref() == Some("5000") {
                assert_eq!(e[0].source, "DYNAMIC_DEFAULT_BROKER_CONFIG");
                break;
            }
            assert!(
                Instant::now() < until,
                "cluster-wide default did not reach broker 2: {e:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let e = admin
            .incremental_alter_configs(
                &ConfigResource::Broker(1),
                &[AlterConfigOp::Set(
                    "log.cleaner.backoff.ms".into(),
                    "not-a-number".into(),
                )],
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "kafka", "{e}");
        admin
            .incremental_alter_configs(&b1, &[AlterConfigOp::Delete("log.cleaner.backoff.ms".into())])
            .await
            .unwrap();
        admin
            .incremental_alter_configs(&all, &[AlterConfigOp::Delete("max.connections".into())])
            .await
            .unwrap();
    });

    step!("partition reassignment: list, alter, complete", {
        assert!(admin.list_partition_reassignments(None).await.unwrap().is_empty());
        let before = admin.describe_topic(topic).await.unwrap();
        let p0 = &before.partitions[0];
        let missing = [0, 1, 2].into_iter().find(|b| !p0.replicas.contains(b)).unwrap();
        let target = vec![missing, p0.replicas[0]];
        admin
            .alter_partition_reassignments(&[Reassignment {
                topic: topic.into(),
                partition: 0,
                replicas: Some(target.clone()),
            }])
            .await
            .expect("AlterPartitionReassignments");
        // Ongoing reassignments are listed while they run (tiny partitions finish fast).
        let listed = admin
            .list_partition_reassignments(Some(&[(topic, &[0, 1, 2])]))
            .await
            .unwrap();
        assert!(
            listed.iter().all(|r| r.topic == topic && r.partition == 0),
            "{listed:?}"
        );
        let t = wait_topic(&admin, topic, |t| {
            t.partitions[0].replicas == target && t.partitions[0].isr.len() == 2
        })
        .await;
        assert_eq!(t.partitions[0].replicas, target);
        assert!(admin.list_partition_reassignments(None).await.unwrap().is_empty());
        // Cancelling when nothing runs: typed Kafka error (NoReassignmentInProgress).
        let e = admin
            .alter_partition_reassignments(&[Reassignment {
                topic: topic.into(),
                partition: 1,
                replicas: None,
            }])
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "kafka");
        assert!(e.to_string().contains("NoReassignmentInProgress"), "{e}");
        let e = admin
            .alter_partition_reassignments(&[Reassignment {
                topic: topic.into(),
                partition: 0,
                replicas: Some(vec![0, 77]),
            }])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("InvalidReplicaAssignment"), "{e}");
    });

    step!("unknown topic errors are typed and quick", {
        let t = Instant::now();
        let e = admin.describe_topic("no-such-topic").await.unwrap_err();
        assert_eq!(e.kind(), "unknown_topic", "{e}");
        let e = admin
            .describe_configs(&ConfigResource::Topic("no-such-topic".into()), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "unknown_topic", "{e}");
        let e = admin.delete_topic("no-such-topic").await.unwrap_err();
        assert_eq!(e.kind(), "unknown_topic", "{e}");
        let e = admin
            .alter_partition_reassignments(&[Reassignment {
                topic: "no-such-topic".into(),
                partition: 0,
                replicas: Some(vec![0]),
            }])
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "unknown_topic", "{e}");
        let e = admin
            .describe_configs(&ConfigResource::Broker(42), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "unknown_broker", "{e}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    });

    step!(
        "not the controller: admin request sent straight to a follower controller",
        {
            let q = admin.describe_quorum().await.unwrap();
            let follower = [9000, 9001, 9002]
                .into_iter()
                .find(|id| *id != q.leader_id)
                .unwrap();
            let addr = cluster.node(follower).unwrap().controller_address().unwrap();
            let direct = admin_client(&addr).unwrap();
            let t = Instant::now();
            let e = direct
                .create_topic(&NewTopic::new("via-follower", 1, 1))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), "not_controller", "{e}");
            assert!(e.is_retriable());
            assert!(t.elapsed() < Duration::from_secs(5));
            // The leader controller itself accepts it.
            let leader_addr = cluster.node(q.leader_id).unwrap().controller_address().unwrap();
            admin_client(&leader_addr)
                .unwrap()
                .create_topic(&NewTopic::new("via-leader", 1, 1))
                .await
                .unwrap();
            // RF=1: would turn unavailable when a broker stops later on.
            admin.delete_topic("via-leader").await.unwrap();
        }
    );

    step!("timeout: a frozen broker answers nothing", {
        let quick = AdminClient::new(
            &cluster.node(2).unwrap().client_address().unwrap(),
            AdminConfig {
                request_timeout: Duration::from_secs(1),
                connect_timeout: Duration::from_secs(1),
                ..Default::default()
            },
        )
        .unwrap();
        quick.describe_cluster().await.unwrap();
        cluster.node(2).unwrap().pause().unwrap();
        let t = Instant::now();
        let e = quick.describe_cluster().await.unwrap_err();
        let took = t.elapsed();
        cluster.node(2).unwrap().resume().unwrap();
        assert_eq!(e.kind(), "timeout", "{e}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        // The poisoned connection is dropped and a fresh one works.
        let until = Instant::now() + Duration::from_secs(20);
        while quick.describe_cluster().await.is_err() {
            assert!(Instant::now() < until, "broker 2 did not recover after SIGCONT");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });

    step!(
        "broker down: SIGTERM stop, fenced, connect errors, bootstrap failover",
        {
            let b2_addr = cluster.node(2).unwrap().client_address().unwrap();
            let (status, graceful) = cluster
                .node_mut(2)
                .unwrap()
                .stop(Duration::from_secs(60))
                .unwrap();
            assert!(graceful, "broker 2 exited on SIGTERM ({status})");
            let log = cluster.node(2).unwrap().log_text();
            assert!(
                log.contains("shut down completed") || log.contains("to SHUTDOWN"),
                "graceful shutdown logged"
            );
            let d = wait_cluster(&admin, |d| d.brokers.iter().any(|b| b.id == 2 && b.fenced)).await;
            assert!(d.brokers.iter().filter(|b| b.id != 2).all(|b| !b.fenced));
            // Direct requests to the dead broker fail fast with a typed error.
            let t = Instant::now();
            let e = admin
                .describe_configs(&ConfigResource::Broker(2), None)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), "connect", "{e}");
            assert!(t.elapsed() < Duration::from_secs(3));
            let dead_first = admin_client(&format!(
                "{b2_addr},{}",
                cluster.node(0).unwrap().client_address().unwrap()
            ))
            .unwrap();
            assert_eq!(
                dead_first.describe_cluster().await.unwrap().cluster_id,
                cluster.cluster_id
            );
            let only_dead = admin_client(&b2_addr).unwrap();
            let e = only_dead.describe_cluster().await.unwrap_err();
            assert_eq!(e.kind(), "no_broker_available", "{e}");
            // Partitions that had a replica on broker 2 are under-replicated now.
            let t = wait_topic(&admin, topic, |t| {
                t.partitions.iter().any(|p| p.is_under_replicated())
            })
            .await;
            assert!(
                t.partitions
                    .iter()
                    .filter(|p| p.is_under_replicated())
                    .all(|p| p.replicas.contains(&2))
            );
        }
    );

    step!("unregister broker, then re-register on restart", {
        let e = admin.unregister_broker(42).await.unwrap_err();
        assert_eq!(e.kind(), "broker_not_registered", "{e}");
        admin.unregister_broker(2).await.expect("UnregisterBroker");
        wait_cluster(&admin, |d| d.brokers.iter().all(|b| b.id != 2)).await;
        cluster.node_mut(2).unwrap().start().unwrap();
        let d = wait_cluster(&admin, |d| d.brokers.iter().any(|b| b.id == 2 && !b.fenced)).await;
        assert_eq!(d.brokers.len(), 3);
    });

    step!("kill -9 and restart a broker", {
        let status = cluster.node_mut(1).unwrap().kill().unwrap();
        assert!(!status.success());
        wait_cluster(&admin, |d| d.brokers.iter().any(|b| b.id == 1 && b.fenced)).await;
        cluster.node_mut(1).unwrap().start().unwrap();
        wait_cluster(&admin, |d| {
            d.brokers.iter().all(|b| !b.fenced) && d.brokers.len() == 3
        })
        .await;
        // ISR heals.
        wait_topic(&admin, topic, |t| {
            t.partitions.iter().all(|p| !p.is_under_replicated())
        })
        .await;
    });

    step!("restart the quorum leader: new election, all voters caught up", {
        let q = admin.describe_quorum().await.unwrap();
        let old = q.leader_id;
        let old_epoch = q.leader_epoch;
        cluster
            .node_mut(old)
            .unwrap()
            .restart(Duration::from_secs(60))
            .unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(q) = admin.describe_quorum().await
                && q.voters.len() == 3
                && q.leader_epoch > old_epoch
                && q.voters.iter().all(|v| v.lag.is_some_and(|l| l < 1000))
                && q.voters
                    .iter()
                    .find(|v| v.id == old)
                    .and_then(|v| v.last_caught_up_timestamp)
                    .is_some()
            {
                break;
            }
            assert!(
                Instant::now() < until,
                "quorum did not recover after restarting {old}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });

    step!(
        "CLI: broker list/get, topic list/describe/create/partitions/config get+set/delete/under-replicated/unavailable",
        {
            use cli_admin::{
                AdminArgs, BrokerCli, BrokerCommand, OutputFormat, TopicCli, TopicCommand,
                TopicConfigCommand, broker_output, topic_output,
            };
            let bootstrap = cluster.bootstrap();
            let cli_client = kraftwerk::admin::AdminClient::new(&bootstrap, Default::default()).unwrap();
            let args = |o| AdminArgs {
                kube: kubeconfig::KubeArgs {
                    namespace: None,
                    context: None,
                },
                cluster: None,
                bootstrap: Some(bootstrap.clone()),
                output: o,
                timeout: 10,
                tls_ca: None,
                tls_cert: None,
                tls_key: None,
                sasl_username: None,
                sasl_password: None,
                kafka_user: None,
            };
            let topic_cmd = |command, o| TopicCli {
                args: args(o),
                command,
            };
            let broker_list = |o| BrokerCli {
                args: args(o),
                command: BrokerCommand::List,
            };
            let out = broker_output(&cli_client, &broker_list(OutputFormat::Table))
                .await
                .unwrap();
            eprintln!("{out}");
            let lines: Vec<&str> = out.lines().collect();
            assert!(lines[0].starts_with("ID") && lines[0].contains("STATE"), "{out}");
            assert_eq!(lines.len(), 4, "{out}");
            assert!(lines[1..].iter().all(|l| l.ends_with("active")), "{out}");
            let json = broker_output(&cli_client, &broker_list(OutputFormat::Json))
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v.as_array().unwrap().len(), 3);
            assert_eq!(v[0]["fenced"], false);

            let create = TopicCommand::Create {
                name: "cli-topic".into(),
                partitions: 2,
                replication: 3,
                configs: vec![("min.insync.replicas".into(), "2".into())],
            };
            let out = topic_output(&cli_client, &topic_cmd(create, OutputFormat::Table))
                .await
                .unwrap();
            assert_eq!(out, "Created topic cli-topic (partitions=2, replication=3)\n");
            wait_topic(&admin, "cli-topic", |t| {
                t.partitions.iter().all(|p| p.isr.len() == 3)
            })
            .await;
            let out = topic_output(
                &cli_client,
                &topic_cmd(TopicCommand::List { internal: false }, OutputFormat::Table),
            )
            .await
            .unwrap();
            assert!(
                out.lines().any(|l| l == "cli-topic") && out.lines().any(|l| l == topic),
                "{out}"
            );
            let out = topic_output(
                &cli_client,
                &topic_cmd(
                    TopicCommand::Describe {
                        name: "cli-topic".into(),
                    },
                    OutputFormat::Table,
                ),
            )
            .await
            .unwrap();
            eprintln!("{out}");
            assert!(
                out.contains("Partitions: 2  ReplicationFactor: 3  min.insync.replicas: 2"),
                "{out}"
            );
            assert_eq!(out.lines().filter(|l| l.ends_with("  ok")).count(), 2, "{out}");
            let out = topic_output(
                &cli_client,
                &topic_cmd(TopicCommand::UnderReplicated, OutputFormat::Table),
            )
            .await
            .unwrap();
            assert_eq!(out, "none\n");
            // Stop broker 0: its partitions become under-replicated; the CLI lists them.
            cluster
                .node_mut(0)
                .unwrap()
                .stop(Duration::from_secs(60))
                .unwrap();
            wait_topic(&admin, "cli-topic", |t| {
                t.partitions.iter().all(|p| p.isr.len() == 2)
            })
            .await;
            let out = topic_output(
                &cli_client,
                &topic_cmd(TopicCommand::UnderReplicated, OutputFormat::Table),
            )
            .await
            .unwrap();
            eprintln!("{out}");
            assert!(out.starts_with("TOPIC"), "{out}");
            assert_eq!(
                out.lines().filter(|l| l.starts_with("cli-topic ")).count(),
                2,
                "{out}"
            );
            let json = topic_output(
                &cli_client,
                &topic_cmd(TopicCommand::UnderReplicated, OutputFormat::Json),
            )
            .await
            .unwrap();
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert!(
                v.as_array()
                    .unwrap()
                    .iter()
                    .all(|r| !r["isr"].as_array().unwrap().contains(&0.into()))
            );
            let out = topic_output(
                &cli_client,
                &topic_cmd(TopicCommand::Unavailable, OutputFormat::Table),
            )
            .await
            .unwrap();
            assert_eq!(out, "none\n", "RF=3 partitions keep a leader");
            let e = topic_output(
                &cli_client,
                &topic_cmd(
                    TopicCommand::Describe { name: "nope".into() },
                    OutputFormat::Table,
                ),
            )
            .await
            .unwrap_err();
            assert_eq!(e.kind(), "unknown_topic");
            // partitions, config set/get (read back from Kafka), broker get, delete
            let yaml = topic_output(
                &cli_client,
                &topic_cmd(
                    TopicCommand::Partitions {
                        name: "cli-topic".into(),
                    },
                    OutputFormat::Yaml,
                ),
            )
            .await
            .unwrap();
            let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
            assert_eq!(v.as_sequence().unwrap().len(), 2, "{yaml}");
            topic_output(
                &cli_client,
                &topic_cmd(
                    TopicCommand::Config(TopicConfigCommand::Set {
                        name: "cli-topic".into(),
                        configs: vec![("retention.ms".into(), "3600000".into())],
                    }),
                    OutputFormat::Table,
                ),
            )
            .await
            .unwrap();
            let got = || async {
                let json = topic_output(
                    &cli_client,
                    &topic_cmd(
                        TopicCommand::Config(TopicConfigCommand::Get {
                            name: "cli-topic".into(),
                            key: Some("retention.ms".into()),
                        }),
                        OutputFormat::Json,
                    ),
                )
                .await
                .unwrap();
                let v: serde_json::Value = serde_json::from_str(&json).unwrap();
                v[0]["value"].as_str().map(str::to_string)
            };
            let until = Instant::now() + Duration::from_secs(20);
            while got().await.as_deref() != Some("3600000") {
                assert!(Instant::now() < until, "retention.ms never read back as 3600000");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let out = broker_output(
                &cli_client,
                &BrokerCli {
                    args: args(OutputFormat::Table),
                    command: BrokerCommand::Get { id: 1 },
                },
            )
            .await
            .unwrap();
            assert!(out.lines().nth(1).unwrap_or_default().starts_with("1 "), "{out}");
            assert!(out.contains("NAME") && out.contains("SOURCE"), "{out}");
            cluster.node_mut(0).unwrap().start().unwrap();
            wait_topic(&admin, "cli-topic", |t| {
                t.partitions.iter().all(|p| p.isr.len() == 3)
            })
            .await;
            let out = topic_output(
                &cli_client,
                &topic_cmd(
                    TopicCommand::Delete {
                        name: "cli-topic".into(),
                    },
                    OutputFormat::Table,
                ),
            )
            .await
            .unwrap();
            assert_eq!(out, "Deleted topic cli-topic\n");
            let until = Instant::now() + Duration::from_secs(20);
            while admin.describe_topic("cli-topic").await.is_ok() {
                assert!(Instant::now() < until, "cli-topic not deleted");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    );

    step!("delete topic", {
        admin.delete_topic(topic).await.unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        while admin.describe_topic(topic).await.is_ok() {
            assert!(Instant::now() < until);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    let rss = cluster.rss();
    for (n, k) in &rss {
        eprintln!("RSS {n}: {} MiB", k / 1024);
    }
    // The only config error in the logs is the one this test provoked on purpose.
    let problems: Vec<String> = cluster
        .config_problems()
        .into_iter()
        .filter(|l| !l.contains("not-a-number"))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

async fn wait_topic(
    admin: &AdminClient,
    topic: &str,
    ok: impl Fn(&kraftwerk::admin::TopicInfo) -> bool,
) -> kraftwerk::admin::TopicInfo {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let r = admin.describe_topic(topic).await;
        if let Ok(t) = &r
            && ok(t)
        {
            return t.clone();
        }
        assert!(Instant::now() < until, "{topic}: condition not reached: {r:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_config(admin: &AdminClient, resource: &ConfigResource, key: &str, want: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let got = admin.config_value(resource, key).await;
        if matches!(&got, Ok(Some(v)) if v == want) {
            return;
        }
        assert!(
            Instant::now() < until,
            "{resource:?} {key}: want {want}, got {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_cluster(
    admin: &AdminClient,
    ok: impl Fn(&kraftwerk::admin::ClusterDescription) -> bool,
) -> kraftwerk::admin::ClusterDescription {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let r = admin.describe_cluster().await;
        if let Ok(d) = &r
            && ok(d)
        {
            return d.clone();
        }
        assert!(Instant::now() < until, "cluster condition not reached: {r:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
