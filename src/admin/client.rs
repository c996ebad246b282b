//! The admin client: bootstrap over several addresses, one connection per node, routing
//! to "any node" or to a specific broker.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kafka_protocol::messages::DescribeClusterRequest;
use kafka_protocol::protocol::Request;

use super::conn::{Connection, Connector, TcpConnector};
use super::error::AdminError;
use super::tls::{ClientTls, Secured};
use super::versions::ApiVersionTable;

/// A `host:port` address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }

    /// Parses `host:port` or `[v6addr]:port`.
    pub fn parse(s: &str) -> Result<Self, AdminError> {
        let s = s.trim();
        let bad = || AdminError::InvalidArgument(format!("expected host:port, got {s:?}"));
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
            (h, p)
        } else {
            s.rsplit_once(':').ok_or_else(bad)?
        };
        if host.is_empty() || host.contains(':') && !s.starts_with('[') {
            return Err(bad());
        }
        let port = port.parse::<u16>().map_err(|_| bad())?;
        if port == 0 {
            return Err(bad());
        }
        Ok(Self::new(host, port))
    }

    /// Parses a comma-separated list (`a:9092,b:9092`); empty entries are ignored.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, AdminError> {
        let list = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Self::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err(AdminError::InvalidArgument("no bootstrap address given".into()));
        }
        Ok(list)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Timeouts and identity of the client.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// `client.id` sent in every request header.
    pub client_id: String,
    /// Time allowed to open a TCP (or TLS) connection.
    pub connect_timeout: Duration,
    /// Time allowed for one request/response round trip (also the handshake).
    pub request_timeout: Duration,
    /// TLS to the listener (trusted CA, client certificate); None: plaintext.
    pub tls: Option<ClientTls>,
    /// SASL/SCRAM credentials: every new connection authenticates with them (see [`super::sasl`]).
    pub sasl: Option<super::sasl::ScramCredentials>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            client_id: "kraftwerk-admin".to_string(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            tls: None,
            sasl: None,
        }
    }
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Any reachable node: the last one that worked, then the bootstrap list, then every
    /// broker learned from metadata. Brokers forward controller-bound requests.
    Any,
    /// The broker with this node id (its address comes from Metadata/DescribeCluster).
    Node(i32),
}

type Slot<S> = Arc<tokio::sync::Mutex<Option<Connection<S>>>>;

/// Kafka admin client over `kafka-protocol`. Cheap to share behind an `Arc`; every method
/// takes `&self`. Requests to the same node are serialized on its one connection.
pub struct AdminClient<C: Connector = Secured<TcpConnector>> {
    connector: C,
    config: AdminConfig,
    bootstrap: Vec<HostPort>,
    nodes: Mutex<BTreeMap<i32, HostPort>>,
    slots: Mutex<HashMap<HostPort, Slot<C::Stream>>>,
    preferred: Mutex<Option<HostPort>>,
}

impl<C: Connector> fmt::Debug for AdminClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminClient")
            .field("bootstrap", &self.bootstrap)
            .field("config", &self.config)
            .finish()
    }
}

impl AdminClient<Secured<TcpConnector>> {
    /// A client for `host:port[,host:port...]`, with TLS when `config.tls` is set. Connects
    /// lazily.
    pub fn new(bootstrap: &str, config: AdminConfig) -> Result<Self, AdminError> {
        let connector = Secured::new(TcpConnector, config.tls.as_ref())?;
        Self::with_connector(connector, HostPort::parse_list(bootstrap)?, config)
    }
}

