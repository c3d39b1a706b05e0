//! The contracts' events as the index keeps them: of the core, a record committed, accounts
//! registered and their status, and grants; of the insurance contract, claims and policies. Each handler is idempotent (rows are keyed by the
//! log's place on chain), so a replayed block range changes nothing.

use super::*;

/// Applies one event of the deployment's contracts to the index. Events the index does not keep
/// are ignored.
pub(super) async fn handle(
    st: &AppState,
    event: ContractEvent,
    log: &ChainLog,
) -> Result<(), FollowError> {
    match event {
        ContractEvent::Core(e) => core_event(st, e, log).await,
        ContractEvent::Insurance(e) => insurance_event(st, e, log).await,
        ContractEvent::Licensing(e) => licence_event(st, e, log).await,
    }
}

/// The licensing contract's events, kept one row each for the console's audit export (the
/// licence's effect on reads is the core's `LicenceTermsChanged`, which the consent index follows).
async fn licence_event(
    st: &AppState,
    event: MedLedgerLicensingEvents,
    log: &ChainLog,
) -> Result<(), FollowError> {
    let Some((organisation, kind, account, actor, detail)) = licence_row(event) else {
        return Ok(());
    };
    let time = block_time(st, log.block).await?;
    let row = LicenceEvent {
        block: log.block,
        log_index: log.log_index,
        time,
        organisation,
        event: kind,
        account,
        actor,
        detail,
    };
    st.index.licence_event(&row).await?;
    Ok(())
}

/// One licensing event as a row: organisation, kind, the account it is about, who did it, and
/// its figures in words. `None` for the one event of no organisation (`FeesWithdrawn`, which the
/// platform's accounts and the contract's balance already show).
type LicenceRow = (
    u32,
    LicenceEventKind,
    Option<Address>,
    Option<Address>,
    String,
);

fn licence_row(event: MedLedgerLicensingEvents) -> Option<LicenceRow> {
    use LicenceEventKind as K;
    use MedLedgerLicensingEvents as E;
    let seats = |s: &medledger_protocol::contract::Seats| {
        format!(
            "admins={} practitioners={} patients={}",
            s.admins, s.practitioners, s.patients
        )
    };
    Some(match event {
        E::OrganisationCreated(e) => (
            e.organisation,
            K::Created,
            Some(e.admin),
            None,
            format!(
                "paidUntil={} annualFeeWei={} name={}",
                e.paidUntil, e.annualFee, e.name
            ),
        ),
        E::SeatsChanged(e) => (
            e.organisation,
            K::SeatsChanged,
            None,
            None,
            seats(&e.limits),
        ),
        E::AnnualFeeChanged(e) => (
            e.organisation,
            K::FeeChanged,
            None,
            None,
            format!("annualFeeWei={}", e.annualFee),
        ),
        E::SubscriptionRenewed(e) => (
            e.organisation,
            K::Renewed,
            None,
            Some(e.by),
            format!("paidUntil={} amountWei={}", e.paidUntil, e.amount),
        ),
        E::LicenceNoticeGiven(e) => (
            e.organisation,
            K::NoticeGiven,
            None,
            None,
            format!("terminatesAt={}", e.terminatesAt),
        ),
        E::LicenceTerminated(e) => (
            e.organisation,
            K::Terminated,
            None,
            None,
            format!("terminatesAt={}", e.terminatesAt),
        ),
        E::LicenceReinstated(e) => (e.organisation, K::Reinstated, None, None, String::new()),
        E::OrganisationAdminAdded(e) => (
            e.organisation,
            K::AdminAdded,
            Some(e.account),
            Some(e.by),
            String::new(),
        ),
        E::OrganisationAdminRemoved(e) => (
            e.organisation,
            K::AdminRemoved,
            Some(e.account),
            Some(e.by),
            String::new(),
        ),
        E::PractitionerJoined(e) => (
            e.organisation,
            K::PractitionerJoined,
            Some(e.practitioner),
            Some(e.by),
            String::new(),
        ),
        E::PractitionerReleased(e) => (
            e.organisation,
            K::PractitionerReleased,
            Some(e.practitioner),
            Some(e.by),
            String::new(),
        ),
        E::EnrolmentOffered(e) => (
            e.organisation,
            K::EnrolmentOffered,
            Some(e.patient),
            Some(e.by),
            String::new(),
        ),
        E::PatientEnrolled(e) => (
            e.organisation,
            K::PatientEnrolled,
            Some(e.patient),
            Some(e.patient),
            String::new(),
        ),
        E::EnrolmentEnded(e) => (
            e.organisation,
            K::EnrolmentEnded,
            Some(e.patient),
            Some(e.by),
            String::new(),
        ),
        _ => return None,
    })
}

