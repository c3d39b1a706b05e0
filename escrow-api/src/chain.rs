//! The chain seam. [`Chain`] is what the escrow needs from a node: `eth_call` to the core
//! contract, the head block, the logs of the deployment's contracts (the core and the insurance
//! contract) in a block range, and sending the ESCROW account's own transactions. [`RpcChain`] implements it over plain JSON-RPC (HTTP or HTTPS, reqwest with
//! rustls and the system's roots) and signs transactions
//! with the escrow key (alloy-consensus legacy EIP-155 transactions, alloy-signer-local).
//! [`Ledger`] puts the core's typed views and the escrow's two transactions on top, using the
//! `sol!` bindings of `medledger-protocol`, and tells the two contracts' events apart by the
//! address that logged them ([`ContractEvent`]).
//!
//! There is no cache here: every question is asked of the node when it is needed, so a revocation
//! or an erasure takes effect at the next block. (`crate::consent` answers `canRead` from memory,
//! only when it has confirmed it holds the node's head.) Any failure is an error the caller must
//! treat as "no" (fail closed).

use medledger_protocol::api::licensing::LicenceStatus;
use medledger_protocol::api::AccountStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxLegacy};
use alloy_primitives::{hex, Address, Bytes, TxKind, B256, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolEventInterface};
use futures_util::future::BoxFuture;
use medledger_protocol::contract::{
    decode_any_revert, decode_revert, MedLedger, MedLedger::RootedRecord, MedLedgerErrors,
    MedLedgerEvents, MedLedgerInsuranceEvents, MedLedgerLicensing, MedLedgerLicensingEvents,
    MedLedgerRecovery,
};
use medledger_protocol::deployment::Deployment;
use serde_json::{json, Value};

/// An erasure view's `answer`, or `false` when the contract refused it with the error `unknown`
/// picks out (no such record, no such root): what the chain does not know is not erased.
fn unknown_is_not_erased(
    answer: Result<bool, ChainError>,
    unknown: fn(&MedLedgerErrors) -> bool,
) -> Result<bool, ChainError> {
    match answer {
        Err(ChainError::Rpc {
            revert: Some(data), ..
        }) if hex::decode(&data)
            .ok()
            .as_deref()
            .and_then(decode_revert)
            .as_ref()
            .is_some_and(unknown) =>
        {
            Ok(false)
        }
        other => other,
    }
}

#[cfg(test)]
pub mod scripted;

/// Why a chain question got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached or answered garbage.
    #[error("chain unreachable: {0}")]
    Transport(String),
    /// The node answered with a JSON-RPC error.
    #[error("chain RPC error {code}: {message}")]
    Rpc {
        /// JSON-RPC error code.
        code: i64,
        /// Message.
        message: String,
        /// Revert data, when the error is a revert.
        revert: Option<String>,
    },
    /// A result could not be decoded with the bindings.
    #[error("chain result does not decode: {0}")]
    Decode(String),
    /// A transaction was mined but reverted.
    #[error("transaction {0} reverted")]
    Reverted(B256),
    /// A transaction was not mined in time.
    #[error("transaction {0} not mined within the timeout")]
    Timeout(B256),
    /// This escrow has no key to send transactions with.
    #[error("no escrow key configured: cannot send transactions")]
    NoSigner,
    /// The node took (or may have taken) the transaction, but its receipt could not be read.
    #[error("transaction {0} was sent but its receipt could not be read: {1}")]
    Unconfirmed(B256, String),
    /// The transaction would need more gas than its sender allows: not sent.
    #[error("the transaction needs {estimate} gas, over the bound of {cap}: not sent")]
    OverGasCap {
        /// The node's estimate.
        estimate: u64,
        /// The bound.
        cap: u64,
    },
}

impl ChainError {
    /// The transaction this error is about when it was sent (or may have been): mined and
    /// reverted, not mined in time, or with its receipt unread. `None`: nothing was sent.
    pub fn sent(&self) -> Option<B256> {
        match self {
            ChainError::Reverted(h) | ChainError::Timeout(h) | ChainError::Unconfirmed(h, _) => {
                Some(*h)
            }
            _ => None,
        }
    }
}

/// One contract log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLog {
    /// The contract that logged it.
    pub address: Address,
    /// Block number.
    pub block: u64,
    /// Position in the block.
    pub log_index: u64,
    /// Transaction.
    pub tx_hash: B256,
    /// Topics.
    pub topics: Vec<B256>,
    /// Data.
    pub data: Vec<u8>,
}

/// A block's identity, as the follower remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Number.
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// The parent block's hash.
    pub parent_hash: B256,
    /// Timestamp (Unix seconds).
    pub timestamp: u64,
}

