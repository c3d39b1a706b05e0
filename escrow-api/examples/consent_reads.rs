//! Authorised 4 KiB reads against their anchor, the node's raw `canRead` rate (not a test; its own
//! command, `bench/consent.sh`, which builds and runs it):
//!
//! ```text
//! cargo build --release -p medledger-escrow-api --bin escrow-api
//! cargo run --release -p medledger-escrow-api --example consent_reads [-- <rounds, default 5> [clients, default 1,8,64]]
//! ```
//!
//! Starts Ganache (mining every 100 ms, as in the tests) and the migration, and three release
//! `escrow-api serve` children on the same chain, each with its own data directory: one with the
//! consent index (the default), one with `consent_index = false` (every decision by `eth_call`,
//! as before the index), and one with the index but `risk_scoring = false` (no access-risk score,
//! the anchor of what scoring costs). All hold the same 20 committed 4 KiB records of a patient
//! who granted a doctor. Then, in each round and at each number of concurrent clients, it
//! measures four things back to back, in an order that rotates from round to round:
//!
//! - the anchor: `eth_call canRead(patient, doctor, id)` straight to Ganache, `n` calls;
//! - `n` doctor's reads (`GET /api/records/{id}`, whole body) from the escrow with the index;
//! - `n` doctor's reads from the escrow without it;
//! - `n` doctor's reads from the escrow with the index and no risk scoring.
//!
//! The doctor reads the same 20 records again and again, hundreds a second: after the first few,
//! every read is a burst the model flags, so the scored escrows run the whole risk step (score,
//! then the explanation's neighbour search) on each read, its most expensive path.
//!
//! Every read is a real release: session, decision, access-log append before the first byte,
//! the doctor's wrapped DEK, C1 with tier 2 stripped. It prints each measurement, then per client
//! count the median (and min–max over rounds) of each rate, and the median and spread of the
//! per-round ratios of each escrow's read rate to the anchor of the same round.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, B256};
use alloy_sol_types::SolCall;
use common::*;
use futures_util::StreamExt;
use medledger_protocol::contract::{Category, MedLedger};
use serde_json::json;
use support::*;

const RECORDS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Anchor,
    Indexed,
    EthCall,
    Unscored,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Anchor => "canRead eth_call (anchor)",
            Kind::Indexed => "read 4 KiB, consent index",
            Kind::EthCall => "read 4 KiB, eth_call per read",
            Kind::Unscored => "read 4 KiB, consent index, no risk scoring",
        }
    }
}

struct Measured {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn measured(wall: Duration, mut lat: Vec<Duration>) -> Measured {
    lat.sort();
    Measured {
        per_second: lat.len() as f64 / wall.as_secs_f64(),
        p50_ms: pct_ms(&lat, 0.5),
        p99_ms: pct_ms(&lat, 0.99),
    }
}

async fn anchor_round(
    w: &World,
    patient: Address,
    doctor: Address,
    ids: &[B256],
    n: usize,
    conc: usize,
) -> Measured {
    let http = reqwest::Client::new();
    let start = Instant::now();
    let lat = futures_util::stream::iter(0..n)
        .map(|i| {
            let call = MedLedger::canReadCall { patient, reader: doctor, recordId: ids[i % ids.len()] };
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                "params": [{"to": w.d.address.to_string(), "data": Bytes::from(call.abi_encode()).to_string()}, "latest"]});
            let req = http.post(w.url()).json(&body);
            async move {
                let t = Instant::now();
                let answer: serde_json::Value = req.send().await.expect("eth_call").json().await.expect("json");
                let raw = answer["result"].as_str().expect("a result");
                assert!(raw.ends_with('1'), "canRead is true: {answer}");
                t.elapsed()
            }
        })
        .buffer_unordered(conc)
        .collect()
        .await;
    measured(start.elapsed(), lat)
}

async fn read_round(
    server: &Server,
    doctor: &User,
    ids: &[B256],
    n: usize,
    conc: usize,
) -> Measured {
    let start = Instant::now();
    let lat = futures_util::stream::iter(0..n)
        .map(|i| {
            let req = doctor.get(server.url(&format!("/api/records/{}", ids[i % ids.len()])));
            async move {
                let t = Instant::now();
                let resp = req.send().await.expect("read");
                assert_eq!(resp.status(), 200);
                let body = resp.bytes().await.expect("body");
                assert!(body.len() > 4096);
                t.elapsed()
            }
        })
        .buffer_unordered(conc)
        .collect()
        .await;
    measured(start.elapsed(), lat)
}

