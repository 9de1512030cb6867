//! Trace and span identifiers, span contexts, and W3C `traceparent` propagation.
//!
//! Ids come from a per-thread wyrand generator (a 64-bit counter state stepped by a fixed odd
//! constant and mixed by one 64×64→128-bit multiply) seeded once per thread from the OS-seeded
//! `rand` thread generator. Drawing an id is a handful of instructions, touches no shared state and
//! never makes a syscall after the first use on a thread. Valid ids are never all zero (the W3C and
//! OTLP "invalid" value). Ids are unpredictable enough to be unique, not cryptographic secrets.
//!
//! `traceparent` follows W3C Trace Context level 1:
//! `{version:2 hex}-{trace-id:32 hex}-{parent-id:16 hex}-{flags:2 hex}`, lowercase only, version
//! `ff` forbidden, version `00` exactly 55 characters, later versions may append `-…` fields.

use std::cell::Cell;
use std::fmt;

thread_local! {
    /// The wyrand state; 0 means "not seeded yet" (a seeded state of 0 just reseeds once).
    static RNG: Cell<u64> = const { Cell::new(0) };
}

const WY_INCREMENT: u64 = 0xa076_1d64_78bd_642f;
const WY_MIX: u64 = 0xe703_7ed1_a0b4_28db;

#[cold]
#[inline(never)]
fn seed() -> u64 {
    rand::random::<u64>()
}

/// The next wyrand output of this thread.
#[inline]
fn next_u64() -> u64 {
    RNG.try_with(|rng| {
        let mut state = rng.get();
        if state == 0 {
            state = seed();
        }
        state = state.wrapping_add(WY_INCREMENT);
        rng.set(state);
        let t = u128::from(state) * u128::from(state ^ WY_MIX);
        // Truncation is the algorithm: fold the 128-bit product into 64 bits.
        #[allow(clippy::cast_possible_truncation)]
        let folded = (t >> 64) as u64 ^ t as u64;
        folded
    })
    // Thread-local storage is being torn down: fall back to a fresh seed.
    .unwrap_or_else(|_| seed())
}

#[inline]
fn random_nonzero_u64() -> u64 {
    loop {
        let v = next_u64();
        if v != 0 {
            return v;
        }
    }
}

/// A 16-byte trace id. Displays as 32 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId([u8; 16]);

impl TraceId {
    /// The all-zero id, which W3C and OTLP define as invalid.
    pub const INVALID: TraceId = TraceId([0; 16]);

    /// A new random, valid trace id.
    #[inline]
    pub fn random() -> Self {
        let hi = random_nonzero_u64();
        let lo = random_nonzero_u64();
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&hi.to_be_bytes());
        bytes[8..].copy_from_slice(&lo.to_be_bytes());
        TraceId(bytes)
    }

    /// The id with these bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        TraceId(bytes)
    }

    /// The raw bytes.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// Whether the id is not all zero.
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 16]
    }

    /// Parses 32 lowercase or uppercase hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut bytes = [0; 16];
        hex::decode_to_slice(s, &mut bytes).ok()?;
        Some(TraceId(bytes))
    }

    /// The id as 32 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The low 64 bits, used for ratio sampling (W3C level 2 makes them the random part).
    pub(crate) fn low_u64(&self) -> u64 {
        let mut lo = [0; 8];
        lo.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(lo)
    }
}

/// An 8-byte span id. Displays as 16 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId([u8; 8]);

impl SpanId {
    /// The all-zero id, which W3C and OTLP define as invalid.
    pub const INVALID: SpanId = SpanId([0; 8]);

    /// A new random, valid span id.
    #[inline]
    pub fn random() -> Self {
        SpanId(random_nonzero_u64().to_be_bytes())
    }

    /// The id with these bytes.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        SpanId(bytes)
    }

    /// The raw bytes.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0
    }

    /// Whether the id is not all zero.
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 8]
    }

    /// Parses 16 lowercase or uppercase hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut bytes = [0; 8];
        hex::decode_to_slice(s, &mut bytes).ok()?;
        Some(SpanId(bytes))
    }

    /// The id as 16 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

macro_rules! hex_fmt {
    ($ty:ty) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for b in self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($ty))
            }
        }
    };
}
hex_fmt!(TraceId);
hex_fmt!(SpanId);

/// The identity of a span as seen by its children and by other processes: trace id, span id and
/// the sampled flag. Cheap to copy; obtained from [`Span::context`](crate::Span::context),
/// [`SpanContext::current`] or [`SpanContext::from_traceparent`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    sampled: bool,
    remote: bool,
}

impl SpanContext {
    /// A context from its parts (for bridging other propagation formats).
    pub fn new(trace_id: TraceId, span_id: SpanId, sampled: bool, remote: bool) -> Self {
        SpanContext {
            trace_id,
            span_id,
            sampled,
            remote,
        }
    }

    /// The span the current thread or instrumented future is inside, if any.
    pub fn current() -> Option<SpanContext> {
        crate::context::current()
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// Whether the trace is sampled (recorded and exported).
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// Whether the context came from another process (via `traceparent`).
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// Whether both ids are valid.
    pub fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }

