//! Test fixtures: KafkaClusters from YAML, validated with defaults.

use crate::crd::KafkaCluster;
use crate::validate::{self, Existing, Options, ValidatedCluster};

pub const CLUSTER_ID: &str = "MkU3OEVBNTcwNTJENDM2Qk";

/// A KafkaCluster named `demo` in namespace `kafka` with the given spec YAML.
pub fn cluster(spec_yaml: &str) -> KafkaCluster {
    let indented: String = spec_yaml.lines().map(|l| format!("  {l}\n")).collect();
    let yaml = format!(
        "apiVersion: kraftwerk.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: demo\n  namespace: kafka\n  \
         uid: 7c2f0e4e-0000-4000-8000-000000000001\n  generation: 1\nspec:\n{}",
        if indented.trim().is_empty() {
            "  {}\n".to_string()
        } else {
            indented
        }
    );
    serde_yaml::from_str(&yaml).expect("fixture parses")
}

pub fn validated(spec_yaml: &str) -> ValidatedCluster {
    validate::validate(
        &cluster(spec_yaml),
        &Existing::default(),
        CLUSTER_ID,
        &Options::default(),
    )
    .expect("valid")
}
