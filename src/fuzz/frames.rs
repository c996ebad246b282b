//! The admin client's Kafka frame reader and response decoders on hostile bytes: never a panic;
//! errors are `Err` values (`io::ErrorKind::InvalidData` from the reader, a reason from the
//! decoders).
//!
//! The decoder cases are real encoded responses of every type the admin client reads, truncated
//! anywhere and with bytes zeroed (which only ever shortens a length), from a fixed seed. Arbitrary bytes are not
//! used: kafka-protocol 0.18
//! pre-allocates `Vec::with_capacity(n)` from any array length it reads, so a frame claiming
//! ~2^31 elements aborts the process (out of memory, not a catchable panic) before the decoder
//! finds the frame too short. See `decoder_abort_on_hostile_array_length` and docs/testing.md.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiVersionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeClusterRequest, DescribeConfigsRequest, DescribeQuorumRequest, IncrementalAlterConfigsRequest,
    ListPartitionReassignmentsRequest, MetadataRequest, ResponseHeader, UnregisterBrokerRequest,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion, Message, Request};
use proptest::prelude::*;

use crate::admin::framing::{decode_response, read_frame};

pub const CASES: u32 = 5_000;

/// A response of `R` at `version` (clamped to what `R` supports), with correlation id 7.
fn encoded<R: Request>(version: i16) -> (Vec<u8>, i16)
where
    R::Response: Default + Encodable + Message,
{
    let range = <R::Response as Message>::VERSIONS;
    let version = version.clamp(range.min, range.max);
    let mut buf = BytesMut::new();
    let header_version = <R::Response as HeaderVersion>::header_version(version);
    let header = ResponseHeader::default().with_correlation_id(7);
    let ok = header.encode(&mut buf, header_version).is_ok()
        && R::Response::default().encode(&mut buf, version).is_ok();
    assert!(ok, "encoding a default response must work");
    (buf.to_vec(), version)
}

/// Mutates, then decodes as the same type; `Err` is fine, a panic is not.
fn mutate_and_decode<R: Request>(version: i16, ops: &[(u8, usize)]) -> Result<(), String>
where
    R::Response: Default + Encodable + Message,
{
    let (mut bytes, version) = encoded::<R>(version);
    for &(op, pos) in ops {
        let at = pos % (bytes.len() + 1);
        match op % 2 {
            0 => bytes.truncate(at),
            _ => {
                if let Some(b) = bytes.get_mut(at) {
                    *b = 0;
                }
            }
        }
    }
    decode_response::<R>(Bytes::from(bytes), version, 7).map(|_| ())
}

fn decode_kind(kind: u8, version: i16, ops: &[(u8, usize)]) -> Result<(), String> {
    match kind % 11 {
        0 => mutate_and_decode::<MetadataRequest>(version, ops),
        1 => mutate_and_decode::<ApiVersionsRequest>(version, ops),
        2 => mutate_and_decode::<DescribeClusterRequest>(version, ops),
        3 => mutate_and_decode::<DescribeQuorumRequest>(version, ops),
        4 => mutate_and_decode::<DescribeConfigsRequest>(version, ops),
        5 => mutate_and_decode::<IncrementalAlterConfigsRequest>(version, ops),
        6 => mutate_and_decode::<CreateTopicsRequest>(version, ops),
        7 => mutate_and_decode::<DeleteTopicsRequest>(version, ops),
        8 => mutate_and_decode::<UnregisterBrokerRequest>(version, ops),
        9 => mutate_and_decode::<AlterPartitionReassignmentsRequest>(version, ops),
        _ => mutate_and_decode::<ListPartitionReassignmentsRequest>(version, ops),
    }
}

fn ops() -> impl Strategy<Value = Vec<(u8, usize)>> {
    proptest::collection::vec((any::<u8>(), any::<usize>()), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(18),
        ..ProptestConfig::default()
    })]

    #[test]
    fn response_decoders_return_errors_not_panics(kind in any::<u8>(), version in 0i16..=13, ops in ops()) {
        let result = decode_kind(kind, version, &ops);
        if let Err(reason) = result {
            prop_assert!(!reason.is_empty());
        }
    }

    #[test]
    fn frame_reader_refuses_bad_lengths_with_invalid_data(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let result = runtime.block_on(async {
            let mut reader: &[u8] = &bytes;
            read_frame(&mut reader).await
        });
        let len = bytes.get(..4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        match (len, result) {
            (Some(n), Ok(frame)) => prop_assert_eq!(frame.len() as i32, n),
            (Some(n), Err(e)) if n < 0 => prop_assert_eq!(e.kind(), std::io::ErrorKind::InvalidData),
            (_, Err(e)) => prop_assert!(
                matches!(e.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof),
                "{e}"
            ),
            (None, Ok(_)) => prop_assert!(false, "a frame without a length prefix was read"),
        }
    }
}

/// Unmutated responses decode: the mutation cases start from valid input.
#[test]
fn unmutated_responses_decode() {
    for kind in 0..11 {
        for version in [0, 1, 3, 12] {
            assert_eq!(decode_kind(kind, version, &[]), Ok(()), "kind {kind} v{version}");
        }
    }
}

/// Found by this fuzzer: a DescribeConfigs response whose results array claims i32::MAX
/// elements makes kafka-protocol 0.18 call `Vec::with_capacity(i32::MAX)` and the process
/// aborts (out of memory; not a panic the client could catch). Upstream: kafka-protocol-rs PRs
/// #152, #161, #200 (bound the capacity by the remaining bytes). What the operator does about it
/// is in docs/kafka-admin.md, "Hostile responses".
///
/// The decode runs in a child process (this test binary, re-run on this test alone), which must
/// die by SIGABRT after the allocator's message. When a kafka-protocol release bounds the
/// capacity, the child returns an error instead and this test fails: then assert `is_err()`
/// directly, without the child, and update the docs.
#[test]
fn decoder_abort_on_hostile_array_length() {
    use std::os::unix::process::ExitStatusExt;
    const CHILD: &str = "KRAFTWERK_FUZZ_ABORT_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let frame = Bytes::from_static(&[0, 0, 0, 7, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
        let decoded = decode_response::<DescribeConfigsRequest>(frame, 1, 7);
        std::process::exit(if decoded.is_err() { 0 } else { 1 });
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "fuzz::frames::decoder_abort_on_hostile_array_length",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(6),
        "expected the known abort (SIGABRT); got {:?}. If kafka-protocol now returns an error, \
         assert is_err() directly and update docs/kafka-admin.md.\n{stderr}",
        out.status
    );
    assert!(stderr.contains("memory allocation of"), "{stderr}");
}
