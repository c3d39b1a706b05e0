//! The one bridge to the user's wallet: EIP-1193 (`window.ethereum`) found through EIP-6963
//! discovery when several wallets are injected. Every wallet call of the app goes through here;
//! nothing else touches the provider object. Params and results cross as JSON, so the rest of the
//! app deals in `serde_json::Value` and typed Rust values, never in `JsValue`.

use std::cell::RefCell;

use alloy_primitives::{hex, Address, Bytes, B256, U256};
use js_sys::{Function, Promise, Reflect, JSON};
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// An EIP-1193 error as the wallet gave it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (wallet code {code})")]
pub struct WalletError {
    /// EIP-1193 / JSON-RPC code: 4001 rejected, 4100 unauthorised, 4902 unknown chain…
    pub code: i64,
    /// The wallet's message.
    pub message: String,
    /// Revert data found anywhere in the error (`0x…`), for a reverted call.
    pub revert_data: Option<String>,
}

impl WalletError {
    fn local(message: impl Into<String>) -> Self {
        Self {
            code: 0,
            message: message.into(),
            revert_data: None,
        }
    }
}

/// The wallet the app talks to, as announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletInfo {
    /// Display name, e.g. "MetaMask".
    pub name: String,
    /// Reverse-DNS id, e.g. `io.metamask`.
    pub rdns: String,
}

thread_local! {
    static PROVIDER: RefCell<Option<JsValue>> = const { RefCell::new(None) };
    static ANNOUNCED: RefCell<Vec<(WalletInfo, JsValue)>> = const { RefCell::new(Vec::new()) };
    static LISTENERS: RefCell<Vec<Closure<dyn FnMut(JsValue)>>> = const { RefCell::new(Vec::new()) };
}

fn get(obj: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// Finds the wallet: EIP-6963 announcements first (MetaMask preferred when several answer), then
/// the legacy `window.ethereum`. `None`: no wallet is installed.
pub async fn discover() -> Option<WalletInfo> {
    let window = web_sys::window()?;
    let on_announce = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let Some(detail) = get(&event, "detail") else {
            return;
        };
        let (Some(info), Some(provider)) = (get(&detail, "info"), get(&detail, "provider")) else {
            return;
        };
        let text = |k: &str| {
            get(&info, k)
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        let info = WalletInfo {
            name: text("name"),
            rdns: text("rdns"),
        };
        ANNOUNCED.with(|a| {
            let mut a = a.borrow_mut();
            if !a.iter().any(|(i, _)| i.rdns == info.rdns) {
                a.push((info, provider));
            }
        });
    });
    let _ = window.add_event_listener_with_callback(
        "eip6963:announceProvider",
        on_announce.as_ref().unchecked_ref(),
    );
    if let Ok(event) = web_sys::Event::new("eip6963:requestProvider") {
        let _ = window.dispatch_event(&event);
    }
    // Wallets answer synchronously or within a tick; give slow ones a moment.
    sleep_ms(150).await;
    on_announce.forget();
    let chosen = ANNOUNCED.with(|a| {
        let a = a.borrow();
        a.iter()
            .find(|(i, _)| i.rdns == "io.metamask")
            .or_else(|| a.first())
            .cloned()
    });
    if let Some((info, provider)) = chosen {
        PROVIDER.with(|p| *p.borrow_mut() = Some(provider));
        return Some(info);
    }
    let legacy = get(&window, "ethereum")?;
    let name = if get(&legacy, "isMetaMask").and_then(|v| v.as_bool()) == Some(true) {
        "MetaMask"
    } else {
        "Injected wallet"
    };
    PROVIDER.with(|p| *p.borrow_mut() = Some(legacy));
    Some(WalletInfo {
        name: name.into(),
        rdns: String::new(),
    })
}

/// Resolves after `ms` milliseconds.
pub async fn sleep_ms(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}

fn provider() -> Result<JsValue, WalletError> {
    PROVIDER
        .with(|p| p.borrow().clone())
        .ok_or_else(|| WalletError::local("no wallet found in this browser"))
}

fn find_revert_data(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.starts_with("0x") && s.len() >= 10 => Some(s.clone()),
        Value::Object(map) => ["data", "originalError", "error", "cause"]
            .iter()
            .filter_map(|k| map.get(*k))
            .find_map(find_revert_data),
        _ => None,
    }
}

fn to_wallet_error(err: JsValue) -> WalletError {
    let value: Value = JSON::stringify(&err)
        .ok()
        .and_then(|s| s.as_string())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let code = get(&err, "code")
        .and_then(|c| c.as_f64())
        .map(|c| c as i64)
        .unwrap_or(0);
    let message = get(&err, "message")
        .and_then(|m| m.as_string())
        .or_else(|| err.as_string())
        .unwrap_or_else(|| "the wallet failed".into());
    WalletError {
        code,
        message,
        revert_data: find_revert_data(&value),
    }
}