    /// The W3C `traceparent` header value for this context (version `00`).
    pub fn to_traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }

    /// Parses a W3C `traceparent` header value; the result is marked remote.
    pub fn from_traceparent(value: &str) -> Result<SpanContext, TraceparentError> {
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        if !value.is_ascii() {
            // Also guarantees that the byte offsets below are char boundaries.
            return Err(TraceparentError::Field("encoding"));
        }
        let bytes = value.as_bytes();
        if bytes.len() < 55 {
            return Err(TraceparentError::Length(bytes.len()));
        }
        let version = &value[0..2];
        if !is_lower_hex(version) {
            return Err(TraceparentError::Field("version"));
        }
        if version == "ff" {
            return Err(TraceparentError::Version);
        }
        if version == "00" && bytes.len() != 55 {
            return Err(TraceparentError::Length(bytes.len()));
        }
        if bytes.len() > 55 && bytes[55] != b'-' {
            return Err(TraceparentError::Field("trailer"));
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return Err(TraceparentError::Field("separator"));
        }
        let trace = &value[3..35];
        let span = &value[36..52];
        let flags = &value[53..55];
        if !is_lower_hex(trace) {
            return Err(TraceparentError::Field("trace-id"));
        }
        if !is_lower_hex(span) {
            return Err(TraceparentError::Field("parent-id"));
        }
        if !is_lower_hex(flags) {
            return Err(TraceparentError::Field("trace-flags"));
        }
        let trace_id = TraceId::from_hex(trace).ok_or(TraceparentError::Field("trace-id"))?;
        let span_id = SpanId::from_hex(span).ok_or(TraceparentError::Field("parent-id"))?;
        let flags =
            u8::from_str_radix(flags, 16).map_err(|_| TraceparentError::Field("trace-flags"))?;
        if !trace_id.is_valid() {
            return Err(TraceparentError::ZeroId("trace-id"));
        }
        if !span_id.is_valid() {
            return Err(TraceparentError::ZeroId("parent-id"));
        }
        Ok(SpanContext {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
            remote: true,
        })
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Why a `traceparent` header value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceparentError {
    /// The value has the wrong length for its version.
    #[error("traceparent has length {0}, expected 55")]
    Length(usize),
    /// Version `ff` is forbidden.
    #[error("traceparent version ff is invalid")]
    Version,
    /// A field is not lowercase hex or a separator is missing.
    #[error("traceparent field {0} is malformed")]
    Field(&'static str),
    /// An id is all zero.
    #[error("traceparent {0} is all zero")]
    ZeroId(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_valid_and_distinct() {
        let a = TraceId::random();
        let b = TraceId::random();
        assert!(a.is_valid() && b.is_valid());
        assert_ne!(a, b);
        assert!(SpanId::random().is_valid());
    }

    #[test]
    fn ids_do_not_repeat_and_use_every_bit() {
        let mut seen = std::collections::HashSet::new();
        let (mut or, mut and) = (0u64, u64::MAX);
        for _ in 0..10_000 {
            let id = SpanId::random();
            assert!(seen.insert(id), "span id repeated: {id}");
            let v = u64::from_be_bytes(id.to_bytes());
            or |= v;
            and &= v;
        }
        assert_eq!(or, u64::MAX, "some bit is never set");
        assert_eq!(and, 0, "some bit is always set");
    }

    #[test]
    fn threads_draw_different_ids() {
        let here = TraceId::random();
        let there = std::thread::spawn(TraceId::random).join().expect("thread");
        assert_ne!(here, there);
    }

    #[test]
    fn traceparent_round_trips() {
        let ctx = SpanContext::new(TraceId::random(), SpanId::random(), true, false);
        let header = ctx.to_traceparent();
        assert_eq!(header.len(), 55);
        let back = SpanContext::from_traceparent(&header).expect("valid header");
        assert_eq!(back.trace_id(), ctx.trace_id());
        assert_eq!(back.span_id(), ctx.span_id());
        assert!(back.is_sampled());
        assert!(back.is_remote());
    }

    #[test]
    fn traceparent_spec_examples() {
        let ok = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let ctx = SpanContext::from_traceparent(ok).expect("spec example");
        assert_eq!(ctx.trace_id().to_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(ctx.span_id().to_hex(), "b7ad6b7169203331");
        let unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
        assert!(
            !SpanContext::from_traceparent(unsampled)
                .expect("valid")
                .is_sampled()
        );
        // A future version may carry extra fields.
        let future =
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-holds";
        assert!(SpanContext::from_traceparent(future).is_ok());
    }

    #[test]
    fn traceparent_rejects_malformed_values() {
        let cases = [
            ("", TraceparentError::Length(0)),
            (
                "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                TraceparentError::Version,
            ),
            (
                "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
                TraceparentError::Field("trace-id"),
            ),
            (
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                TraceparentError::ZeroId("trace-id"),
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                TraceparentError::ZeroId("parent-id"),
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
                TraceparentError::Length(61),
            ),
            (
                "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                TraceparentError::Field("separator"),
            ),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",
                TraceparentError::Field("trace-flags"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(SpanContext::from_traceparent(input), Err(want), "{input}");
        }
    }

    #[test]
    fn non_ascii_input_does_not_panic() {
        let weird = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333é-01";
        assert!(SpanContext::from_traceparent(weird).is_err());
        let weird2 = "ééééééééééééééééééééééééééééééééééééééééééééééééééééééé";
        assert!(SpanContext::from_traceparent(weird2).is_err());
    }
}
