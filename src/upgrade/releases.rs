//! The Kafka releases the operator supports, and the `metadata.version` levels they read and
//! write. Every level and default below is what `kafka-features.sh version-mapping
//! --release-version <x>` of Kafka 4.3.1 prints (the real-Kafka upgrade test checks the table
//! against the tool of each fetched release).

/// One supported Kafka release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    /// `major.minor.patch`, as in `spec.version`.
    pub version: &'static str,
    /// The tag of the default image (`apache/kafka:<tag>`).
    pub image_tag: &'static str,
    /// The release's default (and highest production) `metadata.version` level: what a
    /// cluster formatted by it starts at, and the highest level it can run.
    pub metadata_version: i16,
    /// The other finalized features a cluster formatted by this release starts with.
    pub features: &'static [(&'static str, i16)],
}

/// Feature defaults of the 4.0 line.
const FEATURES_4_0: &[(&str, i16)] = &[
    ("eligible.leader.replicas.version", 0),
    ("group.version", 1),
    ("kraft.version", 1),
    ("share.version", 0),
    ("streams.version", 0),
    ("transaction.version", 2),
];
/// Feature defaults of the 4.1 line: Eligible Leader Replicas on.
const FEATURES_4_1: &[(&str, i16)] = &[
    ("eligible.leader.replicas.version", 1),
    ("group.version", 1),
    ("kraft.version", 1),
    ("share.version", 0),
    ("streams.version", 0),
    ("transaction.version", 2),
];
/// Feature defaults of the 4.2 and 4.3 lines: share groups and the streams protocol on.
const FEATURES_4_2: &[(&str, i16)] = &[
    ("eligible.leader.replicas.version", 1),
    ("group.version", 1),
    ("kraft.version", 1),
    ("share.version", 1),
    ("streams.version", 1),
    ("transaction.version", 2),
];

const fn release(
    version: &'static str,
    metadata_version: i16,
    features: &'static [(&'static str, i16)],
) -> Release {
    Release {
        version,
        image_tag: version,
        metadata_version,
        features,
    }
}

/// Every release the operator supports, oldest first.
pub const RELEASES: &[Release] = &[
    release("4.0.0", 25, FEATURES_4_0),
    release("4.0.1", 25, FEATURES_4_0),
    release("4.0.2", 25, FEATURES_4_0),
    release("4.1.0", 27, FEATURES_4_1),
    release("4.1.1", 27, FEATURES_4_1),
    release("4.1.2", 27, FEATURES_4_1),
    release("4.2.0", 29, FEATURES_4_2),
    release("4.2.1", 29, FEATURES_4_2),
    release("4.2.2", 29, FEATURES_4_2),
    release("4.3.0", 30, FEATURES_4_2),
    release("4.3.1", 30, FEATURES_4_2),
];

/// The lowest `metadata.version` every 4.x release runs (3.3-IV3).
pub const MIN_METADATA_VERSION: i16 = 7;

/// Names of the `metadata.version` levels from [`MIN_METADATA_VERSION`] on.
const METADATA_VERSION_NAMES: &[&str] = &[
    "3.3-IV3", "3.4-IV0", "3.5-IV0", "3.5-IV1", "3.5-IV2", "3.6-IV0", "3.6-IV1", "3.6-IV2", "3.7-IV0",
    "3.7-IV1", "3.7-IV2", "3.7-IV3", "3.7-IV4", "3.8-IV0", "3.9-IV0", "4.0-IV0", "4.0-IV1", "4.0-IV2",
    "4.0-IV3", "4.1-IV0", "4.1-IV1", "4.2-IV0", "4.2-IV1", "4.3-IV0",
];

/// The supported release `version`, if it is one.
pub fn find(version: &str) -> Option<&'static Release> {
    RELEASES.iter().find(|r| r.version == version)
}

