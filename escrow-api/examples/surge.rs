//! A surge of uploads against the release `escrow-api` (not a test; its own command,
//! `bench/surge.sh`, which builds and runs it; the test suite's smoke version is
//! `refusals::an_upload_past_the_bound_is_shed_with_retry_after_and_nothing_is_lost`).
//!
//! ```text
//! cargo run --release -p medledger-escrow-api --example surge [-- <surge clients, default 128> [records, default 1200] [out dir, default bench/out] [jitter|none]]
//! ```
//!
//! Ganache (mining every 100 ms) with the migration, and the escrow as a child with its default
//! `max_concurrent_uploads` (16), a patient signed in. Records of 4 KiB to 1 MiB, sealed
//! beforehand. Four phases:
//!
//! 1. **capacity**: 200 uploads at 16 clients (the bound): uploads/s; then the normal latency,
//!    the p50 of 20 uploads of 64 KiB sent one at a time;
//! 2. **surge**: `clients` clients (8x the bound by default) upload the rest as fast as they can;
//!    a shed upload (503 `busy`) waits its `Retry-After` (plus up to a second of jitter, as the
//!    app waits, unless `none`) and is sent again; any other answer, or no answer within 60 s, is
//!    counted as an error;
//! 3. **recovery**: one client uploads one 64 KiB record at a time from the moment the surge ends,
//!    until five in a row are within 1.5x the normal p50: the time that took;
//! 4. **check**: every acknowledged upload is listed by the escrow (none lost).
//!
//! A connection broken before any answer (a large upload shed mid-body may see its connection
//! reset before the 503 arrives) is retried like a shed upload, as the app retries it, and
//! counted apart as interrupted.
//!
//! Every 250 ms it samples the escrow's resident memory (VmRSS) and counts acknowledged, shed and
//! failed uploads and their latency; it writes the samples to `<out>/surge-<mode>.csv` and plots
//! throughput, shed rate, p50 latency and memory over time into `<out>/surge-<mode>.svg`. A closing
//! ramp (16, 32, 64 … up to 1024 uploads at once, one each, no retries) looks for the breaking
//! point: the first concurrency at which any request fails other than by being shed (distinct
//! 4 KiB records, all sent at once).

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use medledger_protocol::contract::Category;
use support::*;

/// What happened to one upload attempt.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Acknowledged(Duration),
    Shed,
    /// The connection broke before an answer came (a large upload shed mid-body can see its
    /// connection reset before the 503): retried like a shed one, as the app retries it.
    Interrupted,
    Failed,
}

/// Attempts by 250 ms bucket since the start of the measurement.
#[derive(Default)]
struct Timeline {
    events: Vec<(Duration, Outcome)>,
    rss_kib: Vec<(Duration, u64)>,
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// How long a shed client waits: the `Retry-After` seconds, plus up to a second of jitter when
/// `jitter` (as the app waits), or exactly that (clients that all come back at once).
fn back_off(retry_after: u64, jitter: bool) -> Duration {
    let extra = if jitter {
        rand::random::<u64>() % 1000
    } else {
        0
    };
    Duration::from_secs(retry_after) + Duration::from_millis(extra)
}

/// One upload attempt of `r` (the client gives up after 60 s).
async fn attempt(server: &Server, patient: &User, r: &Record, wraps: &[String]) -> (Outcome, u64) {
    let t = Instant::now();
    let sent = r
        .upload(server, patient, wraps)
        .timeout(Duration::from_secs(60))
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status() == 201 => (Outcome::Acknowledged(t.elapsed()), 0),
        Ok(resp) if resp.status() == 503 => {
            let retry = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok());
            let retry = retry.and_then(|v| v.parse().ok()).unwrap_or(1);
            (Outcome::Shed, retry)
        }
        Err(e) if e.is_request() && !e.is_timeout() => (Outcome::Interrupted, 1),
        other => {
            // The first few failures are described: they are what the report calls broken.
            static SHOWN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            if SHOWN.fetch_add(1, Ordering::SeqCst) < 3 {
                match other {
                    Ok(resp) => eprintln!("an upload failed: HTTP {}", resp.status()),
                    Err(e) => eprintln!("an upload failed: {e:?}"),
                }
            }
            (Outcome::Failed, 0)
        }
    }
}

