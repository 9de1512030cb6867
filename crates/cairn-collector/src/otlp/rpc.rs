//! The few `google.rpc` messages OTLP error answers use, declared here with `prost` derives
//! (the generated `tonic-types` crate would bring its whole `google.rpc` tree for three
//! messages).
//!
//! - `google.rpc.Status` is the body of every OTLP/HTTP error answer, and the binary
//!   `grpc-status-details-bin` of a gRPC error.
//! - `google.rpc.RetryInfo` tells an OTLP/gRPC client when to retry: the OTLP specification
//!   makes `RESOURCE_EXHAUSTED` retryable only when the server sends it.

use std::time::Duration;

use prost::Message as _;

/// `type_url` of a packed `google.rpc.RetryInfo`.
const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RpcStatus {
    /// The gRPC status code.
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    /// A developer-facing message.
    #[prost(string, tag = "2")]
    pub(crate) message: String,
    /// Typed details, e.g. a `RetryInfo`.
    #[prost(message, repeated, tag = "3")]
    pub(crate) details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoAny {
    /// The packed message's type.
    #[prost(string, tag = "1")]
    pub(crate) type_url: String,
    /// The packed message's protobuf encoding.
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RetryInfo {
    /// How long the client should wait before retrying.
    #[prost(message, optional, tag = "1")]
    pub(crate) retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub(crate) seconds: i64,
    /// Nanoseconds beyond `seconds`.
    #[prost(int32, tag = "2")]
    pub(crate) nanos: i32,
}

impl ProtoAny {
    /// A packed `RetryInfo` asking the client to wait `delay`.
    pub(crate) fn retry_info(delay: Duration) -> Self {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                // Always below 10^9.
                nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
            }),
        };
        Self {
            type_url: RETRY_INFO_TYPE_URL.to_owned(),
            value: info.encode_to_vec(),
        }
    }
}

/// A gRPC error status whose details carry a `RetryInfo` of `delay`.
pub(crate) fn status_with_retry(
    code: tonic::Code,
    message: String,
    delay: Duration,
) -> tonic::Status {
    let details = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![ProtoAny::retry_info(delay)],
    }
    .encode_to_vec();
    tonic::Status::with_details(code, message, details.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_round_trips_through_the_status_details() {
        let status = status_with_retry(
            tonic::Code::ResourceExhausted,
            "queue is full".to_owned(),
            Duration::from_millis(1500),
        );
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        let details = RpcStatus::decode(status.details()).unwrap();
        assert_eq!(details.code, tonic::Code::ResourceExhausted as i32);
        assert_eq!(details.message, "queue is full");
        assert_eq!(details.details.len(), 1);
        assert_eq!(details.details[0].type_url, RETRY_INFO_TYPE_URL);
        let info = RetryInfo::decode(details.details[0].value.as_slice()).unwrap();
        assert_eq!(
            info.retry_delay,
            Some(ProtoDuration {
                seconds: 1,
                nanos: 500_000_000
            })
        );
    }
}
