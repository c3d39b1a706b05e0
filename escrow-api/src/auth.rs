//! Sign-in with Ethereum (EIP-4361, docs/formats.md 6.2) and sessions. The escrow issues
//! single-use, expiring nonces; a signed SIWE message is verified with `medledger-protocol`
//! (signature → address, domain, optional URI, chain id, nonce, issued/expiry/not-before times),
//! the nonce consumed, and a random session id set in an HttpOnly, SameSite=Strict cookie. The
//! index keeps only the keccak256 hash of the session id. The [`Session`] extractor is the only
//! source of identity for every other endpoint, and refuses an account that has not accepted the
//! current licence agreement; [`SignedIn`] (sign-out, the session, the agreement) does not.

use alloy_primitives::{hex, keccak256, Address};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use medledger_protocol::api::agreement::AgreementStatus;
use medledger_protocol::api::SessionInfo;
use medledger_protocol::cipher::fill_random;
use medledger_protocol::identity::{verify_siwe, SiweExpectations};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::now_secs;
use crate::server::AppState;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "medledger_session";

/// A signed-in caller who has accepted the current licence agreement: what every endpoint but
/// sign-in, the agreement and health asks for. Without the acceptance its extraction refuses
/// with 403 `agreement-required` (crate::agreement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The account the session acts as: the identity the signed-in wallet controlled on chain at
    /// sign-in (`identityOf`), the only identity the escrow trusts. A recovery that moves the
    /// identity away ends the session (the follower, on IdentityMoved).
    pub address: Address,
    /// The wallet that signed in: it signs every message the account gives the escrow.
    pub wallet: Address,
    /// Unix time the session ends.
    pub expires: i64,
    id_hash: String,
}

/// A signed-in caller, whether or not they have accepted the current licence agreement: for
/// sign-out, the session's own view and the agreement's endpoints only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The account the session acts as (as [`Session::address`]).
    pub address: Address,
    /// The wallet that signed in.
    pub wallet: Address,
    /// Unix time the session ends.
    pub expires: i64,
    /// Where it stands with the licence agreement.
    pub agreement: AgreementStatus,
    id_hash: String,
}

fn random_hex(n: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; n];
    fill_random(&mut buf).map_err(|_| ApiError::internal("randomness", &"no system randomness"))?;
    Ok(hex::encode(buf))
}

fn session_id_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn hash_id(id: &str) -> String {
    keccak256(id.as_bytes()).to_string()
}