#[tokio::main]
async fn main() {
    let rounds: usize = arg(1, 5);
    let clients = clients_arg(2);
    release_exe();
    let w = World::new().await;
    let patient = User::new(PATIENT);
    let doctor = User::new(DOCTOR);
    w.register(&[&patient], &[&doctor]).await;
    w.grant_for_a_day(&patient, &doctor, &[Category::Vitals], false)
        .await;
    let (_indexed_child, indexed) = escrow_child(&w, "indexed", "").await;
    let (_eth_call_child, eth_call) = escrow_child(&w, "eth-call", "consent_index = false\n").await;
    let (_unscored_child, unscored) = escrow_child(&w, "unscored", "risk_scoring = false\n").await;

    let records: Vec<Record> = (0..RECORDS)
        .map(|i| w.record(&patient, Category::Vitals, vec![i as u8; 4096]))
        .collect();
    let mut doctors = Vec::new();
    for server in [&indexed, &eth_call, &unscored] {
        let (mut p, mut d) = (User::new(PATIENT), User::new(DOCTOR));
        p.keys = patient.keys.clone();
        d.keys = doctor.keys.clone();
        p.sign_in(server).await;
        d.sign_in(server).await;
        for r in &records {
            let wraps = r.wraps(&w.d, &[&patient, &doctor]);
            assert_eq!(
                r.upload(server, &p, &wraps)
                    .send()
                    .await
                    .expect("upload")
                    .status(),
                201
            );
        }
        doctors.push(d);
    }
    for r in &records {
        w.anchor(&patient, r).await;
    }
    let ids: Vec<B256> = records.iter().map(|r| r.id).collect();
    for (server, d) in [&indexed, &eth_call, &unscored].into_iter().zip(&doctors) {
        // Committed in both escrows: every record readable by the doctor.
        let url = server.url(&format!("/api/records?patient={}", patient.address()));
        eventually("the records committed", || async {
            let list: serde_json::Value =
                d.get(url.clone()).send().await.ok()?.json().await.ok()?;
            (list["records"].as_array()?.len() == RECORDS).then_some(())
        })
        .await;
    }

    println!(
        "escrow-api (release) against Ganache on loopback, {}; times in ms\n",
        machine()
    );
    println!("| round | clients | measurement | n | per second | p50 | p99 |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let kinds = [Kind::Anchor, Kind::Indexed, Kind::EthCall, Kind::Unscored];
    let mut results: Vec<(usize, usize, Kind, Measured)> = Vec::new();
    for round in 0..rounds {
        for &conc in &clients {
            let n = 400usize.max(8 * conc);
            for k in 0..kinds.len() {
                let kind = kinds[(k + round) % kinds.len()];
                let m = match kind {
                    Kind::Anchor => {
                        anchor_round(&w, patient.address(), doctor.address(), &ids, n, conc).await
                    }
                    Kind::Indexed => read_round(&indexed, &doctors[0], &ids, n, conc).await,
                    Kind::EthCall => read_round(&eth_call, &doctors[1], &ids, n, conc).await,
                    Kind::Unscored => read_round(&unscored, &doctors[2], &ids, n, conc).await,
                };
                println!(
                    "| {} | {conc} | {} | {n} | {:.0} | {:.1} | {:.1} |",
                    round + 1,
                    kind.label(),
                    m.per_second,
                    m.p50_ms,
                    m.p99_ms
                );
                results.push((round, conc, kind, m));
            }
        }
    }
    println!("\nmedians over {rounds} rounds (min–max):\n");
    println!(
        "| clients | measurement | per second | p50 | p99 | ratio to the anchor of its round |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for &conc in &clients {
        for kind in kinds {
            let of = |f: &dyn Fn(&Measured) -> f64| -> Vec<f64> {
                results
                    .iter()
                    .filter(|r| r.1 == conc && r.2 == kind)
                    .map(|r| f(&r.3))
                    .collect()
            };
            let ratios: Vec<f64> = (0..rounds)
                .map(|round| {
                    let rate = |k| {
                        results
                            .iter()
                            .find(|r| r.0 == round && r.1 == conc && r.2 == k)
                            .map_or(0.0, |r| r.3.per_second)
                    };
                    rate(kind) / rate(Kind::Anchor)
                })
                .collect();
            let (rate, rate_lo, rate_hi) = median(of(&|m| m.per_second));
            let (p50, _, _) = median(of(&|m| m.p50_ms));
            let (p99, p99_lo, p99_hi) = median(of(&|m| m.p99_ms));
            let (ratio, ratio_lo, ratio_hi) = median(ratios);
            println!(
                "| {conc} | {} | {rate:.0} ({rate_lo:.0}–{rate_hi:.0}) | {p50:.1} | {p99:.1} ({p99_lo:.1}–{p99_hi:.1}) | {ratio:.2} ({ratio_lo:.2}–{ratio_hi:.2}) |",
                kind.label()
            );
        }
    }
    scoring_cost(&results, rounds, &clients);
}

/// What scoring costs: per client count, the median over rounds of the scored escrow's p99 (and
/// p50, and rate) divided by the unscored escrow's of the same round.
fn scoring_cost(results: &[(usize, usize, Kind, Measured)], rounds: usize, clients: &[usize]) {
    println!(
        "\nscoring's cost: consent index with scoring ÷ without, per round; medians (min–max):\n"
    );
    println!("| clients | p99 ratio | p50 ratio | rate ratio |");
    println!("| --- | --- | --- | --- |");
    for &conc in clients {
        let ratio = |f: &dyn Fn(&Measured) -> f64| -> (f64, f64, f64) {
            let per_round: Vec<f64> = (0..rounds)
                .filter_map(|round| {
                    let of = |k| {
                        results
                            .iter()
                            .find(|r| r.0 == round && r.1 == conc && r.2 == k)
                            .map(|r| f(&r.3))
                    };
                    Some(of(Kind::Indexed)? / of(Kind::Unscored)?)
                })
                .collect();
            median(per_round)
        };
        let (p99, p99_lo, p99_hi) = ratio(&|m| m.p99_ms);
        let (p50, p50_lo, p50_hi) = ratio(&|m| m.p50_ms);
        let (rate, rate_lo, rate_hi) = ratio(&|m| m.per_second);
        println!(
            "| {conc} | {p99:.2} ({p99_lo:.2}–{p99_hi:.2}) | {p50:.2} ({p50_lo:.2}–{p50_hi:.2}) | {rate:.2} ({rate_lo:.2}–{rate_hi:.2}) |"
        );
    }
}
