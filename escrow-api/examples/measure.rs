//! Measures the `escrow-api` binary against a real Ganache (not a test; its own command,
//! `bench/escrow.sh`, which builds and runs it):
//!
//! ```text
//! cargo build --release -p medledger-escrow-api --bin escrow-api
//! cargo run --release -p medledger-escrow-api --example measure [-- <large MiB, default 200> [clients, default 1,8,64]]
//! ```
//!
//! Starts Ganache (mining every 100 ms, as in the tests) and the migration, runs
//! `target/release/escrow-api serve` as a child with its default settings (64 KiB tier-2 chunks;
//! the rate limit off, since each client signs in as one address, and no anchoring), signs a patient and a granted
//! doctor in, then reports, at each number of concurrent clients (1, 8 and 64 by default; the
//! clients are concurrent requests from this one process, each on its own connection):
//!
//! - uploads/s and reads/s with p50/p99 latency for 4 KiB and 1 MiB records (every read asks
//!   `canRead` of Ganache and appends to the access log; every upload asks `canWrite`);
//! - record-release latency: a granted doctor's `GET /api/records/{id}` of a 4 KiB record, from
//!   sending the request to receiving the response headers — the escrow's whole decision (session,
//!   `canRead` by `eth_call` on Ganache through the doctor's grant, the access-log append that
//!   must precede any byte, the doctor's wrapped DEK) before the first byte of C1 leaves;
//!
//! then one large record streamed up and down with the server's peak resident memory (VmHWM)
//! before and after.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use medledger_protocol::contract::Category;
use support::*;

fn line(what: &str, n: usize, conc: usize, wall: Duration, mut lat: Vec<Duration>) {
    lat.sort();
    println!(
        "| {what} | {conc} | {n} | {:.1} | {:.1} | {:.1} |",
        n as f64 / wall.as_secs_f64(),
        pct_ms(&lat, 0.5),
        pct_ms(&lat, 0.99)
    );
}

