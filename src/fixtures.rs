//! Test fixtures: KafkaClusters from YAML, validated with defaults.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::crd::KafkaCluster;
use crate::labels;
use crate::names::Role;
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
    validated_with(spec_yaml, &Existing::default())
}

/// As [`validated`], against what `existing` says exists.
pub fn validated_with(spec_yaml: &str, existing: &Existing) -> ValidatedCluster {
    validate::validate(&cluster(spec_yaml), existing, CLUSTER_ID, &Options::default()).expect("valid")
}

/// The data claim of node `id` of cluster `demo`, of `size` and storage class `class`.
pub fn claim(role: Role, id: i32, size: &str, class: Option<&str>) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(format!("data-demo-{role}-{id}")),
            labels: Some(labels::node_labels("demo", role, id)),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            storage_class_name: class.map(String::from),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".into(), Quantity(size.into()))])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    }
}