/// The time of a block the follower is reading.
async fn block_time(st: &AppState, block: u64) -> Result<u64, FollowError> {
    st.ledger
        .chain()
        .block(block)
        .await?
        .map(|b| b.timestamp)
        .ok_or_else(|| FollowError::Corrupt("a logged block is missing".into()))
}

/// The core's events: records, erasures, accounts, consent and identities moved to new wallets.
async fn core_event(
    st: &AppState,
    event: MedLedgerEvents,
    log: &ChainLog,
) -> Result<(), FollowError> {
    use AccountEvent as Ev;
    use MedLedgerEvents as E;
    match event {
        E::RecordAdded(e) => record_added(st, &e, log.block).await?,
        E::RecordErased(e) => shred(st, e.recordId).await?,
        E::AllRecordsErased(e) => all_erased(st, e.patient).await?,
        E::RecordRootAnchored(e) => root_anchored(st, &e, log.block).await?,
        E::RootedRecordErased(e) => rooted_erased(st, e.root, e.recordId).await?,
        E::AccountRegistered(e) => {
            account_registered(st, log, e.account, e.kind, e.profileHash).await?
        }
        E::AccountVerified(e) => account_changed(st, log, e.account, Ev::Verified).await?,
        E::AccountSuspended(e) => account_changed(st, log, e.account, Ev::Suspended).await?,
        E::AccountReinstated(e) => account_changed(st, log, e.account, Ev::Reinstated).await?,
        E::PractitionerOrganisationChanged(e) if e.organisation == 0 => {
            account_changed(st, log, e.practitioner, Ev::Released).await?
        }
        E::ConsentGranted(e) => {
            let terms = GrantTerms {
                categories: e.categories,
                can_write: e.canWrite,
                expiry: e.expiry,
            };
            grant_event(st, log, e.patient, e.grantee, Some(terms)).await?
        }
        E::ConsentRevoked(e) => grant_event(st, log, e.patient, e.grantee, None).await?,
        // From this block the old wallet has no power on chain: it keeps none here either.
        E::IdentityMoved(e) => {
            st.index.delete_sessions_of_wallet(e.oldWallet).await?;
        }
        _ => {}
    }
    Ok(())
}

/// The insurance contract's events: claims and policies.
async fn insurance_event(
    st: &AppState,
    event: MedLedgerInsuranceEvents,
    log: &ChainLog,
) -> Result<(), FollowError> {
    use MedLedgerInsuranceEvents as E;
    match event {
        E::ClaimSubmitted(e) => claim_submitted(st, &e, log).await?,
        E::ClaimPendingReview(e) => {
            let reason = e.reason;
            claim_update(st, log, e.claimId, ClaimUpdate::PendingReview { reason }).await?
        }
        E::ClaimApproved(e) => {
            let payout = e.payout;
            claim_update(st, log, e.claimId, ClaimUpdate::Approved { payout }).await?
        }
        E::ClaimDenied(e) => {
            let reason_hash = e.reasonHash;
            claim_update(st, log, e.claimId, ClaimUpdate::Denied { reason_hash }).await?
        }
        E::ClaimPaid(e) => {
            let (payout, automatic) = (e.payout, e.automatic);
            claim_update(st, log, e.claimId, ClaimUpdate::Paid { payout, automatic }).await?
        }
        E::PolicyPublished(e) => {
            let terms = PolicyTerms {
                covered_categories: e.coveredCategories,
                per_claim_limit: e.perClaimLimit,
                annual_limit: e.annualLimit,
                deductible: e.deductible,
            };
            policy_event(st, log, e.insurer, PolicyEvent::Published(terms)).await?
        }
        E::PolicyFunded(e) => {
            let (amount, funds) = (e.amount, e.funds);
            policy_event(st, log, e.insurer, PolicyEvent::Funded { amount, funds }).await?
        }
        E::PolicyFundsWithdrawn(e) => {
            let (amount, funds) = (e.amount, e.funds);
            policy_event(st, log, e.insurer, PolicyEvent::Withdrawn { amount, funds }).await?
        }
        _ => {}
    }
    Ok(())
}

