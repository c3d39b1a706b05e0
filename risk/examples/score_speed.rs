//! The cost of scoring an access (not a test; `bench/risk.sh` runs it): a reference set of
//! 100,000 normal accesses from a large synthetic hospital, then, for the accesses of another
//! hospital, the time of each feature computation and each score, one at a time (p50, p99,
//! max), and of the explanation of each access scoring at or above 0.95 from its score's search
//! (what the escrow adds for a flagged access); then the same accesses with each reader's
//! clearance kept, as the escrow keeps it (`KnnModel::score_cleared`): how many need no search.
//! The anchor, in the same run: the exact k-th-neighbour distance by brute force over the same
//! standardised reference in double precision (which must agree with the tree's, held in single
//! precision, to a few parts in a million).
//!
//! ```text
//! cargo run --release -p medledger-risk --example score_speed [-- <reference size, default 100000> [k, default 10]]
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy_primitives::Address;

use medledger_risk::eval::{after_warm_up, observe_all, reference_of};
use medledger_risk::explain::explain_scored;
use medledger_risk::features::{FeatureState, Features};
use medledger_risk::model::{Clearance, KnnModel, Standardiser};
use medledger_risk::synth::{generate, HospitalParams};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .map(|a| a.parse().expect("a whole number"))
        .unwrap_or(default)
}

fn percentiles(mut d: Vec<Duration>) -> String {
    d.sort();
    let at = |q: f64| d[((d.len() - 1) as f64 * q) as usize];
    format!(
        "p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs (n = {})",
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        d[d.len() - 1].as_secs_f64() * 1e6,
        d.len()
    )
}

fn main() {
    let size = arg(1, 100_000);
    let k = arg(2, 10);
    let big = HospitalParams {
        practitioners: 150,
        patients: 6_000,
        days: 42,
        ..HospitalParams::default()
    };
    let log = generate(1, big);
    let observed = observe_all(&log, 0);
    let (log, observed) = after_warm_up(&log, &observed, big.warm_up_days);
    let mut reference = reference_of(&log, &observed);
    assert!(
        reference.len() >= size,
        "the hospital gave only {} accesses",
        reference.len()
    );
    reference.truncate(size);

    let start = Instant::now();
    let model = KnnModel::fit(&reference, k).expect("fit");
    println!(
        "reference {size} accesses, k = {k}: fitted in {:.2} s",
        start.elapsed().as_secs_f64()
    );

    let test = generate(4, HospitalParams::default());
    let mut state = FeatureState::new(0);
    let mut feature_times = Vec::with_capacity(test.len());
    let mut score_times = Vec::with_capacity(test.len());
    let mut features: Vec<Features> = Vec::with_capacity(test.len());
    let mut explain_times = Vec::new();
    let mut sink = 0.0;
    for a in &test {
        let t = Instant::now();
        let o = state.observe(a);
        feature_times.push(t.elapsed());
        let t = Instant::now();
        let scored = model.score_detailed(&o.features);
        score_times.push(t.elapsed());
        let score = scored.score;
        assert_eq!(
            score,
            model.score_unbounded(&o.features),
            "bounded and unbounded agree"
        );
        sink += score;
        features.push(o.features);
        if score >= 0.95 {
            let t = Instant::now();
            let reasons = explain_scored(&model, &scored, a, &o, 0);
            explain_times.push(t.elapsed());
            sink += reasons.len() as f64;
        }
    }
    println!("features of an access: {}", percentiles(feature_times));
    println!("score of an access (tree): {}", percentiles(score_times));
    println!(
        "explanation of a flagged access: {}",
        percentiles(explain_times)
    );

    // The same accesses again, each reader keeping its clearance (what the escrow does): the
    // same scores, and the searches a burst far from every normal access no longer needs.
    let mut clearances: HashMap<Address, Clearance> = HashMap::new();
    let (mut cleared_times, mut searched_times) = (Vec::new(), Vec::new());
    for (a, x) in test.iter().zip(&features) {
        let prior = clearances.get(&a.reader).cloned();
        let t = Instant::now();
        let (scored, clearance) = model.score_cleared(x, prior.as_ref());
        let took = t.elapsed();
        let used = prior.is_some() && clearance == prior;
        if used {
            &mut cleared_times
        } else {
            &mut searched_times
        }
        .push(took);
        assert_eq!(
            scored.score,
            model.score(x),
            "a cleared score is the searched score"
        );
        match clearance {
            Some(c) => clearances.insert(a.reader, c),
            None => clearances.remove(&a.reader),
        };
    }
    println!(
        "with clearances: {} accesses answered by their reader's clearance ({}), {} searched ({})",
        cleared_times.len(),
        if cleared_times.is_empty() {
            "-".into()
        } else {
            percentiles(cleared_times)
        },
        searched_times.len(),
        percentiles(searched_times)
    );

    // The anchor: brute force over the same standardised points, for every 40th access.
    let standardiser = Standardiser::fit(&reference);
    let points: Vec<Features> = reference.iter().map(|p| standardiser.apply(p)).collect();
    let mut brute_times = Vec::new();
    let mut tree_times = Vec::new();
    for x in features.iter().step_by(40) {
        let z = standardiser.apply(x);
        let t = Instant::now();
        let mut d: Vec<f64> = points
            .iter()
            .map(|p| {
                p.iter()
                    .zip(&z)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
            })
            .collect();
        d.select_nth_unstable_by(k - 1, f64::total_cmp);
        let brute = d[k - 1].sqrt();
        brute_times.push(t.elapsed());
        let t = Instant::now();
        let tree = model.distance(x);
        tree_times.push(t.elapsed());
        // The tree holds single precision: equal to a few parts in a million.
        assert!(
            (brute - tree).abs() <= 1e-5 * brute.max(1.0),
            "tree {tree} vs brute force {brute}"
        );
    }
    let median = |mut d: Vec<Duration>| {
        d.sort();
        d[d.len() / 2]
    };
    let (b, t) = (median(brute_times), median(tree_times));
    println!(
        "k-th distance, median of {} queries: tree {:.1} µs, brute force {:.1} µs: the tree takes {:.3} of the anchor's time",
        features.len().div_ceil(40),
        t.as_secs_f64() * 1e6,
        b.as_secs_f64() * 1e6,
        t.as_secs_f64() / b.as_secs_f64()
    );
    println!("(checksum {sink:.3})");
}