impl<C: Connector> AdminClient<C> {
    /// A client that opens its streams through `connector` (TLS, tests).
    pub fn with_connector(
        connector: C,
        bootstrap: Vec<HostPort>,
        config: AdminConfig,
    ) -> Result<Self, AdminError> {
        if bootstrap.is_empty() {
            return Err(AdminError::InvalidArgument("no bootstrap address given".into()));
        }
        Ok(Self {
            connector,
            config,
            bootstrap,
            nodes: Mutex::new(BTreeMap::new()),
            slots: Mutex::new(HashMap::new()),
            preferred: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &AdminConfig {
        &self.config
    }

    /// Server-side timeout to put in requests that carry one: a bit less than ours, so
    /// Kafka answers (with REQUEST_TIMED_OUT) before we give up on the connection.
    pub(crate) fn server_timeout_ms(&self) -> i32 {
        let ms = self.config.request_timeout.as_millis().saturating_mul(3) / 4;
        i32::try_from(ms).unwrap_or(i32::MAX).max(1)
    }

    /// Records node addresses learned from Metadata or DescribeCluster.
    pub(crate) fn learn_nodes(&self, nodes: impl IntoIterator<Item = (i32, HostPort)>) {
        let mut map = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, addr) in nodes {
            map.insert(id, addr);
        }
    }

    /// The address known for `node_id`, if any.
    pub fn node_address(&self, node_id: i32) -> Option<HostPort> {
        self.nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&node_id)
            .cloned()
    }

    /// Sends a request built for the negotiated version (the closure receives it) to
    /// `target` and returns the response and the version used. `max_version` caps the
    /// negotiation for callers that only fill older layouts.
    pub async fn send<R, F>(
        &self,
        target: Target,
        max_version: Option<i16>,
        build: F,
    ) -> Result<(R::Response, i16), AdminError>
    where
        R: Request,
        F: FnOnce(i16) -> R,
    {
        let guard = self.connected(target).await?;
        self.send_inner(guard, max_version, build).await
    }

    async fn send_inner<R, F>(
        &self,
        mut guard: tokio::sync::OwnedMutexGuard<Option<Connection<C::Stream>>>,
        max_version: Option<i16>,
        build: F,
    ) -> Result<(R::Response, i16), AdminError>
    where
        R: Request,
        F: FnOnce(i16) -> R,
    {
        let result = match guard.as_mut() {
            Some(conn) => {
                conn.send::<R, F>(max_version, self.config.request_timeout, build)
                    .await
            }
            None => Err(AdminError::Protocol {
                addr: String::new(),
                detail: "connection vanished".into(),
            }),
        };
        if result.as_ref().is_err_and(AdminError::poisons_connection) {
            *guard = None;
        }
        result
    }

    /// The ApiVersions table of the node `target` resolves to.
    pub async fn api_versions(&self, target: Target) -> Result<ApiVersionTable, AdminError> {
        let guard = self.connected(target).await?;
        guard
            .as_ref()
            .map(|c| c.versions().clone())
            .ok_or_else(|| AdminError::Protocol {
                addr: String::new(),
                detail: "connection vanished".into(),
            })
    }

    /// Drops every open connection (they are reopened on demand).
    pub fn disconnect_all(&self) {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    async fn connected(
        &self,
        target: Target,
    ) -> Result<tokio::sync::OwnedMutexGuard<Option<Connection<C::Stream>>>, AdminError> {
        match target {
            Target::Node(id) => {
                let addr = match self.node_address(id) {
                    Some(a) => a,
                    None => {
                        // Learn the broker list (including fenced brokers) and look again.
                        let (resp, version) = self
                            .send_inner::<DescribeClusterRequest, _>(
                                self.connected_any().await?,
                                None,
                                super::cluster::describe_cluster_request,
                            )
                            .await?;
                        self.absorb_describe_cluster(resp, version)?;
                        self.node_address(id).ok_or(AdminError::UnknownBroker(id))?
                    }
                };
                self.connect_to(&addr).await
            }
            Target::Any => self.connected_any().await,
        }
    }

    async fn connected_any(
        &self,
    ) -> Result<tokio::sync::OwnedMutexGuard<Option<Connection<C::Stream>>>, AdminError> {
        let mut candidates: Vec<HostPort> = Vec::new();
        if let Some(p) = self
            .preferred
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            candidates.push(p);
        }
        candidates.extend(self.bootstrap.iter().cloned());
        candidates.extend(
            self.nodes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .cloned(),
        );
        let mut seen = std::collections::HashSet::new();
        candidates.retain(|c| seen.insert(c.clone()));
        let mut last = None;
        for addr in &candidates {
            match self.connect_to(addr).await {
                Ok(guard) => {
                    *self.preferred.lock().unwrap_or_else(PoisonError::into_inner) = Some(addr.clone());
                    return Ok(guard);
                }
                Err(e) => last = Some(e),
            }
        }
        let tried = candidates
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        Err(match last {
            Some(last) => AdminError::NoBrokerAvailable {
                tried,
                last: Box::new(last),
            },
            None => AdminError::InvalidArgument("no bootstrap address given".into()),
        })
    }

    /// Locks the connection slot of `addr`, (re)connecting if needed.
    async fn connect_to(
        &self,
        addr: &HostPort,
    ) -> Result<tokio::sync::OwnedMutexGuard<Option<Connection<C::Stream>>>, AdminError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.entry(addr.clone()).or_default().clone()
        };
        let mut guard = slot.lock_owned().await;
        if guard.as_mut().is_some_and(Connection::is_stale) {
            *guard = None;
        }
        if guard.is_none() {
            let name = addr.to_string();
            let stream = match tokio::time::timeout(
                self.config.connect_timeout,
                self.connector.connect(&addr.host, addr.port),
            )
            .await
            {
                Err(_) => {
                    return Err(AdminError::Timeout {
                        addr: name,
                        what: "connect".into(),
                        after: self.config.connect_timeout,
                    });
                }
                Ok(Err(source)) => return Err(AdminError::Connect { addr: name, source }),
                Ok(Ok(s)) => s,
            };
            let mut conn =
                Connection::handshake(stream, &name, &self.config.client_id, self.config.request_timeout)
                    .await?;
            if let Some(credentials) = &self.config.sasl {
                super::sasl::authenticate(&mut conn, credentials, self.config.request_timeout).await?;
            }
            *guard = Some(conn);
        }
        Ok(guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(HostPort::parse("a.b:9092").unwrap(), HostPort::new("a.b", 9092));
        assert_eq!(
            HostPort::parse(" [::1]:19092 ").unwrap(),
            HostPort::new("::1", 19092)
        );
        assert_eq!(HostPort::new("::1", 1).to_string(), "[::1]:1");
        for bad in ["a", "a:", ":9", "a:0", "a:70000", "::1:9092", "[::1]9092"] {
            assert_eq!(
                HostPort::parse(bad).unwrap_err().kind(),
                "invalid_argument",
                "{bad}"
            );
        }
        let l = HostPort::parse_list("127.0.0.1:1,127.0.0.1:2,").unwrap();
        assert_eq!(l.len(), 2);
        assert!(HostPort::parse_list(" , ").is_err());
    }

    #[tokio::test]
    async fn unreachable_bootstrap_fails_fast_with_every_address_tried() {
        // Two ports nothing listens on (bound then released).
        let ports: Vec<u16> = (0..2)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            })
            .collect();
        let client = AdminClient::new(
            &format!("127.0.0.1:{},127.0.0.1:{}", ports[0], ports[1]),
            AdminConfig::default(),
        )
        .unwrap();
        let started = std::time::Instant::now();
        let err = client.describe_cluster().await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(err.kind(), "no_broker_available");
        let msg = err.to_string();
        assert!(
            msg.contains(&ports[0].to_string()) && msg.contains(&ports[1].to_string()),
            "{msg}"
        );
        assert!(err.is_retriable());
    }

    #[test]
    fn server_timeout_is_below_client_timeout() {
        let c = AdminClient::new(
            "h:1",
            AdminConfig {
                request_timeout: Duration::from_secs(4),
                ..AdminConfig::default()
            },
        )
        .unwrap();
        assert_eq!(c.server_timeout_ms(), 3000);
    }
}
