//! Anchoring throughput on Ganache (bench/README.md, "Anchoring"): records anchored per second
//! under Merkle roots (`anchorRecordRoot`, the tree built here, one transaction per root) beside
//! the same records anchored 100 a transaction (`addRecords`, every record a storage write), in
//! one run on one node, and the gas per record of each. Both count from the records' ids and
//! hashes to the receipt: the rooted side includes building its trees.
//!
//! `cargo run --release -p medledger-protocol --example anchor_bench -- [records per root] [roots] [addRecords batches]`
//! (defaults 10000, 10, 3). Needs `npm ci` and `npx truffle compile`, like the contract tests.

use std::time::Instant;

use alloy_primitives::{keccak256, Address, B256};
use alloy_sol_types::SolCall;
use medledger_protocol::contract::MedLedger;
use medledger_protocol::deployment::Deployment;
use medledger_protocol::record_root::{NewRootedRecord, RootedBatch};
use medledger_test_support::{quantity, rpc, wait_for, Chain};
use serde_json::json;

/// Ganache's deterministic account 2, a patient anchoring their own records.
const PATIENT: &str = "0x22d491Bde2303f2f43325b2108D26f1eAbA1e32b";
/// addRecords of 100 records takes about 10M gas; a 30M-gas block has room.
const GAS: &str = "0x1c9c380";

/// Sends and waits for the receipt; the gas it used.
fn send(url: &str, from: Address, to: Address, data: Vec<u8>) -> u64 {
    let tx = json!([{"from": from.to_string(), "to": to.to_string(), "gas": GAS,
                     "data": alloy_primitives::Bytes::from(data).to_string()}]);
    let hash = rpc(url, "eth_sendTransaction", tx).unwrap_or_else(|e| panic!("refused: {e}"));
    let receipt = wait_for(&format!("transaction {hash}"), || {
        let r = rpc(url, "eth_getTransactionReceipt", json!([hash])).ok()?;
        (!r.is_null()).then_some(r)
    });
    assert_eq!(receipt["status"], "0x1", "reverted: {receipt}");
    quantity(&receipt["gasUsed"])
}

/// `n` fresh records (ids and hashes from a seed and a counter), categories cycling 0..8.
fn records(seed: B256, from: u64, n: u64) -> Vec<NewRootedRecord> {
    (from..from + n)
        .map(|i| {
            let id = keccak256([seed.as_slice(), &i.to_be_bytes()].concat());
            NewRootedRecord {
                record_id: id,
                ciphertext_hash: keccak256(id),
                category: (i % 8) as u8,
            }
        })
        .collect()
}

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .map(|a| a.parse().expect("a whole number"))
        .unwrap_or(default)
}

fn main() {
    let (per_root, roots, batches) = (arg(1, 10_000), arg(2, 10), arg(3, 3));
    let chain = Chain::start();
    let deployment = Deployment::load(&chain.deployment_file).expect("the deployment");
    let (ledger, url) = (deployment.address, chain.url().to_owned());
    let patient: Address = PATIENT.parse().expect("an address");
    let register = MedLedger::registerPatientCall {
        encryptionKey: B256::repeat_byte(0x42),
    };
    send(&url, patient, ledger, register.abi_encode());
    let mut seed = [0u8; 32];
    medledger_protocol::cipher::fill_random(&mut seed).expect("randomness");
    let seed = B256::from(seed);

    // Under roots: build each batch's tree, anchor it, wait for its receipt.
    let (mut tree_secs, mut rooted_gas) = (0f64, 0u64);
    let start = Instant::now();
    for r in 0..roots {
        let t = Instant::now();
        let batch = RootedBatch::new(&records(seed, r * per_root, per_root)).expect("a batch");
        tree_secs += t.elapsed().as_secs_f64();
        rooted_gas += send(
            &url,
            patient,
            ledger,
            batch.anchor_call(patient).abi_encode(),
        );
    }
    let rooted_secs = start.elapsed().as_secs_f64();
    let rooted = (roots * per_root) as f64;

    // One by one, 100 a transaction: the anchor of this run.
    let (mut single_gas, start) = (0u64, Instant::now());
    for b in 0..batches {
        let batch: Vec<MedLedger::NewRecord> = records(seed, u64::MAX / 2 + b * 100, 100)
            .into_iter()
            .map(|r| MedLedger::NewRecord {
                recordId: r.record_id,
                patient,
                ciphertextHash: r.ciphertext_hash,
                category: r.category,
                supersedes: B256::ZERO,
            })
            .collect();
        single_gas += send(
            &url,
            patient,
            ledger,
            MedLedger::addRecordsCall { batch }.abi_encode(),
        );
    }
    let single_secs = start.elapsed().as_secs_f64();
    let single = (batches * 100) as f64;

    let (rooted_rate, single_rate) = (rooted / rooted_secs, single / single_secs);
    println!("under roots: {roots} roots of {per_root} records in {rooted_secs:.2} s ({tree_secs:.2} s building trees): {rooted_rate:.0} records/s, {:.1} gas a record", rooted_gas as f64 / rooted);
    println!("addRecords: {batches} batches of 100 in {single_secs:.2} s: {single_rate:.1} records/s, {:.0} gas a record", single_gas as f64 / single);
    println!(
        "ratio, under roots to addRecords: {:.0}x the records per second",
        rooted_rate / single_rate
    );
}