/// What the escrow needs from a node.
pub trait Chain: Send + Sync {
    /// The node's chain id.
    fn chain_id(&self) -> BoxFuture<'_, Result<u64, ChainError>>;
    /// The head block number.
    fn block_number(&self) -> BoxFuture<'_, Result<u64, ChainError>>;
    /// `eth_call` of the contract at the latest block.
    fn call(&self, data: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, ChainError>>;
    /// `eth_call` of another of the deployment's contracts (the licensing contract) at the latest
    /// block.
    fn call_at(&self, to: Address, data: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, ChainError>>;
    /// The logs of the deployment's contracts in `from..=to`.
    fn logs(&self, from: u64, to: u64) -> BoxFuture<'_, Result<Vec<ChainLog>, ChainError>>;
    /// The logs of the deployment's contracts in the block with this hash (EIP-234: an error when
    /// the node does not have that block).
    fn block_logs(&self, hash: B256) -> BoxFuture<'_, Result<Vec<ChainLog>, ChainError>>;
    /// Sends a transaction to the contract from the escrow account and waits for a successful
    /// receipt.
    fn send(&self, data: Vec<u8>) -> BoxFuture<'_, Result<B256, ChainError>>;
    /// Sends a transaction to another of the deployment's contracts (the forwarder, relaying an
    /// account's request) from the escrow account and waits for a successful receipt; refused
    /// unsent ([`ChainError::OverGasCap`]) when the node estimates it above `gas_cap`.
    fn send_to(
        &self,
        to: Address,
        data: Vec<u8>,
        gas_cap: u64,
    ) -> BoxFuture<'_, Result<B256, ChainError>>;
    /// `eth_call` as `from` with `gas` at the latest block: what a call would do when `from` sent
    /// it (the relayer asks how the core would answer a forwarded call, with the gas the request
    /// forwards, before paying for it).
    fn call_as(
        &self,
        from: Address,
        to: Address,
        data: Vec<u8>,
        gas: u64,
    ) -> BoxFuture<'_, Result<Vec<u8>, ChainError>>;
    /// The escrow account, when a key is configured.
    fn escrow_address(&self) -> Option<Address>;
    /// `account`'s ether at the latest block, in wei (the relayer's balance, for the console).
    fn balance(&self, account: Address) -> BoxFuture<'_, Result<U256, ChainError>>;
    /// The latest block.
    fn head(&self) -> BoxFuture<'_, Result<BlockInfo, ChainError>>;
    /// Block `number` of the node's current chain (`None` when the chain is shorter).
    fn block(&self, number: u64) -> BoxFuture<'_, Result<Option<BlockInfo>, ChainError>>;
}

/// JSON-RPC over HTTP.
pub struct RpcChain {
    http: reqwest::Client,
    url: String,
    contract: Address,
    /// Whose logs [`Chain::logs`] returns: the core and, once set, the insurance and licensing
    /// contracts.
    watched: Vec<Address>,
    chain_id: u64,
    signer: Option<PrivateKeySigner>,
    /// Serialises the escrow's transactions; holds the next nonce this process will use (a node
    /// may report a stale pending count right after a receipt, so the larger of the two is used).
    send_lock: tokio::sync::Mutex<Option<u64>>,
    receipt_timeout: Duration,
}

impl core::fmt::Debug for RpcChain {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RpcChain")
            .field("url", &self.url)
            .field("contract", &self.contract)
            .field("escrow", &self.signer.as_ref().map(|s| s.address()))
            .finish()
    }
}

fn parse_u64(v: &Value) -> Result<u64, ChainError> {
    let s = v
        .as_str()
        .ok_or_else(|| ChainError::Decode(format!("expected a quantity, got {v}")))?;
    u64::from_str_radix(s.trim_start_matches("0x"), 16)
        .map_err(|e| ChainError::Decode(format!("quantity {s}: {e}")))
}

fn parse_bytes(v: &Value) -> Result<Vec<u8>, ChainError> {
    let s = v
        .as_str()
        .ok_or_else(|| ChainError::Decode(format!("expected hex data, got {v}")))?;
    hex::decode(s).map_err(|e| ChainError::Decode(format!("hex: {e}")))
}

fn parse_address(v: &Value) -> Result<Address, ChainError> {
    let s = v
        .as_str()
        .ok_or_else(|| ChainError::Decode(format!("expected an address, got {v}")))?;
    s.parse()
        .map_err(|e| ChainError::Decode(format!("address {s}: {e}")))
}

/// An `eth_getLogs` result, in block and log order, without logs the node marks removed. With
/// `of_block` (a request by block hash, EIP-234), every log must be of that very block: Ganache
/// 7.9 answers the hash of a block a reorganisation dropped with the logs of the block now at its
/// number (seen 2026-12-03), where the standard answer is an error; such an answer is refused
/// rather than applied as the dropped block's.
fn parse_logs(result: &Value, of_block: Option<B256>) -> Result<Vec<ChainLog>, ChainError> {
    let logs = result
        .as_array()
        .ok_or_else(|| ChainError::Decode("eth_getLogs result is not a list".into()))?;
    let mut out = Vec::with_capacity(logs.len());
    for l in logs {
        if l.get("removed").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(wanted) = of_block {
            let block_hash = parse_b256(&l["blockHash"])?;
            if block_hash != wanted {
                return Err(ChainError::Decode(format!(
                    "asked for the logs of block {wanted}, the node answered with a log of block {block_hash}"
                )));
            }
        }
        out.push(ChainLog {
            address: parse_address(&l["address"])?,
            block: parse_u64(&l["blockNumber"])?,
            log_index: parse_u64(&l["logIndex"])?,
            tx_hash: parse_b256(&l["transactionHash"])?,
            topics: l["topics"]
                .as_array()
                .ok_or_else(|| ChainError::Decode("log topics".into()))?
                .iter()
                .map(parse_b256)
                .collect::<Result<_, _>>()?,
            data: parse_bytes(&l["data"])?,
        });
    }
    out.sort_by_key(|l| (l.block, l.log_index));
    Ok(out)
}

fn parse_b256(v: &Value) -> Result<B256, ChainError> {
    let s = v
        .as_str()
        .ok_or_else(|| ChainError::Decode(format!("expected a 32-byte hash, got {v}")))?;
    s.parse()
        .map_err(|e| ChainError::Decode(format!("hash {s}: {e}")))
}

impl RpcChain {
    /// A client for `url`, the contract at `contract` on chain `chain_id`, sending with `signer`.
    pub fn new(
        url: &str,
        contract: Address,
        chain_id: u64,
        signer: Option<PrivateKeySigner>,
    ) -> Result<RpcChain, ChainError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| ChainError::Transport(e.to_string()))?;
        Ok(RpcChain {
            http,
            url: url.to_string(),
            contract,
            watched: vec![contract],
            chain_id,
            signer,
            send_lock: tokio::sync::Mutex::new(None),
            receipt_timeout: Duration::from_secs(120),
        })
    }

    /// A client for a deployment: calls go to its core, logs are read from its three contracts.
    pub fn for_deployment(
        url: &str,
        deployment: &Deployment,
        signer: Option<PrivateKeySigner>,
    ) -> Result<RpcChain, ChainError> {
        let mut chain = RpcChain::new(url, deployment.address, deployment.chain_id, signer)?;
        chain.watched.push(deployment.insurance.address);
        chain.watched.push(deployment.licensing.address);
        Ok(chain)
    }

    async fn rpc(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let response: Value = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| ChainError::Transport(format!("{method}: {e}")))?
            .json()
            .await
            .map_err(|e| ChainError::Transport(format!("{method}: {e}")))?;
        if let Some(err) = response.get("error") {
            let revert = err
                .get("data")
                .and_then(|d| {
                    d.as_str()
                        .or_else(|| d.get("result").and_then(Value::as_str))
                })
                .map(str::to_owned);
            return Err(ChainError::Rpc {
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                revert,
            });
        }
        Ok(response.get("result").cloned().unwrap_or(Value::Null))
    }

    /// `eth_getLogs(filter)`, in block and log order, without logs the node marks removed; see
    /// [`parse_logs`] for `of_block`.
    async fn logs_matching(
        &self,
        filter: Value,
        of_block: Option<B256>,
    ) -> Result<Vec<ChainLog>, ChainError> {
        let result = self.rpc("eth_getLogs", json!([filter])).await?;
        parse_logs(&result, of_block)
    }

    /// `eth_getBlockByNumber(tag)` without transactions; `None` when there is no such block.
    async fn block_at(&self, tag: Value) -> Result<Option<BlockInfo>, ChainError> {
        let block = self
            .rpc("eth_getBlockByNumber", json!([tag, false]))
            .await?;
        if block.is_null() {
            return Ok(None);
        }
        Ok(Some(BlockInfo {
            number: parse_u64(&block["number"])?,
            hash: parse_b256(&block["hash"])?,
            parent_hash: parse_b256(&block["parentHash"])?,
            timestamp: parse_u64(&block["timestamp"])?,
        }))
    }

    /// Sends `data` to `to` from the escrow account and waits for its receipt. Every error before
    /// the node took the transaction means nothing was sent; from then on each error names the
    /// transaction ([`ChainError::sent`]).
    async fn send_inner(
        &self,
        to: Address,
        data: Vec<u8>,
        gas_cap: Option<u64>,
    ) -> Result<B256, ChainError> {
        let signer = self.signer.as_ref().ok_or(ChainError::NoSigner)?;
        let from = signer.address();
        let _guard = self.send_lock.lock().await;
        let nonce = parse_u64(
            &self
                .rpc(
                    "eth_getTransactionCount",
                    json!([from.to_string(), "pending"]),
                )
                .await?,
        )?;
        let gas_price = parse_u64(&self.rpc("eth_gasPrice", json!([])).await?)?;
        let input = Bytes::from(data);
        let estimate = parse_u64(
            &self
                .rpc(
                    "eth_estimateGas",
                    json!([{"from": from.to_string(), "to": to.to_string(), "data": input.to_string()}]),
                )
                .await?,
        )?;
        if let Some(cap) = gas_cap.filter(|cap| estimate > *cap) {
            return Err(ChainError::OverGasCap { estimate, cap });
        }
        let tx = TxLegacy {
            chain_id: Some(self.chain_id),
            nonce,
            gas_price: u128::from(gas_price),
            gas_limit: estimate.saturating_mul(12) / 10 + 10_000,
            to: TxKind::Call(to),
            value: U256::ZERO,
            input,
        };
        let signature = signer
            .sign_hash_sync(&tx.signature_hash())
            .map_err(|e| ChainError::Transport(format!("signing: {e}")))?;
        let signed = tx.into_signed(signature);
        let hash = *signed.hash();
        let mut raw = Vec::with_capacity(signed.rlp_encoded_length());
        signed.rlp_encode(&mut raw);
        match self
            .rpc(
                "eth_sendRawTransaction",
                json!([Bytes::from(raw).to_string()]),
            )
            .await
        {
            // The node refused it: not sent.
            Err(e @ ChainError::Rpc { .. }) => return Err(e),
            // No answer: the node may have taken it.
            Err(e) => return Err(ChainError::Unconfirmed(hash, e.to_string())),
            Ok(_) => {}
        }
        self.receipt_of(hash).await
    }

    /// Waits for `hash`'s receipt: its hash when it succeeded.
    async fn receipt_of(&self, hash: B256) -> Result<B256, ChainError> {
        let deadline = Instant::now() + self.receipt_timeout;
        loop {
            let receipt = self
                .rpc("eth_getTransactionReceipt", json!([hash.to_string()]))
                .await
                .map_err(|e| ChainError::Unconfirmed(hash, e.to_string()))?;
            if !receipt.is_null() {
                return if receipt.get("status").and_then(Value::as_str) == Some("0x1") {
                    Ok(hash)
                } else {
                    Err(ChainError::Reverted(hash))
                };
            }
            if Instant::now() > deadline {
                return Err(ChainError::Timeout(hash));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Chain for RpcChain {
    fn chain_id(&self) -> BoxFuture<'_, Result<u64, ChainError>> {
        Box::pin(async move { parse_u64(&self.rpc("eth_chainId", json!([])).await?) })
    }

    fn block_number(&self) -> BoxFuture<'_, Result<u64, ChainError>> {
        Box::pin(async move { parse_u64(&self.rpc("eth_blockNumber", json!([])).await?) })
    }

    fn call(&self, data: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, ChainError>> {
        self.call_at(self.contract, data)
    }

    fn call_at(&self, to: Address, data: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, ChainError>> {
        Box::pin(async move {
            parse_bytes(
                &self
                    .rpc(
                        "eth_call",
                        json!([{"to": to.to_string(), "data": Bytes::from(data).to_string()}, "latest"]),
                    )
                    .await?,
            )
        })
    }

    fn logs(&self, from: u64, to: u64) -> BoxFuture<'_, Result<Vec<ChainLog>, ChainError>> {
        let range = json!({"address": self.watched, "fromBlock": format!("0x{from:x}"), "toBlock": format!("0x{to:x}")});
        Box::pin(self.logs_matching(range, None))
    }

    fn block_logs(&self, hash: B256) -> BoxFuture<'_, Result<Vec<ChainLog>, ChainError>> {
        let filter = json!({"address": self.watched, "blockHash": hash.to_string()});
        Box::pin(self.logs_matching(filter, Some(hash)))
    }

    fn send(&self, data: Vec<u8>) -> BoxFuture<'_, Result<B256, ChainError>> {
        Box::pin(self.send_inner(self.contract, data, None))
    }

    fn send_to(
        &self,
        to: Address,
        data: Vec<u8>,
        gas_cap: u64,
    ) -> BoxFuture<'_, Result<B256, ChainError>> {
        Box::pin(self.send_inner(to, data, Some(gas_cap)))
    }

    fn balance(&self, account: Address) -> BoxFuture<'_, Result<U256, ChainError>> {
        Box::pin(async move {
            let raw = self
                .rpc("eth_getBalance", json!([account.to_string(), "latest"]))
                .await?;
            raw.as_str()
                .and_then(|s| U256::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                .ok_or_else(|| ChainError::Decode(format!("eth_getBalance answered {raw}")))
        })
    }

    fn call_as(
        &self,
        from: Address,
        to: Address,
        data: Vec<u8>,
        gas: u64,
    ) -> BoxFuture<'_, Result<Vec<u8>, ChainError>> {
        Box::pin(async move {
            let call = json!({"from": from.to_string(), "to": to.to_string(), "data": Bytes::from(data).to_string(), "gas": format!("0x{gas:x}")});
            parse_bytes(&self.rpc("eth_call", json!([call, "latest"])).await?)
        })
    }

    fn escrow_address(&self) -> Option<Address> {
        self.signer.as_ref().map(|s| s.address())
    }

    fn head(&self) -> BoxFuture<'_, Result<BlockInfo, ChainError>> {
        Box::pin(async move {
            self.block_at(json!("latest"))
                .await?
                .ok_or_else(|| ChainError::Decode("the node has no latest block".into()))
        })
    }

    fn block(&self, number: u64) -> BoxFuture<'_, Result<Option<BlockInfo>, ChainError>> {
        Box::pin(self.block_at(json!(format!("0x{number:x}"))))
    }
}