#[tokio::main]
async fn main() {
    let large_mib: usize = arg(1, 200);
    let clients = clients_arg(2);
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    let mut doctor = User::new(DOCTOR);
    w.register(&[&patient], &[&doctor]).await;
    let expiry = u64::try_from(medledger_escrow_api::now_secs()).unwrap_or(0) + 86_400;
    w.grant(&patient, &doctor, &[Category::Vitals], false, expiry)
        .await;
    let (child, server) = escrow_child(&w, "measure", "").await;
    let pid = child.0.id();
    patient.sign_in(&server).await;
    doctor.sign_in(&server).await;
    println!(
        "escrow-api (release) against Ganache on loopback, {}; times in ms\n",
        machine()
    );
    println!("| operation | clients | n | per second | p50 | p99 |");
    println!("| --- | --- | --- | --- | --- | --- |");

    let mut release_ids = Vec::new();
    for (label, read_label, size, base) in [
        ("upload 4 KiB", "read 4 KiB", 4096usize, 200usize),
        ("upload 1 MiB", "read 1 MiB", 1 << 20, 40),
    ] {
        let mut ids = Vec::new();
        for &conc in &clients {
            // At least four requests per client, so the p99 is not one request's.
            let n = base.max(if size == 4096 { 4 * conc } else { 2 * conc });
            let records: Vec<Record> = (0..n)
                .map(|i| w.record(&patient, Category::Vitals, vec![(i % 251) as u8; size]))
                .collect();
            let wraps: Vec<Vec<String>> = records
                .iter()
                .map(|r| r.wraps(&w.d, &[&patient, &doctor]))
                .collect();
            let start = Instant::now();
            let lat: Vec<Duration> = futures_util::stream::iter(records.iter().zip(wraps.iter()))
                .map(|(r, wr)| {
                    let req = r.upload(&server, &patient, wr);
                    async move {
                        let t = Instant::now();
                        let resp = req.send().await.expect("upload");
                        assert_eq!(resp.status(), 201);
                        t.elapsed()
                    }
                })
                .buffer_unordered(conc)
                .collect()
                .await;
            line(label, n, conc, start.elapsed(), lat);
            if ids.is_empty() {
                // Anchor 20 of the first round for the read measurements.
                for r in records.iter().take(20) {
                    w.anchor(&patient, r).await;
                }
                ids = records.iter().take(20).map(|r| r.id).collect();
                for id in &ids {
                    server.record_in_state(*id, "committed").await;
                }
            }
        }
        for &conc in &clients {
            let reads = base.max(if size == 4096 { 4 * conc } else { 2 * conc });
            let start = Instant::now();
            let lat: Vec<Duration> = futures_util::stream::iter(0..reads)
                .map(|i| {
                    let req =
                        patient.get(server.url(&format!("/api/records/{}", ids[i % ids.len()])));
                    async move {
                        let t = Instant::now();
                        let resp = req.send().await.expect("read");
                        assert_eq!(resp.status(), 200);
                        let body = resp.bytes().await.expect("body");
                        assert!(body.len() > size);
                        t.elapsed()
                    }
                })
                .buffer_unordered(conc)
                .collect()
                .await;
            line(read_label, reads, conc, start.elapsed(), lat);
        }
        if size == 4096 {
            release_ids = ids;
        }
    }

    // Record release to a granted doctor: request sent → response headers received.
    for &conc in &clients {
        let n = 200usize.max(4 * conc);
        let start = Instant::now();
        let lat: Vec<Duration> = futures_util::stream::iter(0..n)
            .map(|i| {
                let req = doctor.get(server.url(&format!(
                    "/api/records/{}",
                    release_ids[i % release_ids.len()]
                )));
                async move {
                    let t = Instant::now();
                    let resp = req.send().await.expect("read");
                    let headers = t.elapsed();
                    assert_eq!(resp.status(), 200);
                    assert!(resp.headers().contains_key("x-medledger-wrapped-dek"));
                    let _ = resp.bytes().await.expect("body");
                    headers
                }
            })
            .buffer_unordered(conc)
            .collect()
            .await;
        line(
            "release to a granted doctor (to headers)",
            n,
            conc,
            start.elapsed(),
            lat,
        );
    }

    // One large record: streamed up and down, the server's peak memory before and after.
    let before = vm_kib(pid, "VmHWM:");
    let big = w.record(&patient, Category::Imaging, vec![7u8; large_mib << 20]);
    let wraps = big.wraps(&w.d, &[&patient]);
    let upload = big.upload(&server, &patient, &wraps);
    let t = Instant::now();
    assert_eq!(upload.send().await.expect("upload").status(), 201);
    let up = t.elapsed();
    let after_up = vm_kib(pid, "VmHWM:");
    w.anchor(&patient, &big).await;
    server.record_in_state(big.id, "committed").await;
    let t = Instant::now();
    let resp = patient
        .get(server.url(&format!("/api/records/{}", big.id)))
        .send()
        .await
        .expect("read");
    let mut resp = resp;
    let mut got = 0usize;
    while let Some(piece) = resp.chunk().await.expect("body") {
        got += piece.len();
    }
    let down = t.elapsed();
    assert_eq!(got, big.c1.len());
    let after_down = vm_kib(pid, "VmHWM:");
    let mib = big.c1.len() as f64 / (1 << 20) as f64;
    println!();
    println!(
        "large record: {mib:.0} MiB C1; upload {:.2} s ({:.0} MiB/s), read {:.2} s ({:.0} MiB/s)",
        up.as_secs_f64(),
        mib / up.as_secs_f64(),
        down.as_secs_f64(),
        mib / down.as_secs_f64()
    );
    println!(
        "server peak RSS (VmHWM): {} MiB before, {} MiB after the upload, {} MiB after the read",
        before / 1024,
        after_up / 1024,
        after_down / 1024
    );
    drop(child);
}
