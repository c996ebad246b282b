//! Placement: DC/OS (Marathon) placement constraints and their translation to Kubernetes scheduling.
//!
//! Everything here is pure: no I/O, no cluster access. The controller feeds in what it observed
//! (node labels, where the pool's pods run) and gets pod scheduling fields, warnings and
//! violations back. `docs/placement.md` documents the semantics and every difference from DC/OS.
//!
//! * [`parse`] reads both DC/OS forms (`hostname:UNIQUE,@zone:GROUP_BY:3` and
//!   `[["hostname","MAX_PER","1"]]`) into [`Constraint`]s, or a [`ConstraintError`] that names the
//!   constraint, the byte position and the reason.
//! * [`translate`] turns the constraints of one pod into a [`Scheduling`] (node requirements,
//!   pod (anti-)affinity, topology spread constraints, warnings).
//! * [`default_scheduling`] is the soft placement used when a pool has no constraints.
//! * [`merge`] combines a [`Scheduling`] with the pool's native fields into a [`PodScheduling`].
//! * [`violations`] says which constraints a running pod does not satisfy (for the status).
//! * [`rack`] holds the helpers of the rack-awareness design (`broker.rack`).

mod check;
mod merge;
mod parse;
pub mod rack;
#[cfg(test)]
mod sim_tests;
mod translate;

use std::fmt;

use regex::Regex;

pub use check::{PlacedPod, Violation, violations};
pub use merge::{Merged, PodScheduling, merge};
pub use parse::parse;
pub use translate::{PoolContext, Scheduling, default_scheduling, translate};

/// Node label that holds the node's hostname (set by the kubelet).
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// Well-known node label of the node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Well-known node label of the node's region.
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
/// Pod label holding the Kafka node id; `MAX_PER n` with n > 1 selects pods by it.
pub const NODE_ID_LABEL: &str = crate::labels::NODE_ID;

/// The attribute a constraint is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// `hostname` / `@hostname`: the node label `kubernetes.io/hostname`.
    Hostname,
    /// `@zone` / `zone`: the node label `topology.kubernetes.io/zone`.
    Zone,
    /// `@region` / `region`: the node label `topology.kubernetes.io/region`.
    Region,
    /// Any other field: a node label key, used as is (DC/OS: an agent attribute such as `rack_id`).
    Label(String),
}

impl Field {
    /// The node label key the field reads, which is also the topology key for spreading.
    pub fn label_key(&self) -> &str {
        match self {
            Field::Hostname => HOSTNAME_LABEL,
            Field::Zone => ZONE_LABEL,
            Field::Region => REGION_LABEL,
            Field::Label(key) => key,
        }
    }

    /// Every node has the hostname label, so constraints on it need no `Exists` requirement.
    fn is_hostname(&self) -> bool {
        matches!(self, Field::Hostname)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Hostname => f.write_str("hostname"),
            Field::Zone => f.write_str("@zone"),
            Field::Region => f.write_str("@region"),
            Field::Label(key) => f.write_str(key),
        }
    }
}

/// A regular expression of LIKE / UNLIKE. Like Marathon (Java `String.matches`), it must match
/// the whole value: `us-east-1[ab]` matches `us-east-1a` but not `us-east-1a-foo`.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    anchored: Regex,
}

impl Pattern {
    /// Compiles `source` anchored at both ends. The error is a one-line reason.
    pub fn new(source: &str) -> Result<Pattern, String> {
        match Regex::new(&format!("^(?:{source})$")) {
            Ok(anchored) => Ok(Pattern {
                source: source.to_string(),
                anchored,
            }),
            Err(e) => Err(regex_reason(&e)),
        }
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the expression matches all of `value`.
    pub fn full_match(&self, value: &str) -> bool {
        self.anchored.is_match(value)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

/// The `regex` crate formats syntax errors over several lines (pattern, caret, `error: ...`);
/// keep the `error:` line, which is the reason.
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    match text.lines().find_map(|l| l.trim().strip_prefix("error:")) {
        Some(reason) => reason.trim().to_string(),
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// A constraint operator with its (validated) parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operator {
    /// At most one pod of the pool per value of the field.
    Unique,
    /// All pods on nodes with the given value; without a value, all pods in the domain of the first.
    Cluster(Option<String>),
    /// Spread evenly over the field's values; the optional count is the number of values expected.
    GroupBy(Option<i32>),
    /// Only nodes whose value fully matches the expression.
    Like(Pattern),
    /// Only nodes whose value does not fully match the expression (or that lack the field).
    Unlike(Pattern),
    /// At most n pods of the pool per value of the field (n >= 1).
    MaxPer(i32),
    /// Only nodes whose value is exactly the given one.
    Is(String),
    /// Only nodes whose value is not the given one (or that lack the field).
    IsNot(String),
}

impl Operator {
    /// The operator's DC/OS name.
    pub fn name(&self) -> &'static str {
        match self {
            Operator::Unique => "UNIQUE",
            Operator::Cluster(_) => "CLUSTER",
            Operator::GroupBy(_) => "GROUP_BY",
            Operator::Like(_) => "LIKE",
            Operator::Unlike(_) => "UNLIKE",
            Operator::MaxPer(_) => "MAX_PER",
            Operator::Is(_) => "IS",
            Operator::IsNot(_) => "IS_NOT",
        }
    }

    /// The parameter, as text, if any.
    pub fn param(&self) -> Option<String> {
        match self {
            Operator::Unique | Operator::Cluster(None) | Operator::GroupBy(None) => None,
            Operator::Cluster(Some(v)) | Operator::Is(v) | Operator::IsNot(v) => Some(v.clone()),
            Operator::GroupBy(Some(n)) | Operator::MaxPer(n) => Some(n.to_string()),
            Operator::Like(p) | Operator::Unlike(p) => Some(p.source().to_string()),
        }
    }
}

/// One parsed constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    pub field: Field,
    pub operator: Operator,
    /// 1-based number of the constraint in the input.
    pub index: usize,
    /// Byte offset (0-based) of the constraint in the input.
    pub position: usize,
    /// The constraint as written (`@zone:GROUP_BY:3`, or `["@zone","GROUP_BY","3"]`).
    pub text: String,
}

impl Constraint {
    /// The node label key of the constraint's field.
    pub fn label_key(&self) -> &str {
        self.field.label_key()
    }
}

/// The canonical colon form, `field:OPERATOR[:param]`, with `,` and `:` escaped.
impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", escape(&self.field.to_string()), self.operator.name())?;
        if let Some(param) = self.operator.param() {
            write!(f, ":{}", escape(&param))?;
        }
        Ok(())
    }
}

