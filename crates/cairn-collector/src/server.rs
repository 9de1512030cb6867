//! Starting and stopping the collector.
//!
//! [`Server::start`] binds the three listeners (so a port conflict fails fast), opens the ledger
//! and the index, starts the ledger writer and indexer threads and the three HTTP/gRPC servers, and
//! returns a [`RunningServer`] with the bound addresses (port 0 picks free ports).
//!
//! [`RunningServer::shutdown`] is the graceful path, in this order:
//! 1. `/readyz` turns 503; the listeners stop accepting; in-flight requests finish (each waits for
//!    its records to be durable) — bounded by [`DRAIN_TIMEOUT`];
//! 2. the ledger writer writes everything still queued and exits;
//! 3. the indexer catches up with the ledger and exits;
//! 4. the ledger signs its final checkpoint and closes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::serve::ListenerExt as _;
use cairn_store::Store;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

use crate::api::{ApiState, ReaderPool};
use crate::auth::access::AccessLog;
use crate::auth::{Authenticator, GrpcAuth};
use crate::config::{Config, ConfigError};
use crate::otlp::Ingest;
use crate::otlp::grpc::OtlpGrpc;
use crate::pipeline::appender::Appender;
use crate::pipeline::indexer::Indexer;
use crate::pipeline::{LedgerWatch, Pipeline, open_ledger};
use crate::tls::TlsListener;
use cairn_metrics::{Metrics, RuntimeStats};
use tonic::service::interceptor::InterceptedService;

/// Longest wait for in-flight requests during shutdown before their connections are dropped.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Starting or stopping the server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An exporter's configuration is invalid or its state could not be opened.
    #[error("cannot start the exporters: {0}")]
    Exporters(#[source] cairn_export::SetupError),
    /// The privacy layer (redaction rules, master key, keystore) could not be set up.
    #[error("cannot set up privacy: {0}")]
    Privacy(#[from] cairn_privacy::PrivacyError),
    /// The data directory could not be created.
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr} for {what}: {source}")]
    Bind {
        /// Which listener (`OTLP/HTTP`, `OTLP/gRPC`, `API`).
        what: &'static str,
        /// The configured address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ledger could not be opened.
    #[error("cannot open the ledger at {path}: {source}")]
    Ledger {
        /// The ledger directory.
        path: PathBuf,
        /// The ledger's error.
        source: cairn_ledger::OpenError,
    },
    /// The index could not be opened.
    #[error("cannot open the index at {path}: {source}")]
    Store {
        /// The index file.
        path: PathBuf,
        /// The store's error.
        source: cairn_store::StoreError,
    },
    /// The index claims more entries than the ledger holds (the ledger was replaced or rolled
    /// back); `cairn reindex` rebuilds it.
    #[error(
        "the index covers {cursor} ledger entries but the ledger has only {size}; run `cairn reindex`"
    )]
    IndexAhead {
        /// The index cursor.
        cursor: u64,
        /// The ledger size.
        size: u64,
    },
    /// A pipeline thread could not be started.
    #[error("cannot start a pipeline thread: {0}")]
    Thread(std::io::Error),
    /// A listener failed while serving.
    #[error("{what} server failed: {message}")]
    Serve {
        /// Which listener.
        what: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The witness pusher could not start.
    #[error("cannot start the witness pusher: {0}")]
    Witness(cairn_witness::ConfigError),
    /// A listener is reachable from other hosts but no API key exists (and `[auth] required` is
    /// off), so anyone could read and write; refused unless `insecure_no_auth` is set.
    #[error(
        "refusing to listen on {addr} ({what}) without API keys: create one with `cairn keys \
         create --project P --scope admin`, or pass --insecure-no-auth to serve unauthenticated"
    )]
    Insecure {
        /// Which listener.
        what: &'static str,
        /// Its bound address.
        addr: SocketAddr,
    },
    /// The TLS certificate or key cannot be used.
    #[error("{0}")]
    Tls(String),
    /// The key file cannot be read.
    #[error("{0}")]
    Keys(String),
    /// Signing the final checkpoint failed.
    #[error("cannot close the ledger: {0}")]
    Close(cairn_ledger::CloseError),
}