/// `n` records of 4 KiB to 1 MiB, spread evenly on a log scale (from `seed` on).
fn records(w: &World, patient: &User, n: usize, seed: usize) -> Vec<(Record, Vec<String>)> {
    sealed(w, patient, n, Category::Imaging, |i| {
        4096usize << ((i + seed) % 9)
    })
}

/// Records `outcome` at its time in the timeline.
fn note(timeline: &Mutex<Timeline>, t0: Instant, outcome: Outcome) {
    let mut timeline = timeline.lock().expect("timeline");
    timeline.events.push((t0.elapsed(), outcome));
}

#[tokio::main]
async fn main() {
    let clients: usize = arg(1, 128);
    let total: usize = arg(2, 1200);
    let out: std::path::PathBuf = arg(3, repo_root().join("bench/out"));
    let mode: String = arg(4, "jitter".to_string());
    let jitter = mode == "jitter";
    std::fs::create_dir_all(&out).expect("output directory");
    let w = World::new().await;
    let mut patient = User::new(PATIENT);
    w.register(&[&patient], &[]).await;
    let (child, server) = escrow_child(&w, "surge", "pending_quota_bytes = 8589934592\n").await;
    let pid = child.0.id();
    println!("escrow-api (release), {}", machine());
    patient.sign_in(&server).await;
    println!("sealing {total} records of 4 KiB to 1 MiB …");
    let capacity_set = records(&w, &patient, 200, 0);
    let surge_set = records(&w, &patient, total, 3);
    // Same-size records (64 KiB) for the one-client latency before and after the surge.
    let baseline_set = sealed(&w, &patient, 20, Category::Vitals, |_| 65_536);
    let recovery_set = sealed(&w, &patient, 200, Category::Vitals, |_| 65_536);

    // 1. Capacity at the bound.
    let start = Instant::now();
    let lat: Vec<Duration> = futures_util::stream::iter(&capacity_set)
        .map(|(r, wr)| attempt(&server, &patient, r, wr))
        .buffer_unordered(16)
        .filter_map(|(o, _)| async move {
            match o {
                Outcome::Acknowledged(d) => Some(d),
                other => panic!("at the bound an upload was {other:?}"),
            }
        })
        .collect()
        .await;
    let capacity = lat.len() as f64 / start.elapsed().as_secs_f64();
    println!(
        "capacity at 16 clients: {capacity:.0} uploads/s, p50 {:.1} ms",
        p50(lat).as_secs_f64() * 1e3
    );
    // The normal latency: one client, one 64 KiB upload at a time.
    let mut one_by_one = Vec::new();
    for (r, wr) in &baseline_set {
        match attempt(&server, &patient, r, wr).await.0 {
            Outcome::Acknowledged(d) => one_by_one.push(d),
            other => panic!("a lone upload was {other:?}"),
        }
    }
    let normal = p50(one_by_one);

    // 2. The surge, sampled every 250 ms.
    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let surging = Arc::new(AtomicBool::new(true));
    let t0 = Instant::now();
    let sampler = {
        let (timeline, surging) = (timeline.clone(), surging.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let rss = vm_kib(pid, "VmRSS:");
                timeline
                    .lock()
                    .expect("timeline")
                    .rss_kib
                    .push((t0.elapsed(), rss));
                if !surging.load(Ordering::SeqCst) {
                    break;
                }
            }
        })
    };
    let acknowledged: Vec<alloy_primitives::B256> = futures_util::stream::iter(&surge_set)
        .map(|(r, wr)| {
            let (timeline, server, patient) = (timeline.clone(), &server, &patient);
            async move {
                loop {
                    let (outcome, retry) = attempt(server, patient, r, wr).await;
                    note(&timeline, t0, outcome);
                    match outcome {
                        Outcome::Acknowledged(_) => return Some(r.id),
                        Outcome::Shed | Outcome::Interrupted => {
                            tokio::time::sleep(back_off(retry, jitter)).await
                        }
                        Outcome::Failed => return None,
                    }
                }
            }
        })
        .buffer_unordered(clients)
        .filter_map(|id| async move { id })
        .collect()
        .await;
    let surge_end = t0.elapsed();

    // 3. Recovery: one upload at a time until five in a row are back to normal.
    let mut in_a_row = 0;
    let mut recovered = None;
    for (r, wr) in &recovery_set {
        let (outcome, _) = attempt(&server, &patient, r, wr).await;
        note(&timeline, t0, outcome);
        match outcome {
            Outcome::Acknowledged(d) if d.as_secs_f64() <= 1.5 * normal.as_secs_f64() => {
                in_a_row += 1
            }
            _ => in_a_row = 0,
        }
        if in_a_row == 5 {
            recovered = Some(t0.elapsed() - surge_end);
            break;
        }
    }
    surging.store(false, Ordering::SeqCst);
    let _ = sampler.await;

    // 4. Nothing acknowledged was lost.
    let listed: serde_json::Value = patient
        .get(server.url("/api/records"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let listed: std::collections::HashSet<String> = listed["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["recordId"].as_str().map(str::to_lowercase))
        .collect();
    let lost = acknowledged
        .iter()
        .filter(|id| !listed.contains(&id.to_string().to_lowercase()))
        .count();

    let summary = Summary {
        name: format!("surge-{mode}"),
        capacity,
        normal,
        surge_end,
        recovered,
        clients,
        acknowledged: acknowledged.len(),
        lost,
    };
    {
        let timeline = timeline.lock().expect("timeline");
        report(&timeline, &out, &summary);
    }

    // The ramp: the first concurrency where anything fails other than by being shed.
    let mut breaking = None;
    for conc in [16usize, 32, 64, 128, 256, 512, 1024] {
        // Distinct 4 KiB records (a repeated one would be an idempotent retry, answered 200).
        let batch = sealed(&w, &patient, conc, Category::Vitals, |_| 4096);
        let outcomes: Vec<Outcome> = futures_util::stream::iter(0..conc)
            .map(|i| {
                let (r, wr) = &batch[i];
                let (server, patient) = (&server, &patient);
                async move { attempt(server, patient, r, wr).await.0 }
            })
            .buffer_unordered(conc)
            .collect()
            .await;
        let failed = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Failed))
            .count();
        let shed = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Shed))
            .count();
        let interrupted = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Interrupted))
            .count();
        println!(
            "ramp: {conc} at once: {shed} shed, {interrupted} interrupted, {failed} failed otherwise, VmHWM {} MiB",
            vm_kib(pid, "VmHWM:") / 1024
        );
        if failed > 0 && breaking.is_none() {
            breaking = Some(conc);
        }
    }
    match breaking {
        Some(c) => {
            println!("breaking point: {c} concurrent uploads (first failures other than shedding)")
        }
        None => println!(
            "no breaking point up to 1024 concurrent uploads: every request was taken or shed"
        ),
    }
    drop(child);
}

