//! Leader election on the local cluster, without a KafkaCluster: a standby never takes a lease
//! that is being renewed, SIGTERM hands the lease over at once, and a Lease namespace that does
//! not exist stops the operator with a hint. (The leader killed mid-roll is in `roll_kwok.rs`.)
//! Run with `make test-integration` (ignored by a plain `cargo test`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use support::TestEnv;

async fn lease_spec(env: &TestEnv) -> k8s_openapi::api::coordination::v1::LeaseSpec {
    let api: Api<Lease> = Api::namespaced(env.client.clone(), &env.ns);
    api.get("kraftwerk-operator")
        .await
        .expect("the Lease")
        .spec
        .expect("spec")
}

/// Over more than a lease duration, a standby keeps standing by while the leader renews, and
/// writes nothing. On SIGTERM the leader exits 0 after releasing the lease, and the standby leads
/// within one look (2 s), not after the 10 s a killed leader costs.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn sigterm_hands_the_lease_to_the_standby_at_once() {
    let mut env = TestEnv::elected("leader-handover").await;
    let mut standby = env.start_replica("operator-b").await;
    let renewed = lease_spec(&env).await.renew_time.expect("renewTime");
    tokio::time::sleep(Duration::from_secs(13)).await;
    let spec = lease_spec(&env).await;
    assert_eq!(spec.holder_identity.as_deref(), Some("operator-a"));
    assert_eq!(spec.lease_duration_seconds, Some(10));
    assert!(
        spec.renew_time.expect("renewTime").0 > renewed.0,
        "the leader renews"
    );
    let text = standby.metrics_text().await;
    assert_eq!(support::metric_sum(&text, "kraftwerk_is_leader"), 0.0);
    assert_eq!(support::metric_sum(&text, "kraftwerk_kube_requests"), 0.0);
    assert!(
        !text.contains("kraftwerk_lease_requests_total{verb=\"update\"}"),
        "{text}"
    );
    assert_eq!(
        support::metric_sum(&env.operator.metrics_text().await, "kraftwerk_is_leader"),
        1.0
    );

    let sent = Instant::now();
    let status = env.operator.terminate(Duration::from_secs(30)).await;
    let exited = sent.elapsed();
    assert!(status.success(), "the leader exits 0 on SIGTERM: {status}");
    assert!(
        env.operator.log_tail(10).contains("released the lease"),
        "{}",
        env.operator.log_tail(10)
    );
    let took_over = standby.wait_leader(Duration::from_secs(30)).await + exited;
    println!(
        "SIGTERM: the leader exited in {:.2} s; the standby led {:.2} s after the signal",
        exited.as_secs_f64(),
        took_over.as_secs_f64()
    );
    assert!(took_over < Duration::from_secs(4), "{took_over:?}");
    let spec = lease_spec(&env).await;
    assert_eq!(spec.holder_identity.as_deref(), Some("operator-b"));
    assert_eq!(spec.lease_transitions, Some(1));
    std::mem::swap(&mut env.operator, &mut standby);
}

/// A Lease namespace that does not exist: the operator says how to fix it and exits non-zero
/// instead of waiting forever.
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn a_missing_lease_namespace_stops_the_operator_with_a_hint() {
    let env = TestEnv::new("leader-nons").await;
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_kraftwerk"))
            .args(["run", "--namespaces", &env.ns, "--metrics-addr", "127.0.0.1:0"])
            .args(["--lease-namespace", "kraftwerk-no-such-namespace"])
            .output(),
    )
    .await
    .expect("the operator exits within 60 s")
    .expect("run the operator");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("does not exist") && stderr.contains("--lease-namespace"),
        "{stderr}"
    );
}

/// A leader frozen as a whole (SIGSTOP: a paused VM, a stalled node) past its deadline: the
/// standby takes over, and when the old leader resumes it sees its deadline passed and exits with
/// status 3 at once, its requests refused meanwhile (the fence on its client).
#[tokio::test]
#[ignore = "needs a cluster: make test-integration"]
async fn a_frozen_leader_exits_when_it_resumes_after_a_takeover() {
    let mut env = TestEnv::elected("leader-frozen").await;
    let mut standby = env.start_replica("operator-b").await;
    env.operator.signal("STOP");
    let frozen = Instant::now();
    let took_over = standby.wait_leader(Duration::from_secs(30)).await;
    env.operator.signal("CONT");
    let resumed = Instant::now();
    let status = env.operator.wait_exit(Duration::from_secs(10)).await;
    let exited = resumed.elapsed();
    println!(
        "froze the leader; the standby led {:.1} s later; the old leader exited {:.3} s after resuming ({status})",
        took_over.as_secs_f64(),
        exited.as_secs_f64()
    );
    assert!(took_over < Duration::from_secs(15), "{took_over:?}");
    assert!(
        frozen.elapsed() > Duration::from_secs(8),
        "frozen past its deadline"
    );
    assert_eq!(status.code(), Some(3), "{}", env.operator.log_tail(10));
    assert!(exited < Duration::from_secs(2), "{exited:?}");
    assert!(
        env.operator.log_tail(20).contains("lost the lease"),
        "{}",
        env.operator.log_tail(20)
    );
    assert_eq!(
        lease_spec(&env).await.holder_identity.as_deref(),
        Some("operator-b")
    );
    std::mem::swap(&mut env.operator, &mut standby);
}
