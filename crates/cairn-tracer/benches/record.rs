//! Recording a tool-call span with 5 attributes on the caller's thread: cairn-tracer vs the
//! OpenTelemetry SDK (BatchSpanProcessor, no-op exporter) vs fastrace (no-op reporter) vs
//! `tracing` with a no-op layer; one thread, and 8 threads recording at once.
//!
//! Every SDK exports to a sink that discards, so the numbers are the recording overhead plus
//! whatever the SDK's background machinery costs while the benchmark runs.

use std::borrow::Cow;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};

const THREADS: u64 = 8;

#[derive(Debug)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

struct NoopReporter;

impl fastrace::collector::Reporter for NoopReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        drop(spans);
    }
}

struct NoopLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {}

fn cairn_tracer() -> cairn_tracer::Tracer {
    cairn_tracer::Tracer::builder("bench")
        .discard_exports(true)
        .build()
        .expect("tracer")
}

fn cairn_record(tracer: &cairn_tracer::Tracer) {
    // tool() sets cairn.kind, gen_ai.operation.name and gen_ai.tool.name; plus 2 = 5 attributes.
    let call = tracer
        .tool("web_search")
        .call_id("call_8f3a")
        .tool_type("function")
        .start();
    drop(call);
}

fn otel_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(NoopExporter).build())
        .build()
}

fn otel_record(tracer: &opentelemetry_sdk::trace::Tracer) {
    let mut span = tracer
        .span_builder("execute_tool web_search")
        .with_attributes([
            KeyValue::new("cairn.kind", "tool"),
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", "web_search"),
            KeyValue::new("gen_ai.tool.call.id", "call_8f3a"),
            KeyValue::new("gen_ai.tool.type", "function"),
        ])
        .start(tracer);
    span.end();
}

fn fastrace_record() {
    let span = fastrace::Span::root(
        "execute_tool web_search",
        fastrace::collector::SpanContext::random(),
    )
    .with_properties(|| {
        [
            (Cow::Borrowed("cairn.kind"), Cow::Borrowed("tool")),
            (
                Cow::Borrowed("gen_ai.operation.name"),
                Cow::Borrowed("execute_tool"),
            ),
            (
                Cow::Borrowed("gen_ai.tool.name"),
                Cow::Borrowed("web_search"),
            ),
            (
                Cow::Borrowed("gen_ai.tool.call.id"),
                Cow::Borrowed("call_8f3a"),
            ),
            (Cow::Borrowed("gen_ai.tool.type"), Cow::Borrowed("function")),
        ]
    });
    drop(span);
}

fn tracing_record() {
    let span = tracing::info_span!(
        "execute_tool web_search",
        cairn.kind = "tool",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = "web_search",
        gen_ai.tool.call.id = "call_8f3a",
        gen_ai.tool.type = "function",
    );
    drop(span.enter());
}

/// Runs `record` `iters` times on each of 8 threads at once; returns the wall time.
fn contended(iters: u64, record: Arc<dyn Fn() + Send + Sync>) -> Duration {
    let barrier = Arc::new(Barrier::new(THREADS as usize + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (barrier, record) = (Arc::clone(&barrier), Arc::clone(&record));
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    record();
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().expect("bench thread");
    }
    start.elapsed()
}

fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("tool_span_5_attrs/1_thread");

    let tracer = cairn_tracer();
    group.bench_function("cairn-tracer", |b| b.iter(|| cairn_record(&tracer)));
    eprintln!("cairn-tracer: {:?}", tracer.stats());

    let provider = otel_provider();
    let otel = provider.tracer("bench");
    group.bench_function("opentelemetry_sdk", |b| b.iter(|| otel_record(&otel)));
    let _ = provider.shutdown();

    group.bench_function("fastrace", |b| b.iter(fastrace_record));

    let subscriber =
        tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), NoopLayer);
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("tracing", |b| b.iter(tracing_record));
    });
    group.finish();
}

fn eight_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("tool_span_5_attrs/8_threads");
    group.sample_size(30);

    let tracer = cairn_tracer();
    let t = tracer.clone();
    let record: Arc<dyn Fn() + Send + Sync> = Arc::new(move || cairn_record(&t));
    group.bench_function("cairn-tracer", |b| {
        b.iter_custom(|iters| contended(iters, Arc::clone(&record)));
    });
    eprintln!("cairn-tracer (8 threads): {:?}", tracer.stats());

    let provider = otel_provider();
    let otel = Arc::new(provider.tracer("bench"));
    let record: Arc<dyn Fn() + Send + Sync> = Arc::new(move || otel_record(&otel));
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter_custom(|iters| contended(iters, Arc::clone(&record)));
    });
    let _ = provider.shutdown();

    let record: Arc<dyn Fn() + Send + Sync> = Arc::new(fastrace_record);
    group.bench_function("fastrace", |b| {
        b.iter_custom(|iters| contended(iters, Arc::clone(&record)));
    });

    let subscriber =
        tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), NoopLayer);
    let dispatch = tracing::Dispatch::new(subscriber);
    let record: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        tracing::dispatcher::with_default(&dispatch, tracing_record);
    });
    group.bench_function("tracing", |b| {
        b.iter_custom(|iters| contended(iters, Arc::clone(&record)));
    });
    group.finish();
}

fn setup(c: &mut Criterion) {
    fastrace::set_reporter(NoopReporter, fastrace::collector::Config::default());
    single_thread(c);
    eight_threads(c);
    fastrace::flush();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = setup
}
criterion_main!(benches);