/// A record's anchor as the contract holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordAnchor {
    /// Owner (zero when unknown).
    pub patient: Address,
    /// Who added it.
    pub author: Address,
    /// h1.
    pub h1: B256,
    /// Category number.
    pub category: u8,
}

/// How many records one `canReadMany` call asks about: a canRead reads a handful of cold storage
/// slots (under 20k gas), so 256 stay far under the 50M gas cap nodes such as geth put on
/// `eth_call`.
pub const CAN_READ_BATCH: usize = 256;

/// The contract's typed views and the escrow's transactions over a [`Chain`].
#[derive(Clone)]
pub struct Ledger {
    chain: Arc<dyn Chain>,
}

impl core::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Ledger")
    }
}

fn decode_err(e: alloy_sol_types::Error) -> ChainError {
    ChainError::Decode(e.to_string())
}

/// A wallet's recovery request as the recovery contract holds it (`recoveryOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryRequest {
    /// Its number (a later request by the same wallet has a new one).
    pub request_id: u64,
    /// Whether it is still open (of the identity's current recovery epoch, not completed).
    pub open: bool,
}

impl Ledger {
    /// Over a chain.
    pub fn new(chain: Arc<dyn Chain>) -> Ledger {
        Ledger { chain }
    }

    /// The underlying chain.
    pub fn chain(&self) -> &Arc<dyn Chain> {
        &self.chain
    }

