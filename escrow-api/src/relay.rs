//! The relayer (docs/api.md "Sponsored transactions"; issue 18): the escrow pays the gas of an
//! account's own transactions to the core and to the recovery contract, sent through the ERC-2771
//! forwarder both trust, so that a patient needs no ether. It relays only what
//! `protocol::forward::Sponsored` lists for the contract addressed, signed by the session's
//! wallet, within a quota per account per window (and one for all accounts' recovery requests
//! together, which anyone may file for anyone), and only a request the forwarder would accept
//! and the contract would not refuse: it asks both by `eth_call` first, so a refusal costs the
//! relayer nothing. The contract sees the request's signer as the caller, never the escrow:
//! relaying grants no one the escrow's role.
//!
//! Relays are sent one at a time (the escrow's transactions share one nonce sequence and the
//! quota's count must see the previous relay), each waiting for its receipt. A relay sent is
//! recorded whatever the client does meanwhile: the send and its record run in a task of their own,
//! which a client hanging up does not cancel, so the quota always counts what the escrow paid for.
//!
//! What one relay can cost is bounded: the call's data (at most [`MAX_DATA`] bytes, decoded
//! strictly), the gas the whole transaction may take (`relay_max_gas` and [`EXECUTE_OVERHEAD`]),
//! and the ether the escrow keeps for its own duties (`relay_reserve_gwei`, below which it relays
//! nothing).

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{hex, Address, Bytes, U256};
use alloy_sol_types::SolCall;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use medledger_protocol::api::relay::{RelayBody, RelayStatus, Relayed};
use medledger_protocol::contract::{decode_any_revert, MedLedgerForwarder};
use medledger_protocol::forward::{call_kind_at, CallKind, ForwardMessage, Sponsored, Target};

use crate::auth::Session;
use crate::chain::ChainError;
use crate::error::{ApiError, JsonBody};
use crate::server::AppState;

/// Serialises relays: the quota's count, the checks and the send of one request happen before the
/// next request's count.
#[derive(Debug, Default)]
pub struct RelayLock(Arc<tokio::sync::Mutex<()>>);

/// The most calldata a relayed call may carry: `addRecords` of the core's largest batch (100
/// records of 160 bytes) with room to spare.
pub const MAX_DATA: usize = 17 * 1024;

/// Gas the forwarder's `execute` takes beyond the call it forwards (signature, nonce, calldata,
/// the 1/63 it keeps back): the relayer refuses, unsent, a transaction estimated above
/// `relay_max_gas` plus this.
pub const EXECUTE_OVERHEAD: u64 = 400_000;

/// How long of the chain's time a request must still have before its deadline: one sent with less
/// could expire before it is mined, and the relayer would pay for the revert.
pub const DEADLINE_MARGIN_SECS: u64 = 60;

/// How long a request waits for the relays before it to finish before it is answered 503.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// `GET /api/relay`: whether the escrow pays for the caller's transactions, and how much of the
/// quota is left.
pub async fn status(
    State(st): State<AppState>,
    session: Session,
) -> Result<Json<RelayStatus>, ApiError> {
    let used = st
        .index
        .relays_since(Some(session.address), window_start(&st))
        .await?;
    let relayer = relayer(&st);
    Ok(Json(RelayStatus {
        available: relayer.is_some(),
        relayer,
        forwarder: st.deployment.forwarder.address,
        quota: st.config.relay_quota,
        used: used.count,
        window_secs: st.config.relay_window_secs,
        max_gas: st.config.relay_max_gas,
        sponsored: Sponsored::ALL
            .iter()
            .map(|s| s.name().to_string())
            .collect(),
    }))
}

