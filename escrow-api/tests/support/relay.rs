//! Sponsored transactions as a wallet makes them: a forward request for the trusted forwarder
//! (`protocol::forward::ForwardMessage`), its `POST /api/relay` body signed by a user, and the
//! relayer's answer.

use alloy_primitives::{hex, Address, Bytes};
use alloy_signer::SignerSync;
use medledger_protocol::contract::MedLedgerForwarder;
use medledger_protocol::forward::ForwardMessage;
use serde_json::{json, Value};

use super::{Server, User, World};

/// A forward request from `who` calling `to` with `data`, for the forwarder's current nonce of
/// `who`, with a deadline an hour of chain time away.
pub async fn forward_request(w: &World, who: &User, to: Address, data: Vec<u8>) -> ForwardMessage {
    let nonce = w
        .call_at(
            w.d.forwarder.address,
            MedLedgerForwarder::noncesCall {
                owner: who.address(),
            },
        )
        .await;
    ForwardMessage {
        chain_id: w.d.chain_id,
        forwarder: w.d.forwarder.address,
        from: who.address(),
        to,
        gas: 600_000,
        nonce: u64::try_from(nonce).expect("nonce"),
        deadline: w.chain_time().await + 3600,
        data: Bytes::from(data),
    }
}

/// The body of `POST /api/relay` for `m`, signed by `signer`.
pub fn relay_body(m: &ForwardMessage, signer: &User) -> Value {
    let sig = signer
        .signer
        .sign_hash_sync(&m.signing_hash())
        .expect("sign");
    json!({
        "from": m.from,
        "to": m.to,
        "gas": m.gas,
        "nonce": m.nonce,
        "deadline": m.deadline,
        "data": m.data,
        "signature": hex::encode_prefixed(sig.as_bytes()),
    })
}

/// `POST /api/relay` with `body` in `who`'s session: the status and the JSON answer (null when
/// there is none).
pub async fn relay(server: &Server, who: &User, body: &Value) -> (u16, Value) {
    let resp = who
        .post(server.url("/api/relay"))
        .json(body)
        .send()
        .await
        .expect("relay");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}
