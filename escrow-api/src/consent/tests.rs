//! The consent index on the scripted chain: when it answers from memory, and each way it falls
//! back to the chain. Its agreement with the real contract is the differential test's
//! (`escrow-api/tests/consent_index.rs`).

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolEvent;
use medledger_protocol::api::AccountKind;
use medledger_protocol::contract::MedLedger as M;
use tokio::sync::watch;

use crate::chain::scripted::{escrow_on, Script};
use crate::chain::ChainLog;

const PATIENT: Address = Address::repeat_byte(0x11);
const DOCTOR: Address = Address::repeat_byte(0x22);
const RECORD: B256 = B256::repeat_byte(0xaa);
const T0: u64 = 1_700_000_000;

fn log(core: Address, block: u64, event: &impl SolEvent) -> ChainLog {
    let data = event.encode_log_data();
    ChainLog {
        address: core,
        block,
        log_index: 0,
        tx_hash: B256::ZERO,
        topics: data.topics().to_vec(),
        data: data.data.to_vec(),
    }
}

/// Blocks 2..=6: the patient and the doctor register, the doctor is verified, the record is
/// added, and the doctor is granted its category until `T0 + 10`.
fn history(core: Address) -> Vec<ChainLog> {
    let register = |account, kind: AccountKind| M::AccountRegistered {
        account,
        kind: kind.chain_number(),
        encryptionKey: B256::repeat_byte(1),
        profileHash: B256::repeat_byte(2),
    };
    vec![
        log(core, 2, &register(PATIENT, AccountKind::Patient)),
        log(core, 3, &register(DOCTOR, AccountKind::Practitioner)),
        log(
            core,
            4,
            &M::AccountVerified {
                account: DOCTOR,
                admin: Address::ZERO,
            },
        ),
        log(
            core,
            5,
            &M::RecordAdded {
                recordId: RECORD,
                patient: PATIENT,
                author: PATIENT,
                ciphertextHash: B256::repeat_byte(3),
                category: 4,
                supersedes: B256::ZERO,
            },
        ),
        log(
            core,
            6,
            &M::ConsentGranted {
                patient: PATIENT,
                grantee: DOCTOR,
                categories: U256::from(1u8 << 4),
                canWrite: false,
                expiry: T0 + 10,
            },
        ),
    ]
}

/// The chain's own `canRead` says no to everything (an empty `readable`): a yes can only come
/// from the index.
fn script(core: Address) -> Script {
    Script {
        head: 6,
        timestamp: T0,
        logs: history(core),
        ..Script::default()
    }
}

/// An escrow on the scripted chain with [`history`], its consent index running or not.
struct Fixture {
    _dir: tempfile::TempDir,
    chain: std::sync::Arc<crate::chain::scripted::ScriptedChain>,
    st: crate::server::AppState,
    core: Address,
    task: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

impl Fixture {
    async fn new(running: bool) -> Fixture {
        let (dir, chain, st) = escrow_on(Script::default()).await;
        let core = st.deployment.address;
        chain.edit(|s| *s = script(core));
        let task = running.then(|| {
            let (stop, stopped) = watch::channel(false);
            (stop, st.consent.spawn(stopped))
        });
        Fixture {
            _dir: dir,
            chain,
            st,
            core,
            task,
        }
    }

    /// `canRead(PATIENT, DOCTOR, RECORD)` now, which must get an answer.
    async fn doctor_reads(&self) -> bool {
        let asked = self.st.consent.can_read_now(PATIENT, DOCTOR, RECORD).await;
        asked.expect("an answer")
    }

    /// How many decisions came from `index` and from `chain`.
    fn answered(&self) -> (u64, u64) {
        let count = |source: &str| {
            let answers = &self.st.metrics.consent_answers;
            answers.with_label_values(&[source]).get()
        };
        (count("index"), count("chain"))
    }

    async fn stop(self) {
        if let Some((stop, task)) = self.task {
            let _ = stop.send(true);
            task.await.expect("the index task ends");
        }
    }
}

#[tokio::test]
async fn a_stopped_index_leaves_every_question_to_the_chain() {
    let f = Fixture::new(false).await;
    assert!(!f.doctor_reads().await);
    assert_eq!(f.answered(), (0, 1));
}

#[tokio::test]
async fn the_running_index_answers_at_the_head_and_follows_each_new_block() {
    let f = Fixture::new(true).await;
    assert!(f.doctor_reads().await);
    assert_eq!(f.answered(), (1, 0));
    assert_eq!(f.st.consent.head().map(|b| b.number), Some(6));
    // A revocation mined before the question is applied to it.
    let core = f.core;
    f.chain.edit(|s| {
        s.head = 7;
        s.timestamp = T0 + 1;
        let revoked = M::ConsentRevoked {
            patient: PATIENT,
            grantee: DOCTOR,
        };
        s.logs.push(log(core, 7, &revoked));
    });
    assert!(!f.doctor_reads().await);
    assert_eq!(f.answered(), (2, 0));
    f.stop().await;
}

#[tokio::test]
async fn expiry_is_decided_by_the_head_blocks_time() {
    let f = Fixture::new(true).await;
    let basis =
        f.st.consent
            .read_basis_now(PATIENT, DOCTOR, RECORD, 4)
            .await;
    assert_eq!(basis.expect("an answer"), Some(super::Basis::Consent));
    // An empty block at the grant's expiry.
    f.chain.edit(|s| {
        s.head = 7;
        s.timestamp = T0 + 10;
    });
    let basis =
        f.st.consent
            .read_basis_now(PATIENT, DOCTOR, RECORD, 4)
            .await;
    assert_eq!(basis.expect("an answer"), None);
    assert_eq!(f.answered(), (2, 0));
    f.stop().await;
}

#[tokio::test]
async fn a_reorganisation_is_replayed_before_the_index_answers_again() {
    let f = Fixture::new(true).await;
    assert!(f.doctor_reads().await);
    // Another fork of the same height, on which the grant was never made.
    f.chain.edit(|s| {
        s.fork = 1;
        s.logs.retain(|l| l.block != 6);
    });
    assert!(!f.doctor_reads().await);
    assert_eq!(f.answered(), (2, 0));
    f.stop().await;
}

#[tokio::test]
async fn an_unreachable_node_gets_no_answer_from_memory() {
    let f = Fixture::new(true).await;
    assert!(f.doctor_reads().await);
    f.chain.edit(|s| s.reachable = false);
    // The index held a yes a moment ago; with the head unknown it must not give it.
    let asked = f.st.consent.can_read_now(PATIENT, DOCTOR, RECORD).await;
    assert!(asked.is_err(), "{asked:?}");
    assert_eq!(f.answered(), (1, 1));
    f.stop().await;
}