/// The addresses the listeners are bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BoundAddrs {
    /// OTLP/HTTP (`/v1/traces`, `/v1/logs`, `/v1/metrics`).
    pub otlp_http: SocketAddr,
    /// OTLP/gRPC.
    pub otlp_grpc: SocketAddr,
    /// Query API, UI and `/metrics`.
    pub api: SocketAddr,
}

/// Entry point: see [`Server::start`].
#[derive(Debug)]
pub struct Server;

/// A started collector. Dropping it without [`RunningServer::shutdown`] still stops the pipeline
/// threads and closes the ledger, but does not wait for in-flight requests.
#[derive(Debug)]
pub struct RunningServer {
    addrs: BoundAddrs,
    data_dir: PathBuf,
    verifier_key: String,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<Result<(), String>>)>,
    pipeline: Arc<Pipeline>,
    api: Arc<ApiState>,
    /// Exporter threads (ledger consumers with their own cursors) and their stop signal; they
    /// stop after the ledger writer has drained, before the ledger closes.
    exporters: Vec<cairn_export::ExporterHandle>,
    export_shutdown: cairn_export::Shutdown,
    /// Pushes new checkpoints to the configured witnesses (none configured: `None`); stopped
    /// before the ledger closes.
    witness_pusher: Option<Arc<cairn_witness::Pusher>>,
}

async fn bind(what: &'static str, addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            what,
            addr: addr.to_owned(),
            source,
        })
}

fn local_addr(what: &'static str, l: &TcpListener, addr: &str) -> Result<SocketAddr, ServeError> {
    l.local_addr().map_err(|source| ServeError::Bind {
        what,
        addr: addr.to_owned(),
        source,
    })
}

