//! Overload: more load than the ledger writer takes. With a small `--queue-capacity`, excess
//! requests get 429 with `Retry-After`, the queue never holds more than its capacity (or one
//! request, when it was empty), and resident memory stays bounded.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::harness::Serve;

/// A status and its `Retry-After`.
type Answer = (u16, Option<String>);

const CAPACITY: u64 = 2048;
/// One request fills the whole queue, so any two requests in flight at once overflow it: the
/// overload does not depend on the clients out-running the writer on a loaded machine.
const SPANS: u64 = CAPACITY;
/// Generous for a debug build under a loaded machine; a release server stays far below it.
const MAX_RSS: u64 = 512 << 20;

#[test]
fn overload_answers_429_with_bounded_queue_and_memory() {
    let _serial = crate::common::one_at_a_time();
    let secs = if long() { 60 } else { 8 };
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &["--queue-capacity", &CAPACITY.to_string()]);
    let url = format!("{}/v1/traces", serve.http);
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(1));
    let statuses: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let clients: Vec<_> = (0..24)
        .map(|_| {
            let (url, stop, next, statuses) =
                (url.clone(), stop.clone(), next.clone(), statuses.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let id = next.fetch_add(1, Ordering::SeqCst);
                    let answer = post_proto(
                        &url,
                        &trace_request(id, SPANS, 256),
                        Duration::from_secs(30),
                    )
                    .expect("the server answers under overload");
                    statuses.lock().unwrap().push(answer);
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut max_rss = 0;
    let mut max_queued = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        max_rss = max_rss.max(rss_bytes(serve.pid()));
        let ready = serve.get_json("/readyz");
        max_queued = max_queued.max(ready["queued_records"].as_u64().unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let statuses = statuses.lock().unwrap();
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    let throttled: Vec<_> = statuses.iter().filter(|(s, _)| *s == 429).collect();
    eprintln!(
        "overload: {} requests, {ok} accepted, {} answered 429, max queued {max_queued}, max RSS {} MiB",
        statuses.len(),
        throttled.len(),
        max_rss >> 20
    );
    assert!(
        statuses.iter().all(|(s, _)| matches!(s, 200 | 429)),
        "only 200 and 429 under overload: {:?}",
        statuses
            .iter()
            .filter(|(s, _)| !matches!(s, 200 | 429))
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(ok > 0, "overload starved every request");
    assert!(
        !throttled.is_empty(),
        "more load than capacity never got a 429"
    );
    assert!(
        throttled.iter().all(|(_, r)| r.as_deref() == Some("1")),
        "every 429 carries Retry-After"
    );
    assert!(
        max_queued <= CAPACITY.max(SPANS),
        "queue exceeded its capacity: {max_queued}"
    );
    assert!(max_rss > 0, "RSS is readable from /proc");
    assert!(max_rss < MAX_RSS, "RSS grew to {} MiB", max_rss >> 20);
    // Capacity frees up: a normal request is accepted again (the queue's count drops just after
    // the last acknowledgements, so allow it a moment).
    let mut last = None;
    let freed = eventually(Duration::from_secs(10), || {
        last =
            post_proto(&url, &trace_request(1 << 40, 1, 8), Duration::from_secs(30)).map(|a| a.0);
        last == Some(200)
    });
    assert!(
        freed,
        "after the load stopped a normal request still got {last:?}"
    );
    serve.stop();
}
