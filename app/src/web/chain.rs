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
    /// The transaction was sent but no receipt came in time.
    #[error(
        "transaction {0} was sent but is not mined after {1} s; it may still be: check again later"
    )]
    Timeout(B256, u32),
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
        let receipt = wait_receipt(hash, 120).await?;
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

/// Polls for the receipt of `hash` for up to `seconds`.
pub async fn wait_receipt(hash: B256, seconds: u32) -> Result<Value, ChainError> {
    let tries = seconds * 4;
    for _ in 0..tries {
        let r = wallet::request("eth_getTransactionReceipt", json!([hash.to_string()])).await?;
        if !r.is_null() {
            return Ok(r);
        }
        wallet::sleep_ms(250).await;
    }
    Err(ChainError::Timeout(hash, seconds))
}
