//! Durable ingest of 4 KiB records against its anchor, the machine's rate of 4 KiB write + fsync
//! (not a test; its own command, `bench/ingest.sh`, which builds and runs it):
//!
//! ```text
//! cargo run --release -p medledger-escrow-api --example ingest [-- <rounds, default 5> [clients, default 1,8,64]]
//! ```
//!
//! Ganache (mining every 100 ms) with the migration, the release escrow as a child (its defaults:
//! SQLite index in WAL mode, local blob directory), a patient signed in. In each round and at each
//! number of concurrent clients, two measurements back to back, in an order that alternates from
//! round to round:
//!
//! - the anchor: `clients` writers, each writing 4 KiB to a file of its own in the escrow's data
//!   directory (the same file system) and calling `fsync`, `n` writes in all;
//! - `n` uploads of distinct 4 KiB records (`PUT /api/records/{id}`: `canWrite` asked, h1 checked,
//!   tier 2, the blob written and fsynced, the index row committed), each answered 201 only once
//!   durable.
//!
//! It prints each measurement, then per client count the medians (min–max) and the median of the
//! per-round ratios of uploads/s to fsyncs/s.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use medledger_protocol::contract::Category;
use support::*;

/// `n` 4 KiB write + fsync over `clients` files in `dir`, concurrently; per second.
async fn fsync_rate(dir: &std::path::Path, n: usize, clients: usize) -> f64 {
    let per = n.div_ceil(clients);
    let start = Instant::now();
    let writers: Vec<_> = (0..clients)
        .map(|c| {
            let path = dir.join(format!("fsync-anchor-{c}"));
            tokio::task::spawn_blocking(move || {
                let mut f = std::fs::File::create(&path).expect("anchor file");
                for _ in 0..per {
                    f.write_all(&[7u8; 4096]).expect("write");
                    f.sync_all().expect("fsync");
                }
                drop(f);
                let _ = std::fs::remove_file(&path);
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    (per * clients) as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let rounds: usize = arg(1, 5);
    let clients = clients_arg(2);
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    let toml = "pending_quota_bytes = 8589934592\nmax_concurrent_uploads = 64\n";
    let (_child, server) = escrow_child(&w, "ingest", toml).await;
    let data = data_dir(&w, "ingest");
    patient.sign_in(&server).await;
    println!("escrow-api (release), {}\n", machine());
    println!("| round | clients | measurement | n | per second |");
    println!("| --- | --- | --- | --- | --- |");
    let mut results: Vec<(usize, usize, bool, f64)> = Vec::new();
    for round in 0..rounds {
        for &conc in &clients {
            let n = 200usize.max(4 * conc);
            let records = sealed(&w, &patient, n, Category::Vitals, |_| 4096);
            for anchor_first in [round % 2 == 0, round % 2 == 1] {
                let rate = if anchor_first {
                    fsync_rate(&data, n, conc).await
                } else {
                    let start = Instant::now();
                    let done: Vec<Duration> = futures_util::stream::iter(&records)
                        .map(|(r, wr)| {
                            let req = r.upload(&server, &patient, wr);
                            async move {
                                let t = Instant::now();
                                assert_eq!(req.send().await.expect("upload").status(), 201);
                                t.elapsed()
                            }
                        })
                        .buffer_unordered(conc)
                        .collect()
                        .await;
                    done.len() as f64 / start.elapsed().as_secs_f64()
                };
                let what = if anchor_first {
                    "4 KiB write + fsync (anchor)"
                } else {
                    "upload 4 KiB, durable"
                };
                println!("| {} | {conc} | {what} | {n} | {rate:.0} |", round + 1);
                results.push((round, conc, anchor_first, rate));
            }
        }
    }
    println!("\nmedians over {rounds} rounds (min–max):\n");
    println!("| clients | fsyncs/s | uploads/s | uploads per fsync of the same round |");
    println!("| --- | --- | --- | --- |");
    for &conc in &clients {
        let rate = |anchor: bool, round: usize| {
            results
                .iter()
                .find(|r| r.0 == round && r.1 == conc && r.2 == anchor)
                .map_or(0.0, |r| r.3)
        };
        let fsyncs = median((0..rounds).map(|r| rate(true, r)).collect());
        let uploads = median((0..rounds).map(|r| rate(false, r)).collect());
        let ratio = median(
            (0..rounds)
                .map(|r| rate(false, r) / rate(true, r))
                .collect(),
        );
        println!(
            "| {conc} | {:.0} ({:.0}–{:.0}) | {:.0} ({:.0}–{:.0}) | {:.2} ({:.2}–{:.2}) |",
            fsyncs.0,
            fsyncs.1,
            fsyncs.2,
            uploads.0,
            uploads.1,
            uploads.2,
            ratio.0,
            ratio.1,
            ratio.2
        );
    }
}