/// The signed-in address a request's session cookie names, without taking a rate-limit token:
/// for logging who was refused as over their limit. `None` without a valid session.
pub async fn caller_of(st: &AppState, headers: &HeaderMap) -> Option<Address> {
    let id = session_id_from(headers)?;
    let live = st
        .index
        .session(&hash_id(&id), now_secs())
        .await
        .ok()
        .flatten()?;
    Some(live.address)
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<SignedIn, ApiError> {
        let id = session_id_from(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        let id_hash = hash_id(&id);
        let live = st
            .index
            .session(&id_hash, now_secs())
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        st.limits
            .check(&live.address.to_string())
            .map_err(ApiError::too_many)?;
        let signed_in = SignedIn {
            address: live.address,
            wallet: live.wallet,
            expires: live.expires,
            agreement: st.agreements.status(live.agreement_accepted),
            id_hash,
        };
        still_controls(st, &signed_in).await?;
        Ok(signed_in)
    }
}

/// Ends a session whose wallet a recovery has moved since it signed in, on the consent index's
/// evidence (it applies `IdentityMoved` at the head, with no confirmation depth, and costs no
/// request to the node): a recovery that retired the wallet ends its sessions from the first
/// request after the index has seen it, before the follower, which ends them at its confirmation
/// depth, gets there; and a wallet that signed in as itself and then took an identity over must
/// sign in again to act as it. Only a move the index has applied counts: an index still catching
/// up (after a start, or replaying a reorganisation) knows of no move for a wallet whose session
/// sign-in opened from the chain, and ends nothing. Without a running index, the follower alone
/// ends sessions.
async fn still_controls(st: &AppState, signed_in: &SignedIn) -> Result<(), ApiError> {
    let moved = st
        .consent
        .inspect(|state, _| state.moved(signed_in.wallet))
        .flatten();
    match moved {
        Some(identity) if identity != signed_in.address => {
            st.index.delete_session(&signed_in.id_hash).await?;
            Err(ApiError::unauthenticated())
        }
        _ => Ok(()),
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Session, ApiError> {
        let signed_in = SignedIn::from_request_parts(parts, st).await?;
        if signed_in.agreement.needs_acceptance() {
            return Err(crate::agreement::required(&signed_in.agreement));
        }
        Ok(Session {
            address: signed_in.address,
            wallet: signed_in.wallet,
            expires: signed_in.expires,
            id_hash: signed_in.id_hash,
        })
    }
}

/// `GET /api/auth/nonce`: a fresh single-use nonce and what the SIWE message must say.
pub async fn nonce(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    st.limits
        .check(&format!("ip:{}", st.client_ip(peer, &headers)))
        .map_err(ApiError::too_many)?;
    let now = now_secs();
    // Expired nonces and sessions are purged as new ones are issued.
    st.index.purge_expired(now).await?;
    let nonce = random_hex(16)?;
    let expires = now + st.config.nonce_ttl_secs;
    st.index.insert_nonce(&nonce, expires).await?;
    Ok(Json(json!({
        "nonce": nonce,
        "expiresAt": expires,
        "domain": st.siwe_domain,
        "uri": st.siwe_uri,
        "chainId": st.deployment.chain_id,
    })))
}

/// Query of `GET /api/auth/message`.
#[derive(Debug, Deserialize)]
pub struct MessageQuery {
    /// The account that will sign.
    pub address: String,
}

/// `GET /api/auth/message?address=0x…`: a fresh nonce and the exact EIP-4361 text for `address`
/// to sign (checksummed address, this escrow's domain, URI and chain, 10 minutes' validity), for
/// clients that would rather not assemble it (the console page). The wallet shows the text before
/// signing; verification is the same as for any other message.
pub async fn message(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    crate::error::QueryParams(q): crate::error::QueryParams<MessageQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    st.limits
        .check(&format!("ip:{}", st.client_ip(peer, &headers)))
        .map_err(ApiError::too_many)?;
    let address: Address = q
        .address
        .parse()
        .map_err(|_| ApiError::bad_request("bad-address", "address is not an address"))?;
    let now = now_secs();
    st.index.purge_expired(now).await?;
    let nonce = random_hex(16)?;
    let expires = now + st.config.nonce_ttl_secs;
    st.index.insert_nonce(&nonce, expires).await?;
    let uri = st.siwe_uri.clone();
    let msg = medledger_protocol::identity::SiweMessage {
        domain: st.siwe_domain.clone(),
        address,
        statement: Some("Sign in to medledger".into()),
        uri,
        chain_id: st.deployment.chain_id,
        nonce,
        issued_at: medledger_protocol::identity::format_rfc3339(now),
        expiration_time: Some(medledger_protocol::identity::format_rfc3339(now + 600)),
        not_before: None,
        request_id: None,
        resources: Vec::new(),
    };
    Ok(Json(
        json!({"message": msg.to_string(), "expiresAt": expires}),
    ))
}

/// Body of `POST /api/auth/verify`.
#[derive(Debug, Deserialize)]
pub struct VerifyRequest {
    /// The exact EIP-4361 text that was signed.
    pub message: String,
    /// The 65-byte `personal_sign` signature, hex.
    pub signature: String,
}

fn cookie(st: &AppState, value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
    let secure = if st.config.cookie_secure() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| ApiError::internal("cookie", &e))
}

/// `POST /api/auth/verify`: checks a signed SIWE message and starts a session.
pub async fn verify(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    crate::error::JsonBody(req): crate::error::JsonBody<VerifyRequest>,
) -> Result<Response, ApiError> {
    let client = st.client_ip(peer, &headers);
    st.limits
        .check(&format!("ip:{client}"))
        .map_err(ApiError::too_many)?;
    let result = verify_inner(&st, &req, client).await;
    st.metrics
        .sign_ins
        .with_label_values(&[if result.is_ok() { "ok" } else { "refused" }])
        .inc();
    result
}

async fn verify_inner(
    st: &AppState,
    req: &VerifyRequest,
    client: std::net::IpAddr,
) -> Result<Response, ApiError> {
    let sig = hex::decode(req.signature.trim())
        .map_err(|_| ApiError::bad_request("bad-signature", "signature is not hex"))?;
    // ECDSA signatures are malleable: (r, n - s) verifies as well as (r, s). Only the low-s form
    // (EIP-2) is accepted, so one signed message has one accepted signature (nonces are single
    // use too, but a signature's identity must not depend on that).
    if alloy_primitives::Signature::from_raw(&sig)
        .ok()
        .and_then(|s| s.normalize_s())
        .is_some()
    {
        return Err(ApiError::forbidden(
            "siwe-refused",
            "sign-in refused: a high-s (malleable) signature; EIP-2 requires low s",
        ));
    }
    let now = now_secs();
    let parsed = medledger_protocol::identity::SiweMessage::parse(&req.message).map_err(|e| {
        ApiError::bad_request("bad-siwe", format!("not an acceptable SIWE message: {e}"))
    })?;
    let expect = SiweExpectations {
        domain: &st.siwe_domain,
        uri: st.config.siwe_uri.as_deref(),
        chain_id: st.deployment.chain_id,
        nonce: &parsed.nonce,
        max_age: Some(st.config.nonce_ttl_secs),
        clock_skew: 60,
    };
    let (msg, wallet) = verify_siwe(&req.message, &sig, &expect, now)
        .map_err(|e| ApiError::forbidden("siwe-refused", format!("sign-in refused: {e}")))?;
    // Without a configured URI, the message must still name this escrow: a message made on (or
    // for) another site is not a sign-in here.
    if st.config.siwe_uri.is_none() && !st.web.is_own_uri(&msg.uri) {
        return Err(ApiError::forbidden(
            "siwe-refused",
            format!(
                "sign-in refused: the message's URI is not on {}",
                st.web.public_origin
            ),
        ));
    }
    // Counted once the signature is good: nobody can use up a client's places with forgeries.
    st.limits
        .accounts
        .admit(client, wallet)
        .map_err(ApiError::too_many)?;
    if !st.index.take_nonce(&msg.nonce, now).await? {
        return Err(ApiError::forbidden(
            "siwe-nonce",
            "sign-in refused: the nonce was not issued here, was already used or has expired",
        ));
    }
    let mut expires = now + st.config.session_ttl_secs;
    if let Some(t) = msg
        .expiration_time
        .as_deref()
        .and_then(medledger_protocol::identity::parse_rfc3339)
    {
        expires = expires.min(t);
    }
    let address = identity_of(st, wallet).await?;
    let id = random_hex(32)?;
    st.index
        .insert_session(&hash_id(&id), (address, wallet), now, expires)
        .await?;
    let accepted = st.index.accepted_agreement(address).await?;
    let signed_in = SessionInfo {
        address,
        wallet,
        expires_at: expires,
        agreement: st.agreements.status(accepted),
    };
    let mut response = Json(signed_in).into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie(st, &id, expires - now)?);
    Ok(response)
}

/// The identity `wallet` acts for on chain now: itself, or the identity a recovery moved to it.
/// A wallet a recovery retired is refused with 403 `wallet-retired`: it has no power on chain,
/// and none here.
async fn identity_of(st: &AppState, wallet: Address) -> Result<Address, ApiError> {
    let identity = st.ledger.identity_of(wallet).await?;
    if identity == Address::ZERO {
        return Err(ApiError::forbidden(
            "wallet-retired",
            format!(
                "sign-in refused: a recovery moved {wallet}'s account to another wallet; sign in with that one"
            ),
        ));
    }
    Ok(identity)
}

/// `POST /api/auth/signout`: ends the session and clears the cookie.
pub async fn sign_out(State(st): State<AppState>, session: SignedIn) -> Result<Response, ApiError> {
    st.index.delete_session(&session.id_hash).await?;
    let mut response = Json(json!({"signedOut": true})).into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie(&st, "", 0)?);
    Ok(response)
}

/// `GET /api/auth/session`: who the session is, and where it stands with the agreement.
pub async fn session(session: SignedIn) -> Json<SessionInfo> {
    Json(SessionInfo {
        address: session.address,
        wallet: session.wallet,
        expires_at: session.expires,
        agreement: session.agreement,
    })
}