    async fn view<C: SolCall>(&self, call: C) -> Result<C::Return, ChainError> {
        let raw = self.chain.call(call.abi_encode()).await?;
        C::abi_decode_returns(&raw).map_err(decode_err)
    }

    /// `canRead(patient, reader, recordId)`.
    pub async fn can_read(
        &self,
        patient: Address,
        reader: Address,
        record_id: B256,
    ) -> Result<bool, ChainError> {
        self.view(MedLedger::canReadCall {
            patient,
            reader,
            recordId: record_id,
        })
        .await
    }

    /// `canReadMany(patient, reader, ids)`: [`Ledger::can_read`] for each id, index for index,
    /// asked [`CAN_READ_BATCH`] ids per `eth_call` (so a long listing stays under a node's gas cap
    /// for calls; each batch is answered at the block the node was at when it was asked).
    pub async fn can_read_many(
        &self,
        patient: Address,
        reader: Address,
        record_ids: &[B256],
    ) -> Result<Vec<bool>, ChainError> {
        let mut allowed = Vec::with_capacity(record_ids.len());
        for batch in record_ids.chunks(CAN_READ_BATCH) {
            let answer = self
                .view(MedLedger::canReadManyCall {
                    patient,
                    reader,
                    recordIds: batch.to_vec(),
                })
                .await?;
            if answer.len() != batch.len() {
                return Err(ChainError::Decode(format!(
                    "canReadMany answered {} of {} records",
                    answer.len(),
                    batch.len()
                )));
            }
            allowed.extend(answer);
        }
        Ok(allowed)
    }

