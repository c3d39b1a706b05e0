//! The bindings against the real contract: starts Ganache (from the project's node_modules) on a
//! free loopback port and deploys with the project's Truffle migration into a temporary deployments
//! directory (both through `medledger-test-support`, as the escrow's suites do), then sends a transaction and decodes its event, decodes a view's result, and decodes
//! a revert into the contract's named error — all through the `sol!` types.
//!
//! Needs `npm ci` (node_modules) and `npx truffle compile` (build/contracts) first; the test
//! command runs both. Without them the test fails with a message saying so.

use alloy_primitives::{Address, FixedBytes, B256, U256};
use alloy_sol_types::{SolCall, SolEvent};
use medledger_protocol::contract::{decode_revert, Category, MedLedger, MedLedgerErrors};
use medledger_protocol::deployment::Deployment;
use medledger_test_support::{call, send, Chain};

/// Ganache's deterministic account 2: a fresh account no migration touches.
const PATIENT: &str = "0x22d491Bde2303f2f43325b2108D26f1eAbA1e32b";
/// Account 3, registered as a practitioner applicant.
const PRACTITIONER: &str = "0xE11BA2b4D45Eaed5996Cd0823791E0C93114882d";

fn hex_bytes(s: &str) -> Vec<u8> {
    alloy_primitives::hex::decode(s).unwrap_or_else(|e| panic!("not hex: {s}: {e}"))
}

