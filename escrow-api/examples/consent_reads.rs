//! Authorised 4 KiB reads against their anchor, the node's raw `canRead` rate (not a test; its own
//! command, `bench/consent.sh`, which builds and runs it):
//!
//! ```text
//! cargo build --release -p medledger-escrow-api --bin escrow-api
//! cargo run --release -p medledger-escrow-api --example consent_reads [-- <rounds, default 5> [clients, default 1,8,64] [reads per measurement of the indexed escrows, 0 for as many as the anchor's [sets of blocks measuring scoring's cost, default 20]]]
//! ```
//!
//! Starts Ganache (mining every 100 ms, as in the tests) and the migration, and four release
//! `escrow-api serve` children on the same chain, each with its own data directory: one with the
//! consent index (the default), one with `consent_index = false` (every decision by `eth_call`,
//! as before the index), one with the index but `risk_scoring = false` (no access-risk score,
//! the anchor of what scoring costs), and one scored with `risk_clearances = false` (every score
//! a neighbour search). All hold the same 20 committed 4 KiB records of a patient who granted a
//! doctor. Then, in each round and at each number of concurrent clients, it measures four things
//! back to back, in an order that rotates from round to round:
//!
//! - the anchor: `eth_call canRead(patient, doctor, id)` straight to Ganache, `n` calls;
//! - the doctor's reads (`GET /api/records/{id}`, whole body) from the escrow with the index;
//! - `n` doctor's reads from the escrow without it;
//! - the doctor's reads from the escrow with the index and no risk scoring.
//!
//! The doctor reads the same 20 records again and again, hundreds a second: after the first few,
//! every read is a burst the model flags, so the scored escrows run the whole risk step (score,
//! explanation, the flagged entry's extra columns) on each read. With clearances, a burst far
//! from every normal access is scored without a search after its first reads (docs/risk.md,
//! "Clearances"); the fourth escrow searches for every read, the cost ordinary traffic pays.
//!
//! Every read is a real release: session, decision, access-log append before the first byte,
//! the doctor's wrapped DEK, C1 with tier 2 stripped. It prints each measurement, then per client
//! count the median (and min–max over rounds) of each rate, and the median and spread of the
//! per-round ratios of each escrow's read rate to the anchor of the same round. Last, scoring's
//! cost measured apart ([`scoring_blocks`]): blocks of reads from the three escrows with the
//! index in rotating order, their percentiles pooled.

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
    let (wall, lat) = read_latencies(server, doctor, ids, n, conc).await;
    measured(wall, lat)
}

/// `n` reads at `conc` at once: the time they took, and each one's latency.
async fn read_latencies(
    server: &Server,
    doctor: &User,
    ids: &[B256],
    n: usize,
    conc: usize,
) -> (Duration, Vec<Duration>) {
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
    (start.elapsed(), lat)
}

/// One escrow measured in [`scoring_blocks`]: what it is, its server and the doctor signed in
/// to it.
type Side<'a> = (&'static str, &'a Server, &'a User);