/// `RecordAdded`: the upload with the same id and h1 is committed, with the chain's category
/// and author (the chain is the truth). Another h1 leaves the upload pending, to expire.
async fn record_added(
    st: &AppState,
    e: &medledger_protocol::contract::MedLedger::RecordAdded,
    block: u64,
) -> Result<(), FollowError> {
    let anchored = crate::db::Anchored {
        record_id: e.recordId,
        patient: e.patient,
        h1: e.ciphertextHash,
        category: e.category,
        author: e.author,
    };
    let uploaded = st.index.record(e.recordId).await?;
    if st.index.commit(&anchored, block).await? {
        let differs = uploaded
            .is_some_and(|u| u.category != anchored.category || u.author != anchored.author);
        if differs {
            tracing::warn!(
                block,
                "the anchor's category or author differs from the upload's; the index follows the chain"
            );
        }
        tracing::info!(block, "record committed");
    } else if let Some(r) = st.index.record(e.recordId).await? {
        if r.state == RecordState::Pending {
            tracing::warn!(
                block,
                "anchored h1 differs from the stored upload; it stays pending and expires"
            );
        }
    }
    Ok(())
}

/// `AllRecordsErased`: every record of the patient the chain now says is erased (`isErased`, or
/// `isRootedErased` for one under a root) is shredded.
async fn all_erased(st: &AppState, patient: Address) -> Result<(), FollowError> {
    for r in st.index.records_of(patient).await? {
        let erased = match &r.rooted {
            None => st.ledger.is_erased(r.record_id).await?,
            Some(place) => st.ledger.is_rooted_erased(place.root, r.record_id).await?,
        };
        if erased {
            shred(st, r.record_id).await?;
        }
    }
    Ok(())
}

/// `RecordRootAnchored`: the root is kept, and each pending upload that proves a leaf of it is
/// committed with the root's author (an upload whose leaf does not prove stays pending, to expire).
async fn root_anchored(
    st: &AppState,
    e: &medledger_protocol::contract::MedLedger::RecordRootAnchored,
    block: u64,
) -> Result<(), FollowError> {
    let root = crate::db::RootRow {
        root: e.root,
        patient: e.patient,
        author: e.author,
        count: e.count,
        categories: e.categories,
        block,
    };
    st.index.insert_root(&root).await?;
    let (mut committed, mut refused) = (0u64, 0u64);
    for r in st.index.pending_under_root(e.root).await? {
        if st.index.commit_under_root(&root, &r).await? {
            committed += 1;
        } else {
            refused += 1;
        }
    }
    if refused > 0 {
        tracing::warn!(
            block,
            refused,
            "uploads naming this root do not prove under it; they stay pending and expire"
        );
    }
    tracing::info!(block, committed, "record root anchored");
    Ok(())
}

/// `RootedRecordErased`: the record is shredded when it is the one stored under that root.
async fn rooted_erased(st: &AppState, root: B256, record_id: B256) -> Result<(), FollowError> {
    let Some(r) = st.index.record(record_id).await? else {
        return Ok(());
    };
    if r.rooted.as_ref().is_some_and(|p| p.root == root) {
        shred(st, record_id).await?;
    }
    Ok(())
}

