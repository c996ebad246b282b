//! What to issue or renew, and when: a pure function of the certificates' recorded state (their
//! Secrets' annotations), the digests the node pods run, and the time. The executor
//! (`controller::tls`) applies the first steps, records the result, and asks again until
//! nothing is left; killed in between, it finds the same state in the Secrets and carries on.
//!
//! CA renewal keeps trust overlapping: (1) a new CA is made and the trust bundle holds new and
//! previous CA, rolled to every node; (2) only once every node runs that bundle are node (and
//! operator) certificates reissued by the new CA, rolled again; (3) once every node runs a
//! certificate of the new CA, the previous CA leaves the bundle (a last roll).

use super::issue::CertInfo;
use super::{TlsSettings, issue};

const DAY: i64 = 86_400;

/// The CA as recorded: its certificate and the previous CAs still trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaState {
    pub current: CertInfo,
    /// Fingerprints of previous CAs kept in the trust bundle during a renewal.
    pub previous: Vec<String>,
}

impl CaState {
    /// The fingerprints the trust bundle must hold, current first.
    pub fn trusted(&self) -> Vec<String> {
        let mut all = vec![self.current.fingerprint.clone()];
        all.extend(self.previous.iter().cloned());
        all
    }
}

/// One certificate the cluster needs: a node's (server and client) or the operator's (client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// The Secret holding it.
    pub secret: String,
    /// Digest of the DNS names it must carry.
    pub sans: String,
    /// The certificate as recorded, if it exists.
    pub have: Option<CertInfo>,
    /// For a node: the TLS digest its running pod was built with (None: no pod, or none
    /// recorded). None for the operator's certificate.
    pub running: Option<String>,
    pub is_node: bool,
}

/// Everything the planner reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// Seconds since the epoch.
    pub now: i64,
    /// The CA; None when it does not exist yet (generated) or was not read yet (the user's).
    pub ca: Option<CaState>,
    /// The fingerprints the trust bundle Secret holds; None when it does not exist.
    pub bundle: Option<Vec<String>>,
    pub certs: Vec<Wanted>,
}

/// Why a certificate is (re)issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    Missing,
    Expiring,
    NamesChanged,
    NewCa,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Missing => "missing",
            Why::Expiring => "expiring",
            Why::NamesChanged => "names changed",
            Why::NewCa => "new CA",
        }
    }
}

/// One step for the executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Generate the cluster CA.
    CreateCa,
    /// Read the user's CA Secret (it is only read when needed).
    LoadUserCa,
    /// Generate a new CA, keeping the current one trusted.
    RenewCa,
    /// Write the trust bundle: these fingerprints, current CA first.
    WriteBundle(Vec<String>),
    /// Issue the certificate of this Secret.
    Issue { secret: String, why: Why },
    /// Stop trusting the previous CAs.
    DropPreviousCas,
}

/// The TLS digest of a node: its trust bundle and its certificate. Part of the pod (so a change
/// restarts the node in a roll) and recorded on it (so the planner sees what it runs).
pub fn node_digest(bundle: &[String], cert: &CertInfo) -> String {
    format!("{}-{}", bundle_digest(bundle), cert.fingerprint)
}

/// The digest of a trust bundle's fingerprints.
pub fn bundle_digest(bundle: &[String]) -> String {
    issue::short_digest(bundle.join(",").as_bytes())
}

/// The next steps, in order; empty when everything is current.
pub fn plan(settings: &TlsSettings, observed: &Observed) -> Vec<Step> {
    let Some(ca) = &observed.ca else {
        return vec![if settings.ca_secret.is_some() {
            Step::LoadUserCa
        } else {
            Step::CreateCa
        }];
    };
    let trusted = ca.trusted();
    if observed.bundle.as_ref() != Some(&trusted) {
        return vec![Step::WriteBundle(trusted)];
    }
    let renewing = !ca.previous.is_empty();
    if settings.ca_secret.is_none()
        && !renewing
        && observed.now >= ca.current.not_after - i64::from(settings.ca_renew_before_days) * DAY
    {
        return vec![Step::RenewCa];
    }
    // During a renewal, nothing is signed by the new CA until every node trusts it. A node
    // without a running pod (not created yet, or only its claim kept) starts with the current
    // bundle and does not hold the renewal up.
    let all_trust_new = observed
        .certs
        .iter()
        .filter(|c| c.is_node && c.running.is_some())
        .all(|c| running_bundle(c) == Some(bundle_digest(&trusted)));
    let steps: Vec<Step> = observed
        .certs
        .iter()
        .filter_map(|c| issue_reason(settings, observed.now, ca, c, !renewing || all_trust_new))
        .collect();
    if !steps.is_empty() {
        return steps;
    }
    let all_run_new = observed
        .certs
        .iter()
        .filter(|c| c.is_node && c.running.is_some())
        .all(|c| {
            c.have
                .as_ref()
                .is_some_and(|h| c.running.as_deref() == Some(node_digest(&trusted, h).as_str()))
        });
    if renewing && all_run_new {
        return vec![Step::DropPreviousCas];
    }
    Vec::new()
}

