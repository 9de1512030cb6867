//! Ledger benchmarks (criterion).
//!
//! * `append/<size>B/batch<n>`: one durable batch per iteration (fsync per batch), one writer.
//! * `append_concurrent/200B/4x512`: four writers sharing group commits.
//! * `verify/*` and `sha256sum/*`: a full `verify_dir` against `sha256sum` over a file holding
//!   the same entry bytes, in the same run; the ratio is printed at the end of the group.
//! * `proof/*`: proof generation on a ledger of `CAIRN_BENCH_PROOF_ENTRIES` entries (default
//!   10 000 000), built once and cached under the target directory.
//!
//! `cargo bench -p cairn-ledger` runs all of them; pass a filter to run one group. Set
//! `CAIRN_BENCH_DIR` to put the ledgers elsewhere (a tmpfs shows the CPU-bound cost).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_ledger::{FsyncPolicy, Ledger, LedgerOptions, VerifyOptions, verify_dir};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Where benchmark ledgers live: `CAIRN_BENCH_DIR` (e.g. a tmpfs, to take the disk out of the
/// measurement) or the target directory.
fn bench_dir(name: &str) -> PathBuf {
    std::env::var_os("CAIRN_BENCH_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_TARGET_TMPDIR")).to_owned(),
            PathBuf::from,
        )
        .join(name)
}

/// Whether a benchmark group is selected by the command-line filter (criterion applies the
/// filter only to measurements; this also skips the expensive setup of unselected groups).
fn selected(group: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty()
        || filters.iter().any(|f| {
            let head = f.split('/').next().unwrap_or_default();
            f.contains(group) || (!head.is_empty() && group.starts_with(head))
        })
}

fn entries(size: usize, n: usize, salt: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut e = format!("{salt}:{i}:").into_bytes();
            e.resize(size, (i % 251) as u8);
            e
        })
        .collect()
}

fn append(c: &mut Criterion) {
    if !selected("append") {
        return;
    }
    let mut group = c.benchmark_group("append");
    group.measurement_time(Duration::from_secs(5));
    for size in [200usize, 2048] {
        for batch in [1usize, 512] {
            let dir = bench_dir(&format!("append-{size}-{batch}"));
            let _ = std::fs::remove_dir_all(&dir);
            let ledger = Ledger::open(&dir, LedgerOptions::default()).expect("open");
            let data = entries(size, batch, 0);
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_function(
                BenchmarkId::new(format!("{size}B"), format!("batch{batch}")),
                |b| {
                    b.iter(|| ledger.append(&data).expect("append"));
                },
            );
            drop(ledger);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    group.finish();

    // Where the time goes: larger batches amortize the fsync; without a per-batch fsync
    // (`BeforeCheckpoint`) the in-process cost is left (framing, hashing, tree, writes).
    let mut group = c.benchmark_group("append_large");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for (policy, name) in [
        (FsyncPolicy::Always, "fsync"),
        (FsyncPolicy::BeforeCheckpoint, "no_fsync"),
    ] {
        for batch in [512usize, 16_384] {
            if policy == FsyncPolicy::Always && batch == 512 {
                continue; // measured above
            }
            let dir = bench_dir(&format!("append-large-{name}-{batch}"));
            let _ = std::fs::remove_dir_all(&dir);
            let opts = LedgerOptions {
                fsync: policy,
                ..LedgerOptions::default()
            };
            let ledger = Ledger::open(&dir, opts).expect("open");
            let data = entries(200, batch, 2);
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_function(
                BenchmarkId::new(format!("200B/{name}"), format!("batch{batch}")),
                |b| {
                    b.iter(|| ledger.append(&data).expect("append"));
                },
            );
            drop(ledger);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    group.finish();

    cpu_cost_per_leaf();

    let mut group = c.benchmark_group("append_concurrent");
    group.measurement_time(Duration::from_secs(5));
    let dir = bench_dir("append-concurrent");
    let _ = std::fs::remove_dir_all(&dir);
    let ledger = Arc::new(Ledger::open(&dir, LedgerOptions::default()).expect("open"));
    let data = Arc::new(entries(200, 512, 1));
    group.throughput(Throughput::Elements(4 * 512));
    group.bench_function("200B/4x512", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let ledger = Arc::clone(&ledger);
                    let data = Arc::clone(&data);
                    std::thread::spawn(move || {
                        for _ in 0..iters {
                            ledger.append(&data).expect("append");
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("writer");
            }
            started.elapsed()
        });
    });
    group.finish();
    eprintln!(
        "append_concurrent: {} fsyncs for {} entries",
        ledger.stats().fsyncs,
        ledger.size()
    );
    drop(ledger);
    let _ = std::fs::remove_dir_all(&dir);
}

/// CPU time of the calling thread, from `/proc/thread-self/schedstat` (nanoseconds on CPU).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        stat.split_whitespace().next()?.parse().ok()?,
    ))
}