/// `POST /api/relay`: checks the request, then sends it to the forwarder and answers once it is
/// mined.
pub async fn relay(
    State(st): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<RelayBody>,
) -> Result<Json<Relayed>, ApiError> {
    let relayer = relayer(&st).ok_or_else(|| {
        ApiError::unavailable(
            "relay-unavailable",
            "this escrow does not pay for transactions: send it from a wallet that holds ether",
        )
    })?;
    // The forward request is the wallet's: the core resolves it to the session's account.
    let (function, message, signature) = checked(&st, session.wallet, &body)?;
    // A cheap look first, so that a request over its quota does not wait in line to be refused.
    within_quota(&st, session.address, function).await?;
    let one_at_a_time = tokio::time::timeout(LOCK_WAIT, st.relay_lock.0.clone().lock_owned())
        .await
        .map_err(|_| busy("the relayer is sending other transactions"))?;
    let used = within_quota(&st, session.address, function).await?;
    funded(&st, relayer).await?;
    on_chain_checks(&st, &message, &signature).await?;
    let request = message.request_data(signature);
    let call = MedLedgerForwarder::executeCall { request }.abi_encode();
    let cap = st.config.relay_max_gas.saturating_add(EXECUTE_OVERHEAD);
    let (task_st, account) = (st.clone(), session.address);
    // Its own task: the send and its record finish even when the client hangs up.
    let sent = tokio::spawn(async move {
        let _held = one_at_a_time;
        let forwarder = task_st.deployment.forwarder.address;
        let sent = task_st.ledger.chain().send_to(forwarder, call, cap).await;
        let hash = match &sent {
            Ok(hash) => Some(*hash),
            Err(e) => e.sent(),
        };
        if let Some(hash) = hash {
            let ok = sent.is_ok();
            let recorded = task_st
                .index
                .record_relay(account, now(), function.name(), hash, ok)
                .await;
            task_st.metrics.relayed_transactions.inc();
            let old = now().saturating_sub(task_st.config.relay_window_secs.saturating_mul(2));
            if let Err(e) = task_st.index.prune_relays(old).await {
                tracing::warn!(error = %e, "old relays were not pruned");
            }
            tracing::info!(function = function.name(), tx = %hash, ok, "relayed a transaction");
            recorded?;
        }
        Ok::<_, ApiError>(sent)
    })
    .await
    .map_err(|e| ApiError::internal("relay task", &e))??;
    let hash = sent.map_err(|e| unsent_or_failed(&e))?;
    Ok(Json(Relayed {
        transaction_hash: hash,
        relayer,
        function: function.name().to_string(),
        used: used + 1,
        quota: st.config.relay_quota,
    }))
}

/// A send that failed: sent and failed (502 `relay-failed`, counted), or refused unsent.
fn unsent_or_failed(e: &ChainError) -> ApiError {
    if let Some(hash) = e.sent() {
        return ApiError::new(
            StatusCode::BAD_GATEWAY,
            "relay-failed",
            format!("the relayed transaction {hash}: {e}; it counts against your quota"),
        );
    }
    match e {
        ChainError::OverGasCap { estimate, cap } => ApiError::bad_request(
            "relay-gas",
            format!("the transaction would take {estimate} gas; the relayer pays for at most {cap}: nothing was sent"),
        ),
        ChainError::Rpc {
            revert: Some(revert),
            ..
        } => reverted(revert),
        ChainError::Rpc { message, .. } if message.to_lowercase().contains("insufficient funds") => {
            unfunded()
        }
        other => chain_unavailable(other),
    }
}

fn busy(why: &str) -> ApiError {
    ApiError {
        retry_after: Some(5),
        ..ApiError::unavailable("relay-busy", format!("{why}; retry after 5 s"))
    }
}

fn unfunded() -> ApiError {
    ApiError::unavailable(
        "relay-unfunded",
        "the relayer has too little ether left to pay for transactions; nothing was sent. Send it from a wallet that holds ether, or tell the operator",
    )
}

