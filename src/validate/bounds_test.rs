//! Regression cases found by the spec fuzzer (src/fuzz/spec.rs), kept as unit tests.

use std::time::{Duration, Instant};

use super::*;
use crate::fixtures::{CLUSTER_ID, cluster};

/// `brokers.replicas: 2147483647` (or controllers) was refused only after collecting that many
/// node ids: minutes of CPU and tens of GiB. Now refused at once.
#[test]
fn huge_replica_counts_are_refused_without_allocating_their_ids() {
    for spec in [
        "brokers: { replicas: 2147483647 }",
        "controllers: { replicas: 2147483647 }",
    ] {
        let started = Instant::now();
        let e = validate(
            &cluster(spec),
            &Existing::default(),
            CLUSTER_ID,
            &Options::default(),
        )
        .expect_err("must be refused");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{spec}: {:?}",
            started.elapsed()
        );
        assert!(e.problems.iter().any(|p| p.field.ends_with(".replicas")), "{e}");
    }
}

/// The operator's bound and the CRD's agree.
#[test]
fn cluster_name_bounds_agree() {
    assert_eq!(MAX_CLUSTER_NAME, crate::crd::bounds::MAX_CLUSTER_NAME);
}
