//! A [`Chain`] for unit tests: the contract's views answered from a script the test writes
//! (`canRead`, `canWrite`, `recordOf`, `isErased`, `grantOf`, `emergencyAccessUntil`,
//! `identityOf`), a head
//! block and its time, logs to hand the follower, and a switch that makes the node unreachable.
//! A view the script does not answer is an error, never a default: a test that reaches one has
//! learnt that the code asks the chain something new. Transactions are recorded, not sent.
//!
//! Ganache integration tests (escrow-api/tests/) remain the proof against the real contract;
//! this is for the decisions around it (the read's basis, the upload's checks, the follower's
//! handling), which then run in milliseconds.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::{SolCall, SolInterface};
use futures_util::future::BoxFuture;
use medledger_protocol::contract::{MedLedger, MedLedgerCalls};

use super::{BlockInfo, Chain, ChainError, ChainLog};

/// What the scripted chain answers.
#[derive(Debug, Clone)]
pub struct Script {
    /// The chain id.
    pub chain_id: u64,
    /// The head block.
    pub head: u64,
    /// The head block's time (Unix seconds).
    pub timestamp: u64,
    /// False: every question fails as an unreachable node's would.
    pub reachable: bool,
    /// `canRead(patient, reader, recordId)` holds for these triples.
    pub readable: HashSet<(Address, Address, B256)>,
    /// `canWrite(patient, writer, category)` holds for these triples.
    pub writable: HashSet<(Address, Address, u8)>,
    /// `recordOf(recordId)`; an id not here reverts as an unknown record.
    pub records: HashMap<B256, MedLedger::Record>,
    /// Erased record ids.
    pub erased: HashSet<B256>,
    /// `grantOf(patient, grantee)`: categories and expiry (absent: all zero).
    pub grants: HashMap<(Address, Address), (U256, u64)>,
    /// `emergencyAccessUntil(patient, practitioner)` (absent: 0).
    pub emergency: HashMap<(Address, Address), u64>,
    /// `identityOf(wallet)` for wallets a recovery touched: the identity moved to it, or zero
    /// for a retired wallet. Absent: the wallet itself, as on a chain where nothing moved.
    pub identities: HashMap<Address, Address>,
    /// The contract's logs, by block.
    pub logs: Vec<ChainLog>,
    /// Which fork the chain is on: a block's hash is that of its number and the fork, so
    /// changing it stands for a reorganisation that replaced every block.
    pub fork: u64,
}

impl Script {
    /// Block `number` on this script's fork (one block a second up to the head's time).
    pub fn block(&self, number: u64) -> BlockInfo {
        let hash = |n: u64| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&n.to_be_bytes());
            id[8..].copy_from_slice(&self.fork.to_be_bytes());
            keccak256(id)
        };
        BlockInfo {
            number,
            hash: hash(number),
            parent_hash: number.checked_sub(1).map_or(B256::ZERO, hash),
            timestamp: self.timestamp - (self.head - number),
        }
    }
}

impl Default for Script {
    fn default() -> Self {
        Script {
            chain_id: 1337,
            head: 1,
            timestamp: 1_700_000_000,
            reachable: true,
            readable: HashSet::new(),
            writable: HashSet::new(),
            records: HashMap::new(),
            erased: HashSet::new(),
            grants: HashMap::new(),
            emergency: HashMap::new(),
            identities: HashMap::new(),
            logs: Vec::new(),
            fork: 0,
        }
    }
}

/// The scripted chain; [`ScriptedChain::edit`] changes its script between steps of a test.
#[derive(Debug, Default)]
pub struct ScriptedChain {
    script: Mutex<Script>,
    sent: Mutex<Vec<Vec<u8>>>,
}

impl ScriptedChain {
    /// A chain answering `script`.
    pub fn new(script: Script) -> ScriptedChain {
        ScriptedChain {
            script: Mutex::new(script),
            sent: Mutex::new(Vec::new()),
        }
    }

    /// Changes the script (the chain "moves on").
    pub fn edit(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.script.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// The calldata of every transaction sent so far.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn script(&self) -> Result<Script, ChainError> {
        let script = self
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if script.reachable {
            Ok(script)
        } else {
            Err(ChainError::Transport(
                "scripted: the node is unreachable".into(),
            ))
        }
    }

    fn answer(&self, data: &[u8]) -> Result<Vec<u8>, ChainError> {
        let s = self.script()?;
        let call = MedLedgerCalls::abi_decode(data)
            .map_err(|e| ChainError::Decode(format!("scripted: not a contract call: {e}")))?;
        Ok(match call {
            MedLedgerCalls::canRead(c) => MedLedger::canReadCall::abi_encode_returns(
                &s.readable.contains(&(c.patient, c.reader, c.recordId)),
            ),
            MedLedgerCalls::canReadMany(c) => {
                let allowed: Vec<bool> = c
                    .recordIds
                    .iter()
                    .map(|id| s.readable.contains(&(c.patient, c.reader, *id)))
                    .collect();
                MedLedger::canReadManyCall::abi_encode_returns(&allowed)
            }
            MedLedgerCalls::canWrite(c) => MedLedger::canWriteCall::abi_encode_returns(
                &s.writable.contains(&(c.patient, c.writer, c.category)),
            ),
            MedLedgerCalls::recordOf(c) => match s.records.get(&c.recordId) {
                Some(r) => MedLedger::recordOfCall::abi_encode_returns(r),
                None => return Err(unknown_record(c.recordId)),
            },
            MedLedgerCalls::isErased(c) => {
                MedLedger::isErasedCall::abi_encode_returns(&s.erased.contains(&c.recordId))
            }
            MedLedgerCalls::grantOf(c) => {
                let (categories, expiry) = s
                    .grants
                    .get(&(c.patient, c.grantee))
                    .copied()
                    .unwrap_or_default();
                MedLedger::grantOfCall::abi_encode_returns(&MedLedger::Grant {
                    categories,
                    canWrite: false,
                    expiry,
                    grantedAt: 0,
                })
            }
            MedLedgerCalls::emergencyAccessUntil(c) => {
                let until = s.emergency.get(&(c.patient, c.practitioner)).copied();
                MedLedger::emergencyAccessUntilCall::abi_encode_returns(&until.unwrap_or(0))
            }
            MedLedgerCalls::identityOf(c) => MedLedger::identityOfCall::abi_encode_returns(
                &s.identities.get(&c.wallet).copied().unwrap_or(c.wallet),
            ),
            other => {
                return Err(ChainError::Transport(format!(
                    "scripted: no answer for {}",
                    medledger_protocol::contract::call_name(&other)
                )))
            }
        })
    }
}

