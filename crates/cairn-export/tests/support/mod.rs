//! Shared test support: HTTP servers that stand in for destinations, and ledgers to export.

#![allow(dead_code)]

pub(crate) mod bulk;
pub(crate) mod http;
pub(crate) mod ledger;
