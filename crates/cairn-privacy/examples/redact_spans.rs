//! Redacts N corpus spans (first argument, default 1000) with the default rules: a fixed workload
//! for instruction counts (`valgrind --tool=callgrind`); run it with two values of N and divide
//! the difference by the difference of N to get instructions per span without the start-up.

use cairn_privacy::{RedactionConfig, Redactor};

#[path = "../benches/support/corpus.rs"]
mod corpus;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N is a number"))
        .unwrap_or(1000);
    let spans = corpus::spans(96);
    let redactor = Redactor::new(&RedactionConfig::default()).expect("default rules compile");
    let mut fired = 0usize;
    for i in 0..n {
        let mut span = spans[i % spans.len()].clone();
        fired += redactor.redact_span(&mut span).fired.len();
    }
    println!("{n} spans, {fired} redactions");
}
