//! How long reading a FHIR file takes natively (bench/README.md "FHIR import"): `read_input` (parse,
//! version check, ids, typed models, reference resolution) and the export Bundle of what it read,
//! each against the anchor of the same run: `serde_json` parsing the same bytes into a `Value`.
//! Usage: cargo run --release -p medledger-protocol --example fhir_speed -- FILE [runs]

use std::collections::HashSet;
use std::time::Instant;

use medledger_protocol::fhir::export::collection_bundle;
use medledger_protocol::fhir::read_input;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: fhir_speed FILE [runs]")?;
    let runs: usize = std::env::args().nth(2).map_or(Ok(7), |r| r.parse())?;
    let bytes = std::fs::read(&path)?;
    let (mut anchor, mut read, mut export) = (Vec::new(), Vec::new(), Vec::new());
    let mut count = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let value: serde_json::Value = serde_json::from_slice(&bytes)?;
        anchor.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(value);
        let t = Instant::now();
        let import = read_input(&bytes, &HashSet::new())?;
        read.push(t.elapsed().as_secs_f64() * 1000.0);
        count = import.entries.len();
        let resources = import.entries.into_iter().map(|e| e.json).collect();
        let t = Instant::now();
        let bundle = collection_bundle(resources, 0);
        let out = serde_json::to_vec(&bundle)?;
        export.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(out);
    }
    let (a, r, e) = (median(anchor), median(read), median(export));
    println!(
        "{path}: {} bytes, {count} resources, median of {runs} runs",
        bytes.len()
    );
    println!("  anchor: serde_json parse to Value  {a:8.1} ms");
    println!(
        "  read_input (checked import)        {r:8.1} ms = {:.1} × the anchor",
        r / a
    );
    println!(
        "  export Bundle (build + serialise)  {e:8.1} ms = {:.1} × the anchor",
        e / a
    );
    Ok(())
}