/// The bundle digest part of what a node runs.
fn running_bundle(c: &Wanted) -> Option<String> {
    c.running
        .as_deref()
        .and_then(|d| d.split_once('-'))
        .map(|(b, _)| b.to_string())
}

/// Why `c` must be (re)issued now, if it must. A certificate of the previous CA is reissued only
/// when `may_use_new_ca` (every node trusts the current CA); missing ones always are.
fn issue_reason(
    settings: &TlsSettings,
    now: i64,
    ca: &CaState,
    c: &Wanted,
    may_use_new_ca: bool,
) -> Option<Step> {
    let why = match &c.have {
        None => Why::Missing,
        Some(h) if h.issuer != ca.current.fingerprint => {
            if !may_use_new_ca {
                return None;
            }
            Why::NewCa
        }
        Some(h) if h.sans != c.sans => Why::NamesChanged,
        Some(h) if now >= h.not_after - i64::from(settings.cert_renew_before_days) * DAY => Why::Expiring,
        Some(_) => return None,
    };
    Some(Step::Issue {
        secret: c.secret.clone(),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn settings() -> TlsSettings {
        TlsSettings {
            internal: true,
            ca_secret: None,
            ca_validity_days: 1825,
            ca_renew_before_days: 30,
            cert_validity_days: 365,
            cert_renew_before_days: 30,
        }
    }

    fn info(fp: &str, issuer: &str, not_after: i64) -> CertInfo {
        CertInfo {
            not_after,
            fingerprint: fp.into(),
            issuer: issuer.into(),
            sans: "sans".into(),
        }
    }

    fn ca(previous: &[&str]) -> CaState {
        CaState {
            current: info("ca2", "ca2", NOW + 1000 * DAY),
            previous: previous.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A node certificate by `issuer`, and the pod running it with `bundle`.
    fn node(name: &str, issuer: &str, bundle: &[&str]) -> Wanted {
        let have = info(&format!("{name}-{issuer}"), issuer, NOW + 300 * DAY);
        let bundle: Vec<String> = bundle.iter().map(|s| s.to_string()).collect();
        Wanted {
            secret: name.into(),
            sans: "sans".into(),
            running: Some(node_digest(&bundle, &have)),
            have: Some(have),
            is_node: true,
        }
    }

    /// The steps that reissue `secrets` by the new CA, in order.
    fn reissue_by_new_ca(secrets: &[&str]) -> Vec<Step> {
        secrets
            .iter()
            .map(|s| Step::Issue {
                secret: s.to_string(),
                why: Why::NewCa,
            })
            .collect()
    }

    fn observed(ca: Option<CaState>, certs: Vec<Wanted>) -> Observed {
        Observed {
            now: NOW,
            bundle: ca.as_ref().map(CaState::trusted),
            ca,
            certs,
        }
    }

    #[test]
    fn a_new_cluster_gets_a_ca_then_a_bundle_then_every_certificate() {
        let fresh = Observed {
            now: NOW,
            ca: None,
            bundle: None,
            certs: vec![],
        };
        assert_eq!(plan(&settings(), &fresh), [Step::CreateCa]);
        let user = TlsSettings {
            ca_secret: Some("my-ca".into()),
            ..settings()
        };
        assert_eq!(plan(&user, &fresh), [Step::LoadUserCa]);
        let with_ca = Observed {
            ca: Some(ca(&[])),
            ..fresh.clone()
        };
        assert_eq!(
            plan(&settings(), &with_ca),
            [Step::WriteBundle(vec!["ca2".into()])]
        );
        let mut missing = observed(Some(ca(&[])), vec![node("b0", "ca2", &["ca2"])]);
        missing.certs[0].have = None;
        assert_eq!(
            plan(&settings(), &missing),
            [Step::Issue {
                secret: "b0".into(),
                why: Why::Missing
            }]
        );
    }

    #[test]
    fn a_current_cluster_needs_nothing() {
        let o = observed(
            Some(ca(&[])),
            vec![node("b0", "ca2", &["ca2"]), node("b1", "ca2", &["ca2"])],
        );
        assert_eq!(plan(&settings(), &o), []);
    }

    #[test]
    fn certificates_are_renewed_before_expiry_and_when_their_names_change() {
        let mut o = observed(
            Some(ca(&[])),
            vec![node("b0", "ca2", &["ca2"]), node("b1", "ca2", &["ca2"])],
        );
        // 31 days left: not yet; 30: renewed.
        o.certs[0].have.as_mut().unwrap().not_after = NOW + 31 * DAY;
        assert_eq!(plan(&settings(), &o), []);
        o.certs[0].have.as_mut().unwrap().not_after = NOW + 30 * DAY;
        o.certs[1].sans = "other names".into();
        assert_eq!(
            plan(&settings(), &o),
            [
                Step::Issue {
                    secret: "b0".into(),
                    why: Why::Expiring
                },
                Step::Issue {
                    secret: "b1".into(),
                    why: Why::NamesChanged
                }
            ]
        );
    }

    #[test]
    fn ca_renewal_overlaps_trust_until_every_node_runs_the_new_ca() {
        // The CA is 30 days from expiry: a new one.
        let mut old = ca(&[]);
        old.current = info("ca1", "ca1", NOW + 30 * DAY);
        let o = observed(Some(old), vec![node("b0", "ca1", &["ca1"])]);
        assert_eq!(plan(&settings(), &o), [Step::RenewCa]);

        // (1) New CA made; the bundle must hold both before anything else.
        let renewing = ca(&["ca1"]);
        let mut o = observed(
            Some(renewing.clone()),
            vec![node("b0", "ca1", &["ca1"]), node("b1", "ca1", &["ca1"])],
        );
        o.bundle = Some(vec!["ca1".into()]);
        assert_eq!(
            plan(&settings(), &o),
            [Step::WriteBundle(vec!["ca2".into(), "ca1".into()])]
        );

        // Bundle written, nodes not yet rolled onto it: no certificate of the new CA yet.
        o.bundle = Some(renewing.trusted());
        assert_eq!(plan(&settings(), &o), []);
        // b0 rolled onto the bundle, b1 not: still nothing.
        o.certs[0] = node("b0", "ca1", &["ca2", "ca1"]);
        assert_eq!(plan(&settings(), &o), []);
        // (2) Every node trusts both: reissue by the new CA.
        o.certs[1] = node("b1", "ca1", &["ca2", "ca1"]);
        assert_eq!(plan(&settings(), &o), reissue_by_new_ca(&["b0", "b1"]));
        // Issued; b1's pod still runs the old certificate: the previous CA stays trusted.
        o.certs[0] = node("b0", "ca2", &["ca2", "ca1"]);
        let mut b1 = node("b1", "ca2", &["ca2", "ca1"]);
        b1.running = node("b1", "ca1", &["ca2", "ca1"]).running;
        o.certs[1] = b1;
        assert_eq!(plan(&settings(), &o), []);
        // (3) Every node runs a certificate of the new CA: drop the previous one.
        o.certs[1] = node("b1", "ca2", &["ca2", "ca1"]);
        assert_eq!(plan(&settings(), &o), [Step::DropPreviousCas]);
    }

    #[test]
    fn a_node_without_a_pod_does_not_hold_a_renewal_up() {
        let mut o = observed(Some(ca(&["ca1"])), vec![node("b0", "ca1", &["ca2", "ca1"])]);
        let mut claim_only = node("b5", "ca1", &["ca1"]);
        claim_only.running = None;
        o.certs.push(claim_only);
        assert_eq!(plan(&settings(), &o), reissue_by_new_ca(&["b0", "b5"]));
        o.certs[0] = node("b0", "ca2", &["ca2", "ca1"]);
        o.certs[1].have = Some(info("b5-ca2", "ca2", NOW + 300 * DAY));
        assert_eq!(plan(&settings(), &o), [Step::DropPreviousCas]);
    }

    #[test]
    fn a_users_ca_is_never_renewed_by_the_operator() {
        let user = TlsSettings {
            ca_secret: Some("my-ca".into()),
            ..settings()
        };
        let mut expiring = ca(&[]);
        expiring.current.not_after = NOW + DAY;
        let o = observed(Some(expiring), vec![node("b0", "ca2", &["ca2"])]);
        assert_eq!(plan(&user, &o), []);
    }

    #[test]
    fn a_missing_certificate_is_issued_even_mid_renewal() {
        let mut o = observed(Some(ca(&["ca1"])), vec![node("b0", "ca1", &["ca1"])]);
        let mut new_node = node("b1", "ca2", &["ca2", "ca1"]);
        new_node.have = None;
        new_node.running = None;
        o.certs.push(new_node);
        assert_eq!(
            plan(&settings(), &o),
            [Step::Issue {
                secret: "b1".into(),
                why: Why::Missing
            }]
        );
    }
}
