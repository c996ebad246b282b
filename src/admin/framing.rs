//! Kafka wire framing: every message is a big-endian `i32` length followed by that many
//! bytes (request header + body, or response header + body).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Frames larger than this are refused (a corrupt length must not make us allocate GiBs).
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// Human-readable name of an API key ("Metadata", "DescribeQuorum", ...).
pub fn api_name(key: i16) -> String {
    match kafka_protocol::messages::ApiKey::try_from(key) {
        Ok(k) => format!("{k:?}"),
        Err(_) => format!("ApiKey({key})"),
    }
}

/// Encodes one request frame: length prefix, request header (in the header version the API
/// and version require), body.
pub fn encode_request<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<Bytes, String> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(kafka_protocol::protocol::StrBytes::from_string(
            client_id.to_string(),
        )));
    let mut buf = BytesMut::with_capacity(128);
    buf.put_i32(0);
    header
        .encode(&mut buf, R::header_version(version))
        .map_err(|e| format!("header: {e}"))?;
    request
        .encode(&mut buf, version)
        .map_err(|e| format!("body: {e}"))?;
    let len = buf.len() - 4;
    let len = i32::try_from(len).map_err(|_| format!("request of {len} bytes is too large"))?;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// Decodes a response frame body (without the length prefix) for `R` at `version` and
/// checks the correlation id.
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    version: i16,
    correlation_id: i32,
) -> Result<R::Response, String> {
    let header_version = <R::Response as HeaderVersion>::header_version(version);
    let header = ResponseHeader::decode(&mut frame, header_version).map_err(|e| format!("header: {e}"))?;
    if header.correlation_id != correlation_id {
        return Err(format!(
            "correlation id mismatch: sent {correlation_id}, got {}",
            header.correlation_id
        ));
    }
    <R::Response as Decodable>::decode(&mut frame, version)
        .map_err(|e| format!("{} v{version} body: {e}", api_name(R::KEY)))
}

/// Splits off the response header (correlation id only, v0) and returns the body; used
/// for the ApiVersions fallback, whose response header is always v0.
pub fn split_v0_header(mut frame: Bytes, correlation_id: i32) -> Result<Bytes, String> {
    let header = ResponseHeader::decode(&mut frame, 0).map_err(|e| format!("header: {e}"))?;
    if header.correlation_id != correlation_id {
        return Err(format!(
            "correlation id mismatch: sent {correlation_id}, got {}",
            header.correlation_id
        ));
    }
    Ok(frame)
}

/// Reads one length-prefixed frame and returns its payload.
pub async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Bytes> {
    let len = stream.read_i32().await?;
    let len = usize::try_from(len).map_err(|_| invalid(format!("negative frame length {len}")))?;
    if len > MAX_FRAME_BYTES {
        return Err(invalid(format!("frame of {len} bytes exceeds {MAX_FRAME_BYTES}")));
    }
    let mut buf = BytesMut::zeroed(len);
    stream.read_exact(&mut buf).await?;
    Ok(buf.freeze())
}

/// Writes a complete frame (as produced by [`encode_request`]) and flushes.
pub async fn write_frame<S: AsyncWrite + Unpin>(stream: &mut S, frame: &[u8]) -> std::io::Result<()> {
    stream.write_all(frame).await?;
    stream.flush().await
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse, RequestHeader};
    use kafka_protocol::protocol::decode_request_header_from_buffer;

    #[test]
    fn request_frame_has_length_prefix_and_flexible_header() {
        let req = MetadataRequest::default().with_topics(None);
        let frame = encode_request(&req, 12, 42, "kraftwerk").unwrap();
        let mut b = frame.clone();
        let len = b.get_i32() as usize;
        assert_eq!(len, frame.len() - 4);
        let header: RequestHeader = decode_request_header_from_buffer(&mut b).unwrap();
        assert_eq!(header.request_api_key, 3);
        assert_eq!(header.request_api_version, 12);
        assert_eq!(header.correlation_id, 42);
        assert_eq!(header.client_id.as_deref(), Some("kraftwerk"));
        let body = MetadataRequest::decode(&mut b, 12).unwrap();
        assert_eq!(body, req);
        assert!(!b.has_remaining());
    }

    fn response_frame(correlation_id: i32, header_version: i16, body: &MetadataResponse, v: i16) -> Bytes {
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut buf, header_version)
            .unwrap();
        body.encode(&mut buf, v).unwrap();
        buf.freeze()
    }

    #[test]
    fn response_decodes_and_checks_correlation_id() {
        let body = MetadataResponse::default()
            .with_cluster_id(Some("abc".into()))
            .with_controller_id(kafka_protocol::messages::BrokerId(7));
        // Metadata v12 is flexible: response header v1.
        let frame = response_frame(5, 1, &body, 12);
        let got = decode_response::<MetadataRequest>(frame.clone(), 12, 5).unwrap();
        assert_eq!(got.cluster_id.as_deref(), Some("abc"));
        assert_eq!(got.controller_id, kafka_protocol::messages::BrokerId(7));
        let err = decode_response::<MetadataRequest>(frame, 12, 6).unwrap_err();
        assert!(err.contains("correlation id mismatch"), "{err}");
    }

    #[test]
    fn garbage_body_is_an_error_not_a_panic() {
        let err = decode_response::<MetadataRequest>(Bytes::from_static(&[0, 0, 0, 1, 0, 9, 9]), 12, 1);
        assert!(err.is_err());
    }

    #[tokio::test]
    async fn frames_roundtrip_and_oversized_frames_are_refused() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_frame(&mut a, &[0, 0, 0, 3, 1, 2, 3]).await.unwrap();
        assert_eq!(&read_frame(&mut b).await.unwrap()[..], &[1, 2, 3]);
        write_frame(&mut a, &i32::MAX.to_be_bytes()).await.unwrap();
        let err = read_frame(&mut b).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        write_frame(&mut a, &(-1i32).to_be_bytes()).await.unwrap();
        assert_eq!(
            read_frame(&mut b).await.unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    }
}