    /// `canWrite(patient, writer, category)`.
    pub async fn can_write(
        &self,
        patient: Address,
        writer: Address,
        category: u8,
    ) -> Result<bool, ChainError> {
        self.view(MedLedger::canWriteCall {
            patient,
            writer,
            category,
        })
        .await
    }

    /// `recordOf(recordId)`.
    pub async fn record_of(&self, record_id: B256) -> Result<RecordAnchor, ChainError> {
        let r = self
            .view(MedLedger::recordOfCall {
                recordId: record_id,
            })
            .await?;
        Ok(RecordAnchor {
            patient: r.patient,
            author: r.author,
            h1: r.ciphertextHash,
            category: r.category,
        })
    }

    /// `isErased(recordId)` (a record unknown on chain is not erased).
    pub async fn is_erased(&self, record_id: B256) -> Result<bool, ChainError> {
        let answer = self
            .view(MedLedger::isErasedCall {
                recordId: record_id,
            })
            .await;
        unknown_is_not_erased(answer, |e| matches!(e, MedLedgerErrors::UnknownRecord(_)))
    }

    /// `canReadRooted(patient, reader, root, record, proof)`.
    pub async fn can_read_rooted(
        &self,
        patient: Address,
        reader: Address,
        root: B256,
        record: &RootedRecord,
        proof: &[B256],
    ) -> Result<bool, ChainError> {
        self.view(MedLedger::canReadRootedCall {
            patient,
            reader,
            root,
            record: record.clone(),
            proof: proof.to_vec(),
        })
        .await
    }

    /// `isRootedErased(root, recordId)` (under a root unknown on chain, nothing is erased).
    pub async fn is_rooted_erased(&self, root: B256, record_id: B256) -> Result<bool, ChainError> {
        let answer = self
            .view(MedLedger::isRootedErasedCall {
                root,
                recordId: record_id,
            })
            .await;
        unknown_is_not_erased(answer, |e| {
            matches!(e, MedLedgerErrors::UnknownRecordRoot(_))
        })
    }

    /// `activeGrants(patient)`: each unexpired grantee with its category mask.
    pub async fn active_grants(
        &self,
        patient: Address,
    ) -> Result<Vec<(Address, U256)>, ChainError> {
        let r = self.view(MedLedger::activeGrantsCall { patient }).await?;
        Ok(r.grantees
            .into_iter()
            .zip(r.grants.into_iter().map(|g| g.categories))
            .collect())
    }

    /// `grantOf(patient, grantee)`: the grant's category mask and expiry (zero when none; it may
    /// have expired).
    pub async fn grant_of(
        &self,
        patient: Address,
        grantee: Address,
    ) -> Result<(U256, u64), ChainError> {
        let g = self
            .view(MedLedger::grantOfCall { patient, grantee })
            .await?;
        Ok((g.categories, g.expiry))
    }

    /// `emergencyAccessUntil(patient, practitioner)` (0 or past: no open window).
    pub async fn emergency_until(
        &self,
        patient: Address,
        practitioner: Address,
    ) -> Result<u64, ChainError> {
        self.view(MedLedger::emergencyAccessUntilCall {
            patient,
            practitioner,
        })
        .await
    }

    /// The identity `wallet` acts for (`identityOf`): itself, the identity a recovery moved to
    /// it, or zero for a wallet a recovery retired.
    pub async fn identity_of(&self, wallet: Address) -> Result<Address, ChainError> {
        self.view(MedLedger::identityOfCall { wallet }).await
    }

    /// `guardiansOf(identity)` on the recovery contract at `recovery`: the guardians and the
    /// threshold (an empty list and 0 when none are named).
    pub async fn guardians_of(
        &self,
        recovery: Address,
        identity: Address,
    ) -> Result<(Vec<Address>, u8), ChainError> {
        let call = MedLedgerRecovery::guardiansOfCall { identity };
        let raw = self.chain.call_at(recovery, call.abi_encode()).await?;
        let r = MedLedgerRecovery::guardiansOfCall::abi_decode_returns(&raw).map_err(decode_err)?;
        Ok((r.guardians, r.threshold))
    }

