//! Integration tests of the exporters against in-test destinations.

mod support;

mod crash;
mod deploy;
mod elasticsearch;
mod jsonl;
mod many;
mod otlp;
mod throughput;
mod tls;