/// One EIP-1193 request.
pub async fn request(method: &str, params: Value) -> Result<Value, WalletError> {
    let provider = provider()?;
    let args = JSON::parse(&json!({"method": method, "params": params}).to_string())
        .map_err(|_| WalletError::local("could not build the wallet request"))?;
    let request: Function = get(&provider, "request")
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| WalletError::local("the wallet has no request method (not EIP-1193)"))?;
    let promise: Promise = request
        .call1(&provider, &args)
        .map_err(to_wallet_error)?
        .dyn_into()
        .map_err(|_| WalletError::local("the wallet did not answer with a promise"))?;
    let result = JsFuture::from(promise).await.map_err(to_wallet_error)?;
    if result.is_undefined() || result.is_null() {
        return Ok(Value::Null);
    }
    let text = JSON::stringify(&result)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default();
    serde_json::from_str(&text).map_err(|_| WalletError::local("the wallet's answer is not JSON"))
}

fn parse_accounts(v: &Value) -> Vec<Address> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// Asks the user to connect (`eth_requestAccounts`); the first account.
pub async fn connect() -> Result<Address, WalletError> {
    let accounts = parse_accounts(&request("eth_requestAccounts", json!([])).await?);
    accounts
        .first()
        .copied()
        .ok_or_else(|| WalletError::local("the wallet shared no account"))
}

/// The connected account without prompting (`eth_accounts`); `None` when locked or not connected.
pub async fn current_account() -> Result<Option<Address>, WalletError> {
    Ok(parse_accounts(&request("eth_accounts", json!([])).await?)
        .first()
        .copied())
}

fn parse_quantity(v: &Value) -> Option<u64> {
    let s = v.as_str()?;
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// The wallet's current chain id.
pub async fn chain_id() -> Result<u64, WalletError> {
    parse_quantity(&request("eth_chainId", json!([])).await?)
        .ok_or_else(|| WalletError::local("the wallet gave no chain id"))
}

/// Switches the wallet to `chain_id`, adding the chain (with `rpc_url`) when the wallet does not
/// know it yet.
pub async fn switch_chain(chain_id: u64, rpc_url: &str, name: &str) -> Result<(), WalletError> {
    let hex_id = format!("0x{chain_id:x}");
    match request("wallet_switchEthereumChain", json!([{ "chainId": hex_id }])).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 4902 => {
            request(
                "wallet_addEthereumChain",
                json!([{
                    "chainId": hex_id,
                    "chainName": name,
                    "rpcUrls": [rpc_url],
                    "nativeCurrency": {"name": "Ether", "symbol": "ETH", "decimals": 18}
                }]),
            )
            .await?;
            request("wallet_switchEthereumChain", json!([{ "chainId": hex_id }]))
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    }
}

fn parse_signature(v: &Value) -> Result<Vec<u8>, WalletError> {
    let s = v
        .as_str()
        .ok_or_else(|| WalletError::local("the wallet returned no signature"))?;
    let bytes = hex::decode(s).map_err(|_| WalletError::local("the signature is not hex"))?;
    if bytes.len() != 65 {
        return Err(WalletError::local("the signature is not 65 bytes"));
    }
    Ok(bytes)
}

/// `personal_sign` of a UTF-8 message (SIWE).
pub async fn personal_sign(account: Address, message: &str) -> Result<Vec<u8>, WalletError> {
    let hex_message = format!("0x{}", hex::encode(message.as_bytes()));
    parse_signature(
        &request(
            "personal_sign",
            json!([hex_message, account.to_checksum(None)]),
        )
        .await?,
    )
}

/// `eth_signTypedData_v4` of an EIP-712 payload.
pub async fn sign_typed_data(account: Address, typed: &Value) -> Result<Vec<u8>, WalletError> {
    parse_signature(
        &request(
            "eth_signTypedData_v4",
            json!([account.to_checksum(None), typed.to_string()]),
        )
        .await?,
    )
}

/// `eth_sendTransaction`; the transaction hash.
pub async fn send_transaction(
    from: Address,
    to: Address,
    data: &Bytes,
    value: U256,
) -> Result<B256, WalletError> {
    let mut tx = json!({"from": from.to_checksum(None), "to": to.to_checksum(None), "data": data.to_string()});
    if !value.is_zero() {
        tx["value"] = json!(format!("0x{value:x}"));
    }
    let hash = request("eth_sendTransaction", json!([tx])).await?;
    hash.as_str()
        .and_then(|h| h.parse().ok())
        .ok_or_else(|| WalletError::local("the wallet returned no transaction hash"))
}

/// Calls `handler` on the wallet's `accountsChanged` and `chainChanged` events, so the app follows
/// them without a reload.
pub fn on_change(
    on_accounts: impl Fn(Option<Address>) + 'static,
    on_chain: impl Fn(Option<u64>) + 'static,
) {
    let Ok(provider) = provider() else {
        return;
    };
    let Some(on) = get(&provider, "on").and_then(|f| f.dyn_into::<Function>().ok()) else {
        return;
    };
    let accounts = Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| {
        let text = JSON::stringify(&v)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        on_accounts(parse_accounts(&value).first().copied());
    });
    let chain = Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| {
        on_chain(
            v.as_string()
                .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()),
        );
    });
    let _ = on.call2(
        &provider,
        &JsValue::from_str("accountsChanged"),
        accounts.as_ref().unchecked_ref(),
    );
    let _ = on.call2(
        &provider,
        &JsValue::from_str("chainChanged"),
        chain.as_ref().unchecked_ref(),
    );
    LISTENERS.with(|l| {
        let mut l = l.borrow_mut();
        l.push(accounts);
        l.push(chain);
    });
}