    /// `recoveryOf(identity, newWallet)` on the recovery contract at `recovery`: the request's
    /// number and whether it is still open.
    pub async fn recovery_of(
        &self,
        recovery: Address,
        identity: Address,
        new_wallet: Address,
    ) -> Result<RecoveryRequest, ChainError> {
        let call = MedLedgerRecovery::recoveryOfCall {
            identity,
            newWallet: new_wallet,
        };
        let raw = self.chain.call_at(recovery, call.abi_encode()).await?;
        let r = MedLedgerRecovery::recoveryOfCall::abi_decode_returns(&raw).map_err(decode_err)?;
        Ok(RecoveryRequest {
            request_id: r.requestId,
            open: r.open,
        })
    }

    /// The X25519 public key `account` registered on chain (zero when unregistered).
    pub async fn encryption_key_of(&self, account: Address) -> Result<B256, ChainError> {
        Ok(self
            .view(MedLedger::accountOfCall { account })
            .await?
            .encryptionKey)
    }

    /// Whether `account` (a patient) has opted in to emergency access on chain.
    pub async fn emergency_opt_in(&self, account: Address) -> Result<bool, ChainError> {
        Ok(self
            .view(MedLedger::accountOfCall { account })
            .await?
            .emergencyOptIn)
    }

    /// `accountOf(account).status`, typed: `None` for no account (0) and for a number this code
    /// does not know.
    pub async fn account_status_of(
        &self,
        account: Address,
    ) -> Result<Option<AccountStatus>, ChainError> {
        let status = self
            .view(MedLedger::accountOfCall { account })
            .await?
            .status;
        Ok(AccountStatus::from_chain_number(status))
    }

    /// The profile hash `account` registered on chain (zero when none).
    pub async fn profile_hash_of(&self, account: Address) -> Result<B256, ChainError> {
        Ok(self
            .view(MedLedger::accountOfCall { account })
            .await?
            .profileHash)
    }

    /// The latest block's timestamp (the contract's `block.timestamp` for views).
    pub async fn head_timestamp(&self) -> Result<u64, ChainError> {
        Ok(self.chain.head().await?.timestamp)
    }

    /// A view of the licensing contract at `licensing` (the deployment's, which the migration
    /// checked is the one the core names).
    async fn licensing_view<C: SolCall>(
        &self,
        licensing: Address,
        call: C,
    ) -> Result<C::Return, ChainError> {
        let raw = self.chain.call_at(licensing, call.abi_encode()).await?;
        C::abi_decode_returns(&raw).map_err(decode_err)
    }

    /// The organisation `account` administers (`adminOrganisation`; 0 for none).
    pub async fn admin_organisation(
        &self,
        licensing: Address,
        account: Address,
    ) -> Result<u32, ChainError> {
        let call = MedLedgerLicensing::adminOrganisationCall { account };
        self.licensing_view(licensing, call).await
    }

    /// How many organisations exist (`organisationCount`; their ids are 1..=n).
    pub async fn organisation_count(&self, licensing: Address) -> Result<u32, ChainError> {
        let call = MedLedgerLicensing::organisationCountCall {};
        self.licensing_view(licensing, call).await
    }

    /// An organisation's fee and seats (`organisationOf` of the licensing contract).
    pub async fn organisation_of(
        &self,
        licensing: Address,
        organisation: u32,
    ) -> Result<medledger_protocol::contract::Organisation, ChainError> {
        let call = MedLedgerLicensing::organisationOfCall { organisation };
        self.licensing_view(licensing, call).await
    }

    /// An organisation's licence terms (`licenceTermsOf`) and status number (`licenceStatus`).
    pub async fn licence_of(
        &self,
        organisation: u32,
    ) -> Result<(MedLedger::LicenceTerms, u8), ChainError> {
        let terms = self
            .view(MedLedger::licenceTermsOfCall { organisation })
            .await?;
        let status = self
            .view(MedLedger::licenceStatusCall { organisation })
            .await?;
        Ok((terms, status))
    }

    /// When `account` is a practitioner of an organisation whose licence no longer lets its
    /// practitioners read or write (lapsed or terminated), that status; `None` otherwise (no
    /// organisation, or a licence in force). Asked only to say why consent was refused.
    pub async fn inactive_licence_of(
        &self,
        account: Address,
    ) -> Result<Option<LicenceStatus>, ChainError> {
        let organisation = self
            .view(MedLedger::practitionerOrganisationCall {
                practitioner: account,
            })
            .await?;
        if organisation == 0 {
            return Ok(None);
        }
        let status = self
            .view(MedLedger::licenceStatusCall { organisation })
            .await?;
        Ok(LicenceStatus::from_chain_number(status)
            .filter(|s| matches!(s, LicenceStatus::Lapsed | LicenceStatus::Terminated)))
    }

    /// Whether `account` holds the contract's ADMIN role.
    pub async fn is_admin(&self, account: Address) -> Result<bool, ChainError> {
        let role = self.view(MedLedger::ADMIN_ROLECall {}).await?;
        self.view(MedLedger::hasRoleCall { role, account }).await
    }