/// The surge's figures besides its timeline.
struct Summary {
    /// The output files' stem.
    name: String,
    capacity: f64,
    normal: Duration,
    surge_end: Duration,
    recovered: Option<Duration>,
    clients: usize,
    acknowledged: usize,
    lost: usize,
}

/// One 250 ms sample: time (s), acknowledged/s, shed/s, p50 (ms), RSS (MiB).
type Sample = (f64, f64, f64, f64, f64);

/// A chart: its title, the value it draws and its colour.
type Chart = (&'static str, fn(&Sample) -> f64, &'static str);

/// Prints the summary and writes `<name>.csv` and `<name>.svg`.
fn report(t: &Timeline, out: &std::path::Path, summary: &Summary) {
    let Summary {
        ref name,
        capacity,
        normal,
        surge_end,
        recovered,
        clients,
        acknowledged,
        lost,
    } = *summary;
    let bucket = |d: Duration| (d.as_millis() / 250) as usize;
    let n = t
        .events
        .iter()
        .map(|e| bucket(e.0))
        .chain(t.rss_kib.iter().map(|r| bucket(r.0)))
        .max()
        .unwrap_or(0)
        + 1;
    let mut rows = vec![(0u32, 0u32, 0u32, Vec::new(), 0u64); n];
    for (at, o) in &t.events {
        let row = &mut rows[bucket(*at)];
        match o {
            Outcome::Acknowledged(d) => {
                row.0 += 1;
                row.3.push(*d);
            }
            Outcome::Shed | Outcome::Interrupted => row.1 += 1,
            Outcome::Failed => row.2 += 1,
        }
    }
    for (at, kib) in &t.rss_kib {
        let row = &mut rows[bucket(*at)];
        row.4 = row.4.max(*kib);
    }
    let mut csv = String::from("t_s,acknowledged_per_s,shed_per_s,failed_per_s,p50_ms,rss_mib\n");
    let mut series = Vec::new();
    for (i, (ack, shed, failed, lat, rss)) in rows.into_iter().enumerate() {
        let p = p50(lat).as_secs_f64() * 1e3;
        let s = i as f64 * 0.25;
        let mib = rss as f64 / 1024.0;
        csv.push_str(&format!(
            "{s:.2},{},{},{},{p:.1},{mib:.1}\n",
            ack * 4,
            shed * 4,
            failed * 4
        ));
        series.push((s, f64::from(ack * 4), f64::from(shed * 4), p, mib));
    }
    std::fs::write(out.join(format!("{name}.csv")), csv).expect("csv");
    std::fs::write(
        out.join(format!("{name}.svg")),
        svg(&series, surge_end.as_secs_f64()),
    )
    .expect("svg");
    let failed = t
        .events
        .iter()
        .filter(|e| matches!(e.1, Outcome::Failed))
        .count();
    let shed = t
        .events
        .iter()
        .filter(|e| matches!(e.1, Outcome::Shed))
        .count();
    let interrupted = t
        .events
        .iter()
        .filter(|e| matches!(e.1, Outcome::Interrupted))
        .count();
    let peak = t.rss_kib.iter().map(|r| r.1).max().unwrap_or(0) / 1024;
    println!(
        "surge: {clients} clients ({:.1}x the bound of 16), {:.1} s",
        clients as f64 / 16.0,
        surge_end.as_secs_f64()
    );
    println!("  acknowledged {acknowledged}, shed {shed} times and interrupted {interrupted} times (each retried after Retry-After), failed otherwise {failed}, lost {lost}");
    println!("  server resident memory: peak {peak} MiB during the surge");
    println!(
        "  normal: {capacity:.0} uploads/s at the bound; one 64 KiB upload alone p50 {:.1} ms",
        normal.as_secs_f64() * 1e3
    );
    match recovered {
        Some(d) => println!("  back to normal latency (five uploads in a row within 1.5x the normal p50) {:.2} s after the surge", d.as_secs_f64()),
        None => println!("  not back to normal latency within 200 uploads after the surge"),
    }
    println!(
        "  samples: {}, plot: {}",
        out.join(format!("{name}.csv")).display(),
        out.join(format!("{name}.svg")).display()
    );
}

