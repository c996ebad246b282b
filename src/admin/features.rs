//! Finalized cluster features (what `kafka-features.sh describe` prints as "FinalizedVersionLevel"):
//! `metadata.version`, `eligible.leader.replicas.version`, `kraft.version`, ... Kafka has no
//! DescribeFeatures API; the Java admin client's `describeFeatures` reads them from an
//! ApiVersions response (v3+), and so does this.

use std::collections::BTreeMap;

use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, UpdateFeaturesRequest};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use super::client::{AdminClient, Target};
use super::conn::Connector;
use super::error::{AdminError, check};

/// The feature that turns on Eligible Leader Replicas (KIP-966); on by default on clusters
/// formatted by Kafka 4.1 or later.
pub const ELR_FEATURE: &str = "eligible.leader.replicas.version";
/// The metadata version feature.
pub const METADATA_VERSION_FEATURE: &str = "metadata.version";

/// Feature levels the cluster has finalized, as one broker knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FinalizedFeatures {
    /// Epoch of the finalized set (the metadata offset it was read at).
    pub epoch: i64,
    /// Finalized (max) level of every feature Kafka reports.
    pub levels: BTreeMap<String, i16>,
}

impl FinalizedFeatures {
    /// The finalized level of `feature`; `None` when Kafka does not list it (level 0).
    pub fn level(&self, feature: &str) -> Option<i16> {
        self.levels.get(feature).copied()
    }

    /// Whether Eligible Leader Replicas are on: `min.insync.replicas` then lives only at the
    /// cluster level (Kafka refuses broker-level values).
    pub fn elr_enabled(&self) -> bool {
        self.level(ELR_FEATURE).is_some_and(|l| l >= 1)
    }

    /// The finalized `metadata.version` level (e.g. 30 for 4.3-IV0), if reported.
    pub fn metadata_version(&self) -> Option<i16> {
        self.level(METADATA_VERSION_FEATURE)
    }

    /// From an ApiVersions response. An epoch of -1 means the broker does not know the
    /// finalized set yet (it is still catching up with the metadata log).
    pub fn from_response(response: &ApiVersionsResponse) -> Result<Self, AdminError> {
        if response.finalized_features_epoch < 0 {
            return Err(AdminError::Protocol {
                addr: String::new(),
                detail: "ApiVersions reports no finalized features yet (epoch -1)".into(),
            });
        }
        Ok(Self {
            epoch: response.finalized_features_epoch,
            levels: response
                .finalized_features
                .iter()
                .map(|f| (f.name.to_string(), f.max_version_level))
                .collect(),
        })
    }
}

/// The feature ranges one node supports (`SupportedFeatures` of its ApiVersions answer):
/// name → (min, max).
pub type SupportedFeatures = BTreeMap<String, (i16, i16)>;

/// The supported ranges of an ApiVersions response.
pub fn supported_from_response(response: &ApiVersionsResponse) -> SupportedFeatures {
    response
        .supported_features
        .iter()
        .map(|f| (f.name.to_string(), (f.min_version, f.max_version)))
        .collect()
}

/// UpdateFeatures upgrade type: raise only.
const UPGRADE: i8 = 1;

/// The UpdateFeatures request raising each `(feature, level)`; `validate_only` asks the
/// controller to check without applying.
pub fn update_request(updates: &[(String, i16)], validate_only: bool) -> UpdateFeaturesRequest {
    UpdateFeaturesRequest::default()
        .with_timeout_ms(30_000)
        .with_validate_only(validate_only)
        .with_feature_updates(
            updates
                .iter()
                .map(|(name, level)| {
                    FeatureUpdateKey::default()
                        .with_feature(StrBytes::from_string(name.clone()))
                        .with_max_version_level(*level)
                        .with_upgrade_type(UPGRADE)
                })
                .collect(),
        )
}

impl<C: Connector> AdminClient<C> {
    /// The cluster's finalized features, read with a fresh ApiVersions request (v3+) from any
    /// broker (the handshake's answer may be older than a feature upgrade).
    pub async fn finalized_features(&self) -> Result<FinalizedFeatures, AdminError> {
        FinalizedFeatures::from_response(&self.features_response(Target::Any).await?)
    }

