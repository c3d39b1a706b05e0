//! Recovery kits (docs/api.md "Recovery kits"; formats.md section 9; issue 18): the escrow keeps
//! each patient's sealed recovery shares and hands them out as the recovery contract allows.
//!
//! - A patient stores its kit once its guardians and threshold are on chain: the kit must name
//!   the same guardians, in the same order, and the same threshold as `guardiansOf` (a kit for a
//!   set the chain does not hold could never be used).
//! - The patient sees its whole kit; a guardian in it, and on the chain's list now, sees the
//!   manifest and its own sealed share; anyone else is refused.
//! - A guardian, on the chain's guardian list and in the kit, hands over its share of that kit
//!   (named by its id) re-sealed to the transport key of a wallet whose recovery request is open
//!   on chain (by its number), or completed by moving the identity to that wallet, while the kit
//!   still names the chain's guardians and threshold.
//! - The wallet that controls the identity now (after `completeRecovery`, checked on chain at the
//!   request) collects the shares of the stored kit re-sealed for the request that moved the
//!   identity to it.
//!
//! Removing a guardian on chain stops the escrow showing it its share, but does not revoke the
//! share: a guardian that kept it holds a share of the seed until the patient rotates its key
//! and stores a kit of the new one. A kit is of one key version; after a rotation the patient
//! stores a new kit.
//!
//! What the escrow holds opens only with a guardian's key or the recovering wallet's transport
//! key: fewer than the threshold of shares say nothing of the seed even to someone holding those
//! keys, and the escrow holds none of them.

use alloy_primitives::{hex, Address};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use medledger_protocol::api::recovery::{
    check_sealed, KitManifest, KitView, RecoveryKit, ReleaseShareBody, ReleasedShares, SealedShare,
    ShareReleased,
};

use crate::auth::Session;
use crate::db::{NewRelease, StoredKit};
use crate::error::{ApiError, JsonBody};
use crate::server::AppState;

fn now() -> u64 {
    u64::try_from(crate::now_secs()).unwrap_or(0)
}

fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

fn not_guardian() -> ApiError {
    ApiError::forbidden(
        "not-a-guardian",
        "only the patient and its guardians, in its recovery kit and on chain, may see it or release a share",
    )
}

fn no_kit() -> ApiError {
    ApiError::not_found(
        "no-recovery-kit",
        "this account has stored no recovery kit with the escrow",
    )
}

/// The identity in a path.
fn identity_in(text: &str) -> Result<Address, ApiError> {
    text.trim()
        .parse()
        .map_err(|_| ApiError::bad_request("bad-identity", "identity is not an address"))
}

/// What the caller may see of `stored`: every share for its patient, its own for a guardian.
fn view_of(stored: StoredKit, caller: Address) -> Result<KitView, ApiError> {
    let kit = stored.kit;
    let shares: Vec<SealedShare> = if caller == kit.set.account {
        kit.shares()
    } else {
        kit.shares()
            .into_iter()
            .filter(|s| s.guardian == caller)
            .collect()
    };
    if caller != kit.set.account && shares.is_empty() {
        return Err(not_guardian());
    }
    Ok(KitView {
        manifest: kit.manifest().into(),
        stored_at: stored.stored_at,
        shares,
    })
}

/// `PUT /api/recovery/kit`: the signed-in patient stores its kit (replacing any before it).
pub async fn put_kit(
    State(st): State<AppState>,
    session: Session,
    JsonBody(kit): JsonBody<RecoveryKit>,
) -> Result<Json<KitView>, ApiError> {
    if kit.set.account != session.address {
        return Err(ApiError::forbidden(
            "not-your-kit",
            "a recovery kit is stored by the account whose key it recovers",
        ));
    }
    if (kit.set.chain_id, kit.set.contract) != (st.deployment.chain_id, st.deployment.address) {
        return Err(unprocessable(
            "other-deployment",
            format!(
                "the kit's set names contract {} on chain {}; this escrow serves {} on chain {}",
                kit.set.contract, kit.set.chain_id, st.deployment.address, st.deployment.chain_id
            ),
        ));
    }
    kit.check()
        .map_err(|e| unprocessable("bad-kit", e.to_string()))?;
    let recovery = st.deployment.recovery.address;
    let (guardians, threshold) = st.ledger.guardians_of(recovery, session.address).await?;
    if guardians != kit.set.guardians || threshold != kit.set.threshold {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "guardians-differ",
            format!(
                "the kit names {} guardians with threshold {}; the chain holds {} with threshold {} \
                 for this account: name the guardians on chain first (setGuardians), in the kit's order",
                kit.set.guardians.len(),
                kit.set.threshold,
                guardians.len(),
                threshold
            ),
        ));
    }
    let at = now();
    st.index.put_kit(session.address, &kit, at).await?;
    tracing::info!(guardians = guardians.len(), "recovery kit stored");
    view_of(StoredKit { kit, stored_at: at }, session.address).map(Json)
}

/// `GET /api/recovery/kit/{identity}`: the patient's kit, or a guardian's part of it.
pub async fn get_kit(
    State(st): State<AppState>,
    session: Session,
    Path(identity): Path<String>,
) -> Result<Json<KitView>, ApiError> {
    let identity = identity_in(&identity)?;
    let stored = st.index.kit(identity).await?;
    let Some(stored) = stored else {
        // To anyone but its patient, no kit and not a guardian of it are the same answer: whether
        // a patient has stored a kit is the patient's to know.
        return Err(if identity == session.address {
            no_kit()
        } else {
            not_guardian()
        });
    };
    // The kit's own answer first: a caller not in it is refused before the chain is asked, so
    // that neither the time taken nor a node's failure tells a stranger a kit exists.
    let view = view_of(stored, session.address)?;
    if identity != session.address {
        // A guardian the patient has removed on chain is no longer shown its share.
        let (guardians, _) = st
            .ledger
            .guardians_of(st.deployment.recovery.address, identity)
            .await?;
        if !guardians.contains(&session.address) {
            return Err(not_guardian());
        }
    }
    Ok(Json(view))
}

