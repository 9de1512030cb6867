//! Cairn's transparency-log witness and the log side of the witness protocol.
//!
//! * [`server`]: `cairn witness serve` — C2SP `tlog-witness` `POST /add-checkpoint`: follows
//!   configured logs (origin + verifier key), keeps the latest checkpoint of each durably
//!   ([`store`]), checks signatures and RFC 6962 consistency proofs, answers 409 to a stale
//!   `old` size and 422 to a bad proof, and cosigns (C2SP `tlog-cosignature`, Ed25519
//!   `cosignature/v1`, implemented in `cairn-ledger` so verification needs only that crate).
//! * [`client`]: a witness client and the [`client::Pusher`] that `cairn serve` runs to push
//!   every new checkpoint to its witnesses and store the cosigned checkpoint with the ledger.
//! * [`protocol`]: the request and answer formats; [`config`]: both sides' configuration.
//!
//! Invariants: a witness never cosigns a checkpoint that is not consistent with the last one
//! it cosigned for that log, and it persists the new one (fsync, atomic rename) before it
//! answers; check and update run under one lock. The log keeps only cosignatures that verify
//! against the configured witness key.

pub mod client;
pub mod config;
pub mod protocol;
pub mod server;
pub mod store;

pub use client::{ClientError, PushStatus, Pusher, WitnessClient, WitnessStatus};
pub use config::{ConfigError, LogConfig, PushConfig, WitnessConfig, WitnessEndpoint};
pub use protocol::AddCheckpoint;
pub use server::{AddError, Witness, router};
pub use store::{LogStates, StoreError, load_or_generate_key};
