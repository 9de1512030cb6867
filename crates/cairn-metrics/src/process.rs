//! The standard `process_*` metrics, read from `/proc/self` at scrape time (Linux only; other
//! systems expose none of them).
//!
//! Names and meanings follow the Prometheus client libraries' process collector:
//! `process_cpu_seconds_total` (user + system), `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds` (soft `RLIMIT_NOFILE`),
//! `process_threads` and `process_start_time_seconds` (unix time).
//!
//! Parsing `/proc/self/stat` by hand (like client_golang's procfs does) reads the six fields needed
//! without pulling a full procfs crate; the layout is `pid (comm) state ppid …` where `comm` may
//! itself contain spaces and parentheses, so fields are counted after the *last* `)`.

use prometheus_client::encoding::DescriptorEncoder;

/// A snapshot of the process metrics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcessStats {
    /// User plus system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident set size, bytes.
    pub resident_memory_bytes: u64,
    /// Virtual memory size, bytes.
    pub virtual_memory_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// Soft limit on open file descriptors (`None` when unlimited).
    pub max_fds: Option<u64>,
    /// Threads.
    pub threads: u64,
    /// Start time, unix seconds.
    pub start_time_seconds: f64,
}

/// Why the process metrics could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// A `/proc` file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A `/proc` file did not have the expected layout.
    #[error("unexpected format of {0}")]
    Format(&'static str),
    /// Not supported on this operating system.
    #[error("process metrics are only available on linux")]
    Unsupported,
}

/// The fields of `/proc/self/stat` used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    utime_ticks: u64,
    stime_ticks: u64,
    threads: u64,
    start_ticks: u64,
    vsize_bytes: u64,
    rss_pages: u64,
}

fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // Field n of proc(5) (1-based) is fields[n - 3]: fields[0] is field 3, the state.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        threads: field(20)?,
        start_ticks: field(22)?,
        vsize_bytes: field(23)?,
        rss_pages: field(24)?,
    })
}

fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

impl ProcessStats {
    /// Reads the current process's metrics.
    #[cfg(target_os = "linux")]
    pub fn read() -> Result<Self, ProcessError> {
        let read = |path: &'static str| {
            std::fs::read_to_string(path).map_err(|source| ProcessError::Read { path, source })
        };
        let stat =
            parse_stat(&read("/proc/self/stat")?).ok_or(ProcessError::Format("/proc/self/stat"))?;
        let boot =
            parse_boot_time(&read("/proc/stat")?).ok_or(ProcessError::Format("/proc/stat"))?;
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .map_err(|source| ProcessError::Read {
                path: "/proc/self/fd",
                source,
            })?
            .count() as u64;
        let ticks = rustix::param::clock_ticks_per_second().max(1);
        let page = rustix::param::page_size() as u64;
        #[allow(clippy::cast_precision_loss)] // tick counts far below 2^53
        let secs = |t: u64| t as f64 / ticks as f64;
        #[allow(clippy::cast_precision_loss)] // boot time in seconds far below 2^53
        let start_time_seconds = boot as f64 + secs(stat.start_ticks);
        Ok(Self {
            cpu_seconds: secs(stat.utime_ticks.saturating_add(stat.stime_ticks)),
            resident_memory_bytes: stat.rss_pages.saturating_mul(page),
            virtual_memory_bytes: stat.vsize_bytes,
            // read_dir itself holds one descriptor while counting.
            open_fds: open_fds.saturating_sub(1),
            max_fds: rustix::process::getrlimit(rustix::process::Resource::Nofile).current,
            threads: stat.threads,
            start_time_seconds,
        })
    }

    /// Reads the current process's metrics.
    #[cfg(not(target_os = "linux"))]
    pub fn read() -> Result<Self, ProcessError> {
        Err(ProcessError::Unsupported)
    }
}

/// Encodes the process metrics; encodes nothing when they cannot be read.
pub(crate) fn encode(encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    use prometheus_client::encoding::EncodeMetric;
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;
    use prometheus_client::registry::Unit;

    let Ok(stats) = ProcessStats::read() else {
        return Ok(());
    };
    let cpu = ConstCounter::new(stats.cpu_seconds);
    cpu.encode(encoder.encode_descriptor(
        "process_cpu",
        "Total user and system CPU time spent in seconds",
        Some(&Unit::Seconds),
        cpu.metric_type(),
    )?)?;
    let mut gauge = |name: &str, help: &str, unit: Option<&Unit>, value: f64| {
        let gauge = ConstGauge::new(value);
        gauge.encode(encoder.encode_descriptor(name, help, unit, gauge.metric_type())?)
    };
    #[allow(clippy::cast_precision_loss)] // byte and fd counts: exact below 2^53
    {
        gauge(
            "process_resident_memory",
            "Resident memory size in bytes",
            Some(&Unit::Bytes),
            stats.resident_memory_bytes as f64,
        )?;
        gauge(
            "process_virtual_memory",
            "Virtual memory size in bytes",
            Some(&Unit::Bytes),
            stats.virtual_memory_bytes as f64,
        )?;
        gauge(
            "process_open_fds",
            "Number of open file descriptors",
            None,
            stats.open_fds as f64,
        )?;
        if let Some(max) = stats.max_fds {
            gauge(
                "process_max_fds",
                "Maximum number of open file descriptors",
                None,
                max as f64,
            )?;
        }
        gauge(
            "process_threads",
            "Number of OS threads in the process",
            None,
            stats.threads as f64,
        )?;
    }
    gauge(
        "process_start_time",
        "Start time of the process since unix epoch in seconds",
        Some(&Unit::Seconds),
        stats.start_time_seconds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 50 0 0 20 0 7 0 \
                    123456 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                utime_ticks: 150,
                stime_ticks: 50,
                threads: 7,
                start_ticks: 123456,
                vsize_bytes: 104857600,
                rss_pages: 2560,
            })
        );
        assert_eq!(parse_stat("4242 (truncated) S 1"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn boot_time_line() {
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let stats = ProcessStats::read().expect("readable /proc");
        assert!(stats.threads >= 1);
        assert!(stats.resident_memory_bytes > 0);
        assert!(stats.open_fds >= 3, "{stats:?}");
        assert!(stats.start_time_seconds > 1.5e9);
    }
}