/// Scoring's cost measured apart: `sets` sets of blocks of `block` reads, one block from each
/// escrow in `sides` back to back, the order rotating from set to set, so that whatever else
/// the machine does falls on all alike. The p99 of a few hundred reads is their few slowest,
/// which one collection or one mined block decides; pooled over all the sets it is the p99 of
/// thousands. Prints, for each side but the last (the unscored escrow, their anchor), the pooled
/// percentiles' ratios to the anchor's and the spread of the sets' ratios.
async fn scoring_blocks(sides: &[Side<'_>], ids: &[B256], conc: usize) {
    let (sets, block) = (sets_arg(), 400usize.max(8 * conc));
    let mut pooled: Vec<(Duration, Vec<Duration>)> =
        vec![(Duration::ZERO, Vec::new()); sides.len()];
    let mut per_set: Vec<Vec<Measured>> = Vec::new();
    for set in 0..sets {
        let mut this_set: Vec<Option<Measured>> = (0..sides.len()).map(|_| None).collect();
        for k in 0..sides.len() {
            let i = (k + set) % sides.len();
            let (_, server, doctor) = sides[i];
            let (wall, lat) = read_latencies(server, doctor, ids, block, conc).await;
            pooled[i].0 += wall;
            pooled[i].1.extend_from_slice(&lat);
            this_set[i] = Some(measured(wall, lat));
        }
        per_set.push(this_set.into_iter().flatten().collect());
    }
    let all: Vec<Measured> = pooled.into_iter().map(|(w, l)| measured(w, l)).collect();
    let anchor = sides.len() - 1;
    for (i, (label, _, _)) in sides.iter().enumerate().take(anchor) {
        let spread = |f: &dyn Fn(&Measured) -> f64| -> (f64, f64, f64) {
            median(per_set.iter().map(|m| f(&m[i]) / f(&m[anchor])).collect())
        };
        let (p99, p99_lo, p99_hi) = spread(&|m| m.p99_ms);
        let (p50, p50_lo, p50_hi) = spread(&|m| m.p50_ms);
        let (rate, rate_lo, rate_hi) = spread(&|m| m.per_second);
        let (a, u) = (&all[i], &all[anchor]);
        println!(
            "| {conc} | {label} | {sets} × {block} | {:.1} / {:.1} | {:.2} | {p99:.2} ({p99_lo:.2}–{p99_hi:.2}) | {:.2} | {p50:.2} ({p50_lo:.2}–{p50_hi:.2}) | {:.2} | {rate:.2} ({rate_lo:.2}–{rate_hi:.2}) |",
            a.p99_ms,
            u.p99_ms,
            a.p99_ms / u.p99_ms,
            a.p50_ms / u.p50_ms,
            a.per_second / u.per_second,
        );
    }
}

/// Sets of blocks in [`scoring_blocks`]: argument 4, or 20.
fn sets_arg() -> usize {
    arg(4, 20)
}

#[tokio::main]
async fn main() {
    let rounds: usize = arg(1, 5);
    let clients = clients_arg(2);
    // The reads of the two escrows with the consent index may be measured over more requests
    // than the slow anchor and eth_call escrow: a p99 of 400 reads is their 4th slowest.
    // 0 or nothing: as many as the anchor.
    let indexed_reads: Option<usize> = Some(arg(3, 0)).filter(|&n| n > 0);
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
    let (_searched_child, searched) =
        escrow_child(&w, "searched", "risk_clearances = false\n").await;

    let records: Vec<Record> = (0..RECORDS)
        .map(|i| w.record(&patient, Category::Vitals, vec![i as u8; 4096]))
        .collect();
    let mut doctors = Vec::new();
    for server in [&indexed, &eth_call, &unscored, &searched] {
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
    for (server, d) in [&indexed, &eth_call, &unscored, &searched]
        .into_iter()
        .zip(&doctors)
    {
        // Committed in every escrow: every record readable by the doctor.
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
            let n_indexed = indexed_reads.unwrap_or(n);
            for k in 0..kinds.len() {
                let kind = kinds[(k + round) % kinds.len()];
                let m = match kind {
                    Kind::Anchor => {
                        anchor_round(&w, patient.address(), doctor.address(), &ids, n, conc).await
                    }
                    Kind::Indexed => read_round(&indexed, &doctors[0], &ids, n_indexed, conc).await,
                    Kind::EthCall => read_round(&eth_call, &doctors[1], &ids, n, conc).await,
                    Kind::Unscored => {
                        read_round(&unscored, &doctors[2], &ids, n_indexed, conc).await
                    }
                };
                let count = match kind {
                    Kind::Indexed | Kind::Unscored => n_indexed,
                    Kind::Anchor | Kind::EthCall => n,
                };
                println!(
                    "| {} | {conc} | {} | {count} | {:.0} | {:.1} | {:.1} |",
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
    println!(
        "\nscoring's cost in blocks, one from each escrow with the consent index in rotating order \
         (scored with clearances, scored with every read searched, unscored): ratios to the \
         unscored escrow of the percentiles pooled over all sets, and the median (min–max) of \
         the sets':\n"
    );
    println!("| clients | scored | sets × reads | pooled p99 ms, scored / unscored | p99 ratio, pooled | p99 ratio, sets | p50 ratio, pooled | p50 ratio, sets | rate ratio, pooled | rate ratio, sets |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let sides: [Side<'_>; 3] = [
        ("with clearances", &indexed, &doctors[0]),
        ("every read searched", &searched, &doctors[3]),
        ("(unscored)", &unscored, &doctors[2]),
    ];
    for &conc in &clients {
        scoring_blocks(&sides, &ids, conc).await;
    }
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
