//! The multi-user load test (not a test of the test command; its own command, `bench/load.sh`):
//! goose drives a thousand patients and a hundred practitioners, each a real signed-in session of
//! its own wallet, against the release escrow and Ganache.
//!
//! ```text
//! bench/load.sh [practitioners, default 100 (patients: ten times as many)] [steady seconds, default 180] [out dir, default bench/out]
//! ```
//!
//! Setup (not measured): Ganache (mining every 100 ms) with the migration; the release escrow as a
//! child (its defaults, rate limits and access-log anchoring off); a fresh wallet per person,
//! imported into Ganache and funded; every patient registered, every practitioner applied and
//! verified by the admin; patient `i` granting practitioner `i mod n` all categories.
//!
//! The run: goose starts the users at `HATCH_RATE` per second. A patient signs in, stores a first
//! 4 KiB record, then every 20–40 s does one of: list their records (35), read one back in full
//! and check it (30), upload another of 4 KiB–5 MiB and anchor it (15), grant a practitioner and
//! wrap their records' keys to them (10), revoke one (5). A practitioner signs in, then every
//! 1–3 s opens the chart of a patient who granted them: lists the patient's records and reads one
//! wrapped to them. See `ops.rs`.
//!
//! Reported: per operation, completed/s and p50/p95/p99 latency over the steady window (all
//! users started), shed, refused and failed counts; the same per 10 s over the whole run in
//! `<out>/load.csv` and plotted in `<out>/load.svg` with the escrow's resident memory; goose's
//! own per-request tables and its HTML report (`<out>/load-goose.html`); the escrow's upload and
//! consent-answer counters. Exits 1 if any operation failed.
//!
//! The escrow's sign-in limit per client address (`sign_in_accounts_per_client`) is off: every
//! user here comes from 127.0.0.1, where a real thousand would come from many addresses.

#[path = "../../../escrow-api/tests/support/mod.rs"]
mod support;

#[path = "../../../escrow-api/examples/common/mod.rs"]
mod common;

mod node;
mod ops;
mod people;
mod timeline;

use std::time::Duration;

use alloy_sol_types::SolCall;
use futures_util::StreamExt;
use goose::prelude::*;
use medledger_protocol::contract::{Category, MedLedger};

use node::Node;
use ops::{patient_act, patient_start, practitioner_open_chart, practitioner_start, Shared};
use people::{Grants, Pool};
use support::World;
use timeline::Timeline;

/// Users started per second. Each new patient anchors a first record, and Ganache executes about
/// 18 `addRecord`s a second: at 25 a second the ramp alone queued hundreds of transactions and
/// some waited past two minutes (docs/qa-report.md, section 5).
const HATCH_RATE: &str = "10";

/// How many setup transactions are in flight at once.
const SETUP_CONCURRENCY: usize = 32;

/// Runs `f` for each of `n` people, `concurrency` at a time; panics on the first failure (setup
/// is not measured: a failure there is a broken bench, not a finding).
async fn each<F, Fut>(what: &str, n: usize, concurrency: usize, f: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let started = std::time::Instant::now();
    futures_util::stream::iter(0..n)
        .map(f)
        .buffer_unordered(concurrency)
        .for_each(|r| async move {
            if let Err(why) = r {
                panic!("setup failed: {why}");
            }
        })
        .await;
    println!(
        "setup: {what}: {n} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// People made, registered, verified and granted.
async fn people(node: &Node, practitioners: usize) -> (Pool, Pool, Grants) {
    let patients = Pool::new(practitioners * 10);
    let doctors = Pool::new(practitioners);
    let everyone: Vec<_> = patients.people.iter().chain(&doctors.people).collect();
    // One at a time: Ganache 7.9 corrupts its state trie ("Stack underflow") when several
    // evm_setAccountBalance calls meet.
    each("wallets imported and funded", everyone.len(), 1, |i| {
        node.adopt(&everyone[i].signer)
    })
    .await;
    each(
        "patients registered",
        patients.people.len(),
        SETUP_CONCURRENCY,
        |i| {
            let p = &patients.people[i];
            let register = MedLedger::registerPatientCall::new((p.encryption_key(),));
            node.transact(p.address(), register)
        },
    )
    .await;
    each(
        "practitioners applied",
        practitioners,
        SETUP_CONCURRENCY,
        |i| {
            let p = &doctors.people[i];
            let apply =
                MedLedger::applyAsPractitionerCall::new((p.encryption_key(), [1u8; 32].into()));
            node.transact(p.address(), apply)
        },
    )
    .await;
    // The admin is one sender: its verifications are sent one after another, then awaited.
    let admin = support::User::new(support::ADMIN).address();
    let mut sent = Vec::new();
    for p in &doctors.people {
        let verify = MedLedger::verifyAccountCall::new((p.address(),));
        sent.push(node.send(admin, verify).await.expect("verification sent"));
    }
    each(
        "practitioners verified",
        sent.len(),
        SETUP_CONCURRENCY,
        |i| node.mined(sent[i]),
    )
    .await;
    let grants = Grants::new(practitioners);
    let expiry = node::a_day_from_now();
    let all = Category::mask(Category::ALL);
    each(
        "first grants",
        patients.people.len(),
        SETUP_CONCURRENCY,
        |i| {
            let to = doctors.people[i % practitioners].address();
            let grant = MedLedger::grantCall::new((to, all, false, expiry));
            node.transact(patients.people[i].address(), grant)
        },
    )
    .await;
    (0..patients.people.len()).for_each(|i| grants.add(i % practitioners, i));
    (patients, doctors, grants)
}

/// The users, their transactions and how often they act.
fn scenarios() -> Result<(Scenario, Scenario), GooseError> {
    let patient = scenario!("patient")
        .set_weight(10)?
        .set_wait_time(Duration::from_secs(20), Duration::from_secs(40))?
        .register_transaction(transaction!(patient_start).set_on_start())
        .register_transaction(transaction!(patient_act));
    let practitioner = scenario!("practitioner")
        .set_weight(1)?
        .set_wait_time(Duration::from_secs(1), Duration::from_secs(3))?
        .register_transaction(transaction!(practitioner_start).set_on_start())
        .register_transaction(transaction!(practitioner_open_chart));
    Ok((patient, practitioner))
}

/// Every second, the escrow's resident memory (all of it, and the anonymous part: its heap, as
/// against SQLite's mapped WAL index and the binary's pages) into the timeline.
fn sample_memory(pid: u32) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let mib = |field| common::vm_kib(pid, field) as f64 / 1024.0;
            let timeline = &ops::SHARED.get().expect("shared").timeline;
            timeline.sample_rss(mib("VmRSS:"), mib("RssAnon:"));
        }
    });
}

