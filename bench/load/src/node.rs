//! The chain side of the load: Ganache accounts for the run's people (their keys imported and
//! unlocked, each funded) and their transactions, sent and awaited without blocking a thread
//! (the test support's are blocking, one thread per call: too many for a thousand senders).
//! Each person is the only sender of their account, so Ganache's interval mining never sees
//! two transactions race for one nonce.
//!
//! Senders learn that their transaction is mined as a wallet does, from the blocks: one task
//! follows the head and announces each new block's transaction hashes, and a sender asks for its
//! receipt only once its hash is in a block. (A first version had every sender poll its receipt
//! every 100 ms: with hundreds of transactions pending, those polls were most of Ganache's work
//! and held the chain minutes behind.)

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use alloy_primitives::{Address, B256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use serde_json::{json, Value};

/// How long a transaction may take to be mined before the operation counts as failed.
const MINING_PATIENCE: Duration = Duration::from_secs(120);

/// Each transaction's gas limit: above what any call here needs (`addRecord` uses about 124k),
/// as a wallet's estimate with headroom would be. (Ganache packs a block by gas limits: at the
/// 8M the test support sends with, three transactions filled a block, and the queue behind them
/// starved some for minutes.)
const GAS_LIMIT: &str = "0x7a120";

/// 1,000 ether: far more than a run spends.
const BALANCE: &str = "0x3635c9adc5dea00000";

/// A grant's expiry a day from now (Ganache's block times follow the wall clock in this run: nothing
/// moves its time).
pub fn a_day_from_now() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_secs()) + 86_400
}

/// The transaction hashes of one new block.
type MinedBlock = Arc<HashSet<B256>>;

/// A JSON-RPC node and the contract the people talk to.
pub struct Node {
    url: String,
    contract: Address,
    http: reqwest::Client,
    blocks: broadcast::Sender<MinedBlock>,
}

impl Node {
    /// The node at `url`, and the task that follows its blocks.
    pub async fn start(url: &str, contract: Address) -> Result<Arc<Node>, String> {
        let (blocks, _) = broadcast::channel(4096);
        let node = Arc::new(Node {
            url: url.to_string(),
            contract,
            http: reqwest::Client::new(),
            blocks,
        });
        let head = node.head().await?;
        tokio::spawn(node.clone().follow(head));
        Ok(node)
    }

    async fn head(&self) -> Result<u64, String> {
        let n = self.rpc("eth_blockNumber", json!([])).await?;
        serde_json::from_value::<alloy_primitives::U64>(n)
            .map(|n| n.to())
            .map_err(|e| format!("block number: {e}"))
    }

    /// Announces the transaction hashes of every block after `seen`, as they come (the head is
    /// asked every 100 ms, Ganache's block interval here).
    async fn follow(self: Arc<Node>, mut seen: u64) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            let Ok(head) = self.head().await else {
                continue;
            };
            while seen < head {
                let block = self.rpc(
                    "eth_getBlockByNumber",
                    json!([format!("0x{:x}", seen + 1), false]),
                );
                let Ok(block) = block.await else { break };
                let hashes = serde_json::from_value::<Vec<B256>>(block["transactions"].clone());
                let _ = self
                    .blocks
                    .send(Arc::new(hashes.unwrap_or_default().into_iter().collect()));
                seen += 1;
            }
        }
    }

    /// One JSON-RPC call: its result, or the node's error (or the transport's) as text.
    pub async fn rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let sent = self.http.post(&self.url).json(&body).send().await;
        let response = sent.map_err(|e| format!("{method}: {e}"))?;
        let v: Value = response
            .json()
            .await
            .map_err(|e| format!("{method}: {e}"))?;
        match v.get("error") {
            Some(e) => Err(format!("{method}: {e}")),
            None => Ok(v["result"].clone()),
        }
    }

    /// Makes `signer`'s account usable with `eth_sendTransaction` (Ganache holds the key,
    /// unlocked for the run) and gives it ether.
    pub async fn adopt(&self, signer: &PrivateKeySigner) -> Result<(), String> {
        let address = signer.address().to_string();
        let key = signer.to_bytes().to_string();
        self.rpc("personal_importRawKey", json!([key, ""])).await?;
        self.rpc("personal_unlockAccount", json!([address, "", 0]))
            .await?;
        self.rpc("evm_setAccountBalance", json!([address, BALANCE]))
            .await?;
        Ok(())
    }

    /// Sends `call` to the contract from `from`: the transaction's hash once the node took it.
    pub async fn send<C: SolCall>(&self, from: Address, call: C) -> Result<B256, String> {
        let data = alloy_primitives::hex::encode_prefixed(call.abi_encode());
        let tx = json!([{"from": from.to_string(), "to": self.contract.to_string(),
                         "data": data, "gas": GAS_LIMIT}]);
        let hash = self.rpc("eth_sendTransaction", tx).await?;
        serde_json::from_value(hash).map_err(|e| format!("transaction hash: {e}"))
    }

    /// Whether the block holding `hash` says it succeeded; the reason when it reverted.
    async fn receipt(&self, hash: B256) -> Result<bool, String> {
        let receipt = self.rpc("eth_getTransactionReceipt", json!([hash])).await?;
        match receipt["status"].as_str() {
            _ if receipt.is_null() => Ok(false),
            Some("0x1") => Ok(true),
            _ => Err(format!("transaction {hash} reverted")),
        }
    }

    /// Waits until a block announced on `blocks` holds `hash`: Ok when it succeeded, the reason
    /// when it reverted or was not mined within [`MINING_PATIENCE`].
    async fn mined_on(
        &self,
        hash: B256,
        mut blocks: broadcast::Receiver<MinedBlock>,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + MINING_PATIENCE;
        let mut in_a_block = false;
        loop {
            let next = tokio::time::timeout_at(deadline, blocks.recv()).await;
            let check = match next {
                Err(_) => {
                    return Err(format!(
                        "transaction {hash} not mined in {MINING_PATIENCE:?}"
                    ))
                }
                Ok(Ok(block)) => block.contains(&hash),
                // Fell behind the announcements: ask for the receipt itself.
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => true,
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    return Err("the block follower stopped".into())
                }
            };
            in_a_block |= check;
            if in_a_block && self.receipt(hash).await? {
                return Ok(());
            }
        }
    }

    /// Waits until `hash` (sent earlier) is mined.
    pub async fn mined(&self, hash: B256) -> Result<(), String> {
        let blocks = self.blocks.subscribe();
        // It may be mined already, before this subscription.
        if self.receipt(hash).await? {
            return Ok(());
        }
        self.mined_on(hash, blocks).await
    }

    /// Sends `call` from `from` and waits until it is mined.
    pub async fn transact<C: SolCall>(&self, from: Address, call: C) -> Result<(), String> {
        // Listening before sending: the block that holds it cannot pass unseen.
        let blocks = self.blocks.subscribe();
        let hash = self.send(from, call).await?;
        self.mined_on(hash, blocks).await
    }
}