impl Server {
    /// Opens the data dir and starts serving. Must be called inside a multi-threaded tokio
    /// runtime.
    pub async fn start(config: Config) -> Result<RunningServer, ServeError> {
        config.validate()?;
        let http_listener = bind("OTLP/HTTP", &config.otlp.http_addr).await?;
        let grpc_listener = bind("OTLP/gRPC", &config.otlp.grpc_addr).await?;
        let api_listener = bind("API", &config.api.addr).await?;
        let addrs = BoundAddrs {
            otlp_http: local_addr("OTLP/HTTP", &http_listener, &config.otlp.http_addr)?,
            otlp_grpc: local_addr("OTLP/gRPC", &grpc_listener, &config.otlp.grpc_addr)?,
            api: local_addr("API", &api_listener, &config.api.addr)?,
        };
        let auth = Arc::new(Authenticator::new(config.keys_path(), config.auth.required));
        let auth_on = auth
            .enabled()
            .map_err(|e| ServeError::Keys(format!("{e:?}")))?;
        if !auth_on && !config.auth.insecure_no_auth {
            for (what, addr) in [
                ("OTLP/HTTP", addrs.otlp_http),
                ("OTLP/gRPC", addrs.otlp_grpc),
                ("API", addrs.api),
            ] {
                if !addr.ip().is_loopback() {
                    return Err(ServeError::Insecure { what, addr });
                }
            }
        }
        if !auth_on {
            tracing::warn!(
                "authentication is off (no API keys): every request is project `default` and \
                 sees every project"
            );
        }

        let metrics = Arc::new(Metrics::new(
            config.metrics.clone(),
            env!("CARGO_PKG_VERSION"),
        ));
        metrics.health().set_data_dir(config.data_dir.clone());
        metrics
            .health()
            .set_runtime_source(runtime_source(tokio::runtime::Handle::current()));
        let cfg = config.clone();
        let pipeline_metrics = Arc::clone(&metrics);
        let (pipeline, index_path) =
            tokio::task::spawn_blocking(move || open_pipeline(&cfg, pipeline_metrics))
                .await
                .map_err(|e| ServeError::Thread(std::io::Error::other(e.to_string())))??;
        let pipeline = Arc::new(pipeline);

        let ingest = Arc::new(Ingest {
            appender: Arc::clone(&pipeline.appender),
            limits: config.limits.clone(),
            metrics: Arc::clone(&pipeline.metrics),
            max_body_bytes: config.otlp.max_body_bytes,
            retry_after_secs: config.otlp.retry_after_secs,
            privacy: Arc::clone(&pipeline.privacy),
        });
        let eraser = Arc::new(crate::privacy::Eraser {
            privacy: Arc::clone(&pipeline.privacy),
            ledger: Arc::clone(&pipeline.ledger),
            appender: Arc::clone(&pipeline.appender),
            index: Arc::clone(pipeline.indexer.status()),
            index_path: index_path.clone(),
            exporters: config.exporters.clone(),
            running: tokio::sync::Mutex::new(()),
        });
        let witness_pusher = if config.witness.witnesses.is_empty() {
            None
        } else {
            Some(Arc::new(
                cairn_witness::Pusher::start(Arc::clone(&pipeline.ledger), &config.witness)
                    .map_err(ServeError::Witness)?,
            ))
        };
        let api = Arc::new(ApiState {
            auth: Arc::clone(&auth),
            access: AccessLog::start(
                Arc::clone(&pipeline.appender),
                Arc::clone(&pipeline.metrics),
            ),
            ledger: Arc::clone(&pipeline.ledger),
            readers: ReaderPool::new(index_path, config.api.max_concurrent_queries),
            index: Arc::clone(pipeline.indexer.status()),
            appender: Arc::clone(&pipeline.appender),
            metrics: Arc::clone(&pipeline.metrics),
            watch: Arc::clone(&pipeline.watch),
            queries: Semaphore::new(config.api.max_concurrent_queries),
            ready: AtomicBool::new(true),
            verification: Arc::new(crate::verifier::VerificationStatus::default()),
            witnesses: witness_pusher.as_ref().map(|p| Arc::clone(p.status())),
            eraser,
        });

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let tls = match (&config.tls.cert_file, &config.tls.key_file) {
            (Some(cert), Some(key)) => {
                Some(crate::tls::server_config(cert, key).map_err(ServeError::Tls)?)
            }
            _ => None,
        };
        let tls_listener = |what: &'static str, l: TcpListener, cfg: &Arc<rustls::ServerConfig>| {
            TlsListener::new(l, Arc::clone(cfg)).map_err(|source| ServeError::Bind {
                what,
                addr: String::new(),
                source,
            })
        };
        let http_router = crate::otlp::http::router(Arc::clone(&ingest), Arc::clone(&auth));
        let api_router = crate::api::router(Arc::clone(&api));
        let mut tasks = Vec::new();
        match &tls {
            Some(cfg) => {
                let http = tls_listener("OTLP/HTTP", http_listener, cfg)?;
                let api_l = tls_listener("API", api_listener, cfg)?;
                tasks.push((
                    "OTLP/HTTP",
                    spawn_axum(http, http_router, shutdown_rx.clone()),
                ));
                tasks.push(("API", spawn_axum(api_l, api_router, shutdown_rx.clone())));
            }
            None => {
                // Small OTLP answers must not wait for Nagle's algorithm.
                let nodelay = |tcp: &mut tokio::net::TcpStream| {
                    let _ = tcp.set_nodelay(true);
                };
                tasks.push((
                    "OTLP/HTTP",
                    spawn_axum(
                        http_listener.tap_io(nodelay),
                        http_router,
                        shutdown_rx.clone(),
                    ),
                ));
                tasks.push((
                    "API",
                    spawn_axum(
                        api_listener.tap_io(nodelay),
                        api_router,
                        shutdown_rx.clone(),
                    ),
                ));
            }
        }
        // `Ok`: plain TCP, `Err`: TLS (an either without a crate for it).
        let grpc_incoming = match &tls {
            Some(cfg) => Err(tls_listener("OTLP/gRPC", grpc_listener, cfg)?),
            None => Ok(grpc_listener),
        };
        let (traces, logs, otlp_metrics) = OtlpGrpc::new(Arc::clone(&ingest)).services();
        let grpc_auth = GrpcAuth(Arc::clone(&auth));
        let traces = InterceptedService::new(traces, grpc_auth.clone());
        let logs = InterceptedService::new(logs, grpc_auth.clone());
        let otlp_metrics = InterceptedService::new(otlp_metrics, grpc_auth);
        let mut grpc_shutdown = shutdown_rx;
        tasks.push((
            "OTLP/gRPC",
            tokio::spawn(async move {
                let router = tonic::transport::Server::builder()
                    .add_service(traces)
                    .add_service(logs)
                    .add_service(otlp_metrics);
                let signal = async move {
                    let _ = grpc_shutdown.wait_for(|stop| *stop).await;
                };
                match grpc_incoming {
                    Err(tls) => {
                        router
                            .serve_with_incoming_shutdown(tls.into_stream(), signal)
                            .await
                    }
                    Ok(plain) => {
                        router
                            .serve_with_incoming_shutdown(TcpListenerStream::new(plain), signal)
                            .await
                    }
                }
                .map_err(|e| e.to_string())
            }),
        ));

