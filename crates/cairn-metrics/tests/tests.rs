//! Integration tests of cairn-metrics, one binary with a module per area.

mod agents;
mod common;
mod exposition;
mod health;
mod otlp;
