//! The consent index against the contract. A random history of grants, revocations, expiries
//! (blocks mined at chosen times), record additions, erasures, erase-all, suspensions,
//! reinstatements, emergency opt-ins and -outs, windows opened and ended, is played on a real
//! Ganache one block at a time (the miner stopped, each block mined with `evm_mine` at its
//! timestamp). After every block the index takes one step, and every (patient, reader, record)
//! — each patient's and every other patient's records, and ids never anchored — is asked of the
//! index and of the contract's own `canReadMany` by `eth_call` at that block, and every (patient,
//! writer) pair's `canWrite` in a category that moves on with each block. Records anchored under
//! Merkle roots (`anchorRecordRoot`, some by writers the contract refuses, some erased one by one
//! or by erase-all) are asked too: at every block, one leaf of each root per reader, and the root
//! claimed for another patient, by `canReadRooted`. Licensing plays its part: two practitioners
//! are verified for an organisation, whose licence lapses, is renewed, given notice, terminated
//! and reinstated, and whose admin releases and verifies them again and suspends and reinstates
//! them (a rule script at the start crosses each edge at its exact second; the random history
//! goes on from there). Zero mismatches.
//!
//! `MEDLEDGER_CONSENT_SEED=<n>` replays a history (every run prints its seed);
//! `MEDLEDGER_CONSENT_BLOCKS=<n>` makes it longer (the default gives over 100,000 checks).

mod support;