/// The supported versions, for messages.
pub fn supported_list() -> String {
    RELEASES.iter().map(|r| r.version).collect::<Vec<_>>().join(", ")
}

/// The name of `metadata.version` `level` (e.g. 30 → `4.3-IV0`), or the bare level when the
/// table does not know it.
pub fn metadata_version_name(level: i16) -> String {
    usize::try_from(level - MIN_METADATA_VERSION)
        .ok()
        .and_then(|i| METADATA_VERSION_NAMES.get(i))
        .map_or_else(|| level.to_string(), |n| (*n).to_string())
}

/// The level of a `metadata.version` as the user writes it: a full name (`4.2-IV1`) or a
/// release line (`4.2`, that line's default level).
pub fn parse_metadata_version(s: &str) -> Option<i16> {
    if let Some(i) = METADATA_VERSION_NAMES.iter().position(|n| *n == s) {
        return i16::try_from(i).ok().map(|i| i + MIN_METADATA_VERSION);
    }
    RELEASES
        .iter()
        .filter(|r| line(r.version) == s)
        .map(|r| r.metadata_version)
        .max()
}

/// The release line (`major.minor`) of a version.
pub fn line(version: &str) -> &str {
    match version.match_indices('.').nth(1) {
        Some((i, _)) => &version[..i],
        None => version,
    }
}

/// The release line whose default `metadata.version` is `level` (what a node supporting up to
/// `level` runs), e.g. 30 → `4.3`.
pub fn line_of_metadata_version(level: i16) -> Option<&'static str> {
    RELEASES
        .iter()
        .find(|r| r.metadata_version == level)
        .map(|r| line(r.version))
}

/// Orders two `major.minor.patch` versions numerically (unparsable parts count as 0).
pub fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a).cmp(&parts(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_ordered_and_levels_only_rise() {
        for pair in RELEASES.windows(2) {
            assert_eq!(
                compare(pair[0].version, pair[1].version),
                std::cmp::Ordering::Less
            );
            assert!(pair[0].metadata_version <= pair[1].metadata_version);
        }
        let last = RELEASES.last().unwrap();
        assert_eq!(metadata_version_name(last.metadata_version), "4.3-IV0");
    }

    #[test]
    fn metadata_version_names_and_lines() {
        assert_eq!(metadata_version_name(7), "3.3-IV3");
        assert_eq!(metadata_version_name(25), "4.0-IV3");
        assert_eq!(metadata_version_name(29), "4.2-IV1");
        assert_eq!(metadata_version_name(30), "4.3-IV0");
        assert_eq!(metadata_version_name(31), "31", "unknown levels stay numbers");
        assert_eq!(metadata_version_name(-1), "-1");
        assert_eq!(parse_metadata_version("4.2-IV1"), Some(29));
        assert_eq!(parse_metadata_version("4.2-IV0"), Some(28));
        assert_eq!(
            parse_metadata_version("4.2"),
            Some(29),
            "a line means its default"
        );
        assert_eq!(parse_metadata_version("3.9-IV0"), Some(21));
        assert_eq!(parse_metadata_version("4.4"), None);
        assert_eq!(parse_metadata_version("4.3-IV1"), None);
        assert_eq!(line("4.3.1"), "4.3");
        assert_eq!(line("4"), "4");
        assert_eq!(line_of_metadata_version(29), Some("4.2"));
        assert_eq!(line_of_metadata_version(28), None);
    }

    #[test]
    fn finds_supported_releases_only() {
        assert_eq!(find("4.2.2").map(|r| r.metadata_version), Some(29));
        assert_eq!(find("4.3.1").map(|r| r.image_tag), Some("4.3.1"));
        assert!(find("4.4.0").is_none());
        assert!(find("3.9.0").is_none());
        assert!(supported_list().starts_with("4.0.0, 4.0.1"));
        assert_eq!(compare("4.10.0", "4.9.1"), std::cmp::Ordering::Greater);
    }
}
