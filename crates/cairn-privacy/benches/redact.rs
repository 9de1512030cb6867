//! Ingest-time redaction of realistic GenAI spans (see `support/corpus.rs`), on one thread and on
//! four threads sharing one `Redactor` (as the collector's workers do).
//!
//! Every iteration clones the span before redacting it (redaction rewrites it in place); the
//! `clone_only` row measures that clone alone so it can be subtracted.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cairn_privacy::{RedactionConfig, Redactor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "support/corpus.rs"]
mod corpus;

const SPANS: usize = 96;
const THREADS: usize = 4;

fn bench(c: &mut Criterion) {
    let spans = corpus::spans(SPANS);
    let redactor = Redactor::new(&RedactionConfig::default()).expect("default rules compile");
    let mut group = c.benchmark_group("redact");
    group.throughput(Throughput::Elements(1));

    group.bench_function("clone_only", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % SPANS;
            black_box(spans[i].clone())
        });
    });

    // `_non_ascii`: the same spans with a few non-ASCII characters in every string (typographic
    // quotes and dashes, as LLM output has): what the regexes cost on text that is not ASCII.
    let non_ascii: Vec<_> = spans.iter().map(corpus::with_non_ascii).collect();
    for (name, spans) in [
        ("span_1_thread", &spans),
        ("span_1_thread_non_ascii", &non_ascii),
    ] {
        group.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % SPANS;
                let mut span = spans[i].clone();
                black_box(redactor.redact_span(&mut span));
                span
            });
        });
    }

    // One iteration = every one of the threads redacts one span; the time is per span, i.e. the
    // wall time divided by the number of threads.
    group.bench_function("span_4_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for t in 0..THREADS {
                    let spans = &spans;
                    let redactor = &redactor;
                    scope.spawn(move || {
                        for k in 0..iters as usize {
                            let mut span = spans[(k * THREADS + t) % SPANS].clone();
                            black_box(redactor.redact_span(&mut span));
                        }
                    });
                }
            });
            start.elapsed() / THREADS as u32
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
