//! What the escrow's benchmark examples share (each includes it with `#[path]`): arguments, the
//! release binary served as a child with a bench configuration, the process's memory, medians
//! and percentiles.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use super::support::*;

/// Argument `n` parsed, or `default`.
pub fn arg<T: std::str::FromStr>(n: usize, default: T) -> T {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// Argument `n` as a comma-separated list of client counts, or 1, 8 and 64.
pub fn clients_arg(n: usize) -> Vec<usize> {
    std::env::args()
        .nth(n)
        .map(|a| a.split(',').filter_map(|c| c.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 64])
}

/// The release `escrow-api`, which the bench script built.
pub fn release_exe() -> PathBuf {
    let exe = repo_root().join("target/release/escrow-api");
    assert!(
        exe.exists(),
        "build it first: cargo build --release -p medledger-escrow-api --bin escrow-api"
    );
    exe
}

/// The release escrow serving `w` as a child, with the data directory `w.tmp/<name>` and a
/// configuration file with the rate limits and anchoring off (each bench client is one address;
/// escrows sharing a chain share the escrow account) plus `toml`; once it answers.
pub async fn escrow_child(w: &World, name: &str, toml: &str) -> (Child, Server) {
    let data = data_dir(w, name);
    std::fs::create_dir_all(&data).expect("data dir");
    let _ = Server::config(&data, &w.deployment_file, w.url()); // writes the escrow key file
    let config = data.join("bench.toml");
    let text = format!("rate_limit_per_minute = 0\nanchor_interval_secs = 0\n{toml}");
    std::fs::write(&config, text).expect("config file");
    let port = free_port();
    // A profiler may wrap the escrow: MEDLEDGER_BENCH_WRAPPER=heaptrack runs `heaptrack <escrow> …`.
    let mut command = match std::env::var("MEDLEDGER_BENCH_WRAPPER") {
        Ok(wrapper) if !wrapper.is_empty() => {
            let mut c = std::process::Command::new(wrapper);
            c.arg(release_exe());
            c
        }
        _ => std::process::Command::new(release_exe()),
    };
    command
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data);
    command.arg("--deployment").arg(&w.deployment_file);
    command.args([
        "--rpc-url",
        w.url(),
        "--bind",
        &format!("127.0.0.1:{port}"),
        "serve",
    ]);
    command.env("MEDLEDGER_LOG", "warn");
    let child = spawn_serving(command.stdout(std::process::Stdio::null()), port).await;
    (child, w.external(port))
}

/// `n` records of `patient`'s, record `i` of `size(i)` bytes in `category`, sealed as the app
/// seals them, each with its wrap to the patient.
pub fn sealed(
    w: &World,
    patient: &User,
    n: usize,
    category: medledger_protocol::contract::Category,
    size: impl Fn(usize) -> usize,
) -> Vec<(Record, Vec<String>)> {
    (0..n)
        .map(|i| {
            let r = w.record(patient, category, vec![(i % 251) as u8; size(i)]);
            let wraps = r.wraps(&w.d, &[patient]);
            (r, wraps)
        })
        .collect()
}

/// The data directory [`escrow_child`] gives the escrow `name`.
pub fn data_dir(w: &World, name: &str) -> PathBuf {
    w.tmp.path().join(name)
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS:`, `VmHWM:`); 0 when unreadable.
pub fn vm_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The median, minimum and maximum.
pub fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Percentile `p` (0..=1) of sorted latencies, in milliseconds.
pub fn pct_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// The machine line every report starts with.
pub fn machine() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{} cores, load {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.join(" ")
    )
}
