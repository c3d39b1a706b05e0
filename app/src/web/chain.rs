//! The contract as the app uses it: typed views by `eth_call` and transactions through the wallet,
//! with calldata encoded by protocol/'s `sol!` bindings and reverts decoded into the contract's
//! named errors. Reads go through the wallet too (MetaMask forwards them to its RPC), so the app
//! sees the chain the user's wallet sees.

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::SolCall;
use medledger_protocol::contract::{decode_any_revert, ContractError};
use serde_json::{json, Value};

use super::wallet::{self, WalletError};
use crate::explain;

/// Why a chain call or transaction did not go through.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    /// A contract (the core or the insurance contract) refused, with its named error.
    #[error("{}", explain::contract_error(.0))]
    Reverted(ContractError),
    /// It reverted without one of the contract's errors.
    #[error("the transaction reverted: {0}")]
    RevertedOther(String),
    /// The wallet refused or failed.
    #[error("{}", explain_wallet(.0))]
    Wallet(WalletError),
    /// An answer could not be decoded.
    #[error("unexpected answer from the chain: {0}")]
    Decode(String),
    /// The relayer did not send a sponsored transaction (its refusal, in words).
    #[error("{0}")]
    Relay(String),
    /// The transaction was sent but no receipt came: the chain mined many blocks without it, or
    /// none for a long while (see [`wait_receipt`]); the text says which.
    #[error("transaction {0} was sent but is not mined: {1}; it may still be: check again later")]
    NotMined(B256, String),
}

fn explain_wallet(e: &WalletError) -> String {
    if e.code == 0 {
        e.message.clone()
    } else {
        format!("{} ({})", explain::wallet_error(e.code), e.message)
    }
}

impl From<WalletError> for ChainError {
    fn from(e: WalletError) -> Self {
        if let Some(err) = e
            .revert_data
            .as_deref()
            .and_then(|d| alloy_primitives::hex::decode(d).ok())
            .and_then(|d| decode_any_revert(&d))
        {
            return ChainError::Reverted(err);
        }
        if e.message.to_lowercase().contains("revert") {
            return ChainError::RevertedOther(e.message);
        }
        ChainError::Wallet(e)
    }
}

/// The deployment the app talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contract {
    /// The MedLedger address.
    pub address: Address,
    /// The chain it lives on.
    pub chain_id: u64,
}

impl Contract {
    /// A view call.
    pub async fn view<C: SolCall>(&self, call: C) -> Result<C::Return, ChainError> {
        let data = Bytes::from(call.abi_encode());
        let raw = wallet::request(
            "eth_call",
            json!([{"to": self.address.to_checksum(None), "data": data.to_string()}, "latest"]),
        )
        .await?;
        let bytes = raw
            .as_str()
            .and_then(|s| alloy_primitives::hex::decode(s).ok())
            .ok_or_else(|| ChainError::Decode("eth_call returned no data".into()))?;
        C::abi_decode_returns(&bytes).map_err(|e| ChainError::Decode(e.to_string()))
    }

    /// Sends `call` from `from` through the wallet and waits for it to be mined; its hash. It is simulated
    /// first (an `eth_call` from the same account) so that a refusal comes back as the contract's
    /// named error before the user is asked to sign anything.
    pub async fn send<C: SolCall>(
        &self,
        from: Address,
        call: C,
        value: U256,
    ) -> Result<B256, ChainError> {
        let data = Bytes::from(call.abi_encode());
        self.simulate(from, &data, value, "latest").await?;
        let hash = wallet::send_transaction(from, self.address, &data, value).await?;
        let receipt = wait_receipt(hash).await?;
        let status = receipt
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("0x1");
        let block = quantity(receipt.get("blockNumber")).unwrap_or(0);
        if status == "0x0" {
            // Ask the chain why, at the block before it was mined.
            let at = format!("0x{:x}", block.saturating_sub(1));
            self.simulate(from, &data, value, &at).await?;
            return Err(ChainError::RevertedOther(format!(
                "transaction {hash} reverted"
            )));
        }
        Ok(hash)
    }

    /// Asks the chain whether `from` may send `data` now (an `eth_call` as `from`): the contract's
    /// named error when it would refuse.
    pub async fn check(&self, from: Address, data: &Bytes) -> Result<(), ChainError> {
        self.simulate(from, data, U256::ZERO, "latest").await
    }