/// `AccountRegistered`: the account, at its kind's starting status, and its first history entry.
async fn account_registered(
    st: &AppState,
    log: &ChainLog,
    account: Address,
    kind: u8,
    profile_hash: B256,
) -> Result<(), FollowError> {
    let Some(kind) = AccountKind::from_chain_number(kind) else {
        // A role added to the contract after this escrow: not shown as another one.
        tracing::warn!(
            block = log.block,
            kind,
            "an account kind this escrow does not know is not indexed"
        );
        return Ok(());
    };
    let status = kind.status_at_registration();
    st.index
        .account_registered(account, kind, status, profile_hash, log.block)
        .await?;
    st.index
        .account_event(log.block, log.log_index, account, AccountEvent::Registered)
        .await?;
    Ok(())
}

/// A verification, suspension, reinstatement or release: the account's status and its history.
async fn account_changed(
    st: &AppState,
    log: &ChainLog,
    account: Address,
    event: AccountEvent,
) -> Result<(), FollowError> {
    let status = match event {
        AccountEvent::Suspended => Some(AccountStatus::Suspended),
        AccountEvent::Verified | AccountEvent::Reinstated => Some(AccountStatus::Active),
        // Pending again, unless suspended (the contract keeps a suspension through a release).
        AccountEvent::Released => None,
        AccountEvent::Registered => Some(AccountStatus::Pending),
    };
    match status {
        Some(status) => st.index.account_status(account, status, log.block).await?,
        None => st.index.account_released(account, log.block).await?,
    }
    st.index
        .account_event(log.block, log.log_index, account, event)
        .await?;
    Ok(())
}

/// A grant (with its categories, write flag and expiry) or a revocation (`None`).
async fn grant_event(
    st: &AppState,
    log: &ChainLog,
    patient: Address,
    grantee: Address,
    terms: Option<GrantTerms>,
) -> Result<(), FollowError> {
    st.index
        .grant_event(log.block, log.log_index, patient, grantee, terms)
        .await?;
    Ok(())
}

/// `ClaimSubmitted`: the claim, stamped with its block's time.
async fn claim_submitted(
    st: &AppState,
    e: &medledger_protocol::contract::MedLedgerInsurance::ClaimSubmitted,
    log: &ChainLog,
) -> Result<(), FollowError> {
    let block = log.block;
    let submitted_at = block_time(st, block).await?;
    st.index
        .claim_submitted(&ClaimRow {
            claim_id: e.claimId,
            practitioner: e.practitioner,
            patient: e.patient,
            insurer: e.insurer,
            document_record_id: e.documentRecordId,
            amount: e.amount,
            category: e.category,
            submitted_block: block,
            log_index: log.log_index,
            submitted_at,
            status: ClaimStatus::Submitted,
            pending_reason: None,
            payout: None,
            automatic: None,
            deny_reason_hash: None,
        })
        .await?;
    Ok(())
}

/// A policy published (its terms), funded or drawn from (the amount and the funds after).
async fn policy_event(
    st: &AppState,
    log: &ChainLog,
    insurer: Address,
    event: PolicyEvent,
) -> Result<(), FollowError> {
    st.index
        .policy_event(log.block, log.log_index, insurer, &event)
        .await?;
    Ok(())
}

