//! Sponsored transactions (docs/api.md "Sponsored transactions"): when the wallet holds too little
//! ether for a call's gas, a call the escrow's relayer pays for is signed as an ERC-2771 forward request
//! (`eth_signTypedData_v4`, no transaction and no fee for the user) and handed to the relayer,
//! which sends it through the forwarder the core trusts. The core sees the user as the caller.
//! [`notice`] says who paid the last one.

use alloy_primitives::{Address, Bytes, B256};
use leptos::prelude::*;
use medledger_protocol::api::relay::{RelayBody, RelayStatus};
use medledger_protocol::contract::MedLedgerForwarder;
use medledger_protocol::forward::{call_kind_at, CallKind, ForwardMessage, Target};
use serde_json::{json, Value};

use super::chain::{wait_receipt, ChainError, Contract};
use super::{escrow, wallet};
use crate::sponsored;

thread_local! {
    /// Who paid the last transaction, in words, while the app runs (none before the first
    /// sponsored one).
    static NOTICE: RwSignal<Option<String>> = RwSignal::new(None);
}

/// The notice of who paid the last sponsored transaction: the header shows it.
pub fn notice() -> RwSignal<Option<String>> {
    NOTICE.with(|n| *n)
}

/// Who pays for a transaction.
pub enum Payer {
    /// The wallet sends it (and, without the ether, says why it cannot).
    Wallet,
    /// The relayer, as it offers.
    Relayer(RelayStatus),
    /// Neither: the words say why.
    Nobody(String),
}

/// Who pays for `from`'s call `data` to `to` (the core or its recovery contract, as `target`
/// says): the relayer when the call is one it pays for, the core names a forwarder, the wallet holds too little ether for the call's gas, and the escrow
/// relays for this account with quota left; nobody when the relayer would but cannot now; the
/// wallet otherwise.
pub async fn payer(
    (to, target): (&Contract, Target),
    from: Address,
    data: &Bytes,
    forwarder: Option<Address>,
) -> Payer {
    let sponsored = matches!(call_kind_at(target, data), CallKind::Sponsored(_));
    if forwarder.is_none() || !sponsored || can_pay(to, from, data).await {
        return Payer::Wallet;
    }
    match escrow::relay_status().await {
        Ok(status) if status.available && status.used < status.quota => Payer::Relayer(status),
        Ok(status) => Payer::Nobody(sponsored::nobody_pays(
            status.available,
            status.used,
            status.quota,
        )),
        // The wallet's own refusal says what is wrong as well as anything here could.
        Err(_) => Payer::Wallet,
    }
}

/// Whether `from` holds the ether the call's gas costs at the node's gas price. An empty wallet
/// cannot pay, and one holding [`sponsored::AMPLE_GAS`] at that price can, without asking the node
/// to estimate; between the two the estimate decides. When the node cannot say (the call would
/// revert, say), a wallet with any ether pays, so that its own path shows the contract's reason.
async fn can_pay(core: &Contract, from: Address, data: &Bytes) -> bool {
    let ask = |method: &'static str, params: Value| async move {
        wallet::request(method, params)
            .await
            .ok()
            .as_ref()
            .and_then(quantity)
    };
    let Some(balance) = ask("eth_getBalance", json!([from.to_checksum(None), "latest"])).await
    else {
        return true;
    };
    if balance == 0 {
        return false;
    }
    let Some(price) = ask("eth_gasPrice", json!([])).await else {
        return true;
    };
    if balance >= u128::from(sponsored::AMPLE_GAS).saturating_mul(price) {
        return true;
    }
    let call = json!([{"from": from.to_checksum(None), "to": core.address.to_checksum(None), "data": data.to_string()}]);
    ask("eth_estimateGas", call)
        .await
        .is_none_or(|gas| balance >= gas.saturating_mul(price))
}

fn quantity(v: &Value) -> Option<u128> {
    u128::from_str_radix(v.as_str()?.trim_start_matches("0x"), 16).ok()
}

/// Sends `data` from `from` to the core through the relayer `offer` describes, and waits until it
/// is mined; the transaction's hash. The call is first asked of the chain as `from` (so a refusal
/// is the contract's named error, before the wallet is asked to sign anything).
pub async fn send(
    core: &Contract,
    offer: &RelayStatus,
    from: Address,
    data: Bytes,
) -> Result<B256, ChainError> {
    core.check(from, &data).await?;
    let message = request(core, offer, from, data).await?;
    let signature = wallet::sign_typed_data(from, &message.typed_data_json()).await?;
    let body = RelayBody {
        from,
        to: message.to,
        gas: message.gas,
        nonce: message.nonce,
        deadline: message.deadline,
        data: message.data.clone(),
        signature: format!("0x{}", alloy_primitives::hex::encode(&signature)),
    };
    let relayed = escrow::relay(&body).await.map_err(|e| {
        // Unreachable: its own words would say nothing was lost, which may not be so here.
        let reason = if e.status == 0 {
            format!("the escrow did not answer ({}).", e.message)
        } else {
            e.to_string()
        };
        ChainError::Relay(sponsored::refused(&e.code, &reason))
    })?;
    // Mined when the relayer answers; asked of the wallet's node too, so that what the page reads
    // next is at least that block.
    wait_receipt(relayed.transaction_hash).await?;
    notice().set(Some(sponsored::paid_by(
        &relayed.function,
        relayed.relayer,
        relayed.used,
        relayed.quota,
        offer.window_secs,
    )));
    Ok(relayed.transaction_hash)
}

/// The forward request for `data`: the forwarder's nonce for `from`, gas from the node's estimate
/// of the call sent directly, a deadline [`sponsored::DEADLINE_SECS`] after the chain's latest
/// block.
async fn request(
    core: &Contract,
    offer: &RelayStatus,
    from: Address,
    data: Bytes,
) -> Result<ForwardMessage, ChainError> {
    let forwarder = Contract {
        address: offer.forwarder,
        chain_id: core.chain_id,
    };
    let nonce = forwarder
        .view(MedLedgerForwarder::noncesCall { owner: from })
        .await?;
    let estimate = wallet::request(
        "eth_estimateGas",
        json!([{"from": from.to_checksum(None), "to": core.address.to_checksum(None), "data": data.to_string()}]),
    )
    .await?;
    let estimate = quantity(&estimate)
        .and_then(|g| u64::try_from(g).ok())
        .ok_or_else(|| ChainError::Decode("eth_estimateGas gave no number".into()))?;
    let latest = wallet::request("eth_getBlockByNumber", json!(["latest", false])).await?;
    let now = latest
        .get("timestamp")
        .and_then(quantity)
        .and_then(|t| u64::try_from(t).ok())
        .ok_or_else(|| ChainError::Decode("the latest block has no timestamp".into()))?;
    Ok(ForwardMessage {
        chain_id: core.chain_id,
        forwarder: offer.forwarder,
        from,
        to: core.address,
        gas: sponsored::forwarded_gas(estimate, offer.max_gas),
        nonce: u64::try_from(nonce)
            .map_err(|_| ChainError::Decode("the forwarder's nonce is too large".into()))?,
        deadline: now + sponsored::DEADLINE_SECS,
        data,
    })
}

/// The notice of who paid the last sponsored transaction, while there is one.
#[component]
pub fn PaidBy() -> impl IntoView {
    let text = notice();
    move || {
        text.get().map(|t| {
            view! { <p class="notice paid-by" role="status" data-testid="paid-by">{t}</p> }
        })
    }
}