#[test]
fn bindings_decode_real_events_results_and_reverts_from_ganache() {
    let chain = Chain::start();
    let deployment = Deployment::load(&chain.deployment_file)
        .expect("the migration's deployment file matches the bindings");
    assert_eq!(deployment.chain_id, 1337);
    let ledger = deployment.address;
    let url = chain.url();
    let patient: Address = PATIENT.parse().expect("address");
    let practitioner: Address = PRACTITIONER.parse().expect("address");
    // Every call is the patient's (a revert depends on who calls).
    let call = |data: Vec<u8>| call(url, Some(patient), ledger, &data);

    // The core trusts the forwarder the deployment file names, and no other account.
    let raw = call(MedLedger::trustedForwarderCall {}.abi_encode()).expect("trustedForwarder");
    let trusted = MedLedger::trustedForwarderCall::abi_decode_returns(&raw)
        .expect("trustedForwarder result decodes");
    assert_eq!(trusted, deployment.forwarder.address);
    for (who, expected) in [(deployment.forwarder.address, true), (patient, false)] {
        let raw = call(MedLedger::isTrustedForwarderCall { forwarder: who }.abi_encode())
            .expect("isTrustedForwarder");
        let answer = MedLedger::isTrustedForwarderCall::abi_decode_returns(&raw)
            .expect("isTrustedForwarder result decodes");
        assert_eq!(answer, expected, "isTrustedForwarder({who})");
    }

    // A transaction's event, decoded through the generated event type.
    let key = B256::repeat_byte(0x42);
    let register = MedLedger::registerPatientCall { encryptionKey: key }.abi_encode();
    let receipt = send(url, patient, ledger, &register, U256::ZERO);
    let logs = receipt["logs"].as_array().expect("logs");
    assert_eq!(logs.len(), 1, "registerPatient emits exactly one event");
    let topics: Vec<B256> = logs[0]["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .map(|t| t.as_str().expect("topic").parse().expect("32-byte topic"))
        .collect();
    let data = hex_bytes(logs[0]["data"].as_str().expect("data"));
    let event = MedLedger::AccountRegistered::decode_raw_log(topics, &data)
        .expect("AccountRegistered decodes");
    assert_eq!(event.account, patient);
    assert_eq!(event.kind, 1, "AccountKind.Patient");
    assert_eq!(event.encryptionKey, key);
    assert_eq!(event.profileHash, B256::ZERO);

    // A view's result, decoded through the generated call type.
    let raw = call(MedLedger::accountOfCall { account: patient }.abi_encode()).expect("accountOf");
    let account =
        MedLedger::accountOfCall::abi_decode_returns(&raw).expect("accountOf result decodes");
    assert_eq!(account.kind, 1);
    assert_eq!(account.status, 2, "patients are Active on registration");
    assert_eq!(account.encryptionKey, key);
    assert!(!account.emergencyOptIn);

    // The consent views answer for real: nobody may read a record that does not exist.
    let raw = call(
        MedLedger::canReadCall {
            patient,
            reader: practitioner,
            recordId: FixedBytes::repeat_byte(7),
        }
        .abi_encode(),
    )
    .expect("canRead");
    assert!(!MedLedger::canReadCall::abi_decode_returns(&raw).expect("bool"));
    let raw = call(
        MedLedger::canWriteCall {
            patient,
            writer: patient,
            category: Category::Vitals.number(),
        }
        .abi_encode(),
    )
    .expect("canWrite");
    assert!(
        MedLedger::canWriteCall::abi_decode_returns(&raw).expect("bool"),
        "a patient may write their own records"
    );

    // A revert's data, decoded into the contract's named error.
    let error = call(register).expect_err("registering twice reverts");
    let data = error["data"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| error["data"]["result"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("revert carries no data: {error}"));
    match decode_revert(&hex_bytes(&data)) {
        Some(MedLedgerErrors::AlreadyRegistered(e)) => assert_eq!(e.account, patient),
        other => panic!("expected AlreadyRegistered, got {other:?} from {error}"),
    }

    // The same for a grant to someone who is not a practitioner or insurer.
    let error = call(
        MedLedger::grantCall {
            grantee: practitioner,
            categories: Category::mask([Category::Vitals]),
            allowWrite: false,
            expiry: u64::MAX,
        }
        .abi_encode(),
    )
    .expect_err("a grant to an unregistered account reverts");
    let data = error["data"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    match decode_revert(&hex_bytes(&data)) {
        Some(MedLedgerErrors::InvalidGrantee(e)) => assert_eq!(e.grantee, practitioner),
        other => panic!("expected InvalidGrantee, got {other:?} from {error}"),
    }
}

/// The tree and leaves built here (`record_root`, `merkle`: the layout the escrow and the app use)
/// against the contract's own `rootedLeaf` and `isRootedRecord`, on a batch of odd size so that
/// carried-up nodes are in play: every record proves, and a record moved to another leaf does not.
#[test]
fn rooted_records_built_here_prove_on_the_contract() {
    use medledger_protocol::record_root::{leaf, NewRootedRecord, RootedBatch};

    let chain = Chain::start();
    let deployment = Deployment::load(&chain.deployment_file).expect("deployment");
    let (ledger, url) = (deployment.address, chain.url());
    let patient: Address = PATIENT.parse().expect("address");
    let register = MedLedger::registerPatientCall {
        encryptionKey: B256::repeat_byte(0x42),
    };
    send(url, patient, ledger, &register.abi_encode(), U256::ZERO);
    let records: Vec<NewRootedRecord> = (0u32..301)
        .map(|i| NewRootedRecord {
            record_id: alloy_primitives::keccak256(i.to_be_bytes()),
            ciphertext_hash: alloy_primitives::keccak256((i + 1_000_000).to_be_bytes()),
            category: (i % 8) as u8,
        })
        .collect();
    let batch = RootedBatch::new(&records).expect("a batch");
    let receipt = send(
        url,
        patient,
        ledger,
        &batch.anchor_call(patient).abi_encode(),
        U256::ZERO,
    );
    assert_eq!(receipt["status"], "0x1", "anchorRecordRoot: {receipt}");
    let view = |data: Vec<u8>| call(url, Some(patient), ledger, &data).expect("a view");
    for index in 0..batch.count() {
        let (record, proof) = batch.proof(index).expect("a record");
        let raw = view(
            MedLedger::rootedLeafCall {
                record: record.clone(),
            }
            .abi_encode(),
        );
        let on_chain = MedLedger::rootedLeafCall::abi_decode_returns(&raw).expect("bytes32");
        assert_eq!(on_chain, leaf(record), "leaf {index}");
        let is = |record: MedLedger::RootedRecord| {
            let raw = view(
                MedLedger::isRootedRecordCall {
                    root: batch.root(),
                    record,
                    proof: proof.clone(),
                }
                .abi_encode(),
            );
            MedLedger::isRootedRecordCall::abi_decode_returns(&raw).expect("bool")
        };
        assert!(is(record.clone()), "record {index} proves on chain");
        let mut moved = record.clone();
        moved.index = (index + 1) % batch.count();
        assert!(!is(moved), "record {index} claimed as another leaf");
    }
}