/// Refuses (503 `relay-unfunded`) while the escrow's account holds less than its reserve: the ether
/// its own transactions (anchoring the access log, confirming shredding) need.
async fn funded(st: &AppState, relayer: Address) -> Result<(), ApiError> {
    let reserve = U256::from(st.config.relay_reserve_gwei) * U256::from(1_000_000_000u64);
    let balance = st
        .ledger
        .chain()
        .balance(relayer)
        .await
        .map_err(|e| chain_unavailable(&e))?;
    if balance < reserve {
        tracing::warn!(%balance, %reserve, "the relayer is below its reserve: relaying nothing");
        return Err(unfunded());
    }
    Ok(())
}

/// The relayer as the console shows it: its account, its balance (wei, decimal text), what it
/// relayed in the current window and its bounds; `null` when the escrow does not relay.
pub async fn console_status(st: &AppState) -> Result<serde_json::Value, ApiError> {
    let Some(account) = relayer(st) else {
        return Ok(serde_json::Value::Null);
    };
    // An unreachable node leaves the balance unknown, not the whole summary.
    let balance = st.ledger.chain().balance(account).await.ok();
    let since = window_start(st);
    let relayed = st.index.relays_since(None, since).await?;
    let recoveries = st
        .index
        .relays_of_since(Sponsored::RequestRecovery.name(), since)
        .await?;
    Ok(serde_json::json!({
        "address": account.to_checksum(None),
        "balanceWei": balance.map(|b| b.to_string()),
        "relayed": relayed.count,
        "recoveryRequests": recoveries.count,
        "windowSecs": st.config.relay_window_secs,
        "totalQuota": st.config.relay_total_quota,
        "quotaPerAccount": st.config.relay_quota,
        "recoveryQuota": st.config.relay_recovery_quota,
    }))
}

/// The account that pays, when this escrow relays.
fn relayer(st: &AppState) -> Option<Address> {
    (st.config.relay_quota > 0)
        .then(|| st.signer.as_ref().map(|s| s.address()))
        .flatten()
}

fn now() -> u64 {
    u64::try_from(crate::now_secs()).unwrap_or(0)
}

fn window_start(st: &AppState) -> u64 {
    now().saturating_sub(st.config.relay_window_secs)
}

/// What needs no chain: the request is the caller's, to the core or the recovery contract, of a
/// sponsored function of that contract, within the gas bound, and signed by the caller.
fn checked(
    st: &AppState,
    wallet: Address,
    body: &RelayBody,
) -> Result<(Sponsored, ForwardMessage, Bytes), ApiError> {
    if body.from != wallet {
        return Err(ApiError::forbidden(
            "relay-not-yours",
            format!(
                "the request is from {}, not the signed-in wallet {wallet}",
                body.from
            ),
        ));
    }
    let target = if body.to == st.deployment.address {
        Target::Core
    } else if body.to == st.deployment.recovery.address {
        Target::Recovery
    } else {
        return Err(ApiError::bad_request(
            "relay-target",
            format!(
                "only calls to the MedLedger contract {} and its recovery contract {} are relayed, not to {}",
                st.deployment.address, st.deployment.recovery.address, body.to
            ),
        ));
    };
    if body.data.len() > MAX_DATA {
        return Err(ApiError::bad_request(
            "relay-too-large",
            format!(
                "the call's data is {} bytes; the relayer takes at most {MAX_DATA}",
                body.data.len()
            ),
        ));
    }
    if body.gas == 0 || body.gas > st.config.relay_max_gas {
        return Err(ApiError::bad_request(
            "relay-gas",
            format!(
                "the request forwards {} gas; the relayer forwards 1 to {}",
                body.gas, st.config.relay_max_gas
            ),
        ));
    }
    let function =
        match call_kind_at(target, &body.data) {
            CallKind::Sponsored(f) => f,
            CallKind::NotSponsored(name) => {
                return Err(ApiError::forbidden(
                    "relay-not-sponsored",
                    format!(
                    "the relayer does not pay for {name}: send it from a wallet that holds ether"
                ),
                ))
            }
            CallKind::Unknown => return Err(ApiError::bad_request(
                "relay-not-sponsored",
                "the request's data is not a call of the contract it is sent to, encoded exactly",
            )),
        };
    let message = ForwardMessage {
        chain_id: st.deployment.chain_id,
        forwarder: st.deployment.forwarder.address,
        from: body.from,
        to: body.to,
        gas: body.gas,
        nonce: body.nonce,
        deadline: body.deadline,
        data: body.data.clone(),
    };
    let signature = hex::decode(body.signature.trim()).map_err(|e| bad_signature(e.to_string()))?;
    message
        .verify(&signature)
        .map_err(|e| bad_signature(e.to_string()))?;
    Ok((function, message, Bytes::from(signature)))
}

