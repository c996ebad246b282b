//! The upgrade of a static quorum (`controller.quorum.voters`, `kraft.version` 0) to the dynamic
//! one (KIP-853, `kraft.version` 1), decided from observed state only.
//!
//! Kafka 4.1 and later raise `kraft.version` in place (UpdateFeatures): the leader writes the
//! voter set, with each voter's directory id, to the metadata log. From then on the voters
//! report directory ids, and the cluster is rendered like one created dynamic
//! (`controller.quorum.bootstrap.servers`, a roll). Kafka 4.0 answers the request but keeps the
//! level at 0 (KAFKA-18992), so a cluster running a 4.0 release anywhere stays static.

use super::QuorumView;

/// The feature UpdateFeatures raises.
pub const KRAFT_VERSION_FEATURE: &str = "kraft.version";
/// The level of the dynamic quorum.
pub const DYNAMIC_LEVEL: i16 = 1;
/// The first release line that upgrades a static quorum (`major`, `minor`).
pub const FIRST_UPGRADING_RELEASE: (u32, u32) = (4, 1);

/// What Kafka reports of a static cluster's quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticRead {
    /// DescribeQuorum, or why it failed.
    pub view: Result<QuorumView, String>,
    /// The finalized `kraft.version`, if ApiVersions reported it.
    pub kraft_version: Option<i16>,
}

/// The inputs of [`plan`].
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    pub read: &'a StaticRead,
    /// The Kafka release of the spec.
    pub version: &'a str,
    /// The Kafka release of every running node.
    pub running: &'a [&'a str],
    /// The user asked to keep the static quorum (`kraftwerk.dev/keep-static-quorum`).
    pub keep_static: bool,
}

/// The next step of a static cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KraftStep {
    /// `kraft.version` is 1 and the voters carry directory ids: render the dynamic quorum.
    Dynamic,
    /// Raise `kraft.version` to 1 now.
    Upgrade,
    /// The upgrade waits; the reason says for what.
    Wait(String),
    /// The quorum stays static; the reason says why.
    Keep(String),
}

/// Whether Kafka runs the quorum dynamically: `kraft.version` 1 and every voter known by its
/// directory id (a static voter has none).
pub fn upgraded(view: &QuorumView, kraft_version: Option<i16>) -> bool {
    kraft_version.is_some_and(|l| l >= DYNAMIC_LEVEL)
        && !view.voters.is_empty()
        && view.voters.iter().all(|v| !v.directory_id.is_empty())
}

/// Whether release `version` (`major.minor.patch`) upgrades a static quorum.
pub fn supports_upgrade(version: &str) -> bool {
    let mut parts = version.split('.').map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= FIRST_UPGRADING_RELEASE,
        _ => false,
    }
}

