//! DescribeLogDirs: the partitions a broker holds on disk and their sizes.

use std::collections::BTreeMap;

use kafka_protocol::messages::DescribeLogDirsRequest;

use super::client::{AdminClient, Target};
use super::conn::Connector;
use super::error::{AdminError, check};

/// Bytes on disk per (topic, partition) on one broker, over all its log dirs. A future replica
/// (a move between the broker's own directories) is not counted.
pub type PartitionSizes = BTreeMap<(String, i32), u64>;

impl<C: Connector> AdminClient<C> {
    /// The sizes of every partition replica broker `broker` holds (DescribeLogDirs answers for
    /// the broker it is sent to). A log dir that reports an error (offline) is skipped.
    pub async fn describe_log_dirs(&self, broker: i32) -> Result<PartitionSizes, AdminError> {
        let (resp, version) = self
            .send(Target::Node(broker), None, |_| {
                DescribeLogDirsRequest::default().with_topics(None)
            })
            .await?;
        if version >= 3 {
            check(
                "DescribeLogDirs",
                &format!("broker {broker}"),
                resp.error_code,
                None,
            )?;
        }
        let mut sizes = PartitionSizes::new();
        for dir in resp.results.into_iter().filter(|d| d.error_code == 0) {
            for topic in dir.topics {
                for p in topic.partitions.into_iter().filter(|p| !p.is_future_key) {
                    let size = u64::try_from(p.partition_size).unwrap_or(0);
                    *sizes
                        .entry((topic.name.0.to_string(), p.partition_index))
                        .or_default() += size;
                }
            }
        }
        Ok(sizes)
    }
}