    /// `nextLogSeq()`.
    pub async fn next_log_seq(&self) -> Result<u64, ChainError> {
        self.view(MedLedger::nextLogSeqCall {}).await
    }

    /// `anchorCount()`.
    pub async fn anchor_count(&self) -> Result<u64, ChainError> {
        let n = self.view(MedLedger::anchorCountCall {}).await?;
        u64::try_from(n).map_err(|_| ChainError::Decode("anchor count".into()))
    }

    /// `anchorAt(i)`: (root, firstSeq, lastSeq).
    pub async fn anchor_at(&self, index: u64) -> Result<(B256, u64, u64), ChainError> {
        let a = self
            .view(MedLedger::anchorAtCall {
                anchorIndex: U256::from(index),
            })
            .await?;
        Ok((a.root, a.firstSeq, a.lastSeq))
    }

    /// `logLeaf(seq, entryHash)` as the contract computes it (for checks).
    pub async fn log_leaf(&self, seq: u64, entry_hash: B256) -> Result<B256, ChainError> {
        self.view(MedLedger::logLeafCall {
            seq,
            entryHash: entry_hash,
        })
        .await
    }

    /// `verifyLogEntry(anchorIndex, seq, entryHash, proof)`.
    pub async fn verify_log_entry(
        &self,
        anchor_index: u64,
        seq: u64,
        entry_hash: B256,
        proof: Vec<B256>,
    ) -> Result<bool, ChainError> {
        self.view(MedLedger::verifyLogEntryCall {
            anchorIndex: U256::from(anchor_index),
            seq,
            entryHash: entry_hash,
            proof,
        })
        .await
    }

    /// The ESCROW account's `confirmShredded`.
    pub async fn confirm_shredded(
        &self,
        record_id: B256,
        receipt_hash: B256,
    ) -> Result<B256, ChainError> {
        self.chain
            .send(
                MedLedger::confirmShreddedCall {
                    recordId: record_id,
                    receiptHash: receipt_hash,
                }
                .abi_encode(),
            )
            .await
    }

    /// The ESCROW account's `confirmRootedShredded`.
    pub async fn confirm_rooted_shredded(
        &self,
        root: B256,
        record_id: B256,
        receipt_hash: B256,
    ) -> Result<B256, ChainError> {
        self.chain
            .send(
                MedLedger::confirmRootedShreddedCall {
                    root,
                    recordId: record_id,
                    receiptHash: receipt_hash,
                }
                .abi_encode(),
            )
            .await
    }

    /// The ESCROW account's `confirmRootShredded`: every record of a root `eraseAll` erased.
    pub async fn confirm_root_shredded(
        &self,
        root: B256,
        receipt_hash: B256,
    ) -> Result<B256, ChainError> {
        self.chain
            .send(
                MedLedger::confirmRootShreddedCall {
                    root,
                    receiptHash: receipt_hash,
                }
                .abi_encode(),
            )
            .await
    }

    /// `recordRootOf(root)` (all zero for a root never anchored).
    pub async fn record_root_of(&self, root: B256) -> Result<MedLedger::RecordRoot, ChainError> {
        self.view(MedLedger::recordRootOfCall { root }).await
    }

    /// `erasureEpochOf(patient)`: how many times the patient called `eraseAll`.
    pub async fn erasure_epoch_of(&self, patient: Address) -> Result<u64, ChainError> {
        self.view(MedLedger::erasureEpochOfCall { patient }).await
    }

    /// The ESCROW account's `anchorAccessLog`.
    pub async fn anchor_access_log(
        &self,
        root: B256,
        first_seq: u64,
        last_seq: u64,
    ) -> Result<B256, ChainError> {
        self.chain
            .send(
                MedLedger::anchorAccessLogCall {
                    root,
                    firstSeq: first_seq,
                    lastSeq: last_seq,
                }
                .abi_encode(),
            )
            .await
    }

    /// Decodes a log into the event of the deployment's contract that logged it (`None` for logs
    /// of other shapes or of other addresses): an insurance event is believed only from the
    /// insurance contract, a core event only from the core.
    pub fn decode(log: &ChainLog, deployment: &Deployment) -> Option<ContractEvent> {
        if log.address == deployment.address {
            MedLedgerEvents::decode_raw_log(&log.topics, &log.data)
                .ok()
                .map(ContractEvent::Core)
        } else if log.address == deployment.insurance.address {
            MedLedgerInsuranceEvents::decode_raw_log(&log.topics, &log.data)
                .ok()
                .map(ContractEvent::Insurance)
        } else if log.address == deployment.licensing.address {
            MedLedgerLicensingEvents::decode_raw_log(&log.topics, &log.data)
                .ok()
                .map(ContractEvent::Licensing)
        } else {
            None
        }
    }
}

/// An event of one of the deployment's contracts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractEvent {
    /// Logged by the core.
    Core(MedLedgerEvents),
    /// Logged by the insurance contract.
    Insurance(MedLedgerInsuranceEvents),
    /// Logged by the licensing contract.
    Licensing(MedLedgerLicensingEvents),
}

impl From<MedLedgerEvents> for ContractEvent {
    fn from(e: MedLedgerEvents) -> Self {
        ContractEvent::Core(e)
    }
}

impl From<MedLedgerInsuranceEvents> for ContractEvent {
    fn from(e: MedLedgerInsuranceEvents) -> Self {
        ContractEvent::Insurance(e)
    }
}