fn bad_signature(why: String) -> ApiError {
    ApiError::bad_request(
        "bad-signature",
        format!("the forward request's signature: {why}"),
    )
}

/// The account's relays in the window, refused with 429 `relay-quota` at the account's quota,
/// with 503 `relay-busy` at the quota of all accounts together, and a recovery request with 503
/// `relay-recovery-busy` at the quota of those (each with when a place frees).
async fn within_quota(
    st: &AppState,
    account: Address,
    function: Sponsored,
) -> Result<u32, ApiError> {
    let since = window_start(st);
    let window = st.config.relay_window_secs;
    let recoveries = st.config.relay_recovery_quota;
    if function == Sponsored::RequestRecovery && recoveries > 0 {
        let asked = st.index.relays_of_since(function.name(), since).await?;
        if asked.count >= recoveries {
            return Err(over_quota(
                st,
                StatusCode::SERVICE_UNAVAILABLE,
                "relay-recovery-busy",
                asked.earliest,
                |retry_after| {
                    format!("the relayer has paid for as many recovery requests as it pays for in {window} s across all accounts; retry after {retry_after} s, or ask from a wallet that holds ether")
                },
            ));
        }
    }
    let total = st.config.relay_total_quota;
    if total > 0 {
        let all = st.index.relays_since(None, since).await?;
        if all.count >= total {
            return Err(over_quota(
                st,
                StatusCode::SERVICE_UNAVAILABLE,
                "relay-busy",
                all.earliest,
                |retry_after| {
                    format!("the relayer has paid for as many transactions as it pays for in {window} s across all accounts; retry after {retry_after} s or send it from a wallet that holds ether")
                },
            ));
        }
    }
    let used = st.index.relays_since(Some(account), since).await?;
    if used.count < st.config.relay_quota {
        return Ok(used.count);
    }
    Err(over_quota(
        st,
        StatusCode::TOO_MANY_REQUESTS,
        "relay-quota",
        used.earliest,
        |retry_after| {
            let count = used.count;
            format!("the relayer has paid for {count} of your transactions in the last {window} s, its quota; retry after {retry_after} s or send it from a wallet that holds ether")
        },
    ))
}

/// A refusal at a quota: `status` and `code`, with `Retry-After` (and `message` given it) for when
/// the window's earliest relay, sent at `earliest`, leaves it.
fn over_quota(
    st: &AppState,
    status: StatusCode,
    code: &'static str,
    earliest: Option<u64>,
    message: impl FnOnce(u64) -> String,
) -> ApiError {
    let retry_after = frees_in(st, earliest);
    ApiError {
        retry_after: Some(retry_after),
        ..ApiError::new(status, code, message(retry_after))
    }
}

/// Seconds until the window's earliest relay leaves it: the count includes a relay sent exactly
/// `window` seconds ago, so it leaves a second after that.
fn frees_in(st: &AppState, earliest: Option<u64>) -> u64 {
    let frees_at = earliest.unwrap_or(0) + st.config.relay_window_secs + 1;
    frees_at.saturating_sub(now()).max(1)
}

