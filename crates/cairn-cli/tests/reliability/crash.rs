//! kill -9 at random moments during ingest, restart, repeat: every span acknowledged with a 200
//! is served afterwards and `cairn verify` passes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng as _, SeedableRng as _};

use crate::common::*;
use crate::harness::Serve;

/// Spans per request (one trace per request).
const SPANS: u64 = 8;

#[test]
fn kill_9_at_random_moments_loses_no_acknowledged_span() {
    let _serial = crate::common::one_at_a_time();
    let rounds = if long() { 100 } else { 20 };
    let seed: u64 = std::env::var("CAIRN_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash suite: {rounds} rounds, CAIRN_CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let next_id = Arc::new(AtomicU64::new(1));
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let mut killed_with_requests_in_flight = 0;
    for round in 0..rounds {
        let serve = Serve::start(dir.path(), &[]);
        let url = format!("{}/v1/traces", serve.http);
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicU64::new(0));
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let (url, acked, stop, next_id, in_flight) = (
                    url.clone(),
                    acked.clone(),
                    stop.clone(),
                    next_id.clone(),
                    in_flight.clone(),
                );
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let id = next_id.fetch_add(1, Ordering::SeqCst);
                        let body = trace_request(id, SPANS, 64);
                        in_flight.fetch_add(1, Ordering::SeqCst);
                        let answer = post_proto(&url, &body, Duration::from_secs(10));
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        match answer {
                            Some((200, _)) => acked.lock().unwrap().push(id),
                            // Killed mid-request or refused after death: not acknowledged.
                            Some((503, _)) | None => {}
                            Some((status, _)) => panic!("unexpected status {status}"),
                        }
                    }
                })
            })
            .collect();
        // A random moment: right after startup, mid-stream, or after a burst.
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..400)));
        if in_flight.load(Ordering::SeqCst) > 0 {
            killed_with_requests_in_flight += 1;
        }
        serve.kill_9();
        stop.store(true, Ordering::SeqCst);
        for w in writers {
            w.join().unwrap();
        }
        if round % 5 == 4 {
            assert_verify(&data);
        }
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!(
        "crash suite: {} requests acknowledged, {killed_with_requests_in_flight} of {rounds} kills \
         hit requests in flight",
        acked.len()
    );
    assert!(
        acked.len() >= rounds,
        "too little was acknowledged for the test to mean anything: {}",
        acked.len()
    );
    assert!(killed_with_requests_in_flight > rounds / 2);

    let serve = Serve::start(dir.path(), &[]);
    serve.wait_indexed(acked.len() as u64 * SPANS);
    assert_traces_present(&serve, &acked, SPANS as usize);
    serve.stop();
    assert_verify(&data);
}