async fn claim_update(
    st: &AppState,
    log: &ChainLog,
    claim_id: B256,
    update: ClaimUpdate,
) -> Result<(), FollowError> {
    st.index
        .claim_update(log.block, log.log_index, claim_id, &update)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The follower's handling of account events on a scripted chain, against a real index.
    use super::*;
    use crate::chain::scripted::{escrow_on, Script};
    use medledger_protocol::contract::{MedLedger, MedLedgerInsurance};

    const DOCTOR: Address = Address::repeat_byte(0x0d);

    fn at(block: u64, log_index: u64) -> ChainLog {
        ChainLog {
            address: Address::ZERO,
            block,
            log_index,
            tx_hash: B256::repeat_byte(0x70),
            topics: Vec::new(),
            data: Vec::new(),
        }
    }

    fn registered(kind: u8) -> MedLedgerEvents {
        MedLedgerEvents::AccountRegistered(MedLedger::AccountRegistered {
            account: DOCTOR,
            kind,
            encryptionKey: B256::repeat_byte(1),
            profileHash: B256::repeat_byte(2),
        })
    }

    async fn statuses(st: &AppState) -> Vec<(Address, AccountStatus)> {
        let apps = st.index.applications(None).await.expect("applications");
        apps.into_iter().map(|a| (a.address, a.status)).collect()
    }

    #[tokio::test]
    async fn an_application_follows_its_events_and_a_replay_changes_nothing() {
        let (_dir, _chain, st) = escrow_on(Script::default()).await;
        let practitioner = AccountKind::Practitioner.chain_number();
        handle(&st, registered(practitioner).into(), &at(5, 0))
            .await
            .expect("registered");
        let doctor = DOCTOR;
        assert_eq!(statuses(&st).await, [(doctor, AccountStatus::Pending)]);

        let suspended = MedLedgerEvents::AccountSuspended(MedLedger::AccountSuspended {
            account: DOCTOR,
            admin: Address::repeat_byte(0xad),
            reasonHash: B256::ZERO,
        });
        handle(&st, suspended.clone().into(), &at(7, 1))
            .await
            .expect("suspended");
        assert_eq!(statuses(&st).await, [(doctor, AccountStatus::Suspended)]);
        // A replayed block range (after a crash) writes nothing twice.
        handle(&st, registered(practitioner).into(), &at(5, 0))
            .await
            .expect("replay");
        handle(&st, suspended.into(), &at(7, 1))
            .await
            .expect("replay");
        assert_eq!(statuses(&st).await, [(doctor, AccountStatus::Suspended)]);
        let history = st.index.account_histories().await.expect("history");
        let events: Vec<_> = history[&doctor].iter().map(|(_, e)| *e).collect();
        assert_eq!(events, [AccountEvent::Registered, AccountEvent::Suspended]);
    }

    #[tokio::test]
    async fn an_account_kind_this_escrow_does_not_know_is_not_shown_as_another() {
        let (_dir, _chain, st) = escrow_on(Script::default()).await;
        let unknown = (0..=u8::MAX)
            .find(|n| AccountKind::from_chain_number(*n).is_none())
            .expect("a kind number no role uses");
        handle(&st, registered(unknown).into(), &at(5, 0))
            .await
            .expect("ignored");
        assert!(statuses(&st).await.is_empty());
    }

    const PATIENT: Address = Address::repeat_byte(0x0a);
    const INSURER: Address = Address::repeat_byte(0x1e);

    #[tokio::test]
    async fn grants_and_revocations_are_kept_as_typed_rows_and_replays_change_nothing() {
        let (_dir, _chain, st) = escrow_on(Script::default()).await;
        let mask = alloy_primitives::U256::from(0b1010u64);
        let granted = MedLedgerEvents::ConsentGranted(MedLedger::ConsentGranted {
            patient: PATIENT,
            grantee: DOCTOR,
            categories: mask,
            canWrite: true,
            expiry: u64::MAX,
        });
        handle(&st, granted.clone().into(), &at(9, 2))
            .await
            .expect("granted");
        handle(&st, granted.into(), &at(9, 2))
            .await
            .expect("replayed");
        let given = st.index.grants_given(PATIENT).await.expect("given");
        assert_eq!(given.len(), 1, "a replayed log inserts nothing");
        let g = &given[0];
        assert_eq!((g.grantee, g.categories, g.can_write), (DOCTOR, mask, true));
        assert_eq!((g.expiry, g.block), (u64::MAX, 9));
        assert_eq!(
            st.index.grants_received(DOCTOR).await.expect("received"),
            given
        );

        let revoked = MedLedgerEvents::ConsentRevoked(MedLedger::ConsentRevoked {
            patient: PATIENT,
            grantee: DOCTOR,
        });
        handle(&st, revoked.into(), &at(11, 0))
            .await
            .expect("revoked");
        assert!(st
            .index
            .grants_given(PATIENT)
            .await
            .expect("given")
            .is_empty());
    }

    /// `ClaimSubmitted` of DOCTOR against INSURER for PATIENT, care in category 4.
    fn submitted(claim_id: B256, document: B256, amount: u128) -> MedLedgerInsuranceEvents {
        MedLedgerInsuranceEvents::ClaimSubmitted(MedLedgerInsurance::ClaimSubmitted {
            claimId: claim_id,
            practitioner: DOCTOR,
            patient: PATIENT,
            insurer: INSURER,
            documentRecordId: document,
            amount,
            category: 4,
        })
    }

    #[tokio::test]
    async fn a_claim_follows_its_events_to_its_last_state() {
        let (_dir, _chain, st) = escrow_on(Script::default()).await;
        let claim_id = B256::repeat_byte(0xc1);
        let submitted = submitted(claim_id, B256::repeat_byte(0xd0), 5_000);
        handle(&st, submitted.into(), &at(1, 0))
            .await
            .expect("submitted");
        let pending =
            MedLedgerInsuranceEvents::ClaimPendingReview(MedLedgerInsurance::ClaimPendingReview {
                claimId: claim_id,
                reason: 2,
            });
        handle(&st, pending.into(), &at(1, 1))
            .await
            .expect("pending review");
        let claims = st.index.claims_of(INSURER).await.expect("claims");
        assert_eq!(claims.len(), 1);
        let c = &claims[0];
        assert_eq!(
            (c.status, c.pending_reason),
            (ClaimStatus::PendingReview, Some(2))
        );
        assert_eq!(
            (c.patient, c.practitioner, c.category),
            (PATIENT, DOCTOR, 4)
        );
        assert_eq!(c.amount, 5_000);

        let denied = MedLedgerInsuranceEvents::ClaimDenied(MedLedgerInsurance::ClaimDenied {
            claimId: claim_id,
            reasonHash: B256::repeat_byte(0xde),
        });
        handle(&st, denied.into(), &at(1, 3)).await.expect("denied");
        let c = st.index.claims_of(PATIENT).await.expect("claims").remove(0);
        assert_eq!(c.status, ClaimStatus::Denied);
        assert_eq!(c.deny_reason_hash, Some(B256::repeat_byte(0xde)));
        let counts = st.index.claim_counts().await.expect("counts");
        assert!(counts.contains(&(ClaimStatus::Denied, 1)), "{counts:?}");
        assert!(counts.contains(&(ClaimStatus::Submitted, 0)), "{counts:?}");
        // Another party sees nothing of it.
        let stranger = Address::repeat_byte(0x55);
        assert!(st
            .index
            .claims_of(stranger)
            .await
            .expect("claims")
            .is_empty());
    }

    #[tokio::test]
    async fn a_claim_s_wei_beyond_u64_is_followed_to_its_payout() {
        let (_dir, _chain, st) = escrow_on(Script::default()).await;
        let claim_id = B256::repeat_byte(0xc2);
        // uint128 amounts beyond u64, as the contract allows.
        let (amount, payout) = (u128::from(u64::MAX) * 3, u128::from(u64::MAX) * 2);
        let submitted = submitted(claim_id, B256::repeat_byte(0xd1), amount);
        handle(&st, submitted.into(), &at(1, 0))
            .await
            .expect("submitted");
        let approved = MedLedgerInsuranceEvents::ClaimApproved(MedLedgerInsurance::ClaimApproved {
            claimId: claim_id,
            payout,
        });
        handle(&st, approved.into(), &at(2, 0))
            .await
            .expect("approved");
        let c = st.index.claims_of(PATIENT).await.expect("claims").remove(0);
        assert_eq!(
            (c.status, c.amount, c.payout, c.automatic),
            (ClaimStatus::Approved, amount, Some(payout), None)
        );
        let paid = MedLedgerInsuranceEvents::ClaimPaid(MedLedgerInsurance::ClaimPaid {
            claimId: claim_id,
            practitioner: DOCTOR,
            payout,
            automatic: false,
        });
        handle(&st, paid.into(), &at(3, 0)).await.expect("paid");
        let c = st.index.claims_of(DOCTOR).await.expect("claims").remove(0);
        assert_eq!(
            (c.status, c.amount, c.payout, c.automatic),
            (ClaimStatus::Paid, amount, Some(payout), Some(false))
        );
    }
}
