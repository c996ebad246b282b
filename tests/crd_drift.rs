//! `crds/kafkacluster.yaml` is generated (`make crds`) and committed; this test fails when the
//! committed file and the Rust types disagree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[test]
fn committed_crd_matches_the_rust_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/kafkacluster.yaml");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; run `make crds`", path.display()));
    let generated = kraftwerk::crd_yaml().expect("serialize the CRD");
    // A trailing newline more or less (println! in `kraftwerk crd`) is not drift.
    let (committed, generated) = (committed.trim_end(), generated.trim_end());
    if committed != generated {
        let diff: Vec<String> = committed
            .lines()
            .zip(generated.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {}:\n  committed: {a}\n  generated: {b}", i + 1))
            .collect();
        panic!(
            "crds/kafkacluster.yaml is out of date ({} vs {} lines); run `make crds`.\n{}",
            committed.lines().count(),
            generated.lines().count(),
            diff.join("\n")
        );
    }
}

/// The Helm chart installs the same CRD from its crds/ (`make crds` copies it there).
#[test]
fn the_charts_crd_is_the_committed_crd() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(root.join("crds/kafkacluster.yaml")).unwrap();
    let chart = std::fs::read_to_string(root.join("charts/kraftwerk/crds/kafkacluster.yaml")).unwrap();
    assert!(
        committed == chart,
        "charts/kraftwerk/crds/kafkacluster.yaml differs from crds/kafkacluster.yaml; run `make crds`"
    );
}
