//! The DC/OS placement parser on arbitrary text and on text assembled from its own vocabulary:
//! never a panic, errors are `ConstraintError`s pointing inside the input, and whatever parses
//! translates into scheduling fields for any node.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::select;

use crate::placement::{self, PoolContext};

pub const CASES: u32 = 5_000;

/// Text built from the parser's tokens, so the cases reach past the first error.
fn constraint_text() -> impl Strategy<Value = String> {
    let token = select(vec![
        "hostname",
        "@zone",
        "@region",
        "rack",
        "a.b/c",
        "UNIQUE",
        "unique",
        "MAX_PER",
        "GROUP_BY",
        "CLUSTER",
        "IS",
        "IS_NOT",
        "LIKE",
        "UNLIKE",
        "FOO",
        "1",
        "0",
        "-1",
        "3",
        "99999999999",
        "us-east-1[ab]",
        "[",
        "]",
        "(",
        "a{1000}{1000}",
        "\"",
        "\\",
        "\\,",
        "\\:",
        ",",
        ":",
        " ",
        "[[",
        "]]",
        "\"@zone\"",
        "\"GROUP_BY\"",
        "null",
        "{}",
        "é",
        "\u{0}",
    ]);
    prop_oneof![
        proptest::collection::vec(token, 0..12).prop_map(|t| t.concat()),
        proptest::collection::vec(
            select(vec![":", ",", "hostname", "UNIQUE", "MAX_PER", "2", "\\"]),
            0..10
        )
        .prop_map(|t| t.concat()),
        "\\PC{0,40}",
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn placement_parser_never_panics_and_errors_point_into_the_input(text in constraint_text()) {
        match placement::parse(&text) {
            Ok(constraints) => {
                let selector = BTreeMap::from([("app".to_string(), "kafka".to_string())]);
                let nodes = vec![BTreeMap::from([("topology.kubernetes.io/zone".to_string(), "us-east-1a".to_string())])];
                let ids = [0, 1, 2];
                let pool = PoolContext { selector: &selector, node_ids: &ids, nodes: &nodes };
                for id in ids {
                    let _ = placement::translate(&constraints, &pool, id);
                }
            }
            Err(e) => {
                prop_assert!(e.position <= text.len(), "{e} (input {} bytes)", text.len());
                prop_assert!(!e.reason.is_empty());
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}