/// The revert `recordOf` gives for an id the contract never anchored.
fn unknown_record(record_id: B256) -> ChainError {
    use alloy_sol_types::SolError;
    let data = MedLedger::UnknownRecord {
        recordId: record_id,
    }
    .abi_encode();
    ChainError::Rpc {
        code: 3,
        message: "execution reverted".into(),
        revert: Some(alloy_primitives::hex::encode_prefixed(data)),
    }
}

impl Chain for ScriptedChain {
    fn chain_id(&self) -> BoxFuture<'_, Result<u64, ChainError>> {
        Box::pin(async move { Ok(self.script()?.chain_id) })
    }

    fn block_number(&self) -> BoxFuture<'_, Result<u64, ChainError>> {
        Box::pin(async move { Ok(self.script()?.head) })
    }

    fn call(&self, data: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, ChainError>> {
        Box::pin(async move { self.answer(&data) })
    }

    fn call_at(&self, _to: Address, _data: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, ChainError>> {
        // The scripts answer the core's views only; licensing is tested against Ganache.
        Box::pin(async move {
            Err(ChainError::Rpc {
                code: -32000,
                message: "the scripted chain answers the core only".into(),
                revert: None,
            })
        })
    }

    fn logs(&self, from: u64, to: u64) -> BoxFuture<'_, Result<Vec<ChainLog>, ChainError>> {
        Box::pin(async move {
            let s = self.script()?;
            let logs = s.logs.iter().filter(|l| (from..=to).contains(&l.block));
            Ok(logs.cloned().collect())
        })
    }

    fn block_logs(&self, hash: B256) -> BoxFuture<'_, Result<Vec<ChainLog>, ChainError>> {
        Box::pin(async move {
            let s = self.script()?;
            let number = (0..=s.head)
                .rev()
                .find(|n| s.block(*n).hash == hash)
                .ok_or_else(|| ChainError::Rpc {
                    code: -32000,
                    message: "unknown block".into(),
                    revert: None,
                })?;
            Ok(s.logs
                .iter()
                .filter(|l| l.block == number)
                .cloned()
                .collect())
        })
    }

    fn send(&self, data: Vec<u8>) -> BoxFuture<'_, Result<B256, ChainError>> {
        Box::pin(async move {
            self.script()?;
            let hash = keccak256(&data);
            self.sent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(data);
            Ok(hash)
        })
    }

    fn send_to(
        &self,
        _to: Address,
        data: Vec<u8>,
        _gas_cap: u64,
    ) -> BoxFuture<'_, Result<B256, ChainError>> {
        self.send(data)
    }

    fn call_as(
        &self,
        _from: Address,
        _to: Address,
        data: Vec<u8>,
        _gas: u64,
    ) -> BoxFuture<'_, Result<Vec<u8>, ChainError>> {
        self.call(data)
    }

    fn escrow_address(&self) -> Option<Address> {
        None
    }

    fn balance(&self, _account: Address) -> BoxFuture<'_, Result<U256, ChainError>> {
        Box::pin(async move { Ok(U256::ZERO) })
    }

    fn head(&self) -> BoxFuture<'_, Result<BlockInfo, ChainError>> {
        Box::pin(async move {
            let s = self.script()?;
            Ok(s.block(s.head))
        })
    }

    fn block(&self, number: u64) -> BoxFuture<'_, Result<Option<BlockInfo>, ChainError>> {
        Box::pin(async move {
            let s = self.script()?;
            Ok((number <= s.head).then(|| s.block(number)))
        })
    }
}

/// A whole escrow (index, blob store, keys, access log) in a temporary directory, on a scripted
/// chain: what a unit test of a handler's decision needs. The directory lives as long as the
/// returned guard.
pub async fn escrow_on(
    script: Script,
) -> (
    tempfile::TempDir,
    std::sync::Arc<ScriptedChain>,
    crate::server::AppState,
) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let deployment = dir.path().join("deployment.json");
    let text = medledger_test_support::deployment_json(
        script.chain_id,
        &medledger_protocol::contract::abi_hash(),
        &medledger_protocol::contract::insurance_abi_hash(),
        &medledger_protocol::contract::licensing_abi_hash(),
        &medledger_protocol::contract::forwarder_abi_hash(),
        &medledger_protocol::contract::recovery_abi_hash(),
    );
    std::fs::write(&deployment, text).expect("write the deployment file");
    let config = crate::config::Config {
        data_dir: dir.path().join("data"),
        deployment,
        ..crate::config::Config::default()
    };
    let chain = std::sync::Arc::new(ScriptedChain::new(script));
    let app = crate::server::App::build_on(config, Some(chain.clone()))
        .await
        .expect("an escrow on the scripted chain");
    (dir, chain, app.state)
}
