//! One connection to one Kafka node: handshake (ApiVersions), correlation ids, framing,
//! per-request timeouts. Generic over the byte stream so TLS can be slotted in through a
//! [`Connector`] that wraps the TCP stream.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Decodable, Message, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::error::AdminError;
use super::framing::{api_name, decode_response, encode_request, read_frame, split_v0_header, write_frame};
use super::versions::ApiVersionTable;

/// Opens byte streams to Kafka nodes. Implement it to add TLS (wrap the `TcpStream` of
/// [`TcpConnector`] in a `tokio_rustls::client::TlsStream`) or SASL pre-authentication.
pub trait Connector: Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn connect(&self, host: &str, port: u16) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

/// Plain TCP (PLAINTEXT listeners).
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    type Stream = TcpStream;
    async fn connect(&self, host: &str, port: u16) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// An established, negotiated connection. Requests are strictly sequential.
#[derive(Debug)]
pub struct Connection<S> {
    stream: S,
    addr: String,
    client_id: String,
    next_correlation_id: i32,
    versions: ApiVersionTable,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Connection<S> {
    /// Runs the ApiVersions handshake on a fresh stream. Starts with the highest
    /// ApiVersions version this crate knows; if the broker answers UNSUPPORTED_VERSION (in
    /// a v0 body, as Kafka does), retries with the broker's maximum.
    pub async fn handshake(
        stream: S,
        addr: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<Self, AdminError> {
        let mut conn = Connection {
            stream,
            addr: addr.to_string(),
            client_id: client_id.to_string(),
            next_correlation_id: 0,
            versions: ApiVersionTable::default(),
        };
        let mut version = ApiVersionsRequest::VERSIONS.max;
        for _attempt in 0..2 {
            let request = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("kraftwerk"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
            let correlation_id = conn.next_id();
            let frame = encode_request(&request, version, correlation_id, client_id).map_err(|detail| {
                AdminError::Encode {
                    api: "ApiVersions".into(),
                    detail,
                }
            })?;
            let raw = conn.roundtrip_raw(&frame, "ApiVersions", timeout).await?;
            let body = split_v0_header(raw, correlation_id).map_err(|d| conn.protocol(d))?;
            let response = match ApiVersionsResponse::decode(&mut body.clone(), version) {
                Ok(r) if r.error_code == 0 => r,
                _ => {
                    // UNSUPPORTED_VERSION: the broker answers in v0 with its own range.
                    let v0 = ApiVersionsResponse::decode(&mut body.clone(), 0)
                        .map_err(|e| conn.protocol(format!("ApiVersions v0 body: {e}")))?;
                    let table = ApiVersionTable::from_response(&v0);
                    match table.broker_range(ApiVersionsRequest::KEY) {
                        Some((_, bmax)) if v0.error_code == 35 && bmax < version => {
                            version = bmax;
                            continue;
                        }
                        _ => {
                            return Err(AdminError::from_code("ApiVersions", addr, v0.error_code, None)
                                .or_protocol(addr));
                        }
                    }
                }
            };
            conn.versions = ApiVersionTable::from_response(&response);
            return Ok(conn);
        }
        Err(conn.protocol("ApiVersions negotiation did not converge".into()))
    }

    /// Whether the idle connection is unusable: Kafka never sends unsolicited bytes, so a
    /// readable socket between requests means EOF (peer closed or died) or garbage.
    pub fn is_stale(&mut self) -> bool {
        use futures::FutureExt as _;
        use tokio::io::AsyncReadExt as _;
        let mut probe = [0u8; 1];
        self.stream.read(&mut probe).now_or_never().is_some()
    }

    /// The address this connection talks to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// What the peer advertised in ApiVersions.
    pub fn versions(&self) -> &ApiVersionTable {
        &self.versions
    }

    /// Sends one request built for the negotiated version (the builder sees the version,
    /// so callers can fill version-dependent fields) and waits for its response.
    pub async fn send<R, F>(
        &mut self,
        max_version: Option<i16>,
        timeout: Duration,
        build: F,
    ) -> Result<(R::Response, i16), AdminError>
    where
        R: Request,
        F: FnOnce(i16) -> R,
    {
        let version = self.versions.pick(R::KEY, R::VERSIONS, max_version)?;
        let request = build(version);
        let correlation_id = self.next_id();
        let frame = encode_request(&request, version, correlation_id, &self.client_id).map_err(|detail| {
            AdminError::Encode {
                api: api_name(R::KEY),
                detail,
            }
        })?;
        let raw = self.roundtrip_raw(&frame, &api_name(R::KEY), timeout).await?;
        let response = decode_response::<R>(raw, version, correlation_id).map_err(|d| self.protocol(d))?;
        Ok((response, version))
    }

    async fn roundtrip_raw(
        &mut self,
        frame: &[u8],
        what: &str,
        timeout: Duration,
    ) -> Result<Bytes, AdminError> {
        let addr = self.addr.clone();
        let stream = &mut self.stream;
        let io = async move {
            write_frame(stream, frame).await?;
            read_frame(stream).await
        };
        match tokio::time::timeout(timeout, io).await {
            Err(_) => Err(AdminError::Timeout {
                addr,
                what: what.to_string(),
                after: timeout,
            }),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => Err(AdminError::Protocol {
                addr,
                detail: e.to_string(),
            }),
            Ok(Err(source)) => Err(AdminError::Io { addr, source }),
            Ok(Ok(bytes)) => Ok(bytes),
        }
    }

    fn next_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1) & i32::MAX;
        id
    }

    fn protocol(&self, detail: String) -> AdminError {
        AdminError::Protocol {
            addr: self.addr.clone(),
            detail,
        }
    }
}

impl AdminError {
    fn or_protocol(self, addr: &str) -> AdminError {
        match self {
            AdminError::Protocol { detail, .. } => AdminError::Protocol {
                addr: addr.to_string(),
                detail,
            },
            other => other,
        }
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A scripted fake broker on an in-memory duplex stream.
    use super::*;
    use bytes::{Buf, BytesMut};
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{RequestHeader, ResponseHeader};
    use kafka_protocol::protocol::{Encodable, decode_request_header_from_buffer};
    use tokio::io::DuplexStream;

    /// Reads one request; returns its header and body bytes.
    pub async fn read_request(s: &mut DuplexStream) -> (RequestHeader, Bytes) {
        let mut frame = read_frame(s).await.unwrap();
        let header = decode_request_header_from_buffer(&mut frame).unwrap();
        (header, frame)
    }

    pub async fn respond<M: Encodable>(s: &mut DuplexStream, corr: i32, header_v: i16, body: &M, v: i16) {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0, 0, 0, 0]);
        ResponseHeader::default()
            .with_correlation_id(corr)
            .encode(&mut buf, header_v)
            .unwrap();
        body.encode(&mut buf, v).unwrap();
        let len = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        write_frame(s, &buf).await.unwrap();
    }