/// `POST /api/recovery/kit/{identity}/releases`: a guardian hands over its share re-sealed for a
/// wallet whose recovery request is open, or completed (the identity moved to that wallet by
/// that request): a wallet that completed on the approvals before every share was in can still be
/// given the rest.
pub async fn release(
    State(st): State<AppState>,
    session: Session,
    Path(identity): Path<String>,
    JsonBody(body): JsonBody<ReleaseShareBody>,
) -> Result<Json<ShareReleased>, ApiError> {
    let identity = identity_in(&identity)?;
    let kit = st.index.kit(identity).await?.ok_or_else(not_guardian)?.kit;
    let share = kit.share(body.index).ok_or_else(not_guardian)?;
    if share.guardian != session.address {
        return Err(not_guardian());
    }
    let recovery = st.deployment.recovery.address;
    let (guardians, threshold) = st.ledger.guardians_of(recovery, identity).await?;
    if !guardians.contains(&session.address) {
        return Err(not_guardian());
    }
    check_release(&kit, &body, (&guardians, threshold))?;
    let request = st
        .ledger
        .recovery_of(recovery, identity, body.new_wallet)
        .await?;
    let this_request = request.request_id == body.request_id && request.request_id != 0;
    let taken_over = || async {
        // Closed: by the identity moving to that wallet (a wallet that controls an identity
        // cannot ask again, so its request on record is the one that moved it), or by a
        // cancellation, a new guardian set or another wallet's recovery.
        st.ledger
            .identity_of(body.new_wallet)
            .await
            .map(|moved_to| moved_to == identity)
    };
    if !this_request || !(request.open || taken_over().await?) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no-recovery-request",
            format!(
                "{} has no open recovery request numbered {} for this identity, nor one that moved it",
                body.new_wallet, body.request_id
            ),
        ));
    }
    let released = st
        .index
        .put_release(&NewRelease {
            identity,
            new_wallet: body.new_wallet,
            kit_id: body.kit_id,
            request_id: body.request_id,
            index: body.index,
            guardian: session.address,
            sealed: hex::encode_prefixed(&body.sealed),
            at: now(),
        })
        .await?;
    tracing::info!(index = body.index, released, "recovery share released");
    Ok(Json(ShareReleased {
        identity,
        new_wallet: body.new_wallet,
        request_id: body.request_id,
        index: body.index,
        released,
    }))
}

/// A release's checks against the stored kit and the chain's set: the share is of the kit stored
/// now (409 `kit-replaced`), the kit still names the chain's guardians and threshold (409
/// `kit-stale`), and the share is 81 bytes (422 `bad-share`).
fn check_release(
    kit: &RecoveryKit,
    body: &ReleaseShareBody,
    (guardians, threshold): (&[Address], u8),
) -> Result<(), ApiError> {
    if body.kit_id != kit.manifest().id() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "kit-replaced",
            "the patient has stored another recovery kit since: open your share of the current one",
        ));
    }
    if guardians != kit.set.guardians.as_slice() || threshold != kit.set.threshold {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "kit-stale",
            "the patient's guardians or threshold on chain are no longer the kit's; the patient must store a new kit",
        ));
    }
    check_sealed(std::slice::from_ref(&body.sealed))
        .map_err(|e| unprocessable("bad-share", e.to_string()))
}

/// `GET /api/recovery/released`: the shares re-sealed for the signed-in wallet, once it controls
/// the identity it recovered.
pub async fn released(
    State(st): State<AppState>,
    session: Session,
) -> Result<Json<ReleasedShares>, ApiError> {
    let nothing = || {
        ApiError::not_found(
            "nothing-released",
            "no shares were released to this wallet for the account it controls",
        )
    };
    // The wallet signed in as the identity it controlled then; asked again now, so that a wallet
    // a later recovery retired gets nothing.
    if session.wallet == session.address
        || st.ledger.identity_of(session.wallet).await? != session.address
    {
        return Err(nothing());
    }
    let kit = st
        .index
        .kit(session.address)
        .await?
        .ok_or_else(nothing)?
        .kit;
    // The request that moved the identity: a wallet controlling an identity cannot ask again, so
    // its request on record is that one.
    let request = st
        .ledger
        .recovery_of(
            st.deployment.recovery.address,
            session.address,
            session.wallet,
        )
        .await?;
    let manifest = KitManifest::from(kit.manifest());
    let rows = st
        .index
        .releases(
            session.address,
            session.wallet,
            manifest.kit_id,
            request.request_id,
        )
        .await?;
    if rows.is_empty() {
        return Err(nothing());
    }
    let shares = rows
        .into_iter()
        .map(|(index, guardian, sealed)| {
            let sealed = hex::decode(&sealed)
                .map_err(|_| ApiError::from(crate::db::DbError::Corrupt("recovery share")))?;
            Ok(SealedShare {
                index,
                guardian,
                sealed: sealed.into(),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Json(ReleasedShares {
        manifest,
        request_id: request.request_id,
        shares,
    }))
}
