//! The checks behind Cairn's fuzz targets, one module per crate under test.
//!
//! Each function takes one fuzz input, runs it through the crate's public entry points and
//! asserts the invariants that must hold for *any* input: no panic, and round trips where the
//! format promises them. The `fuzz_targets/` binaries are one-line wrappers, and the workspace's
//! normal test suite includes these same files (`#[path]`) to replay the committed seed corpora,
//! so the checks also run on stable Rust without cargo-fuzz. The collector is an optional
//! dependency (feature `collector`, needed by `query_params` only) because it brings the whole
//! server stack into the build.

pub mod ledger;
pub mod model;
#[cfg(feature = "collector")]
pub mod query;
