//! One module per command family.

pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod demo;
pub(crate) mod erase;
pub(crate) mod export;
pub(crate) mod inspect;
pub(crate) mod keys;
pub(crate) mod ledger;
pub(crate) mod query;
pub(crate) mod serve;
pub(crate) mod witness;

/// A closed stdout (e.g. `cairn traces | head`) is not an error.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
