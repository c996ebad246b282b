//! Client quotas of a user entity: DescribeClientQuotas and AlterClientQuotas.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{AlterClientQuotasRequest, DescribeClientQuotasRequest};
use kafka_protocol::protocol::StrBytes;

use super::client::{AdminClient, Target};
use super::conn::Connector;
use super::error::{AdminError, check};

/// The quota entity type of a user principal's name.
pub const USER_ENTITY: &str = "user";
/// DescribeClientQuotas match type: exactly this entity name.
const MATCH_EXACT: i8 = 0;

/// A change of one user's quotas: keys to set and keys to remove.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuotaChange {
    pub set: BTreeMap<String, f64>,
    pub remove: Vec<String>,
}

impl QuotaChange {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

impl<C: Connector> AdminClient<C> {
    /// The quotas set on exactly the entity `user=<name>` (not defaults, not client-id ones).
    pub async fn describe_user_quotas(&self, user: &str) -> Result<BTreeMap<String, f64>, AdminError> {
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                DescribeClientQuotasRequest::default()
                    .with_components(vec![
                        ComponentData::default()
                            .with_entity_type(StrBytes::from_static_str(USER_ENTITY))
                            .with_match_type(MATCH_EXACT)
                            .with_match(Some(StrBytes::from_string(user.to_string()))),
                    ])
                    .with_strict(true)
            })
            .await?;
        check(
            "DescribeClientQuotas",
            user,
            resp.error_code,
            resp.error_message.map(|m| m.to_string()),
        )?;
        Ok(resp
            .entries
            .unwrap_or_default()
            .into_iter()
            .flat_map(|e| e.values)
            .map(|v| (v.key.to_string(), v.value))
            .collect())
    }

    /// Applies `change` to the entity `user=<name>`.
    pub async fn alter_user_quotas(&self, user: &str, change: &QuotaChange) -> Result<(), AdminError> {
        if change.is_empty() {
            return Ok(());
        }
        let ops = change
            .set
            .iter()
            .map(|(k, v)| (k, *v, false))
            .chain(change.remove.iter().map(|k| (k, 0.0, true)))
            .map(|(k, v, remove)| {
                OpData::default()
                    .with_key(StrBytes::from_string(k.clone()))
                    .with_value(v)
                    .with_remove(remove)
            })
            .collect();
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                AlterClientQuotasRequest::default().with_entries(vec![
                    EntryData::default()
                        .with_entity(vec![
                            EntityData::default()
                                .with_entity_type(StrBytes::from_static_str(USER_ENTITY))
                                .with_entity_name(Some(StrBytes::from_string(user.to_string()))),
                        ])
                        .with_ops(ops),
                ])
            })
            .await?;
        for entry in &resp.entries {
            check(
                "AlterClientQuotas",
                user,
                entry.error_code,
                entry.error_message.as_ref().map(|m| m.to_string()),
            )?;
        }
        Ok(())
    }
}
