//! End to end over the real binary: `cairn witness serve` and `cairn serve` pushing its
//! checkpoints to it; `cairn verify --witness-key` then passes with the witness's key and fails
//! with another.

#[allow(dead_code)]
#[path = "../serve/harness.rs"]
mod harness;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use harness::{PROTOBUF, Serve, cairn, post, tool_span_request};
use serde_json::Value;

/// A `cairn witness serve` child process.
struct WitnessProc {
    child: Child,
    url: String,
    vkey: String,
}

impl WitnessProc {
    fn start(dir: &Path, log_vkey: &str, addr: &str) -> Self {
        let addr_file = dir.join("witness-addr.json");
        let child = cairn()
            .args(["witness", "serve", "--addr", addr, "--log", log_vkey])
            .arg("--state-dir")
            .arg(dir.join("witness"))
            .arg("--addr-file")
            .arg(&addr_file)
            .env_remove("CAIRN_WITNESS_CONFIG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("witness.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("witness.log")).unwrap())
            .spawn()
            .expect("spawn cairn witness serve");
        let deadline = Instant::now() + Duration::from_secs(30);
        let info: Value = loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file) {
                break serde_json::from_str(&text).unwrap();
            }
            assert!(Instant::now() < deadline, "the witness did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Self {
            child,
            url: format!("http://{}", info["addr"].as_str().unwrap()),
            vkey: info["vkey"].as_str().unwrap().to_owned(),
        }
    }
}

impl Drop for WitnessProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn witness_key(state_dir: &Path) -> String {
    let out = cairn()
        .args(["witness", "key", "--json", "--state-dir"])
        .arg(state_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["vkey"].as_str().unwrap().to_owned()
}

fn size_line(note: &str) -> u64 {
    note.lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn serve_pushes_to_a_real_witness_and_verify_requires_its_cosignature() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    // The witness key exists before the witness runs (`cairn witness key` generates it), so the
    // log can be configured first; its pushes fail until the witness is up, and are retried.
    let wkey = witness_key(&dir.join("witness"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("witness/witness.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(witness_key(&dir.join("witness")), wkey, "the key is kept");
    let config = dir.join("serve.toml");
    // A free port for the witness, chosen now so the log's configuration can name it.
    let witness_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::write(
        &config,
        format!(
            "[witness]\ntimeout_secs = 5\nretry_secs = 1\n[[witness.witnesses]]\n\
             url = \"http://127.0.0.1:{witness_port}\"\nvkey = \"{wkey}\"\n"
        ),
    )
    .unwrap();
    let serve = Serve::start(dir, &["--config", config.to_str().unwrap()]);
    let answer = post(
        &format!("{}/v1/traces", serve.http),
        &[PROTOBUF],
        &tool_span_request(0..20),
    );
    assert_eq!(answer.status, 200);

    // Nothing cosigned while the witness is down; the failures are counted.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = serve.get_json("/api/v1/audit/witnesses");
        if st[0]["failures"].as_u64() >= Some(1) {
            assert_eq!(st[0]["cosigned_size"], Value::Null);
            break;
        }
        assert!(Instant::now() < deadline, "no failure counted: {st}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(serve.get("/api/v1/audit/checkpoint/cosigned").0, 404);

    // Start the witness on the configured port, following this log.
    let witness = WitnessProc::start(
        dir,
        &serve.verifier_key,
        &format!("127.0.0.1:{witness_port}"),
    );
    assert_eq!(witness.vkey, wkey);

    // The pusher retries and the cosigned checkpoint catches up with the latest one.
    let deadline = Instant::now() + Duration::from_secs(30);
    let cosigned = loop {
        let (status, note) = serve.get("/api/v1/audit/checkpoint/cosigned");
        let (_, latest) = serve.get("/api/v1/audit/checkpoint");
        if status == 200 && size_line(&note) >= 20 && size_line(&note) == size_line(&latest) {
            break note;
        }
        assert!(
            Instant::now() < deadline,
            "not cosigned: {status} {note} {}",
            serve.get_json("/api/v1/audit/witnesses")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let witness_name = wkey.split('+').next().unwrap();
    assert!(
        cosigned.contains(&format!("\n\u{2014} {witness_name} ")),
        "{cosigned}"
    );
    let st = serve.get_json("/api/v1/audit/witnesses");
    assert!(st[0]["pushes"].as_u64() >= Some(1), "{st}");
    assert_eq!(st[0]["last_error"], Value::Null, "{st}");
    // The witness itself refuses a stale push for this log with 409 and its size.
    let stale = post(
        &format!("{}/add-checkpoint", witness.url),
        &[],
        format!("old 0\n\n{cosigned}").as_bytes(),
    );
    assert_eq!(stale.status, 409);
    assert_eq!(
        String::from_utf8(stale.body).unwrap(),
        format!("{}\n", size_line(&cosigned))
    );
    serve.stop();

    let data = dir.join("data");
    let verify = |keys: &[&str]| {
        let mut cmd = cairn();
        cmd.args(["verify", "--json", "--data-dir"]).arg(&data);
        for k in keys {
            cmd.args(["--witness-key", k]);
        }
        cmd.output().unwrap()
    };
    let out = verify(&[&wkey]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["witnessed_size"].as_u64() >= Some(20), "{report}");
    assert_eq!(report["witnesses"][0]["cosigned"], true);

    // Another witness key (same name, never cosigned) fails with exit code 1.
    let other = witness_key(&dir.join("other-witness"));
    let out = verify(&[&other]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"][0]["kind"], "witness_cosignature");
    // Both keys: fails; a quorum of one passes. The human output names the witness.
    assert_eq!(verify(&[&wkey, &other]).status.code(), Some(1));
    let out = cairn()
        .args(["verify", "--witness-quorum", "1", "--data-dir"])
        .arg(&data)
        .args(["--witness-key", &wkey, "--witness-key", &other])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("witnessed: the checkpoint of size"));

    // `cairn ledger archive` runs over the binary; the active (only) segment is never archived,
    // and verification still passes afterwards. (Archival itself: cairn-ledger's suite.)
    let out = cairn()
        .args([
            "ledger",
            "archive",
            "--json",
            "--before-index",
            "1000",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--to")
        .arg(dir.join("archive"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["archived"], serde_json::json!([]), "{report}");
    assert_eq!(verify(&[&wkey]).status.code(), Some(0));
}
