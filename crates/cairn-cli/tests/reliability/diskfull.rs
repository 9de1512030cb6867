//! Disk full: the data dir on a 16 MiB tmpfs. Ingest answers 503 with `Retry-After` once the
//! ledger cannot grow (gRPC: `UNAVAILABLE` with a `RetryInfo`), nothing acknowledged is lost,
//! `cairn verify` passes, ingest resumes once space is freed, and the index catches up once the
//! volume is grown.
//!
//! Mounting needs root (`mount -t tmpfs`). Where it cannot mount, the test fails with
//! instructions; `CAIRN_SKIP_DISKFULL=1` turns that into a loudly printed skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use crate::harness::Serve;

const SPANS: u64 = 16;

/// Unmounts on drop (lazily, so a still-open file never leaves the mount behind).
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = privileged("umount").arg("-l").arg(&self.0).status();
    }
}

/// `cmd` as root: directly when we are root, else through password-less `sudo -n`.
fn privileged(cmd: &str) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if root {
        Command::new(cmd)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", cmd]);
        sudo
    }
}

fn mount_tmpfs(at: &Path, size: &str) -> Result<Mount, String> {
    std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
    let out = privileged("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(Mount(at.to_owned()))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

impl Mount {
    /// Grows (or shrinks) the mounted tmpfs in place, as an operator grows a full volume.
    fn resize(&self, size: &str) {
        let status = privileged("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("run mount -o remount");
        assert!(status.success(), "remount {} to {size}", self.0.display());
    }
}

#[test]
fn disk_full_answers_503_keeps_everything_and_resumes() {
    let _serial = crate::common::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mount = match mount_tmpfs(&data, "16m") {
        Ok(mount) => mount,
        Err(why) => {
            let skip = std::env::var("CAIRN_SKIP_DISKFULL").is_ok_and(|v| v == "1");
            eprintln!(
                "\n!!!!!!!! disk-full test {}: cannot mount a tmpfs ({why}); it needs root. !!!!!!!!\n",
                if skip {
                    "SKIPPED (CAIRN_SKIP_DISKFULL=1)"
                } else {
                    "FAILED"
                }
            );
            if skip {
                return;
            }
            panic!(
                "cannot mount a tmpfs for the disk-full test ({why}); run as root, or set \
                 CAIRN_SKIP_DISKFULL=1 to skip it explicitly"
            );
        }
    };
    // Ballast to free later: the disk fills up with it in place.
    let ballast = data.join("ballast");
    std::fs::write(&ballast, vec![7u8; 4 << 20]).unwrap();

    let serve = Serve::start(dir.path(), &[]);
    let url = format!("{}/v1/traces", serve.http);
    let mut acked = Vec::new();
    let mut refused = None;
    for id in 1..2_000u64 {
        let body = trace_request(id, SPANS, 2_000);
        match post_proto(&url, &body, Duration::from_secs(30)) {
            Some((200, _)) => acked.push(id),
            Some((503, retry_after)) => {
                refused = Some((id, retry_after));
                break;
            }
            other => panic!(
                "request {id}: unexpected answer {other:?}: {}",
                serve.logs()
            ),
        }
    }
    let (first_refused, retry_after) =
        refused.unwrap_or_else(|| panic!("16 MiB never filled up: {}", serve.logs()));
    assert_eq!(retry_after.as_deref(), Some("1"), "503 carries Retry-After");
    assert!(
        !acked.is_empty(),
        "something was accepted before the disk filled"
    );
    eprintln!(
        "disk full after {} acknowledged requests ({} spans of ~2 KB)",
        acked.len(),
        acked.len() as u64 * SPANS
    );
    // Still full: still refused, still answering.
    let again = post_proto(
        &url,
        &trace_request(first_refused, SPANS, 2_000),
        Duration::from_secs(30),
    );
    assert!(matches!(again, Some((503, Some(_)))), "{again:?}");
    // The gRPC receiver refuses it too: UNAVAILABLE with a RetryInfo (retryable under OTLP).
    let status = grpc_export(&serve.grpc, &trace_request(first_refused, SPANS, 2_000))
        .expect_err("a full disk refuses gRPC exports");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("disk is full"), "{status:?}");
    assert!(
        String::from_utf8_lossy(status.details())
            .contains("type.googleapis.com/google.rpc.RetryInfo"),
        "{status:?}"
    );
    assert_eq!(serve.get("/healthz").0, 200, "the server keeps running");

    // Free space: ingest resumes.
    std::fs::remove_file(&ballast).unwrap();
    let mut resumed = None;
    assert!(
        eventually(Duration::from_secs(20), || {
            let id = 10_000 + acked.len() as u64 + resumed.map_or(0, |_: u64| 1);
            match post_proto(
                &url,
                &trace_request(id, SPANS, 2_000),
                Duration::from_secs(30),
            ) {
                Some((200, _)) => {
                    resumed = Some(id);
                    true
                }
                _ => false,
            }
        }),
        "ingest did not resume after space was freed: {}",
        serve.logs()
    );
    acked.push(resumed.unwrap());
    for id in 20_000..20_010u64 {
        let answer = post_proto(
            &url,
            &trace_request(id, SPANS, 2_000),
            Duration::from_secs(30),
        );
        assert_eq!(answer.map(|a| a.0), Some(200), "after space was freed");
        acked.push(id);
    }
    // The index hit the full disk too (SQLite: "database or disk is full"); its thread retries
    // with backoff, so /readyz says `index_failing` (503) for a while, then catches up. How far
    // it fell behind before the disk filled depends on the machine's speed, and catching up
    // needs room for every entry it has not indexed yet: the 4 MiB of ballast may not be enough,
    // so the operator grows the volume, as they would in production.
    mount.resize("64m");
    let mut last = String::new();
    assert!(
        eventually(Duration::from_secs(40), || {
            let (status, body) = serve.get("/readyz");
            let ready: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            last = body;
            status == 200
                && ready["index_lag_entries"] == 0
                && ready["ledger_entries"].as_u64() >= Some(acked.len() as u64 * SPANS)
        }),
        "the index did not recover after space was freed: {last}"
    );
    assert_traces_present(&serve, &acked, SPANS as usize);
    serve.stop();
    assert_verify(&data);
    // And the data survives a restart.
    let serve = Serve::start(dir.path(), &[]);
    serve.wait_indexed(acked.len() as u64 * SPANS);
    assert_traces_present(&serve, &acked[acked.len() - 3..], SPANS as usize);
    serve.stop();
}

/// One OTLP/gRPC `TraceService/Export` call with an encoded `ExportTraceServiceRequest`.
fn grpc_export(endpoint: &str, body: &[u8]) -> Result<(), tonic::Status> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use prost::Message as _;
    let request = ExportTraceServiceRequest::decode(body).expect("a valid request");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut client = TraceServiceClient::connect(endpoint.to_owned())
            .await
            .expect("connect to the gRPC receiver");
        client.export(request).await.map(|_| ())
    })
}