use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::SolCall;
use alloy_sol_types::SolInterface;
use medledger_escrow_api::consent::{Basis, ConsentIndex};
use medledger_protocol::contract::{MedLedger, MedLedgerLicensing, MedLedgerLicensingCalls};
use medledger_protocol::record_root::{NewRootedRecord, RootedBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use support::*;

const PATIENTS: [usize; 4] = [2, 3, 4, 5];
/// Verified practitioners, and one (the last) that is never verified.
const PRACTITIONERS: [usize; 6] = [6, 7, 8, 9, 10, 11];
/// The practitioners verified for the organisation (the others but the last by the platform admin).
const ORGANISATION_PRACTITIONERS: std::ops::Range<usize> = 3..5;
/// The organisation's admin: registered as nothing in the core.
const ORGANISATION_ADMIN: usize = 15;
/// The organisation's id (the first created).
const ORGANISATION: u32 = 1;
/// How long the organisation's first subscription runs past the set-up.
const FIRST_SUBSCRIPTION: u64 = 1_800;
const INSURER_ACCOUNTS: [usize; 2] = [12, 13];
/// Never registered.
const STRANGER: usize = 14;
const CATEGORIES: u8 = 8;
const RECORDS_PER_PATIENT_AT_START: usize = 10;
/// Blocks played by default (the set-up's rule script included): every block asks each of the 56
/// (patient, reader) questions of every id there is, at least the 42 of the start, so 45 blocks
/// make at least 105,840 `canRead` checks for any seed; each costs Ganache about 2 ms (its
/// `eth_call` reads each record's storage afresh), so blocks past the floor only add minutes.
const DEFAULT_BLOCKS: u64 = 45;
/// The floor of `canRead` checks for a run of the default length.
const MIN_CHECKS_AT_DEFAULT: u64 = 100_000;

fn seed() -> u64 {
    match std::env::var("MEDLEDGER_CONSENT_SEED") {
        Ok(s) => s.parse().expect("MEDLEDGER_CONSENT_SEED is a number"),
        Err(_) => rand::random(),
    }
}

fn blocks() -> u64 {
    std::env::var("MEDLEDGER_CONSENT_BLOCKS")
        .map(|s| s.parse().expect("MEDLEDGER_CONSENT_BLOCKS is a number"))
        .unwrap_or(DEFAULT_BLOCKS)
}

/// Who acts, and what the history has made so far.
struct Cast {
    patients: Vec<Address>,
    practitioners: Vec<Address>,
    insurers: Vec<Address>,
    stranger: Address,
    admin: Address,
    organisation_admin: Address,
    /// When the organisation's first subscription ends.
    paid_until: u64,
    /// Every id ever offered to `addRecord(s)`, anchored or not, with its patient.
    records: Vec<(B256, Address)>,
    /// Every batch ever offered to `anchorRecordRoot`, anchored or not, with its patient.
    roots: Vec<(RootedBatch, Address)>,
}

impl Cast {
    fn professionals(&self) -> Vec<Address> {
        self.practitioners
            .iter()
            .chain(&self.insurers)
            .copied()
            .collect()
    }

    /// Every account a read could come from, a stranger and the admin included.
    fn readers(&self) -> Vec<Address> {
        let mut all: Vec<Address> = self.patients.clone();
        all.extend(self.professionals());
        all.push(self.stranger);
        all.push(self.admin);
        all
    }
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

fn pick_root<'a>(
    rng: &mut StdRng,
    roots: &'a [(RootedBatch, Address)],
) -> (&'a RootedBatch, Address) {
    let (batch, patient) = &roots[rng.gen_range(0..roots.len())];
    (batch, *patient)
}

/// A batch of 1 to 8 random records of random categories.
fn random_root(rng: &mut StdRng) -> RootedBatch {
    let records: Vec<NewRootedRecord> = (0..rng.gen_range(1..=8))
        .map(|_| NewRootedRecord {
            record_id: B256::from(rng.gen::<[u8; 32]>()),
            ciphertext_hash: B256::from(rng.gen::<[u8; 32]>()),
            category: rng.gen_range(0..CATEGORIES),
        })
        .collect();
    RootedBatch::new(&records).expect("random ids are distinct and non-zero")
}

/// One random transaction: its sender and calldata (it may revert; the contract decides).
fn random_tx(rng: &mut StdRng, cast: &mut Cast, now: u64) -> Option<(Address, Vec<u8>)> {
    let patient = pick(rng, &cast.patients);
    let practitioner = pick(rng, &cast.practitioners);
    let professional = pick(rng, &cast.professionals());
    let tx = match rng.gen_range(0..112) {
        100..=111 => licensing_tx(rng, cast, now),
        0..=21 => {
            let expiry = now + rng.gen_range(1..=1_200);
            let grant = MedLedger::grantCall {
                grantee: professional,
                categories: U256::from(rng.gen_range(1u32..(1 << CATEGORIES))),
                allowWrite: rng.gen_bool(0.5),
                expiry: if rng.gen_bool(0.05) { now } else { expiry },
            };
            (patient, grant.abi_encode())
        }
        22..=29 => (
            patient,
            MedLedger::revokeCall {
                grantee: professional,
            }
            .abi_encode(),
        ),
        30..=44 => {
            let record_id = B256::from(rng.gen::<[u8; 32]>());
            cast.records.push((record_id, patient));
            let author = if rng.gen_bool(0.7) {
                patient
            } else {
                practitioner
            };
            let add = MedLedger::addRecordCall {
                recordId: record_id,
                patient,
                ciphertextHash: B256::repeat_byte(0xc1),
                category: rng.gen_range(0..CATEGORIES),
                supersedes: B256::ZERO,
            };
            (author, add.abi_encode())
        }
        45..=51 => {
            let (record_id, owner) = pick(rng, &cast.records);
            let erase = MedLedger::eraseRecordCall {
                recordId: record_id,
            };
            (owner, erase.abi_encode())
        }
        52..=56 => (patient, MedLedger::eraseAllCall {}.abi_encode()),
        57..=68 => {
            let opt = MedLedger::setEmergencyOptInCall {
                optedIn: rng.gen_bool(0.6),
            };
            (patient, opt.abi_encode())
        }
        69..=82 => {
            let open = MedLedger::emergencyAccessCall {
                patient,
                reasonHash: B256::repeat_byte(0xee),
            };
            (practitioner, open.abi_encode())
        }
        83..=87 => (
            patient,
            MedLedger::endEmergencyAccessCall { practitioner }.abi_encode(),
        ),
        88..=94 => {
            let account = professional;
            let data = match rng.gen_range(0..3) {
                0 => MedLedger::suspendAccountCall {
                    account,
                    reasonHash: B256::repeat_byte(0x5a),
                }
                .abi_encode(),
                1 => MedLedger::reinstateAccountCall { account }.abi_encode(),
                _ => MedLedger::verifyAccountCall { account }.abi_encode(),
            };
            (cast.admin, data)
        }
        95..=97 => {
            let batch = random_root(rng);
            let author = if rng.gen_bool(0.6) {
                patient
            } else {
                practitioner
            };
            let anchor = batch.anchor_call(patient);
            cast.roots.push((batch, patient));
            (author, anchor.abi_encode())
        }
        _ if cast.roots.is_empty() => return None,
        _ => {
            let (batch, owner) = pick_root(rng, &cast.roots);
            let leaf = rng.gen_range(0..batch.count()) as usize;
            let erase = MedLedger::eraseRootedRecordCall {
                root: batch.root(),
                recordId: batch.records()[leaf].recordId,
            };
            (owner, erase.abi_encode())
        }
    };
    Some(tx)
}

/// One random licensing transaction: the platform admin's renewals, notices, terminations and
/// reinstatements of the organisation, or its admin's releases, verifications, suspensions and
/// reinstatements of the organisation's practitioners (it may revert; the contracts decide).
fn licensing_tx(rng: &mut StdRng, cast: &Cast, now: u64) -> (Address, Vec<u8>) {
    let organisation = ORGANISATION;
    let member = cast.practitioners[rng.gen_range(ORGANISATION_PRACTITIONERS)];
    let by_admin = |data: Vec<u8>| (cast.admin, data);
    let by_organisation = |data: Vec<u8>| (cast.organisation_admin, data);
    match rng.gen_range(0..12) {
        0..=1 => by_admin(
            MedLedgerLicensing::recordRenewalCall {
                organisation,
                paidUntil: now + rng.gen_range(1..=1_500),
            }
            .abi_encode(),
        ),
        2..=3 => by_admin(
            MedLedgerLicensing::giveNoticeCall {
                organisation,
                terminatesAt: now + rng.gen_range(1..=900),
            }
            .abi_encode(),
        ),
        4 => by_admin(MedLedgerLicensing::terminateLicenceCall { organisation }.abi_encode()),
        5..=6 => by_admin(MedLedgerLicensing::reinstateLicenceCall { organisation }.abi_encode()),
        7..=8 => by_organisation(
            MedLedgerLicensing::releasePractitionerCall {
                practitioner: member,
            }
            .abi_encode(),
        ),
        9..=10 => by_organisation(
            MedLedgerLicensing::verifyPractitionerCall {
                organisation,
                practitioner: member,
            }
            .abi_encode(),
        ),
        _ if rng.gen_bool(0.5) => by_organisation(
            MedLedger::suspendAccountCall {
                account: member,
                reasonHash: B256::repeat_byte(0x5b),
            }
            .abi_encode(),
        ),
        _ => by_organisation(MedLedger::reinstateAccountCall { account: member }.abi_encode()),
    }
}

/// How far the next block's clock moves: mostly seconds to minutes (grants of up to 20 minutes
/// expire along the way), sometimes past an emergency window's hour.
fn time_step(rng: &mut StdRng) -> u64 {
    match rng.gen_range(0..100) {
        0..=69 => rng.gen_range(1..=60),
        70..=94 => rng.gen_range(60..=600),
        _ => rng.gen_range(3_600..=7_200),
    }
}

/// Sets up the cast from Ganache's unlocked accounts: registrations, verifications, a one-hour
/// emergency window, and each patient's first records (one `addRecords` each), in blocks of
/// their own before the history starts.
async fn cast(w: &World, rng: &mut StdRng) -> Cast {
    let accounts: Vec<Address> =
        serde_json::from_value(w.rpc("eth_accounts", json!([])).await).expect("Ganache's accounts");
    let at = |ns: &[usize]| ns.iter().map(|n| accounts[*n]).collect::<Vec<_>>();
    let (patients, practitioners, insurers) =
        (at(&PATIENTS), at(&PRACTITIONERS), at(&INSURER_ACCOUNTS));
    let admin = accounts[ADMIN];
    let key = B256::repeat_byte(0x4b);
    let profile = B256::repeat_byte(0x9f);
    let mut registrations: Vec<(Address, Vec<u8>)> = patients
        .iter()
        .map(|p| {
            (
                *p,
                MedLedger::registerPatientCall { encryptionKey: key }.abi_encode(),
            )
        })
        .collect();
    for p in &practitioners {
        let apply = MedLedger::applyAsPractitionerCall {
            encryptionKey: key,
            profileHash: profile,
        };
        registrations.push((*p, apply.abi_encode()));
    }
    for i in &insurers {
        let apply = MedLedger::applyAsInsurerCall {
            encryptionKey: key,
            profileHash: profile,
        };
        registrations.push((*i, apply.abi_encode()));
    }
    let mut now = w.chain_time().await;
    let mut settle = async |txs: Vec<(Address, Vec<u8>)>| {
        now += 1;
        let n = txs.len();
        assert_eq!(
            mine(w, txs, now).await,
            n,
            "the set-up transactions succeed"
        );
    };
    settle(registrations).await;
    // The admin sends one transaction a block, in turn: verify the practitioners of no
    // organisation and the insurers, then create the organisation, whose admin verifies its own.
    let by_platform = practitioners[..ORGANISATION_PRACTITIONERS.start]
        .iter()
        .chain(&insurers);
    for account in by_platform {
        let verify = MedLedger::verifyAccountCall { account: *account };
        settle(vec![(admin, verify.abi_encode())]).await;
    }
    let organisation_admin = accounts[ORGANISATION_ADMIN];
    let paid_until = w.chain_time().await + FIRST_SUBSCRIPTION;
    let create = MedLedgerLicensing::createOrganisationCall {
        name: "Differential Hospital".into(),
        admin: organisation_admin,
        limits: medledger_protocol::contract::Seats {
            admins: 1,
            practitioners: 2,
            patients: 0,
        },
        paidUntil: paid_until,
        annualFee: U256::ZERO,
    };
    settle(vec![(admin, create.abi_encode())]).await;
    for practitioner in &practitioners[ORGANISATION_PRACTITIONERS] {
        let verify = MedLedgerLicensing::verifyPractitionerCall {
            organisation: ORGANISATION,
            practitioner: *practitioner,
        };
        settle(vec![(organisation_admin, verify.abi_encode())]).await;
    }
    let window = MedLedger::setEmergencyWindowCall {
        windowSeconds: 3_600,
    };
    let mut first_records = vec![(admin, window.abi_encode())];
    let mut records = Vec::new();
    for patient in &patients {
        let batch: Vec<MedLedger::NewRecord> = (0..RECORDS_PER_PATIENT_AT_START)
            .map(|_| MedLedger::NewRecord {
                recordId: B256::from(rng.gen::<[u8; 32]>()),
                patient: *patient,
                ciphertextHash: B256::repeat_byte(0xc1),
                category: rng.gen_range(0..CATEGORIES),
                supersedes: B256::ZERO,
            })
            .collect();
        records.extend(batch.iter().map(|r| (r.recordId, r.patient)));
        first_records.push((*patient, MedLedger::addRecordsCall { batch }.abi_encode()));
    }
    settle(first_records).await;
    // An id no one anchors: canRead is false for it whoever asks.
    records.push((B256::repeat_byte(0x0d), patients[0]));
    Cast {
        patients,
        practitioners,
        insurers,
        stranger: accounts[STRANGER],
        admin,
        organisation_admin,
        paid_until,
        records,
        roots: Vec::new(),
    }
}

/// The contract a call is for: the licensing contract's functions go to it, all others to the core.
/// (The core's own `releasePractitioner`, whose selector the licensing contract's shares, only the
/// licensing contract may call: the history never sends it.)
fn target(w: &World, data: &[u8]) -> Address {
    if MedLedgerLicensingCalls::abi_decode(data).is_ok() {
        w.d.licensing.address
    } else {
        w.d.address
    }
}

/// Mines the block of `txs` (one per sender) at `timestamp`; returns how many succeeded.
async fn mine(w: &World, txs: Vec<(Address, Vec<u8>)>, timestamp: u64) -> usize {
    let mut hashes = Vec::new();
    for (from, data) in txs {
        let to = target(w, &data);
        let tx = json!([{"from": from.to_string(), "to": to.to_string(),
                         "data": Bytes::from(data).to_string(), "gas": "0x2dc6c0"}]);
        hashes.push(w.rpc("eth_sendTransaction", tx).await);
    }
    w.rpc("evm_mine", json!([timestamp])).await;
    let mut succeeded = 0;
    for hash in hashes {
        let receipt = w.rpc("eth_getTransactionReceipt", json!([hash])).await;
        assert!(!receipt.is_null(), "{hash} was not mined in its block");
        succeeded += usize::from(receipt["status"] == "0x1");
    }
    succeeded
}

/// What is asked at a block: for every patient and every reader, `canReadMany` over every record
/// id of the history (the patient's own, anchored, erased or refused, and every other patient's,
/// which `canRead` must refuse for this patient whoever reads).
type Question = (Address, Address);

/// One JSON-RPC batch of `eth_call`s of the core at `block`: each call's returned bytes.
async fn batch_calls(
    http: &reqwest::Client,
    w: &World,
    calls: Vec<Vec<u8>>,
    block: u64,
) -> Vec<Vec<u8>> {
    let tag = format!("0x{block:x}");
    let batch: Vec<Value> = calls
        .into_iter()
        .enumerate()
        .map(|(n, data)| {
            let tx = json!({"to": w.d.address.to_string(), "data": Bytes::from(data).to_string()});
            json!({"jsonrpc": "2.0", "id": n, "method": "eth_call", "params": [tx, tag]})
        })
        .collect();
    let answers: Vec<Value> = http
        .post(w.url())
        .json(&batch)
        .send()
        .await
        .expect("the batch reaches Ganache")
        .json()
        .await
        .expect("a JSON batch answer");
    let mut out = vec![Vec::new(); batch.len()];
    for answer in answers {
        let n = answer["id"].as_u64().expect("an id") as usize;
        let raw = answer["result"]
            .as_str()
            .unwrap_or_else(|| panic!("eth_call failed: {answer}"));
        out[n] = alloy_primitives::hex::decode(raw).expect("hex");
    }
    out
}

/// Each question's `canReadMany` at `block`, in one JSON-RPC batch.
async fn chain_answers(
    http: &reqwest::Client,
    w: &World,
    asked: &[Question],
    ids: &[B256],
    block: u64,
) -> Vec<Vec<bool>> {
    let calls = asked
        .iter()
        .map(|(patient, reader)| {
            let call = MedLedger::canReadManyCall {
                patient: *patient,
                reader: *reader,
                recordIds: ids.to_vec(),
            };
            call.abi_encode()
        })
        .collect();
    let raw = batch_calls(http, w, calls, block).await;
    raw.iter()
        .map(|r| MedLedger::canReadManyCall::abi_decode_returns(r).expect("bool[]"))
        .collect()
}

/// `canWrite(patient, writer, category)` at `block` for each question, in one JSON-RPC batch.
async fn chain_writes(
    http: &reqwest::Client,
    w: &World,
    asked: &[(Address, Address, u8)],
    block: u64,
) -> Vec<bool> {
    let calls = asked
        .iter()
        .map(|(patient, writer, category)| {
            MedLedger::canWriteCall::new((*patient, *writer, *category)).abi_encode()
        })
        .collect();
    let raw = batch_calls(http, w, calls, block).await;
    raw.iter()
        .map(|r| MedLedger::canWriteCall::abi_decode_returns(r).expect("bool"))
        .collect()
}

/// One `canReadRooted` question: patient, reader, root, leaf and proof.
type RootedQuestion = (Address, Address, B256, MedLedger::RootedRecord, Vec<B256>);

/// Each rooted question's `canReadRooted` at `block`, in one JSON-RPC batch.
async fn chain_rooted(
    http: &reqwest::Client,
    w: &World,
    asked: &[RootedQuestion],
    block: u64,
) -> Vec<bool> {
    let calls = asked
        .iter()
        .map(|(patient, reader, root, record, proof)| {
            let call = MedLedger::canReadRootedCall {
                patient: *patient,
                reader: *reader,
                root: *root,
                record: record.clone(),
                proof: proof.clone(),
            };
            call.abi_encode()
        })
        .collect();
    let raw = batch_calls(http, w, calls, block).await;
    raw.iter()
        .map(|r| MedLedger::canReadRootedCall::abi_decode_returns(r).expect("bool"))
        .collect()
}

/// The blocks played so far and what they showed.
struct Run {
    w: World,
    index: ConsentIndex,
    http: reqwest::Client,
    cast: Cast,
    asked: Vec<Question>,
    now: u64,
    blocks: u64,
    checks: u64,
    transactions: usize,
    succeeded: usize,
    granted_reads: u64,
    emergency_reads: u64,
    write_checks: u64,
    writes_allowed: u64,
    rooted_checks: u64,
    rooted_reads_by_others: u64,
    mismatches: Vec<String>,
}

impl Run {
    /// Mines `txs` in a block `dt` seconds after the last, steps the index, and compares it with
    /// the contract for every question.
    async fn block(&mut self, txs: Vec<(Address, Vec<u8>)>, dt: u64) -> usize {
        self.now += dt;
        self.blocks += 1;
        self.transactions += txs.len();
        let succeeded = mine(&self.w, txs, self.now).await;
        self.succeeded += succeeded;
        let head = self.index.step().await.expect("the index reaches the head");
        assert_eq!(head.number, self.w.head().await, "the index's head");
        assert_eq!(head.timestamp, self.now, "the block's time");
        let ids: Vec<B256> = self.cast.records.iter().map(|(id, _)| *id).collect();
        let chain = chain_answers(&self.http, &self.w, &self.asked, &ids, head.number).await;
        let index = &self.index;
        index
            .inspect(|state, at| {
                assert_eq!(at, head);
                for ((patient, reader), expected) in self.asked.iter().zip(&chain) {
                    for (id, want) in ids.iter().zip(expected) {
                        let basis = state.read_basis(*patient, *reader, *id, at.timestamp);
                        self.checks += 1;
                        match basis {
                            Some(Basis::Emergency) => self.emergency_reads += 1,
                            Some(_) if patient != reader => self.granted_reads += 1,
                            _ => {}
                        }
                        if basis.is_some() != *want {
                            self.mismatches.push(format!(
                                "block {}: canRead({patient}, {reader}, {id}) is {want} on chain, {} in the index",
                                at.number,
                                basis.is_some()
                            ));
                        }
                    }
                }
            })
            .expect("the index stands at a block");
        self.check_writes(head).await;
        self.check_rooted(head).await;
        succeeded
    }

    /// For each root ever offered: one of its leaves (moving on with each block) asked by every
    /// reader of its patient's records, and the same leaf claimed for another patient.
    async fn check_rooted(&mut self, head: medledger_escrow_api::chain::BlockInfo) {
        let readers = self.cast.readers();
        let mut asked: Vec<RootedQuestion> = Vec::new();
        for (n, (batch, patient)) in self.cast.roots.iter().enumerate() {
            let leaf = ((self.blocks as usize + n) % batch.count() as usize) as u32;
            let (record, proof) = batch.proof(leaf).expect("a leaf of the batch");
            let root = batch.root();
            for reader in &readers {
                asked.push((*patient, *reader, root, record.clone(), proof.clone()));
            }
            let other = self.cast.patients[(n + 1) % self.cast.patients.len()];
            let other = if other == *patient {
                self.cast.patients[0]
            } else {
                other
            };
            asked.push((other, other, root, record.clone(), proof.clone()));
        }
        if asked.is_empty() {
            return;
        }
        let chain = chain_rooted(&self.http, &self.w, &asked, head.number).await;
        let index = &self.index;
        index
            .inspect(|state, at| {
                for ((patient, reader, root, record, proof), want) in asked.iter().zip(&chain) {
                    let basis =
                        state.rooted_read_basis(*patient, *reader, *root, record, proof, at.timestamp);
                    self.rooted_checks += 1;
                    self.rooted_reads_by_others += u64::from(basis.is_some() && patient != reader);
                    if basis.is_some() != *want {
                        self.mismatches.push(format!(
                            "block {}: canReadRooted({patient}, {reader}, {root}, leaf {}) is {want} on chain, {} in the index",
                            at.number,
                            record.index,
                            basis.is_some()
                        ));
                    }
                }
            })
            .expect("the index stands at a block");
    }

    /// `canWrite` for every (patient, writer) pair, in a category that moves on with each block.
    async fn check_writes(&mut self, head: medledger_escrow_api::chain::BlockInfo) {
        let blocks = self.blocks;
        let asked: Vec<(Address, Address, u8)> = self
            .asked
            .iter()
            .enumerate()
            .map(|(n, (p, w))| {
                (
                    *p,
                    *w,
                    ((blocks as usize + n) % usize::from(CATEGORIES)) as u8,
                )
            })
            .collect();
        let chain = chain_writes(&self.http, &self.w, &asked, head.number).await;
        let index = &self.index;
        index
            .inspect(|state, at| {
                for ((patient, writer, category), want) in asked.iter().zip(&chain) {
                    let got = state.can_write(*patient, *writer, *category, at.timestamp);
                    self.write_checks += 1;
                    self.writes_allowed += u64::from(got && patient != writer);
                    if got != *want {
                        self.mismatches.push(format!(
                            "block {}: canWrite({patient}, {writer}, {category}) is {want} on chain, {got} in the index",
                            at.number
                        ));
                    }
                }
            })
            .expect("the index stands at a block");
    }

    /// Every rule once, whatever the seed: a window closed for good by an opt-out (also after
    /// opting in again), a window ended early, erase-all then a new record, a write grant expiring
    /// at its exact second, and a granted practitioner suspended and reinstated.
    async fn rules(&mut self) {
        let c = &self.cast;
        let (p0, p1) = (c.patients[0], c.patients[1]);
        let (d0, d1, d2) = (c.practitioners[0], c.practitioners[1], c.practitioners[2]);
        let admin = c.admin;
        let opt = |on: bool| MedLedger::setEmergencyOptInCall { optedIn: on }.abi_encode();
        let open = |patient| {
            let reason = B256::repeat_byte(0xee);
            MedLedger::emergencyAccessCall::new((patient, reason)).abi_encode()
        };
        let new_id = B256::repeat_byte(0x77);
        let add = MedLedger::addRecordCall {
            recordId: new_id,
            patient: p1,
            ciphertextHash: B256::repeat_byte(0xc1),
            category: 1,
            supersedes: B256::ZERO,
        };
        self.cast.records.push((new_id, p1));
        let expiry = self.now + 1 + 30;
        let grant = MedLedger::grantCall {
            grantee: d2,
            categories: U256::MAX,
            allowWrite: true,
            expiry,
        };
        let suspend = MedLedger::suspendAccountCall {
            account: d2,
            reasonHash: B256::repeat_byte(0x5a),
        };
        let end = MedLedger::endEmergencyAccessCall { practitioner: d1 };
        // Two roots of p1's, anchored by p1 and by d2 (write-granted on every category), one leaf
        // erased alone; then p1's eraseAll erases the rest.
        let mut rng = StdRng::seed_from_u64(self.now);
        let (own, by_d2) = (random_root(&mut rng), random_root(&mut rng));
        let erase_leaf = MedLedger::eraseRootedRecordCall {
            root: own.root(),
            recordId: own.records()[0].recordId,
        };
        let roots_block = vec![
            (p1, own.anchor_call(p1).abi_encode()),
            (d2, by_d2.anchor_call(p1).abi_encode()),
        ];
        self.cast.roots.push((own, p1));
        self.cast.roots.push((by_d2, p1));
        let script: Vec<Vec<(Address, Vec<u8>)>> = vec![
            vec![(p0, opt(true)), (p1, opt(true))],
            vec![(d0, open(p0)), (d1, open(p1)), (p1, grant.abi_encode())],
            vec![(p0, opt(false)), (admin, suspend.abi_encode())],
            vec![(p0, opt(true)), (p1, end.abi_encode())],
            vec![(
                admin,
                MedLedger::reinstateAccountCall { account: d2 }.abi_encode(),
            )],
            roots_block,
            vec![(p1, erase_leaf.abi_encode())],
            vec![(p1, MedLedger::eraseAllCall {}.abi_encode())],
            vec![(p1, add.abi_encode())],
        ];
        let blocks = script.len() as u64;
        for txs in script {
            let n = txs.len();
            assert_eq!(
                self.block(txs, 1).await,
                n,
                "the rules' transactions succeed"
            );
        }
        // The grant's last second, then its expiry.
        let last = expiry - 1 - self.now;
        self.block(Vec::new(), last).await;
        self.block(Vec::new(), 1).await;
        assert_eq!(self.blocks, blocks + 2);
        self.licensing_rules().await;
    }

    /// Each licensing edge at its second: a practitioner of the organisation granted by a patient
    /// reads until the subscription's last second and not from its end; renewed; under notice to
    /// the last second, terminated from the next; reinstated; released (Pending) and verified again.
    async fn licensing_rules(&mut self) {
        let c = &self.cast;
        let (p0, admin, org_admin) = (c.patients[0], c.admin, c.organisation_admin);
        let member = c.practitioners[ORGANISATION_PRACTITIONERS.start];
        let organisation = ORGANISATION;
        let grant = MedLedger::grantCall {
            grantee: member,
            categories: U256::MAX,
            allowWrite: true,
            expiry: self.cast.paid_until + 100_000,
        };
        self.one(p0, grant.abi_encode(), 1).await;
        let to_last_second = self.cast.paid_until - 1 - self.now;
        self.block(Vec::new(), to_last_second).await;
        self.block(Vec::new(), 1).await;
        let renew = MedLedgerLicensing::recordRenewalCall {
            organisation,
            paidUntil: self.now + 10_000,
        };
        self.one(admin, renew.abi_encode(), 1).await;
        let terminates_at = self.now + 5;
        let notice = MedLedgerLicensing::giveNoticeCall {
            organisation,
            terminatesAt: terminates_at,
        };
        self.one(admin, notice.abi_encode(), 1).await;
        self.block(Vec::new(), terminates_at - 1 - self.now).await;
        self.block(Vec::new(), 1).await;
        let reinstate = MedLedgerLicensing::reinstateLicenceCall { organisation };
        self.one(admin, reinstate.abi_encode(), 1).await;
        let terminate = MedLedgerLicensing::terminateLicenceCall { organisation };
        self.one(admin, terminate.abi_encode(), 1).await;
        self.one(admin, reinstate.abi_encode(), 1).await;
        let release = MedLedgerLicensing::releasePractitionerCall {
            practitioner: member,
        };
        self.one(org_admin, release.abi_encode(), 1).await;
        let verify = MedLedgerLicensing::verifyPractitionerCall {
            organisation,
            practitioner: member,
        };
        self.one(org_admin, verify.abi_encode(), 1).await;
    }

    /// One transaction that must succeed, in a block `dt` seconds after the last.
    async fn one(&mut self, from: Address, data: Vec<u8>, dt: u64) {
        assert_eq!(
            self.block(vec![(from, data)], dt).await,
            1,
            "a licensing rule's transaction succeeds"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_index_answers_as_the_contract_at_every_block() {
    let seed = seed();
    eprintln!("consent differential: seed {seed} (MEDLEDGER_CONSENT_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let w = World::new().await;
    w.rpc("miner_stop", json!([])).await;
    let cast = cast(&w, &mut rng).await;
    let now = w.chain_time().await;
    let metrics = medledger_escrow_api::metrics::Metrics::new().expect("metrics");
    let index = ConsentIndex::new(
        w.ledger(),
        Arc::new(w.d.clone()),
        &w.config(),
        metrics.consent_answers.clone(),
    );
    let readers = cast.readers();
    let asked: Vec<Question> = cast
        .patients
        .iter()
        .flat_map(|p| readers.iter().map(move |r| (*p, *r)))
        .collect();
    let records_at_start = cast.records.len() as u64;
    let mut run = Run {
        w,
        index,
        http: reqwest::Client::new(),
        cast,
        asked,
        now,
        blocks: 0,
        checks: 0,
        transactions: 0,
        succeeded: 0,
        granted_reads: 0,
        emergency_reads: 0,
        write_checks: 0,
        writes_allowed: 0,
        rooted_checks: 0,
        rooted_reads_by_others: 0,
        mismatches: Vec::new(),
    };
    run.rules().await;
    while run.blocks < blocks() {
        let mut txs: Vec<(Address, Vec<u8>)> = Vec::new();
        for _ in 0..rng.gen_range(1..=6) {
            if let Some((from, data)) = random_tx(&mut rng, &mut run.cast, run.now) {
                // One transaction per sender a block: the order within a block is then the
                // order sent, the same for the node and for the log.
                if txs.iter().all(|(f, _)| *f != from) {
                    txs.push((from, data));
                }
            }
        }
        let dt = time_step(&mut rng);
        run.block(txs, dt).await;
    }
    eprintln!(
        "consent differential: {} canRead, {} canWrite and {} canReadRooted checks over {} blocks, {} of {} transactions succeeded, {} reads on grants, {} on emergency windows, {} rooted reads by others and {} writes by grantees allowed",
        run.checks, run.write_checks, run.rooted_checks, run.blocks, run.succeeded, run.transactions, run.granted_reads, run.emergency_reads, run.rooted_reads_by_others, run.writes_allowed
    );
    assert!(
        run.mismatches.is_empty(),
        "seed {seed}: {} mismatches, the first: {:#?}",
        run.mismatches.len(),
        &run.mismatches[..run.mismatches.len().min(10)]
    );
    // Ids are only ever added, so every block asks every question of at least the records there
    // were at the start: a floor that holds for any seed (the count above it depends on how
    // many records the history adds, over 100,000 at the default length).
    let floor = run.blocks * run.asked.len() as u64 * records_at_start;
    assert!(
        run.checks >= floor,
        "only {} checks, fewer than {floor}",
        run.checks
    );
    if blocks() >= DEFAULT_BLOCKS {
        assert!(
            run.checks >= MIN_CHECKS_AT_DEFAULT,
            "only {} checks at the default length",
            run.checks
        );
    }
    // The history must have exercised the rules, not only refusals.
    assert!(
        run.succeeded * 3 >= run.transactions,
        "{} of {} succeeded",
        run.succeeded,
        run.transactions
    );
    assert!(run.granted_reads > 0, "no read on a grant was ever allowed");
    assert!(run.emergency_reads > 0, "no read on an emergency window");
    assert!(
        run.writes_allowed > 0,
        "no write by a grantee was ever allowed"
    );
    assert!(
        run.rooted_reads_by_others > 0,
        "no read of a record under a root by anyone but its patient was ever allowed"
    );
}
