//! Integration tests of the exporters against in-test destinations.

mod support;

mod crash;
mod deploy;
mod elasticsearch;
mod jsonl;
mod otlp;
mod throughput;