        let export_shutdown = cairn_export::Shutdown::new();
        // Exporters read through the privacy layer: they get decrypted content.
        let exporters = cairn_export::spawn_exporters(
            Arc::new(crate::privacy::RevealingSource::new(
                Arc::clone(&pipeline.ledger) as Arc<dyn cairn_export::EntrySource>,
                Arc::clone(&pipeline.privacy),
            )),
            &config.exporters,
            &config.data_dir,
            &export_shutdown,
        )
        .map_err(ServeError::Exporters)?;
        if !exporters.is_empty() {
            tasks.push((
                "exporter metrics",
                spawn_exporter_metrics(&exporters, &pipeline.metrics, shutdown_tx.subscribe()),
            ));
        }

        if config.retention.enabled() {
            tasks.push((
                "index retention",
                crate::retention::spawn(
                    config.index_path(),
                    config.retention.clone(),
                    shutdown_tx.subscribe(),
                ),
            ));
        }

        let verifier_key = pipeline.ledger.verifier_key();
        if !config.ledger.verify_interval.is_zero() {
            tasks.push((
                "background verification",
                crate::verifier::spawn(
                    config.ledger_dir(),
                    verifier_key.clone(),
                    verification_schedule(&config, &pipeline),
                    Arc::clone(&api.verification),
                    Arc::clone(&pipeline.metrics),
                    shutdown_tx.subscribe(),
                ),
            ));
        }
        Ok(RunningServer {
            addrs,
            data_dir: config.data_dir,
            verifier_key,
            shutdown_tx,
            tasks,
            pipeline,
            api,
            exporters,
            export_shutdown,
            witness_pusher,
        })
    }
}

/// When background verification runs: 5 s after startup (or after one interval, if shorter),
/// then every `ledger.verify_interval`; a due run waits while the index is more than two index
/// batches behind the ledger (see the `verifier` module).
fn verification_schedule(config: &Config, pipeline: &Pipeline) -> crate::verifier::Schedule {
    let ledger = Arc::clone(&pipeline.ledger);
    let index = Arc::clone(pipeline.indexer.status());
    let allowed = u64::try_from(config.pipeline.index_batch_entries)
        .unwrap_or(u64::MAX)
        .saturating_mul(2);
    crate::verifier::Schedule {
        first_delay: crate::verifier::FIRST_RUN_DELAY.min(config.ledger.verify_interval),
        interval: config.ledger.verify_interval,
        index_behind: Box::new(move || ledger.size().saturating_sub(index.cursor()) > allowed),
        poll: crate::verifier::DEFERRAL_POLL,
        max_deferral: crate::verifier::MAX_DEFERRAL,
    }
}