/// Four stacked line charts over time (acknowledged/s, shed/s, p50 ms, RSS MiB), plain SVG.
fn svg(series: &[Sample], surge_end: f64) -> String {
    let (w, h, pad) = (900.0, 170.0, 50.0);
    let t_max = series.last().map_or(1.0, |s| s.0).max(1.0);
    let mut doc = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        4.0 * h + 30.0
    );
    let charts: [Chart; 4] = [
        ("uploads acknowledged per second", |s| s.1, "#1f77b4"),
        (
            "uploads shed (503 busy) or interrupted per second",
            |s| s.2,
            "#d62728",
        ),
        (
            "p50 latency of acknowledged uploads, ms",
            |s| s.3,
            "#2ca02c",
        ),
        ("escrow resident memory, MiB", |s| s.4, "#9467bd"),
    ];
    for (k, (title, value, colour)) in charts.iter().enumerate() {
        let top = k as f64 * h + 20.0;
        let v_max = series.iter().map(value).fold(0.0f64, f64::max).max(1.0);
        let x = |t: f64| pad + (w - 2.0 * pad) * t / t_max;
        let y = |v: f64| top + h - 30.0 - (h - 50.0) * v / v_max;
        doc.push_str(&format!(
            "<text x=\"{pad}\" y=\"{}\">{title} (max {v_max:.0})</text>\n",
            top + 5.0
        ));
        doc.push_str(&format!(
            "<line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#999\"/>\n",
            y(0.0),
            w - pad
        ));
        doc.push_str(&format!(
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n",
            x(surge_end),
            y(v_max),
            y(0.0)
        ));
        let points: Vec<String> = series
            .iter()
            .map(|s| format!("{:.1},{:.1}", x(s.0), y(value(s))))
            .collect();
        doc.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>\n",
            points.join(" ")
        ));
        doc.push_str(&format!(
            "<text x=\"{}\" y=\"{}\">{t_max:.0} s</text>\n",
            w - pad,
            y(0.0) + 15.0
        ));
    }
    doc.push_str("</svg>\n");
    doc
}