    /// The feature ranges the node `target` resolves to supports (a fresh ApiVersions).
    pub async fn supported_features(&self, target: Target) -> Result<SupportedFeatures, AdminError> {
        Ok(supported_from_response(&self.features_response(target).await?))
    }

    /// Raises features (`kafka-features.sh upgrade`): each `(feature, level)`. Kafka's
    /// controller refuses a level some registered node does not support; with `validate_only`
    /// it only checks.
    pub async fn update_features(
        &self,
        updates: &[(String, i16)],
        validate_only: bool,
    ) -> Result<(), AdminError> {
        let (resp, version) = self
            .send(Target::Any, None, |_| update_request(updates, validate_only))
            .await?;
        if version < 1 {
            return Err(AdminError::UnsupportedVersion {
                api: "UpdateFeatures (upgrade type)".into(),
                client_min: 1,
                client_max: version,
                broker: format!("..{version}"),
            });
        }
        check(
            "UpdateFeatures",
            "features",
            resp.error_code,
            resp.error_message.map(|m| m.to_string()),
        )?;
        for r in resp.results {
            check(
                "UpdateFeatures",
                &r.feature,
                r.error_code,
                r.error_message.map(|m| m.to_string()),
            )?;
        }
        Ok(())
    }

    /// A fresh ApiVersions (v3+) answer of `target`, with its features.
    async fn features_response(&self, target: Target) -> Result<ApiVersionsResponse, AdminError> {
        let (resp, version) = self
            .send(target, None, |_| {
                ApiVersionsRequest::default()
                    .with_client_software_name(StrBytes::from_static_str("kraftwerk"))
                    .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")))
            })
            .await?;
        check("ApiVersions", "features", resp.error_code, None)?;
        if version < 3 {
            return Err(AdminError::UnsupportedVersion {
                api: "ApiVersions (finalized features)".into(),
                client_min: 3,
                client_max: version,
                broker: format!("..{version}"),
            });
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::FinalizedFeatureKey;

    fn response(epoch: i64, features: &[(&'static str, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse::default()
            .with_finalized_features_epoch(epoch)
            .with_finalized_features(
                features
                    .iter()
                    .map(|(n, l)| {
                        FinalizedFeatureKey::default()
                            .with_name(StrBytes::from_static_str(n))
                            .with_min_version_level(*l)
                            .with_max_version_level(*l)
                    })
                    .collect(),
            )
    }

    #[test]
    fn elr_is_on_from_level_one() {
        let f = FinalizedFeatures::from_response(&response(
            42,
            &[(ELR_FEATURE, 1), (METADATA_VERSION_FEATURE, 29)],
        ))
        .unwrap();
        assert_eq!(f.epoch, 42);
        assert!(f.elr_enabled());
        assert_eq!(f.metadata_version(), Some(29));
        let f = FinalizedFeatures::from_response(&response(7, &[(METADATA_VERSION_FEATURE, 21)])).unwrap();
        assert!(!f.elr_enabled(), "an unlisted feature is level 0");
        let f = FinalizedFeatures::from_response(&response(7, &[(ELR_FEATURE, 0)])).unwrap();
        assert!(!f.elr_enabled());
    }

    #[test]
    fn supported_ranges_and_update_request() {
        use kafka_protocol::messages::api_versions_response::SupportedFeatureKey;
        let resp = ApiVersionsResponse::default().with_supported_features(vec![
            SupportedFeatureKey::default()
                .with_name(StrBytes::from_static_str(METADATA_VERSION_FEATURE))
                .with_min_version(7)
                .with_max_version(30),
        ]);
        assert_eq!(
            supported_from_response(&resp),
            BTreeMap::from([(METADATA_VERSION_FEATURE.to_string(), (7, 30))])
        );
        let req = update_request(&[(METADATA_VERSION_FEATURE.into(), 30)], true);
        assert!(req.validate_only);
        assert_eq!(req.feature_updates.len(), 1);
        let u = &req.feature_updates[0];
        assert_eq!(
            (u.feature.as_str(), u.max_version_level, u.upgrade_type),
            (METADATA_VERSION_FEATURE, 30, 1)
        );
        assert!(!u.allow_downgrade);
    }

    #[test]
    fn unknown_epoch_is_an_error() {
        let e = FinalizedFeatures::from_response(&response(-1, &[])).unwrap_err();
        assert_eq!(e.kind(), "protocol");
    }
}
