//! Redacts N corpus spans (first argument, default 1000) with the default rules, on T threads
//! sharing one `Redactor` (second argument, default 1; each thread redacts N / T spans; a third
//! argument `non-ascii` adds typographic quotes and a dash to every string): a fixed
//! workload for instruction counts (`valgrind --tool=callgrind`). Run it with two values of N and
//! divide the difference by the difference of N to get instructions per span without the
//! start-up.

use cairn_privacy::{RedactionConfig, Redactor};

#[path = "../benches/support/corpus.rs"]
mod corpus;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse().expect("N is a number"))
        .unwrap_or(1000);
    let threads: usize = args
        .next()
        .map(|a| a.parse().expect("T is a number"))
        .unwrap_or(1);
    let non_ascii = args.next().is_some_and(|a| a == "non-ascii");
    let mut spans = corpus::spans(96);
    if non_ascii {
        spans = spans.iter().map(corpus::with_non_ascii).collect();
    }
    let redactor = Redactor::new(&RedactionConfig::default()).expect("default rules compile");
    let fired: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (spans, redactor) = (&spans, &redactor);
                scope.spawn(move || {
                    let mut fired = 0;
                    for i in (t..n).step_by(threads) {
                        let mut span = spans[i % spans.len()].clone();
                        fired += redactor.redact_span(&mut span).fired.len();
                    }
                    fired
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    println!("{n} spans on {threads} threads, {fired} redactions");
}
