//! ApiVersions negotiation: for each API use the highest version both the broker and
//! this client (the `kafka-protocol` crate) support.

use std::collections::HashMap;

use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::protocol::VersionRange;

use super::error::AdminError;
use super::framing::api_name;

/// The versions a broker advertised in its ApiVersions response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersionTable {
    ranges: HashMap<i16, (i16, i16)>,
}

impl ApiVersionTable {
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        let ranges = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Self { ranges }
    }

    /// Builds a table from `(api_key, min, max)` triples (tests, fakes).
    pub fn from_ranges(ranges: &[(i16, i16, i16)]) -> Self {
        Self {
            ranges: ranges.iter().map(|&(k, min, max)| (k, (min, max))).collect(),
        }
    }

    /// The broker's range for `api_key`, if it supports the API at all.
    pub fn broker_range(&self, api_key: i16) -> Option<(i16, i16)> {
        self.ranges.get(&api_key).copied()
    }

    /// Highest version in the intersection of the broker's range, the client's range and
    /// the optional cap (`max_version`, for callers that only speak older layouts).
    pub fn pick(
        &self,
        api_key: i16,
        client: VersionRange,
        max_version: Option<i16>,
    ) -> Result<i16, AdminError> {
        let client_max = max_version.map_or(client.max, |cap| cap.min(client.max));
        let unsupported = |broker: String| AdminError::UnsupportedVersion {
            api: api_name(api_key),
            client_min: client.min,
            client_max,
            broker,
        };
        let Some((bmin, bmax)) = self.broker_range(api_key) else {
            return Err(unsupported("none".to_string()));
        };
        let lo = bmin.max(client.min);
        let hi = bmax.min(client_max);
        if lo > hi {
            Err(unsupported(format!("{bmin}..{bmax}")))
        } else {
            Ok(hi)
        }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: VersionRange = VersionRange { min: 1, max: 13 };

    #[test]
    fn picks_highest_common_version() {
        let t = ApiVersionTable::from_ranges(&[(3, 0, 12)]);
        assert_eq!(t.pick(3, CLIENT, None).unwrap(), 12);
        let t = ApiVersionTable::from_ranges(&[(3, 0, 20)]);
        assert_eq!(
            t.pick(3, CLIENT, None).unwrap(),
            13,
            "client max bounds a newer broker"
        );
        assert_eq!(t.pick(3, CLIENT, Some(9)).unwrap(), 9, "caller cap");
    }

    #[test]
    fn no_overlap_or_missing_api_is_unsupported() {
        let t = ApiVersionTable::from_ranges(&[(3, 14, 20)]);
        let e = t.pick(3, CLIENT, None).unwrap_err();
        assert_eq!(e.kind(), "unsupported_version");
        assert!(e.to_string().contains("14..20"), "{e}");
        let e = t.pick(55, CLIENT, None).unwrap_err();
        assert!(e.to_string().contains("DescribeQuorum"), "{e}");
        let t = ApiVersionTable::from_ranges(&[(3, 0, 12)]);
        assert_eq!(
            t.pick(3, CLIENT, Some(0)).unwrap_err().kind(),
            "unsupported_version",
            "cap below client min"
        );
    }

    #[test]
    fn table_from_response() {
        use kafka_protocol::messages::api_versions_response::ApiVersion;
        let resp = ApiVersionsResponse::default().with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(18)
                .with_min_version(0)
                .with_max_version(4),
        ]);
        let t = ApiVersionTable::from_response(&resp);
        assert_eq!(t.len(), 1);
        assert_eq!(t.broker_range(18), Some((0, 4)));
    }
}
