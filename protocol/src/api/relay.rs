//! The relayer (docs/api.md "Sponsored transactions"): `GET /api/relay` says whether this escrow
//! pays gas for the signed-in account and how much of its quota is left; `POST /api/relay` takes a
//! forward request the account's wallet signed (crate::forward::ForwardMessage) and sends it to
//! the forwarder, paying its gas.

use alloy_primitives::{Address, Bytes, B256};
use serde::{Deserialize, Serialize};

/// `GET /api/relay`: what the relayer offers the signed-in account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RelayStatus {
    /// Whether this escrow relays at all (it has a key and a quota above zero).
    pub available: bool,
    /// The account that pays the gas (the escrow's), when it relays.
    pub relayer: Option<Address>,
    /// The forwarder the requests are signed for.
    pub forwarder: Address,
    /// Transactions relayed for one account per window.
    pub quota: u32,
    /// How many of them this account has used in the current window.
    pub used: u32,
    /// The window's length (seconds): the quota counts the transactions relayed in the last this
    /// many seconds.
    pub window_secs: u64,
    /// The most gas a request may forward.
    pub max_gas: u64,
    /// The core functions relayed (crate::forward::Sponsored names).
    pub sponsored: Vec<String>,
}

/// Body of `POST /api/relay`: a forward request (the call, from the signed-in account, to the
/// core, carrying no ether) and the wallet's EIP-712 signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelayBody {
    /// The signer: must be the signed-in account.
    pub from: Address,
    /// The contract called: must be the core.
    pub to: Address,
    /// Gas forwarded to the call: at most [`RelayStatus::max_gas`].
    pub gas: u64,
    /// The forwarder's nonce for `from` when signed (`nonces(from)`): must be the current one.
    pub nonce: u64,
    /// The last second (chain time) it may be executed in.
    pub deadline: u64,
    /// The call's ABI-encoded data: a sponsored function of the core.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub data: Bytes,
    /// The 65-byte EIP-712 signature, 0x-hex.
    pub signature: String,
}

/// `POST /api/relay`'s answer: the transaction mined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Relayed {
    /// The relayer's transaction (to the forwarder), mined and successful.
    pub transaction_hash: B256,
    /// Who paid its gas.
    pub relayer: Address,
    /// The core function called.
    pub function: String,
    /// The account's relayed transactions in the current window, this one included.
    pub used: u32,
    /// The quota per window.
    pub quota: u32,
}