fn escape(s: &str) -> String {
    s.replace(',', "\\,").replace(':', "\\:")
}

/// Why a constraint string was refused. `Display` gives the whole message, e.g.
/// `constraint 2 ("@zone:MAX_PER:x") at position 30: MAX_PER needs a positive integer, got "x"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConstraintError {
    /// 1-based number of the offending constraint, when the error is inside one.
    pub index: Option<usize>,
    /// The offending constraint as written.
    pub constraint: Option<String>,
    /// Byte offset (0-based) in the whole input of the offending token.
    pub position: usize,
    /// Human-readable reason.
    pub reason: String,
}

impl fmt::Display for ConstraintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.index, &self.constraint) {
            (Some(i), Some(text)) => write!(f, "constraint {i} ({text:?}) at position ")?,
            (Some(i), None) => write!(f, "constraint {i} at position ")?,
            _ => f.write_str("at position ")?,
        }
        write!(f, "{}: {}", self.position, self.reason)
    }
}

impl std::error::Error for ConstraintError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_label_keys() {
        assert_eq!(Field::Hostname.label_key(), "kubernetes.io/hostname");
        assert_eq!(Field::Zone.label_key(), "topology.kubernetes.io/zone");
        assert_eq!(Field::Region.label_key(), "topology.kubernetes.io/region");
        assert_eq!(Field::Label("rack_id".into()).label_key(), "rack_id");
    }

    #[test]
    fn pattern_is_anchored_and_compares_by_source() {
        let p = Pattern::new("us-east-1[ab]").unwrap();
        assert!(p.full_match("us-east-1a"));
        assert!(!p.full_match("us-east-1a-x"));
        assert!(!p.full_match("xus-east-1a"));
        // Alternation binds inside the group, not against the anchors.
        let alt = Pattern::new("a|b").unwrap();
        assert!(alt.full_match("a") && alt.full_match("b") && !alt.full_match("ab"));
        assert_eq!(p, Pattern::new("us-east-1[ab]").unwrap());
        assert_ne!(p, alt);
        assert_eq!(format!("{p:?}"), "Pattern(\"us-east-1[ab]\")");
    }

    #[test]
    fn pattern_errors_are_one_line() {
        let e = Pattern::new("us-east-1[ab").unwrap_err();
        assert_eq!(e, "unclosed character class");
        let e = Pattern::new("(a").unwrap_err();
        assert_eq!(e, "unclosed group");
    }

    #[test]
    fn error_display_forms() {
        let e = ConstraintError {
            index: Some(2),
            constraint: Some("@zone:MAX_PER:x".into()),
            position: 30,
            reason: "MAX_PER needs a positive integer, got \"x\"".into(),
        };
        assert_eq!(
            e.to_string(),
            "constraint 2 (\"@zone:MAX_PER:x\") at position 30: MAX_PER needs a positive integer, got \"x\""
        );
        let e = ConstraintError {
            index: None,
            constraint: None,
            position: 3,
            reason: "bad".into(),
        };
        assert_eq!(e.to_string(), "at position 3: bad");
        let e = ConstraintError {
            index: Some(1),
            constraint: None,
            position: 0,
            reason: "bad".into(),
        };
        assert_eq!(e.to_string(), "constraint 1 at position 0: bad");
    }

    #[test]
    fn constraint_display_is_canonical_and_escaped() {
        let c = Constraint {
            field: Field::Label("rack".into()),
            operator: Operator::Like(Pattern::new("a:b,c").unwrap()),
            index: 1,
            position: 0,
            text: String::new(),
        };
        assert_eq!(c.to_string(), "rack:LIKE:a\\:b\\,c");
        let c = Constraint {
            field: Field::Zone,
            operator: Operator::GroupBy(None),
            index: 1,
            position: 0,
            text: String::new(),
        };
        assert_eq!(c.to_string(), "@zone:GROUP_BY");
    }

    #[test]
    fn operator_names_and_params() {
        let cases: Vec<(Operator, &str, Option<&str>)> = vec![
            (Operator::Unique, "UNIQUE", None),
            (Operator::Cluster(None), "CLUSTER", None),
            (Operator::Cluster(Some("a".into())), "CLUSTER", Some("a")),
            (Operator::GroupBy(Some(3)), "GROUP_BY", Some("3")),
            (Operator::Like(Pattern::new("x.*").unwrap()), "LIKE", Some("x.*")),
            (Operator::Unlike(Pattern::new("y").unwrap()), "UNLIKE", Some("y")),
            (Operator::MaxPer(2), "MAX_PER", Some("2")),
            (Operator::Is("v".into()), "IS", Some("v")),
            (Operator::IsNot("w".into()), "IS_NOT", Some("w")),
        ];
        for (op, name, param) in cases {
            assert_eq!(op.name(), name);
            assert_eq!(op.param().as_deref(), param);
        }
    }
}