/// The next step of a static cluster, in this order: already upgraded (dynamic); kept static
/// by the user; kept static while any node (or the spec) is on a release that cannot upgrade;
/// waiting while a version change rolls (the switch to the dynamic configuration would restart
/// the nodes again), the quorum cannot be read, has no leader or a voter lags; else upgrade.
pub fn plan(inputs: &Inputs<'_>) -> KraftStep {
    let read = inputs.read;
    if let Ok(view) = &read.view
        && upgraded(view, read.kraft_version)
    {
        return KraftStep::Dynamic;
    }
    if inputs.keep_static {
        return KraftStep::Keep(format!(
            "the annotation {} keeps the static quorum",
            crate::annotations::KEEP_STATIC_QUORUM
        ));
    }
    let (major, minor) = FIRST_UPGRADING_RELEASE;
    let mut versions = std::iter::once(&inputs.version).chain(inputs.running);
    if let Some(old) = versions.find(|v| !supports_upgrade(v)) {
        return KraftStep::Keep(format!(
            "Kafka {old} cannot raise kraft.version to 1 (KAFKA-18992); the operator upgrades the \
             quorum once every node runs {major}.{minor} or later"
        ));
    }
    if let Some(other) = inputs.running.iter().find(|v| **v != inputs.version) {
        return KraftStep::Wait(format!(
            "a node still runs Kafka {other}: the change to {} rolls first",
            inputs.version
        ));
    }
    let view = match &read.view {
        Ok(view) => view,
        Err(why) => return KraftStep::Wait(format!("the quorum cannot be read: {why}")),
    };
    if view.leader.is_none() {
        return KraftStep::Wait("the controller quorum has no leader".into());
    }
    if let Some(v) = view
        .voters
        .iter()
        .find(|v| !v.caught_up && Some(v.id) != view.leader)
    {
        return KraftStep::Wait(format!("controller {} is not caught up", v.id));
    }
    match read.kraft_version {
        None => KraftStep::Wait("Kafka did not report its finalized kraft.version".into()),
        // Raised, but the leader has not written the voters' directory ids yet.
        Some(l) if l >= DYNAMIC_LEVEL => {
            KraftStep::Wait("kraft.version is 1; the voters' directory ids are not reported yet".into())
        }
        Some(_) => KraftStep::Upgrade,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::Replica;

    fn view(dirs: bool, caught_up: bool) -> QuorumView {
        let r = |id: i32| Replica {
            id,
            directory_id: if dirs { format!("d{id}") } else { String::new() },
            caught_up: caught_up || id == 9000,
            last_fetch: None,
        };
        QuorumView {
            leader: Some(9000),
            voters: vec![r(9000), r(9001), r(9002)],
            observers: Vec::new(),
        }
    }

    fn read(view: QuorumView, kraft: Option<i16>) -> StaticRead {
        StaticRead {
            view: Ok(view),
            kraft_version: kraft,
        }
    }

    /// The spec's version first, then the running nodes'.
    fn step(read: &StaticRead, versions: &[&str], keep: bool) -> KraftStep {
        plan(&Inputs {
            read,
            version: versions[0],
            running: &versions[1..],
            keep_static: keep,
        })
    }

    #[test]
    fn a_healthy_static_cluster_on_4_1_or_later_is_upgraded() {
        let r = read(view(false, true), Some(0));
        assert_eq!(step(&r, &["4.3.1", "4.3.1"], false), KraftStep::Upgrade);
        assert_eq!(step(&r, &["4.1.0"], false), KraftStep::Upgrade);
    }

    #[test]
    fn an_upgraded_quorum_is_dynamic_whatever_else_holds() {
        let r = read(view(true, false), Some(1));
        // Even with the opt-out or an old release: Kafka already runs it dynamically.
        assert_eq!(step(&r, &["4.0.2"], true), KraftStep::Dynamic);
    }

    #[test]
    fn kraft_version_1_without_directory_ids_is_not_dynamic_yet() {
        // KAFKA-18979/18992: a level of 1 alone does not make the voters dynamic.
        let r = read(view(false, true), Some(1));
        assert!(matches!(step(&r, &["4.3.1"], false), KraftStep::Wait(w) if w.contains("directory ids")));
        assert!(!upgraded(&view(false, true), Some(1)));
        assert!(!upgraded(&view(true, true), Some(0)));
        assert!(!upgraded(&QuorumView::default(), Some(1)));
    }

    #[test]
    fn the_opt_out_and_4_0_keep_the_static_quorum() {
        let r = read(view(false, true), Some(0));
        assert!(matches!(step(&r, &["4.3.1"], true), KraftStep::Keep(w) if w.contains("keep-static-quorum")));
        // One node still on 4.0 (a version upgrade under way) is enough to keep it.
        let k = step(&r, &["4.3.1", "4.0.2"], false);
        assert!(
            matches!(&k, KraftStep::Keep(w) if w.contains("4.0.2") && w.contains("4.1")),
            "{k:?}"
        );
        let k = step(&r, &["4.0.2", "4.0.2"], false);
        assert!(matches!(&k, KraftStep::Keep(w) if w.contains("4.0.2")), "{k:?}");
    }

    #[test]
    fn a_version_change_rolls_before_the_upgrade() {
        let r = read(view(false, true), Some(0));
        let k = step(&r, &["4.3.1", "4.3.1", "4.2.2"], false);
        assert!(
            matches!(&k, KraftStep::Wait(w) if w.contains("4.2.2") && w.contains("4.3.1")),
            "{k:?}"
        );
        assert_eq!(step(&r, &["4.3.1", "4.3.1", "4.3.1"], false), KraftStep::Upgrade);
    }

    #[test]
    fn the_upgrade_waits_for_a_readable_quorum_with_every_voter_caught_up() {
        let unread = StaticRead {
            view: Err("timeout".into()),
            kraft_version: None,
        };
        assert!(matches!(step(&unread, &["4.3.1"], false), KraftStep::Wait(w) if w.contains("timeout")));
        let lagging = read(view(false, false), Some(0));
        assert!(matches!(step(&lagging, &["4.3.1"], false), KraftStep::Wait(w) if w.contains("9001")));
        let mut leaderless = view(false, true);
        leaderless.leader = None;
        assert!(matches!(
            step(&read(leaderless, Some(0)), &["4.3.1"], false),
            KraftStep::Wait(_)
        ));
        let unknown_level = read(view(false, true), None);
        assert!(matches!(
            step(&unknown_level, &["4.3.1"], false),
            KraftStep::Wait(_)
        ));
    }

    #[test]
    fn release_lines_from_4_1_upgrade() {
        assert!(!supports_upgrade("4.0.2"));
        assert!(supports_upgrade("4.1.0"));
        assert!(supports_upgrade("4.3.1"));
        assert!(supports_upgrade("5.0.0"));
        assert!(!supports_upgrade("3.9.1"));
        assert!(!supports_upgrade("latest"));
    }
}