/// Renders revert data as the contract's named error, for messages.
pub fn describe_revert(err: &ChainError) -> String {
    match err {
        ChainError::Rpc {
            revert: Some(data), ..
        } => match hex::decode(data)
            .ok()
            .as_deref()
            .and_then(decode_any_revert)
        {
            Some(e) => format!("{err} ({})", e.name()),
            None => err.to_string(),
        },
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::SolEvent;

    /// A log as `eth_getLogs` returns it, of block `hash` (number 7).
    fn rpc_log(hash: B256, log_index: u64) -> Value {
        json!({
            "address": Address::repeat_byte(0xc0).to_string(),
            "blockNumber": "0x7",
            "blockHash": hash.to_string(),
            "logIndex": format!("0x{log_index:x}"),
            "transactionHash": B256::repeat_byte(0x77).to_string(),
            "topics": [B256::repeat_byte(0x01).to_string()],
            "data": "0x",
            "removed": false,
        })
    }

    #[test]
    fn logs_asked_by_block_hash_must_be_of_that_block() {
        let (asked, other) = (B256::repeat_byte(0xaa), B256::repeat_byte(0xbb));
        let ours = json!([rpc_log(asked, 1), rpc_log(asked, 0)]);
        let logs = parse_logs(&ours, Some(asked)).expect("the asked block's logs");
        assert_eq!(logs.iter().map(|l| l.log_index).collect::<Vec<_>>(), [0, 1]);
        // What Ganache answers for a block a reorganisation dropped: the logs now at its number.
        let another = json!([rpc_log(asked, 0), rpc_log(other, 1)]);
        let err = parse_logs(&another, Some(asked)).expect_err("another block's log");
        assert!(
            err.to_string().contains("answered with a log of block"),
            "{err}"
        );
        // A range request names no block: logs of any block are its answer.
        assert_eq!(parse_logs(&another, None).expect("a range's logs").len(), 2);
        // A log without a block hash cannot be shown to be the asked block's.
        let mut bare = rpc_log(asked, 0);
        bare.as_object_mut().expect("object").remove("blockHash");
        assert!(parse_logs(&json!([bare]), Some(asked)).is_err());
        assert!(parse_logs(&json!({"not": "a list"}), None).is_err());
    }
    use medledger_protocol::contract::{abi_hash, insurance_abi_hash, MedLedgerInsurance};
    use medledger_protocol::deployment::ContractDeployment;

    const CORE: Address = Address::repeat_byte(0xc0);
    const INSURANCE: Address = Address::repeat_byte(0x15);

    fn deployment() -> Deployment {
        Deployment {
            network: "unit".into(),
            chain_id: 1337,
            address: CORE,
            deploy_block: 1,
            deploy_tx: B256::ZERO,
            abi_hash: abi_hash(),
            admin: Address::ZERO,
            escrow: Address::ZERO,
            insurance: ContractDeployment {
                address: INSURANCE,
                deploy_block: 2,
                deploy_tx: B256::ZERO,
                abi_hash: insurance_abi_hash(),
            },
            licensing: ContractDeployment {
                address: Address::repeat_byte(0x1c),
                deploy_block: 3,
                deploy_tx: B256::ZERO,
                abi_hash: medledger_protocol::contract::licensing_abi_hash(),
            },
            forwarder: ContractDeployment {
                address: Address::repeat_byte(0xf0),
                deploy_block: 1,
                deploy_tx: B256::ZERO,
                abi_hash: medledger_protocol::contract::forwarder_abi_hash(),
            },
            recovery: ContractDeployment {
                address: Address::repeat_byte(0x4e),
                deploy_block: 1,
                deploy_tx: B256::ZERO,
                abi_hash: medledger_protocol::contract::recovery_abi_hash(),
            },
        }
    }

    fn log_of(address: Address, event: &impl SolEvent) -> ChainLog {
        let data = event.encode_log_data();
        ChainLog {
            address,
            block: 3,
            log_index: 0,
            tx_hash: B256::ZERO,
            topics: data.topics().to_vec(),
            data: data.data.to_vec(),
        }
    }

    #[test]
    fn each_contracts_events_are_believed_only_from_its_own_address() {
        let d = deployment();
        let revoked = MedLedger::ConsentRevoked {
            patient: Address::repeat_byte(1),
            grantee: Address::repeat_byte(2),
        };
        let funded = MedLedgerInsurance::PolicyFunded {
            insurer: Address::repeat_byte(3),
            amount: U256::from(5u8),
            funds: U256::from(7u8),
        };
        assert_eq!(
            Ledger::decode(&log_of(CORE, &revoked), &d),
            Some(ContractEvent::Core(MedLedgerEvents::ConsentRevoked(
                revoked.clone()
            )))
        );
        assert_eq!(
            Ledger::decode(&log_of(INSURANCE, &funded), &d),
            Some(ContractEvent::Insurance(
                MedLedgerInsuranceEvents::PolicyFunded(funded.clone())
            ))
        );
        // The same bytes from the other contract, or from any other address, are not ours.
        assert_eq!(Ledger::decode(&log_of(INSURANCE, &revoked), &d), None);
        assert_eq!(Ledger::decode(&log_of(CORE, &funded), &d), None);
        let stranger = Address::repeat_byte(0x99);
        assert_eq!(Ledger::decode(&log_of(stranger, &revoked), &d), None);
        assert_eq!(Ledger::decode(&log_of(stranger, &funded), &d), None);
    }
}