/// Maps each exporter's counters to `cairn_exporter_*{exporter="<name>"}` once a second (the
/// exporters count in atomics; this adds the deltas to the Prometheus counters).
fn spawn_exporter_metrics(
    exporters: &[cairn_export::ExporterHandle],
    metrics: &Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<Result<(), String>> {
    let watched: Vec<_> = exporters
        .iter()
        .map(|e| (e.name.clone(), Arc::clone(&e.stats)))
        .collect();
    let health = Arc::clone(metrics.health());
    tokio::spawn(async move {
        let mut last = vec![cairn_export::StatsSnapshot::default(); watched.len()];
        loop {
            for ((name, stats), last) in watched.iter().zip(last.iter_mut()) {
                let now = stats.snapshot();
                health.exporter_sent(name, now.sent.saturating_sub(last.sent));
                for _ in last.failed..now.failed {
                    health.exporter_failed(name);
                }
                for _ in last.retried..now.retried {
                    health.exporter_retried(name);
                }
                health.exporter_dead_lettered(
                    name,
                    now.dead_lettered.saturating_sub(last.dead_lettered),
                );
                health.set_exporter_lag(name, now.lag);
                *last = now;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            }
        }
    })
}

fn spawn_axum<L>(
    listener: L,
    router: axum::Router,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<Result<(), String>>
where
    L: axum::serve::Listener,
{
    // `axum::serve` without a header-read timeout would let slowloris clients hold connections.
    tokio::spawn(crate::otlp::http::serve(listener, router, shutdown))
}

/// A [`RuntimeStats`] source over tokio's runtime metrics. The busy ratio is the workers' busy
/// time since the previous sample over the wall time elapsed times the worker count.
fn runtime_source(
    handle: tokio::runtime::Handle,
) -> impl Fn() -> RuntimeStats + Send + Sync + 'static {
    let previous = parking_lot::Mutex::new(None::<(std::time::Instant, Duration)>);
    move || {
        let m = handle.metrics();
        let workers = m.num_workers();
        let busy: Duration = (0..workers).map(|w| m.worker_total_busy_duration(w)).sum();
        let now = std::time::Instant::now();
        let mut previous = previous.lock();
        let busy_ratio = match *previous {
            Some((at, was_busy)) if workers > 0 => {
                let wall = now.duration_since(at).as_secs_f64() * workers as f64;
                if wall > 0.0 {
                    (busy.saturating_sub(was_busy).as_secs_f64() / wall).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
        *previous = Some((now, busy));
        RuntimeStats {
            workers: workers as u64,
            alive_tasks: m.num_alive_tasks() as u64,
            global_queue_depth: m.global_queue_depth() as u64,
            busy_ratio,
        }
    }
}

/// Opens ledger and store and starts the writer and indexer threads (blocking).
fn open_pipeline(
    config: &Config,
    metrics: Arc<Metrics>,
) -> Result<(Pipeline, PathBuf), ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let privacy = Arc::new(crate::pipeline::open_privacy(config)?);
    let ledger_dir = config.ledger_dir();
    let ledger = Arc::new(
        open_ledger(&ledger_dir, config, Some(Arc::clone(metrics.health()))).map_err(|source| {
            ServeError::Ledger {
                path: ledger_dir,
                source,
            }
        })?,
    );
    let index_path = config.index_path();
    let store_err = |source| ServeError::Store {
        path: index_path.clone(),
        source,
    };
    let store = Store::open(&index_path).map_err(store_err)?;
    let cursor = store.cursor().map_err(store_err)?;
    let size = ledger.size();
    if cursor > size {
        return Err(ServeError::IndexAhead { cursor, size });
    }
    if cursor == 0 && size > 0 {
        // A new index, or one a schema upgrade reset (e.g. version 2 added projects).
        tracing::info!(
            entries = size,
            "the index is empty: rebuilding it from the ledger in the background"
        );
    }
    let watch = Arc::new(LedgerWatch::new(Arc::clone(metrics.health()), &ledger));
    let appender = Arc::new(
        Appender::start(
            Arc::clone(&ledger),
            config.pipeline.queue_capacity,
            config.pipeline.max_batch_records,
            Arc::clone(metrics.health()),
        )
        .map_err(ServeError::Thread)?,
    );
    let indexer = Indexer::start(
        Arc::clone(&ledger),
        store,
        cursor,
        config.pipeline.index_batch_entries,
        Arc::clone(metrics.agents()),
        Arc::clone(&watch),
        Arc::clone(&privacy),
    )
    .map_err(ServeError::Thread)?;
    Ok((
        Pipeline {
            ledger,
            appender,
            indexer,
            metrics,
            watch,
            privacy,
        },
        index_path,
    ))
}

impl RunningServer {
    /// The bound listener addresses.
    pub fn addrs(&self) -> BoundAddrs {
        self.addrs
    }

    /// The data directory in use.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The ledger's verifier key (`<name>+<hex key id>+<base64 key>`).
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// Ledger entries durable so far.
    pub fn ledger_size(&self) -> u64 {
        self.pipeline.ledger.size()
    }

    /// Ledger entries indexed so far.
    pub fn indexed(&self) -> u64 {
        self.pipeline.indexer.status().cursor()
    }

    /// Graceful shutdown (see the module docs). Returns the first error met, after doing every
    /// step anyway.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        self.api.ready.store(false, Ordering::Release);
        let _ = self.shutdown_tx.send(true);
        let mut first_error = None;
        for (what, task) in std::mem::take(&mut self.tasks) {
            let abort = task.abort_handle();
            let outcome = match tokio::time::timeout(DRAIN_TIMEOUT, task).await {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(message))) => Err(message),
                Ok(Err(join)) => Err(join.to_string()),
                Err(_) => {
                    abort.abort();
                    Err(format!(
                        "requests still running after {}s; dropped",
                        DRAIN_TIMEOUT.as_secs()
                    ))
                }
            };
            if let Err(message) = outcome {
                tracing::error!(server = what, %message, "server did not stop cleanly");
                first_error.get_or_insert(ServeError::Serve { what, message });
            }
        }
        // Access records of the last reads go to the ledger before its writer closes.
        self.api.access.stop().await;
        self.export_shutdown.trigger();
        let exporters = std::mem::take(&mut self.exporters);
        let joined = tokio::task::spawn_blocking(move || {
            exporters
                .into_iter()
                .map(|e| (e.name.clone(), e.join()))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| ServeError::Thread(std::io::Error::other(e.to_string())))?;
        for (name, result) in joined {
            if let Err(err) = result {
                tracing::error!(exporter = %name, error = %err, "exporter stopped with an error");
            }
        }
        if let Some(pusher) = self.witness_pusher.take() {
            let _ = tokio::task::spawn_blocking(move || pusher.stop()).await;
        }
        let pipeline = Arc::clone(&self.pipeline);
        let closed = tokio::task::spawn_blocking(move || pipeline.shutdown())
            .await
            .map_err(|e| ServeError::Thread(std::io::Error::other(e.to_string())))?;
        if let Err(err) = closed {
            first_error.get_or_insert(ServeError::Close(err));
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.export_shutdown.trigger();
        let _ = self.shutdown_tx.send(true);
        for (_, task) in &self.tasks {
            task.abort();
        }
    }
}

/// Starts the server and runs it until `shutdown` resolves, then shuts down gracefully;
/// `on_start` sees the running server first (to print its addresses, start a demo …).
pub async fn run(
    config: Config,
    on_start: impl FnOnce(&RunningServer),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let server = Server::start(config).await?;
    on_start(&server);
    shutdown.await;
    tracing::info!("shutting down: draining requests, indexing, signing the final checkpoint");
    server.shutdown().await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
///
/// The signal handlers are installed when this is called, not when the future is first polled:
/// call it before the server starts, so that a SIGTERM sent as soon as the server has published
/// its addresses (a supervisor, a test harness) stops it cleanly instead of killing it with the
/// signal's default action. Must be called inside a Tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |name: &'static str, sig: std::io::Result<tokio::signal::unix::Signal>| async move {
                match sig {
                    Ok(mut sig) => {
                        sig.recv().await;
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "cannot listen for {name}");
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                () = wait("SIGINT", interrupt) => {}
                () = wait("SIGTERM", terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    }
}
