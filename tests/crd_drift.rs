//! `crds/kafkacluster.yaml` and `crds/kafkauser.yaml` are generated (`make crds`) and
//! committed; these tests fail when the committed files and the Rust types disagree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

fn check_committed(file: &str, generated: String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crds")
        .join(file);
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; run `make crds`", path.display()));
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
            "crds/{file} is out of date ({} vs {} lines); run `make crds`.\n{}",
            committed.lines().count(),
            generated.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn committed_crd_matches_the_rust_types() {
    check_committed(
        "kafkacluster.yaml",
        kraftwerk::crd_yaml().expect("serialize the CRD"),
    );
}

#[test]
fn committed_user_crd_matches_the_rust_types() {
    check_committed(
        "kafkauser.yaml",
        kraftwerk::user_crd_yaml().expect("serialize the CRD"),
    );
}

/// The Helm chart installs the same CRDs from its crds/ (`make crds` copies them there).
#[test]
fn the_charts_crds_are_the_committed_crds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["kafkacluster.yaml", "kafkauser.yaml"] {
        let committed = std::fs::read_to_string(root.join("crds").join(file)).unwrap();
        let chart = std::fs::read_to_string(root.join("charts/kraftwerk/crds").join(file)).unwrap();
        assert!(
            committed == chart,
            "charts/kraftwerk/crds/{file} differs from crds/{file}; run `make crds`"
        );
    }
}