/// Appends 1M 200-byte entries in batches of 16 384 without per-batch fsync and reports the
/// appending thread's CPU time per entry: on a shared, loaded machine wall-clock throughput
/// mostly measures the neighbours, CPU time measures the ledger.
fn cpu_cost_per_leaf() {
    let dir = bench_dir("append-cpu");
    let _ = std::fs::remove_dir_all(&dir);
    let opts = LedgerOptions {
        fsync: FsyncPolicy::BeforeCheckpoint,
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(&dir, opts).expect("open");
    let batches: Vec<Vec<Vec<u8>>> = (0..64).map(|b| entries(200, 16_384, 100 + b)).collect();
    let (wall, cpu) = (Instant::now(), thread_cpu());
    for batch in &batches {
        ledger.append(batch).expect("append");
    }
    let wall = wall.elapsed();
    let n = 64.0 * 16_384.0;
    if let (Some(before), Some(after)) = (cpu, thread_cpu()) {
        let per_leaf = (after - before).as_secs_f64() / n;
        eprintln!(
            "append cpu cost: {:.0} ns of appending-thread CPU per 200B leaf = {:.2}M leaves/s per \
             core; wall {:.2}M leaves/s",
            per_leaf * 1e9,
            1e-6 / per_leaf,
            n / wall.as_secs_f64() / 1e6
        );
    }
    drop(ledger);
    let _ = std::fs::remove_dir_all(&dir);
}

fn verify(c: &mut Criterion) {
    if !selected("verify") {
        return;
    }
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for (size, count) in [(200usize, 500_000usize), (2048, 50_000)] {
        let dir = bench_dir(&format!("verify-{size}"));
        let raw = bench_dir(&format!("verify-{size}.bytes"));
        let _ = std::fs::remove_dir_all(&dir);
        let mut all = Vec::with_capacity(size * count);
        {
            let ledger = Ledger::open(
                &dir,
                LedgerOptions {
                    fsync: FsyncPolicy::BeforeCheckpoint,
                    ..LedgerOptions::default()
                },
            )
            .expect("open");
            for chunk in 0..count / 10_000 {
                let batch = entries(size, 10_000, chunk as u64);
                for e in &batch {
                    all.extend_from_slice(e);
                }
                ledger.append(&batch).expect("append");
            }
            ledger.close().expect("close");
        }
        std::fs::write(&raw, &all).expect("write raw bytes");
        let bytes = all.len() as u64;
        drop(all);
        group.throughput(Throughput::Bytes(bytes));
        let run_verify = || {
            let report =
                verify_dir(&dir, &VerifyOptions::default(), &mut |_, _| {}).expect("verify");
            assert!(report.ok);
        };
        let run_sha256sum = || {
            let out = Command::new("sha256sum")
                .arg(&raw)
                .output()
                .expect("run sha256sum");
            assert!(out.status.success());
        };
        group.bench_function(BenchmarkId::new("verify_dir", format!("{size}B")), |b| {
            b.iter(run_verify)
        });
        group.bench_function(BenchmarkId::new("sha256sum", format!("{size}B")), |b| {
            b.iter(run_sha256sum)
        });
        // Same-run ratio, best of five each (warm page cache for both).
        let best = |f: &dyn Fn()| {
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed()
                })
                .min()
                .unwrap_or_default()
        };
        let v = best(&run_verify);
        let s = best(&run_sha256sum);
        let mbps = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
        eprintln!(
            "verify {size}B entries: verify_dir {:.0} MB/s, sha256sum {:.0} MB/s, ratio {:.2}",
            mbps(v),
            mbps(s),
            s.as_secs_f64() / v.as_secs_f64()
        );
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&raw);
    }
    group.finish();
}

fn proof(c: &mut Criterion) {
    if !selected("proof") {
        return;
    }
    let n: u64 = std::env::var("CAIRN_BENCH_PROOF_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = bench_dir(&format!("proof-{n}"));
    let opts = LedgerOptions {
        fsync: FsyncPolicy::BeforeCheckpoint,
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(&dir, opts).expect("open");
    if ledger.size() < n {
        let started = Instant::now();
        let mut i = ledger.size();
        while i < n {
            let k = (n - i).min(65_536);
            let batch: Vec<Vec<u8>> = (i..i + k)
                .map(|j| format!("entry {j}").into_bytes())
                .collect();
            ledger.append(&batch).expect("append");
            i += k;
        }
        ledger.checkpoint().expect("checkpoint");
        eprintln!(
            "built a {n}-entry ledger in {:.1} s ({:.0} entries/s, BeforeCheckpoint policy)",
            started.elapsed().as_secs_f64(),
            n as f64 / started.elapsed().as_secs_f64()
        );
    }
    let mut group = c.benchmark_group("proof");
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    group.bench_function(BenchmarkId::new("inclusion", n), |b| {
        b.iter(|| ledger.inclusion_proof(next(), n).expect("proof"))
    });
    group.bench_function(BenchmarkId::new("bundle", n), |b| {
        b.iter(|| ledger.proof_bundle(next(), None).expect("bundle"))
    });
    group.bench_function(BenchmarkId::new("consistency", n), |b| {
        b.iter(|| {
            ledger
                .consistency_proof(1 + next() % (n - 1), n)
                .expect("proof")
        })
    });
    group.finish();
}

criterion_group!(benches, append, verify, proof);
criterion_main!(benches);