/// The escrow's upload and consent-answer counters.
async fn escrow_counters(base: &str) -> Vec<String> {
    let text = match reqwest::get(format!("{base}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => return vec![format!("/metrics: {e}")],
    };
    text.lines()
        .filter(|l| {
            l.starts_with("medledger_escrow_uploads_total")
                || l.starts_with("medledger_escrow_consent_answers_total")
        })
        .map(str::to_string)
        .collect()
}

#[tokio::main]
async fn main() -> Result<std::process::ExitCode, GooseError> {
    let practitioners: usize = common::arg(1, 100);
    let steady_secs: usize = common::arg(2, 180);
    let out: std::path::PathBuf = common::arg(3, support::repo_root().join("bench/out"));
    std::fs::create_dir_all(&out).expect("output directory");
    println!("load: escrow-api (release), {}", common::machine());
    let w = World::new().await;
    let (child, server) = common::escrow_child(
        &w,
        "load",
        "pending_quota_bytes = 8589934592\nsign_in_accounts_per_client = 0\n",
    )
    .await;
    let node = Node::start(w.url(), w.d.address)
        .await
        .expect("the node answers");
    let (patients, doctors, grants) = people(&node, practitioners).await;
    let users = patients.people.len() + doctors.people.len();
    let shared = Shared {
        d: w.d.clone(),
        node,
        patients,
        practitioners: doctors,
        grants,
        timeline: Timeline::new(),
        escrow: server.base.clone(),
    };
    if ops::SHARED.set(shared).is_err() {
        unreachable!("the shared state is set once");
    }
    sample_memory(child.0.id());
    let (patient, practitioner) = scenarios()?;
    let report = out.join("load-goose.html");
    // Goose counts its run time from when the last user was launched: a margin for the last
    // users' sign-in and first record, then the steady window.
    let run_time = 15 + steady_secs;
    GooseAttack::initialize_with_config(goose::config::GooseConfiguration::default())?
        .register_scenario(patient)
        .register_scenario(practitioner)
        .set_default(GooseDefault::Host, server.base.as_str())?
        .set_default(GooseDefault::Users, users)?
        .set_default(GooseDefault::IncreaseRate, HATCH_RATE)?
        .set_default(GooseDefault::RunTime, run_time)?
        .set_default(
            GooseDefault::ReportFile,
            report.to_str().expect("utf-8 path"),
        )?
        .set_default(GooseDefault::NoResetMetrics, true)?
        .set_default(GooseDefault::Quiet, 1)?
        .execute()
        .await?;
    let failed = report_run(&out, &server.base, steady_secs).await;
    // The escrow and Ganache stop here (their handles kill them on drop), before the exit code.
    drop(child);
    drop(w);
    Ok(match failed {
        0 => std::process::ExitCode::SUCCESS,
        _ => std::process::ExitCode::FAILURE,
    })
}

/// Prints the summary and the escrow's counters, writes the CSV and the plot; how many operations
/// failed.
async fn report_run(out: &std::path::Path, base: &str, steady_secs: usize) -> usize {
    let s = ops::SHARED.get().expect("shared");
    let stopped = s.timeline.now();
    let from = s.timeline.last_sign_in().unwrap_or_default();
    let end = (from + Duration::from_secs(steady_secs as u64)).min(stopped);
    println!(
        "\nsteady window: from the last sign-in on, {:.0}–{:.0} s; {} grants held at the end",
        from.as_secs_f64(),
        end.as_secs_f64(),
        s.grants.total()
    );
    let totals = s.timeline.summary(from, end);
    totals.lines.iter().for_each(|l| println!("{l}"));
    s.timeline
        .failure_reasons()
        .iter()
        .for_each(|l| println!("{l}"));
    if let Some((first, peak, anonymous)) = s.timeline.memory() {
        println!("escrow memory: {first:.0} MiB resident at the start, {peak:.0} MiB at the peak, {anonymous:.0} MiB anonymous at the end");
    }
    escrow_counters(base)
        .await
        .iter()
        .for_each(|l| println!("{l}"));
    s.timeline.write(out, "load", (from, end));
    println!(
        "wrote {}/load.csv, load.svg and load-goose.html",
        out.display()
    );
    if totals.failed > 0 {
        eprintln!("{} operations failed", totals.failed);
    }
    totals.failed
}
