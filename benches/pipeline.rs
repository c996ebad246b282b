//! `make bench`: the pure part of a reconcile (validate + build every object + status), timed
//! for an evaluation cluster and a large one. Prints one line per case; no assertions, since
//! speed belongs here and not in tests.

use std::hint::black_box;
use std::time::Instant;

use kraftwerk::crd::KafkaCluster;
use kraftwerk::desired::desired_objects;
use kraftwerk::validate::{Existing, Options, validate};

fn cluster(brokers: i32) -> KafkaCluster {
    let yaml = format!(
        "apiVersion: kraftwerk.dev/v1alpha1\nkind: KafkaCluster\nmetadata: {{name: bench, namespace: kafka}}\n\
         spec:\n  brokers:\n    replicas: {brokers}\n    placement:\n      constraints: \"hostname:MAX_PER:2,@zone:GROUP_BY:3\"\n"
    );
    serde_yaml::from_str(&yaml).unwrap_or_default()
}

fn main() {
    for brokers in [3, 30, 300] {
        let cr = cluster(brokers);
        let existing = Existing::default();
        let options = Options::default();
        let iterations = 3000 / brokers as u32;
        let start = Instant::now();
        let mut objects = 0;
        for _ in 0..iterations {
            let Ok(c) = validate(black_box(&cr), &existing, "MkU3OEVBNTcwNTJENDM2Qk", &options) else {
                eprintln!("bench cluster did not validate");
                return;
            };
            objects = black_box(desired_objects(&c, None)).len();
        }
        let per = start.elapsed() / iterations;
        println!("pipeline brokers={brokers:<4} objects={objects:<5} validate+build: {per:?} per reconcile");
    }
}