    async fn simulate(
        &self,
        from: Address,
        data: &Bytes,
        value: U256,
        block: &str,
    ) -> Result<(), ChainError> {
        let mut tx = json!({"from": from.to_checksum(None), "to": self.address.to_checksum(None), "data": data.to_string()});
        if !value.is_zero() {
            tx["value"] = json!(format!("0x{value:x}"));
        }
        wallet::request("eth_call", json!([tx, block]))
            .await
            .map(|_| ())
            .map_err(ChainError::from)
    }
}

fn quantity(v: Option<&Value>) -> Option<u64> {
    u64::from_str_radix(v?.as_str()?.trim_start_matches("0x"), 16).ok()
}

/// How many blocks the chain may mine after a transaction was sent, without it, before the app
/// stops waiting for it. A node includes a transaction it holds in one of its next blocks, so one
/// still missing this many blocks later was dropped or is stuck (web3.js gives up after the same
/// number).
const RECEIPT_BLOCKS: u64 = 50;

/// How long, in milliseconds by the clock, the chain may mine no block at all before the app stops
/// waiting: a chain that stopped, or one that mines only when it has work (Ganache's instamine),
/// would otherwise keep it waiting for ever. Any new block starts it again, so a slow machine or a
/// slow chain lengthens the wait instead of cutting it short.
const RECEIPT_STALL_MS: f64 = 120_000.0;

/// How often the app looks for the receipt.
const RECEIPT_POLL_MS: i32 = 250;

/// One look: the chain's head, then the receipt of `hash` (`None`: not mined by that head).
async fn look(hash: B256) -> Result<(u64, Option<Value>), WalletError> {
    let head = wallet::request("eth_blockNumber", json!([])).await?;
    let head = quantity(Some(&head)).ok_or_else(|| WalletError {
        code: 0,
        message: "the wallet gave no block number".into(),
        revert_data: None,
    })?;
    let receipt = wallet::request("eth_getTransactionReceipt", json!([hash.to_string()])).await?;
    Ok((head, (!receipt.is_null()).then_some(receipt)))
}

/// Whether a failed look ends the wait: the wallet itself cannot ask (none, locked, disconnected
/// from the chain, or it does not do the method). Anything else is the node's: Ganache 7.9 now and
/// then throws on a receipt asked for while it saves the block that holds it, so the app asks
/// again.
fn ends_wait(e: &WalletError) -> bool {
    matches!(e.code, 0 | 4001 | 4100 | 4200 | 4900 | 4901)
}

/// Waits for the receipt of `hash`, sent just now. It gives up once the chain has mined
/// [`RECEIPT_BLOCKS`] blocks since the first look without it, or once it has mined none for
/// [`RECEIPT_STALL_MS`]: both measure the chain, not the machine, so however slowly each look comes
/// back the wait ends only when the chain has moved on without the transaction or stopped.
pub async fn wait_receipt(hash: B256) -> Result<Value, ChainError> {
    let mut first_head: Option<u64> = None;
    let mut last_head: Option<u64> = None;
    let mut head_since = js_sys::Date::now();
    let mut last_error: Option<WalletError> = None;
    loop {
        match look(hash).await {
            Ok((_, Some(receipt))) => return Ok(receipt),
            Ok((head, None)) => {
                if last_head != Some(head) {
                    last_head = Some(head);
                    head_since = js_sys::Date::now();
                }
                let blocks = head.saturating_sub(*first_head.get_or_insert(head));
                if blocks >= RECEIPT_BLOCKS {
                    return Err(ChainError::NotMined(
                        hash,
                        format!(
                            "the chain has mined {blocks} blocks since it was sent, without it"
                        ),
                    ));
                }
            }
            Err(e) if ends_wait(&e) => return Err(e.into()),
            Err(e) => last_error = Some(e),
        }
        let still = js_sys::Date::now() - head_since;
        if still >= RECEIPT_STALL_MS {
            let seconds = (still / 1000.0).round();
            return Err(ChainError::NotMined(
                hash,
                match last_error {
                    Some(e) => format!(
                        "the chain has mined no block for {seconds} s (the last look failed: {})",
                        explain_wallet(&e)
                    ),
                    None => format!("the chain has mined no block for {seconds} s"),
                },
            ));
        }
        wallet::sleep_ms(RECEIPT_POLL_MS).await;
    }
}
