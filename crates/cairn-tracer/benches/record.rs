//! Recording a tool-call span with 5 attributes on the caller's thread: cairn-tracer vs the
//! OpenTelemetry SDK (BatchSpanProcessor, no-op exporter) vs fastrace (no-op reporter) vs
//! `tracing` with a no-op layer; one thread, and 8 threads recording at once.
//!
//! Every SDK exports to a sink that discards, so the numbers are the recording overhead plus
//! whatever the SDK's background machinery costs while the benchmark runs.
//!
//! The 8-thread rows use 8 long-lived threads per SDK, started before measuring, so thread start
//! and exit and first-use setup are not measured; each runs its loop with no dynamic call per span.
//!
//! With `RECORD_CPU_SPANS=n` set, criterion is skipped: each recorder (or only the one named by
//! `RECORD_CPU_ONLY`: `cairn`, `otel`, `fastrace`, `tracing`) records `n` spans on the main thread
//! inside `cpu_loop`, and the caller thread's CPU time per span (`CLOCK_THREAD_CPUTIME_ID`) and
//! wall time per span are printed. Under `valgrind --tool=callgrind
//! --toggle-collect='record::cpu_loop*'` the instruction count divided by `1.1 × n` (the loop
//! also runs a 10% warm-up) is the caller-thread instructions per span. With
//! `RECORD_CPU_CHUNK=c` the spans are recorded `c` at a time with a flush of the SDK's pipeline
//! between chunks (outside `cpu_loop`): under valgrind the background threads barely run, and
//! this keeps every SDK in its steady state (no full queue, records recycled) instead of
//! measuring its overflow path.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
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

/// Records `n` spans in a loop (a function of its own so callgrind can count just this).
#[inline(never)]
fn cpu_loop(n: u64, record: impl Fn()) {
    for _ in 0..n {
        record();
    }
}

/// Records `total` spans `chunk` at a time, calling `between` after each chunk.
fn chunked(total: u64, chunk: u64, record: impl Fn(), between: impl Fn()) {
    let mut left = total;
    while left > 0 {
        let c = left.min(chunk);
        cpu_loop(c, &record);
        between();
        left -= c;
    }
}

/// `run(n)` records `n` spans on the calling thread.
type Run = Arc<dyn Fn(u64) + Send + Sync>;

/// 8 long-lived threads that each call `run(iters)` at once per measurement.
struct Pool {
    iters: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    start: Arc<Barrier>,
    done: Arc<Barrier>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    fn new(run: &Run) -> Pool {
        let iters = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(THREADS as usize + 1));
        let done = Arc::new(Barrier::new(THREADS as usize + 1));
        let threads = (0..THREADS)
            .map(|_| {
                let (iters, stop, start, done, run) = (
                    Arc::clone(&iters),
                    Arc::clone(&stop),
                    Arc::clone(&start),
                    Arc::clone(&done),
                    Arc::clone(run),
                );
                std::thread::spawn(move || {
                    // Warm the thread's state (buffers, RNG, thread-locals) outside the timing.
                    run(1000);
                    loop {
                        start.wait();
                        if stop.load(Ordering::Acquire) {
                            return;
                        }
                        run(iters.load(Ordering::Acquire));
                        done.wait();
                    }
                })
            })
            .collect();
        Pool {
            iters,
            stop,
            start,
            done,
            threads,
        }
    }

    /// Runs `iters` spans on each of the 8 threads at once; returns the wall time.
    fn measure(&self, iters: u64) -> Duration {
        self.iters.store(iters, Ordering::Release);
        let begin = Instant::now();
        self.start.wait();
        self.done.wait();
        begin.elapsed()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.start.wait();
        for t in self.threads.drain(..) {
            t.join().expect("bench thread");
        }
    }
}

/// CLOCK_THREAD_CPUTIME_ID of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

fn report_cpu(name: &str, n: u64, run: impl FnOnce()) {
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    run();
    let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
    #[allow(clippy::cast_precision_loss)]
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    println!(
        "{name:<18} caller-thread CPU {:>8.1} ns/span   wall {:>8.1} ns/span",
        per(cpu),
        per(wall)
    );
}

/// `RECORD_CPU_SPANS=n`: caller-thread CPU time (and instructions, under callgrind) per span.
fn cpu_mode(n: u64) {
    let only = std::env::var("RECORD_CPU_ONLY").ok();
    let wants = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let warm = n / 10 + 1;
    let chunk = std::env::var("RECORD_CPU_CHUNK")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(n)
        .max(1);
    if wants("cairn") {
        let tracer = cairn_tracer();
        let flush = || {
            let _ = tracer.flush(Duration::from_secs(10));
        };
        chunked(warm, chunk, || cairn_record(&tracer), flush);
        report_cpu("cairn-tracer", n, || {
            chunked(n, chunk, || cairn_record(&tracer), flush);
        });
        println!("  {:?}", tracer.stats());
    }
    if wants("otel") {
        let provider = otel_provider();
        let otel = provider.tracer("bench");
        let flush = || {
            let _ = provider.force_flush();
        };
        chunked(warm, chunk, || otel_record(&otel), flush);
        report_cpu("opentelemetry_sdk", n, || {
            chunked(n, chunk, || otel_record(&otel), flush);
        });
        let _ = provider.shutdown();
    }
    if wants("fastrace") {
        fastrace::set_reporter(NoopReporter, fastrace::collector::Config::default());
        cpu_loop(warm, fastrace_record);
        report_cpu("fastrace", n, || cpu_loop(n, fastrace_record));
        fastrace::flush();
    }
    if wants("tracing") {
        let subscriber = tracing_subscriber::layer::SubscriberExt::with(
            tracing_subscriber::registry(),
            NoopLayer,
        );
        tracing::subscriber::with_default(subscriber, || {
            cpu_loop(warm, tracing_record);
            report_cpu("tracing", n, || cpu_loop(n, tracing_record));
        });
    }
}

fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("tool_span_5_attrs/1_thread");

    let tracer = cairn_tracer();
    group.bench_function("cairn-tracer", |b| b.iter(|| cairn_record(&tracer)));
    eprintln!("cairn-tracer (1 thread): {:?}", tracer.stats());

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
    let pool = Pool::new(&(Arc::new(move |n| cpu_loop(n, || cairn_record(&t))) as Run));
    group.bench_function("cairn-tracer", |b| {
        b.iter_custom(|iters| pool.measure(iters))
    });
    drop(pool);
    eprintln!("cairn-tracer (8 threads): {:?}", tracer.stats());

    let provider = otel_provider();
    let otel = provider.tracer("bench");
    let pool = Pool::new(&(Arc::new(move |n| cpu_loop(n, || otel_record(&otel))) as Run));
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter_custom(|iters| pool.measure(iters));
    });
    drop(pool);
    let _ = provider.shutdown();

    let pool = Pool::new(&(Arc::new(|n| cpu_loop(n, fastrace_record)) as Run));
    group.bench_function("fastrace", |b| b.iter_custom(|iters| pool.measure(iters)));
    drop(pool);

    let subscriber =
        tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), NoopLayer);
    let dispatch = tracing::Dispatch::new(subscriber);
    // The dispatcher is made current once per call of `run`, not once per span.
    let pool = Pool::new(
        &(Arc::new(move |n| {
            tracing::dispatcher::with_default(&dispatch, || cpu_loop(n, tracing_record));
        }) as Run),
    );
    group.bench_function("tracing", |b| b.iter_custom(|iters| pool.measure(iters)));
    drop(pool);
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
fn main() {
    if let Some(n) = std::env::var("RECORD_CPU_SPANS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        cpu_mode(n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