/// Asks the chain, without sending anything: the forwarder's nonce for the signer is the one
/// signed, the deadline has not passed, the forwarder accepts the request (`verify`), and the
/// contract addressed would not refuse the call as the signer (the forwarder's call, with the
/// signer appended).
async fn on_chain_checks(
    st: &AppState,
    message: &ForwardMessage,
    signature: &Bytes,
) -> Result<(), ApiError> {
    let chain = st.ledger.chain();
    let forwarder = st.deployment.forwarder.address;
    let nonce = MedLedgerForwarder::noncesCall {
        owner: message.from,
    };
    let raw = chain
        .call_at(forwarder, nonce.abi_encode())
        .await
        .map_err(|e| chain_unavailable(&e))?;
    let current = MedLedgerForwarder::noncesCall::abi_decode_returns(&raw)
        .map_err(|e| ApiError::internal("forwarder nonce", &e))?;
    if current != alloy_primitives::U256::from(message.nonce) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "relay-nonce",
            format!(
                "the request was signed for nonce {}, and the forwarder's next is {current}: sign it again",
                message.nonce
            ),
        ));
    }
    let head = st
        .ledger
        .head_timestamp()
        .await
        .map_err(|e| chain_unavailable(&e))?;
    if message.deadline < head.saturating_add(DEADLINE_MARGIN_SECS) {
        return Err(ApiError::bad_request(
            "relay-expired",
            format!(
                "the request's deadline {} is less than {DEADLINE_MARGIN_SECS} s after the chain's time {head}, too close to be sure it is mined in time: sign it again",
                message.deadline
            ),
        ));
    }
    let verify = MedLedgerForwarder::verifyCall {
        request: message.request_data(signature.clone()),
    };
    let raw = chain
        .call_at(forwarder, verify.abi_encode())
        .await
        .map_err(|e| chain_unavailable(&e))?;
    if !MedLedgerForwarder::verifyCall::abi_decode_returns(&raw)
        .map_err(|e| ApiError::internal("forwarder verify", &e))?
    {
        return Err(ApiError::bad_request(
            "relay-invalid",
            "the forwarder would not accept this request (its signature, nonce, deadline or target)",
        ));
    }
    would_succeed(st, message).await
}

/// The addressed contract's answer to the call as the forwarder makes it: the data with the
/// signer appended (ERC-2771), from the forwarder.
async fn would_succeed(st: &AppState, message: &ForwardMessage) -> Result<(), ApiError> {
    let mut data = message.data.to_vec();
    data.extend_from_slice(message.from.as_slice());
    match st
        .ledger
        .chain()
        .call_as(st.deployment.forwarder.address, message.to, data, message.gas)
        .await
    {
        Ok(_) => Ok(()),
        // The core names every refusal: an empty revert is the call running out of gas.
        Err(ChainError::Rpc {
            revert: Some(revert),
            ..
        }) if !hex::decode(&revert).is_ok_and(|d| d.is_empty()) => Err(reverted(&revert)),
        Err(ChainError::Rpc { message: why, .. })
            if why.to_lowercase().contains("gas") || why.to_lowercase().contains("revert") =>
        {
            Err(ApiError::bad_request(
                "relay-gas",
                format!(
                    "the call does not run within the {} gas the request forwards ({why}); nothing was sent",
                    message.gas
                ),
            ))
        }
        Err(e) => Err(chain_unavailable(&e)),
    }
}

/// A call the chain refused, with the contract's error named: 422 `relay-reverted`, unsent.
fn reverted(revert: &str) -> ApiError {
    let name = hex::decode(revert)
        .ok()
        .and_then(|d| decode_any_revert(&d))
        .map(|e| e.name())
        .unwrap_or_else(|| "an unnamed revert".into());
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "relay-reverted",
        format!("the contract would refuse this call ({name}); nothing was sent"),
    )
}

fn chain_unavailable(e: &ChainError) -> ApiError {
    tracing::warn!(error = %e, "the relayer could not reach the chain");
    ApiError::unavailable(
        "chain-unavailable",
        "the chain node could not be asked about this request; nothing was sent",
    )
}