    pub fn api_versions(ranges: &[(i16, i16, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse::default().with_api_keys(
            ranges
                .iter()
                .map(|&(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(k)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        )
    }

    #[allow(dead_code)]
    pub fn remaining(b: &Bytes) -> usize {
        b.remaining()
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse};

    const T: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn handshake_negotiates_and_requests_use_the_agreed_version() {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let broker = tokio::spawn(async move {
            let (h, _) = read_request(&mut server).await;
            assert_eq!(h.request_api_key, 18);
            let v = h.request_api_version;
            respond(
                &mut server,
                h.correlation_id,
                0,
                &api_versions(&[(18, 0, 4), (3, 0, 9)]),
                v,
            )
            .await;
            let (h, body) = read_request(&mut server).await;
            assert_eq!((h.request_api_key, h.request_api_version), (3, 9));
            let req = MetadataRequest::decode(&mut body.clone(), 9).unwrap();
            assert!(req.topics.is_none());
            let resp = MetadataResponse::default().with_cluster_id(Some("c1".into()));
            respond(&mut server, h.correlation_id, 1, &resp, 9).await;
        });
        let mut conn = Connection::handshake(client, "fake:9092", "t", T).await.unwrap();
        assert_eq!(conn.versions().broker_range(3), Some((0, 9)));
        let (resp, v) = conn
            .send(None, T, |_| MetadataRequest::default().with_topics(None))
            .await
            .unwrap();
        assert_eq!(v, 9);
        assert_eq!(resp.cluster_id.as_deref(), Some("c1"));
        broker.await.unwrap();
    }

    #[tokio::test]
    async fn handshake_falls_back_when_broker_only_speaks_older_api_versions() {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let broker = tokio::spawn(async move {
            let (h, _) = read_request(&mut server).await;
            assert!(h.request_api_version > 2);
            let err = api_versions(&[(18, 0, 2)]).with_error_code(35);
            respond(&mut server, h.correlation_id, 0, &err, 0).await;
            let (h, _) = read_request(&mut server).await;
            assert_eq!(h.request_api_version, 2);
            respond(
                &mut server,
                h.correlation_id,
                0,
                &api_versions(&[(18, 0, 2), (3, 1, 5)]),
                2,
            )
            .await;
        });
        let conn = Connection::handshake(client, "fake:9092", "t", T).await.unwrap();
        assert_eq!(conn.versions().broker_range(3), Some((1, 5)));
        broker.await.unwrap();
    }

    #[tokio::test]
    async fn silent_broker_times_out_quickly() {
        let (client, _server) = tokio::io::duplex(64 * 1024);
        let started = std::time::Instant::now();
        let err = Connection::handshake(client, "fake:9092", "t", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "timeout");
        assert!(err.poisons_connection());
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn idle_connection_notices_a_closed_peer() {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let broker = tokio::spawn(async move {
            let (h, _) = read_request(&mut server).await;
            respond(
                &mut server,
                h.correlation_id,
                0,
                &api_versions(&[(18, 0, 4)]),
                h.request_api_version,
            )
            .await;
            server
        });
        let mut conn = Connection::handshake(client, "fake:9092", "t", T).await.unwrap();
        let server = broker.await.unwrap();
        assert!(!conn.is_stale(), "open and idle");
        drop(server);
        assert!(conn.is_stale(), "peer closed");
    }

    #[tokio::test]
    async fn closed_connection_is_an_io_error() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        drop(server);
        let err = Connection::handshake(client, "fake:9092", "t", T)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "io");
    }

    #[tokio::test]
    async fn wrong_correlation_id_is_a_protocol_error() {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let (h, _) = read_request(&mut server).await;
            respond(
                &mut server,
                h.correlation_id + 7,
                0,
                &api_versions(&[(18, 0, 4)]),
                h.request_api_version,
            )
            .await;
        });
        let err = Connection::handshake(client, "fake:9092", "t", T)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "protocol");
        assert!(err.to_string().contains("correlation"), "{err}");
    }

    #[tokio::test]
    async fn api_the_broker_lacks_is_refused_before_sending() {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let (h, _) = read_request(&mut server).await;
            respond(
                &mut server,
                h.correlation_id,
                0,
                &api_versions(&[(18, 0, 4)]),
                h.request_api_version,
            )
            .await;
            // keep the stream open
            let _ = read_frame(&mut server).await;
        });
        let mut conn = Connection::handshake(client, "fake:9092", "t", T).await.unwrap();
        let err = conn
            .send(None, T, |_| MetadataRequest::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "unsupported_version");
    }
}
