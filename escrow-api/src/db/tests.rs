//! The index against a real SQLite file.

use super::*;
use alloy_primitives::{Address, U256};
use medledger_protocol::api::{AccountEvent, AccountKind, AccountStatus, ClaimStatus};

async fn index() -> (tempfile::TempDir, Index) {
    let (dir, idx) = scratch_index().await;
    idx.migrate().await.expect("migrations are idempotent");
    (dir, idx)
}

fn insurance(byte: u8, deploy_block: u64) -> medledger_protocol::deployment::ContractDeployment {
    medledger_protocol::deployment::ContractDeployment {
        address: Address::repeat_byte(byte),
        deploy_block,
        deploy_tx: B256::ZERO,
        abi_hash: medledger_protocol::contract::insurance_abi_hash(),
    }
}

#[tokio::test]
async fn an_index_serves_one_deployment_only() {
    let (_dir, idx) = index().await;
    let contract = Address::repeat_byte(0x11);
    let ins = insurance(0x15, 2);
    idx.bind_to(1337, contract, &ins)
        .await
        .expect("first start binds");
    idx.bind_to(1337, contract, &ins)
        .await
        .expect("the same deployment again");
    for (chain, other) in [(1337, Address::repeat_byte(0x22)), (1, contract)] {
        match idx.bind_to(chain, other, &ins).await {
            Err(DbError::OtherDeployment {
                indexed_chain,
                indexed_contract,
                ..
            }) => {
                assert_eq!(indexed_chain, 1337);
                assert_eq!(indexed_contract, format!("{contract:#x}"));
            }
            r => panic!("another deployment must be refused, got {r:?}"),
        }
    }
    idx.bind_to(1337, contract, &ins)
        .await
        .expect("a refusal changed nothing");
}

#[tokio::test]
async fn account_histories_follow_the_chain_and_its_reorganisations() {
    let (_dir, idx) = index().await;
    let (doc, pat) = (Address::repeat_byte(0xd0), Address::repeat_byte(0xa7));
    let h = B256::repeat_byte(0x11);
    idx.account_registered(
        doc,
        AccountKind::Practitioner,
        AccountStatus::Pending,
        h,
        10,
    )
    .await
    .expect("registered");
    idx.account_registered(pat, AccountKind::Patient, AccountStatus::Active, h, 10)
        .await
        .expect("registered");
    for (block, log, who, event) in [
        (10, 0, doc, AccountEvent::Registered),
        (10, 1, pat, AccountEvent::Registered),
        (12, 0, doc, AccountEvent::Verified),
        (15, 3, doc, AccountEvent::Suspended),
        (15, 3, doc, AccountEvent::Suspended), // a replayed log
        (20, 0, doc, AccountEvent::Reinstated),
    ] {
        idx.account_event(block, log, who, event)
            .await
            .expect("event");
    }
    let all = idx.account_histories().await.expect("histories");
    // Patients are not applicants: only practitioners and insurers have a history here.
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[&doc],
        [
            (10, AccountEvent::Registered),
            (12, AccountEvent::Verified),
            (15, AccountEvent::Suspended),
            (20, AccountEvent::Reinstated)
        ]
    );
    // A reorganisation from block 15 takes the later events with it.
    idx.rewind(15, &[(doc, AccountStatus::Active)])
        .await
        .expect("rewind");
    let after = idx.account_histories().await.expect("histories");
    assert_eq!(
        after[&doc],
        [(10, AccountEvent::Registered), (12, AccountEvent::Verified)]
    );
}

#[tokio::test]
async fn accounts_indexed_before_the_history_table_keep_their_registration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("i.sqlite").display()
    );
    let idx = Index::connect(&url).await.expect("connect");
    let mut before = migrator();
    let through_7: Vec<_> = before
        .migrations
        .iter()
        .filter(|m| m.version <= 7)
        .cloned()
        .collect();
    before.migrations = Cow::Owned(through_7);
    before.run(&idx.pool).await.expect("migrations 1 to 7");
    let (a, b, c) = (
        Address::repeat_byte(0x0a),
        Address::repeat_byte(0x0b),
        Address::repeat_byte(0x0c),
    );
    for (who, block) in [(a, 5), (b, 5), (c, 9)] {
        idx.account_registered(
            who,
            AccountKind::Practitioner,
            AccountStatus::Active,
            B256::repeat_byte(0x11),
            block,
        )
        .await
        .expect("registered");
    }
    idx.migrate()
        .await
        .expect("migration 8 on a populated index");
    let all = idx.account_histories().await.expect("histories");
    assert_eq!(all[&a], [(5, AccountEvent::Registered)]);
    assert_eq!(all[&b], [(5, AccountEvent::Registered)]);
    assert_eq!(all[&c], [(9, AccountEvent::Registered)]);
    // The follower's real logs at the same blocks do not collide with the filled-in rows.
    idx.account_event(5, 0, a, AccountEvent::Verified)
        .await
        .expect("a real log at block 5");
    assert_eq!(
        idx.account_histories().await.expect("histories")[&a].len(),
        2
    );
}

const PATIENT: Address = Address::repeat_byte(0x0a);
const AUTHOR: Address = Address::repeat_byte(0x0b);
const OTHER: Address = Address::repeat_byte(0x0c);

fn id(n: u8) -> B256 {
    B256::repeat_byte(n)
}

/// The practitioner, patient and insurer of the claim tests.
const CLAIM_PARTIES: (Address, Address, Address) = (
    Address::repeat_byte(0x0d),
    Address::repeat_byte(0x0a),
    Address::repeat_byte(0x1e),
);

/// A claim of [`CLAIM_PARTIES`] as `ClaimSubmitted` left it, at `block`.
fn submitted_claim(claim_id: B256, amount: u128, block: u64) -> ClaimRow {
    let (practitioner, patient, insurer) = CLAIM_PARTIES;
    ClaimRow {
        claim_id,
        practitioner,
        patient,
        insurer,
        document_record_id: id(0xd0),
        amount,
        category: 4,
        submitted_block: block,
        log_index: 0,
        submitted_at: 1_700_000_000 + block,
        status: ClaimStatus::Submitted,
        pending_reason: None,
        payout: None,
        automatic: None,
        deny_reason_hash: None,
    }
}

fn rec(record_id: B256) -> RecordRow {
    RecordRow {
        record_id,
        patient: PATIENT,
        author: PATIENT,
        category: 1,
        h1: id(0x41),
        size: 10,
        blob_key: Some(format!("c2/{record_id}")),
        c2_size: 78,
        wrapped_k2: Some("0xk2".into()),
        state: RecordState::Pending,
        created: 100,
        committed_block: None,
        label: Some("0x01aa".into()),
        rooted: None,
    }
}

#[tokio::test]
async fn record_lifecycle_pending_committed_shredded() {
    let (_dir, idx) = index().await;
    let deks = vec![DekRow {
        reader: PATIENT,
        wrap: "0xw".into(),
    }];
    idx.insert_pending(&rec(id(1)), &deks)
        .await
        .expect("insert");
    assert!(
        idx.insert_pending(&rec(id(1)), &deks).await.is_err(),
        "an id is stored once"
    );
    let anchored = |patient, h1| Anchored {
        record_id: id(1),
        patient,
        h1,
        category: 2,
        author: AUTHOR,
    };
    assert!(!idx
        .commit(&anchored(PATIENT, id(0x99)), 5)
        .await
        .expect("commit"));
    assert!(!idx
        .commit(&anchored(OTHER, id(0x41)), 5)
        .await
        .expect("commit"));
    assert!(idx
        .commit(&anchored(PATIENT, id(0x41)), 5)
        .await
        .expect("commit"));
    let r = idx.record(id(1)).await.expect("get").expect("present");
    assert_eq!(r.state, RecordState::Committed);
    assert_eq!(r.committed_block, Some(5));
    // The upload said category 1 and the patient as author; the anchor's category and author win.
    assert_eq!((r.category, r.author), (2, AUTHOR));
    assert_eq!(
        r.label.as_deref(),
        Some("0x01aa"),
        "the sealed label is kept"
    );
    assert_eq!(
        idx.wrapped_dek(id(1), PATIENT).await.expect("dek"),
        Some("0xw".into())
    );
    let receipt = |at| ShredReceipt {
        record_id: id(1),
        receipt: "{}".into(),
        signature: "0xsig".into(),
        receipt_hash: id(0x77),
        at,
    };
    let blob = idx.shred(&receipt(200)).await.expect("shred");
    assert_eq!(blob, Some(Some(format!("c2/{}", id(1)))));
    assert_eq!(idx.shred(&receipt(201)).await.expect("again"), None);
    let r = idx.record(id(1)).await.expect("get").expect("present");
    assert_eq!(r.state, RecordState::Shredded);
    assert_eq!(r.wrapped_k2, None);
    assert_eq!(r.label, None, "shredding clears the label with the keys");
    assert_eq!(idx.count_deks(id(1)).await.expect("count"), 0);
    assert_eq!(
        idx.unconfirmed_receipts().await.expect("r"),
        [(id(1), id(0x77), None)]
    );
}

#[tokio::test]
async fn a_stored_value_that_is_not_the_escrow_s_is_refused_by_name() {
    let (_dir, idx) = index().await;
    idx.insert_pending(&rec(id(2)), &[]).await.expect("insert");
    sqlx::query("UPDATE records SET patient = 'not an address'")
        .execute(&idx.pool)
        .await
        .expect("corrupt it");
    match idx.record(id(2)).await {
        Err(DbError::Corrupt(column)) => assert_eq!(column, "patient"),
        other => panic!("a malformed patient was read as {other:?}"),
    }
}

#[tokio::test]
async fn nonces_are_single_use_and_expire() {
    let (_dir, idx) = index().await;
    idx.insert_nonce("abcdefgh1", 1000).await.expect("nonce");
    idx.insert_nonce("abcdefgh2", 1000).await.expect("nonce");
    assert!(idx.take_nonce("abcdefgh1", 999).await.expect("take"));
    assert!(
        !idx.take_nonce("abcdefgh1", 999).await.expect("take"),
        "single use"
    );
    assert!(
        !idx.take_nonce("abcdefgh2", 1000).await.expect("take"),
        "expired"
    );
    assert!(!idx.take_nonce("never", 1).await.expect("take"));
}

#[tokio::test]
async fn cursor_survives_reconnect() {
    let (dir, idx) = index().await;
    assert_eq!(idx.cursor().await.expect("cursor"), None);
    idx.set_cursor(7).await.expect("set");
    idx.set_cursor(9).await.expect("set");
    drop(idx);
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("i.sqlite").display()
    );
    let idx = Index::connect(&url).await.expect("reconnect");
    assert_eq!(idx.cursor().await.expect("cursor"), Some(9));
}

#[tokio::test]
async fn policy_events_are_stored_typed_and_a_corrupt_one_is_refused_by_column() {
    let (_dir, idx) = index().await;
    let (insurer, other) = (Address::repeat_byte(0x1a), Address::repeat_byte(0x1b));
    assert_eq!(idx.policy(insurer).await.expect("policy"), None);
    let terms = PolicyTerms {
        covered_categories: U256::from(0b1010u64),
        per_claim_limit: 1_000_000_000_000_000_000,
        // Beyond u64, as the contract's uint128 allows.
        annual_limit: u128::MAX,
        deductible: 0,
    };
    let published = PolicyEvent::Published(terms);
    idx.policy_event(10, 0, insurer, &published)
        .await
        .expect("published");
    let policy = |funds, published_block| PolicyRow {
        insurer,
        terms,
        funds,
        published_block,
    };
    // Published, no funding event yet: no funds.
    assert_eq!(
        idx.policy(insurer).await.expect("policy"),
        Some(policy(U256::ZERO, 10))
    );
    let five = U256::from(5u64) * U256::from(10u64).pow(U256::from(18u64));
    let funded = PolicyEvent::Funded {
        amount: five,
        funds: five,
    };
    idx.policy_event(11, 2, insurer, &funded)
        .await
        .expect("funded");
    assert_eq!(
        idx.policy(insurer).await.expect("policy"),
        Some(policy(five, 10))
    );
    let withdrawn = PolicyEvent::Withdrawn {
        amount: U256::from(1u64),
        funds: five - U256::from(1u64),
    };
    idx.policy_event(12, 0, insurer, &withdrawn)
        .await
        .expect("withdrawn");
    let after = Some(policy(five - U256::from(1u64), 10));
    assert_eq!(idx.policy(insurer).await.expect("policy"), after);
    // A replayed log (same block and log index) changes nothing, whatever it says.
    let replay = PolicyEvent::Funded {
        amount: U256::from(7u64),
        funds: U256::from(7u64),
    };
    idx.policy_event(12, 0, insurer, &replay)
        .await
        .expect("replay");
    idx.policy_event(10, 0, insurer, &published)
        .await
        .expect("replay");
    assert_eq!(idx.policy(insurer).await.expect("policy"), after);
    // The stored text is what it was before the rows were typed, so older indexes still read.
    // kind, annual_limit, amount, funds
    type Stored = (String, Option<String>, Option<String>, Option<String>);
    let stored: Vec<Stored> = sqlx::query_as(
        "SELECT kind, annual_limit, amount, funds FROM policy_events ORDER BY block, log_index",
    )
    .fetch_all(&idx.pool)
    .await
    .expect("rows");
    let text = |s: &str| Some(s.to_string());
    assert_eq!(
        stored,
        [
            ("published".into(), Some(u128::MAX.to_string()), None, None),
            (
                "funded".into(),
                None,
                text("5000000000000000000"),
                text("5000000000000000000")
            ),
            (
                "withdrawn".into(),
                None,
                text("1"),
                text("4999999999999999999")
            ),
        ]
    );
    assert_eq!(idx.policy(other).await.expect("policy"), None);

    // Values the escrow never writes are refused, naming the column.
    for (update, column) in [
        (
            "UPDATE policy_events SET funds = 'lots' WHERE kind = 'withdrawn'",
            "funds",
        ),
        (
            "UPDATE policy_events SET funds = NULL WHERE kind = 'withdrawn'",
            "funds",
        ),
        (
            "UPDATE policy_events SET kind = 'refunded' WHERE kind = 'withdrawn'",
            "kind",
        ),
        (
            "UPDATE policy_events SET per_claim_limit = '-1' WHERE kind = 'published'",
            "per_claim_limit",
        ),
    ] {
        let (_dir, idx) = index().await;
        idx.policy_event(10, 0, insurer, &published)
            .await
            .expect("published");
        idx.policy_event(12, 0, insurer, &withdrawn)
            .await
            .expect("withdrawn");
        sqlx::query(update)
            .execute(&idx.pool)
            .await
            .expect("corrupt it");
        match idx.policy(insurer).await {
            Err(DbError::Corrupt(c)) => assert_eq!(c, column, "{update}"),
            r => panic!("{update}: read as {r:?}"),
        }
    }
    // A bad row inserted as is, beside good ones.
    sqlx::query(
        "INSERT INTO policy_events (block, log_index, insurer, kind, covered_categories, per_claim_limit, annual_limit, deductible) VALUES (13, 0, $1, 'published', 'all', '1', '1', '1')",
    )
    .bind(insurer.to_checksum(None))
    .execute(&idx.pool)
    .await
    .expect("insert a bad row");
    match idx.policy(insurer).await {
        Err(DbError::Corrupt(c)) => assert_eq!(c, "covered_categories"),
        r => panic!("a malformed mask was read as {r:?}"),
    }
}

#[tokio::test]
async fn claims_are_stored_typed_and_a_corrupt_amount_is_refused_by_column() {
    let (_dir, idx) = index().await;
    let (doctor, _, insurer) = CLAIM_PARTIES;
    let submitted = submitted_claim;
    // Beyond u64, as the contract's uint128 allows.
    let (paid, pending) = (
        submitted(id(0xc1), u128::MAX, 20),
        submitted(id(0xc2), 5_000, 21),
    );
    idx.claim_submitted(&paid).await.expect("submitted");
    idx.claim_submitted(&pending).await.expect("submitted");
    let approved = ClaimUpdate::Approved {
        payout: 1_500_000_000_000_000_000,
    };
    idx.claim_update(20, 1, paid.claim_id, &approved)
        .await
        .expect("approved");
    let settled = ClaimUpdate::Paid {
        payout: u128::MAX - 1,
        automatic: false,
    };
    idx.claim_update(22, 0, paid.claim_id, &settled)
        .await
        .expect("paid");
    idx.claim_update(
        21,
        1,
        pending.claim_id,
        &ClaimUpdate::PendingReview { reason: 2 },
    )
    .await
    .expect("pending review");
    // A replayed log (same block and log index) changes nothing, whatever it says.
    let replay = ClaimUpdate::Paid {
        payout: 7,
        automatic: true,
    };
    idx.claim_update(22, 0, paid.claim_id, &replay)
        .await
        .expect("replay");
    idx.claim_submitted(&submitted(id(0xc1), 7, 20))
        .await
        .expect("replay");
    let expected = vec![
        ClaimRow {
            status: ClaimStatus::Paid,
            payout: Some(u128::MAX - 1),
            automatic: Some(false),
            ..paid.clone()
        },
        ClaimRow {
            status: ClaimStatus::PendingReview,
            pending_reason: Some(2),
            ..pending.clone()
        },
    ];
    assert_eq!(idx.claims_of(insurer).await.expect("claims"), expected);
    assert_eq!(idx.claims_of(doctor).await.expect("claims"), expected);

    // The stored text is what it was before the rows were typed, so older indexes still read.
    let amounts: Vec<(String,)> =
        sqlx::query_as("SELECT amount FROM claims ORDER BY submitted_block")
            .fetch_all(&idx.pool)
            .await
            .expect("rows");
    assert_eq!(amounts, [(u128::MAX.to_string(),), ("5000".to_string(),)]);
    let payouts: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT status, payout FROM claim_updates ORDER BY block, log_index")
            .fetch_all(&idx.pool)
            .await
            .expect("rows");
    assert_eq!(
        payouts,
        [
            ("approved".into(), Some("1500000000000000000".into())),
            ("pending-review".into(), None),
            ("paid".into(), Some((u128::MAX - 1).to_string())),
        ]
    );

    // Values the escrow never writes are refused, naming the column.
    for (update, column) in [
        ("UPDATE claims SET amount = 'lots'", "claims.amount"),
        ("UPDATE claims SET amount = '-1'", "claims.amount"),
        // u128::MAX + 1: more than a uint128 holds.
        (
            "UPDATE claims SET amount = '340282366920938463463374607431768211456'",
            "claims.amount",
        ),
        (
            "UPDATE claim_updates SET payout = '1.5e18' WHERE status = 'approved'",
            "claim_updates.payout",
        ),
        (
            "UPDATE claim_updates SET payout = NULL WHERE status = 'paid'",
            "claim_updates.payout",
        ),
    ] {
        let (_dir, idx) = index().await;
        idx.claim_submitted(&paid).await.expect("submitted");
        idx.claim_update(20, 1, paid.claim_id, &approved)
            .await
            .expect("approved");
        idx.claim_update(22, 0, paid.claim_id, &settled)
            .await
            .expect("paid");
        sqlx::query(update)
            .execute(&idx.pool)
            .await
            .expect("corrupt it");
        match idx.claims_of(insurer).await {
            Err(DbError::Corrupt(c)) => assert_eq!(c, column, "{update}"),
            r => panic!("{update}: read as {r:?}"),
        }
    }
    // Bad rows inserted as is, beside good ones: a payout, then an amount.
    sqlx::query(
        "INSERT INTO claim_updates (block, log_index, claim_id, status, payout) VALUES (23, 0, $1, 'approved', 'five')",
    )
    .bind(b256_text(pending.claim_id))
    .execute(&idx.pool)
    .await
    .expect("insert a bad update");
    match idx.claims_of(insurer).await {
        Err(DbError::Corrupt(c)) => assert_eq!(c, "claim_updates.payout"),
        r => panic!("a malformed payout was read as {r:?}"),
    }
    let stranger = Address::repeat_byte(0x55);
    sqlx::query(
        "INSERT INTO claims (claim_id, practitioner, patient, insurer, document_record_id, amount, category, submitted_block, log_index, submitted_at) VALUES ($1, $2, $2, $3, $1, 'five', 4, 24, 0, 0)",
    )
    .bind(b256_text(id(0xc3)))
    .bind(address_text(stranger))
    .bind(address_text(insurer))
    .execute(&idx.pool)
    .await
    .expect("insert a bad claim");
    match idx.claims_of(stranger).await {
        Err(DbError::Corrupt(c)) => assert_eq!(c, "claims.amount"),
        r => panic!("a malformed amount was read as {r:?}"),
    }
}

#[tokio::test]
async fn anchors_are_stored_typed_and_a_batch_without_its_transaction_still_reads() {
    let (_dir, idx) = index().await;
    assert_eq!(idx.last_anchor().await.expect("anchor"), None);
    let sent = AnchorRow {
        anchor_index: 0,
        first_seq: 0,
        last_seq: 9,
        root: id(0x31),
        tx_hash: Some(id(0x41)),
    };
    // Reconciled from the chain after a crash: the transaction is unknown.
    let reconciled = AnchorRow {
        anchor_index: 1,
        first_seq: 10,
        last_seq: 19,
        root: id(0x32),
        tx_hash: None,
    };
    idx.insert_anchor(&sent, 100).await.expect("anchor");
    idx.insert_anchor(&reconciled, 101).await.expect("anchor");
    assert_eq!(
        idx.anchor_covering(9).await.expect("anchor"),
        Some(sent.clone())
    );
    assert_eq!(
        idx.anchor_covering(10).await.expect("anchor"),
        Some(reconciled.clone())
    );
    assert_eq!(idx.anchor_covering(20).await.expect("anchor"), None);
    assert_eq!(
        idx.last_anchor().await.expect("anchor"),
        Some(reconciled.clone())
    );
    // Stored as before: lower-case hex, and an empty string for an unknown transaction.
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT root, tx_hash FROM log_anchors ORDER BY anchor_index")
            .fetch_all(&idx.pool)
            .await
            .expect("rows");
    assert_eq!(
        stored,
        [
            (id(0x31).to_string(), id(0x41).to_string()),
            (id(0x32).to_string(), String::new()),
        ]
    );
    assert_eq!(idx.forget_anchors_from(1).await.expect("forget"), 1);
    assert_eq!(idx.last_anchor().await.expect("anchor"), Some(sent));
    // Anything else is not what the escrow writes.
    for (update, column) in [
        ("UPDATE log_anchors SET tx_hash = 'not a hash'", "tx_hash"),
        ("UPDATE log_anchors SET root = ''", "root"),
        ("UPDATE log_anchors SET first_seq = -1", "first_seq"),
    ] {
        let (_dir, idx) = index().await;
        idx.insert_anchor(&reconciled, 101).await.expect("anchor");
        sqlx::query(update)
            .execute(&idx.pool)
            .await
            .expect("corrupt it");
        match idx.anchor_covering(15).await {
            Err(DbError::Corrupt(c)) => assert_eq!(c, column, "{update}"),
            r => panic!("{update}: read as {r:?}"),
        }
    }
}

#[tokio::test]
async fn a_new_insurance_contract_beside_the_same_core_is_followed_from_its_deployment() {
    let (_dir, idx) = index().await;
    let core = Address::repeat_byte(0x11);
    let (doctor, patient, insurer) = CLAIM_PARTIES;
    let old = insurance(0x15, 2);
    idx.bind_to(1337, core, &old).await.expect("bound");
    // What the follower derived up to block 40: a grant (the core's) and a claim and a policy
    // (the old insurance contract's).
    let terms = GrantTerms {
        categories: U256::from(0b10u8),
        can_write: false,
        expiry: 2_000_000_000,
    };
    idx.grant_event(12, 0, patient, doctor, Some(terms))
        .await
        .expect("grant");
    idx.claim_submitted(&submitted_claim(id(0xc1), 5_000, 20))
        .await
        .expect("claim");
    let published = PolicyEvent::Published(PolicyTerms {
        covered_categories: U256::from(0b10u8),
        per_claim_limit: 10,
        annual_limit: 100,
        deductible: 0,
    });
    idx.policy_event(15, 0, insurer, &published)
        .await
        .expect("policy");
    for block in [29, 30, 39] {
        idx.remember_block(block, &format!("0x{block:064x}"), 16)
            .await
            .expect("remembered");
    }
    idx.set_cursor(40).await.expect("cursor");

    // The insurance contract is redeployed alone, at block 30.
    let new = insurance(0x16, 30);
    idx.bind_to(1337, core, &new)
        .await
        .expect("the same core with a new insurance contract is followed, not refused");
    assert!(idx.claims_of(doctor).await.expect("claims").is_empty());
    assert_eq!(idx.policy(insurer).await.expect("policy"), None);
    assert_eq!(
        idx.grants_given(patient).await.expect("grants").len(),
        1,
        "the core's rows stay"
    );
    assert_eq!(idx.cursor().await.expect("cursor"), Some(30));
    let remembered: Vec<i64> = idx
        .remembered_blocks()
        .await
        .expect("blocks")
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    assert_eq!(
        remembered,
        [29],
        "blocks from the rewind point on are forgotten"
    );

    // Bound again to the same pair: nothing more is dropped, the cursor stays.
    idx.claim_submitted(&submitted_claim(id(0xc2), 7, 31))
        .await
        .expect("a claim of the new contract");
    idx.set_cursor(35).await.expect("cursor");
    idx.bind_to(1337, core, &new).await.expect("the same again");
    assert_eq!(idx.claims_of(doctor).await.expect("claims").len(), 1);
    assert_eq!(idx.cursor().await.expect("cursor"), Some(35));
}

/// Records 0x61..=0x63 of PATIENT (category 1, h1 = the id's byte ^ 0xff) as a batch under one
/// root, each stored pending with its place.
fn rooted_batch() -> (medledger_protocol::record_root::RootedBatch, Vec<RecordRow>) {
    use medledger_protocol::record_root::{NewRootedRecord, RootedBatch};
    let items: Vec<_> = (0x61u8..=0x63)
        .map(|n| NewRootedRecord {
            record_id: id(n),
            ciphertext_hash: id(n ^ 0xff),
            category: 1,
        })
        .collect();
    let batch = RootedBatch::new(&items).expect("a batch");
    let rows = (0u32..)
        .zip(&items)
        .map(|(i, it)| RecordRow {
            h1: it.ciphertext_hash,
            rooted: batch.place(i),
            ..rec(it.record_id)
        })
        .collect();
    (batch, rows)
}

#[tokio::test]
async fn records_under_a_root_commit_when_they_prove_and_rewind_with_it() {
    let (_dir, idx) = index().await;
    let (batch, rows) = rooted_batch();
    for r in &rows {
        idx.insert_pending(r, &[]).await.expect("insert");
    }
    let stored = idx.record(id(0x61)).await.expect("get").expect("present");
    assert_eq!(stored.rooted, batch.place(0), "the place round-trips");
    // An addRecord of the same id and h1 does not commit an upload that named a root.
    let alone = Anchored {
        record_id: id(0x61),
        patient: PATIENT,
        h1: id(0x61 ^ 0xff),
        category: 1,
        author: PATIENT,
    };
    assert!(!idx.commit(&alone, 4).await.expect("commit"));
    let root = RootRow {
        root: batch.root(),
        patient: PATIENT,
        author: AUTHOR,
        count: batch.count(),
        categories: batch.categories(),
        block: 7,
    };
    assert_eq!(idx.root(root.root).await.expect("root"), None);
    idx.insert_root(&root).await.expect("insert root");
    idx.insert_root(&root)
        .await
        .expect("a replayed block keeps it once");
    assert_eq!(idx.root(root.root).await.expect("root"), Some(root));
    let pending = idx.pending_under_root(root.root).await.expect("pending");
    assert_eq!(pending.len(), 3);
    // A row whose h1 is not its leaf's does not prove.
    let mut forged = rows[1].clone();
    forged.h1 = id(0x01);
    assert!(!root.admits(&forged));
    let other_patient = RootRow {
        patient: OTHER,
        ..root
    };
    assert!(!other_patient.admits(&rows[1]), "another patient's root");
    let fewer = RootRow { count: 2, ..root };
    assert!(!fewer.admits(&rows[2]), "an index past the count");
    for r in &pending {
        assert!(idx.commit_under_root(&root, r).await.expect("commit"));
    }
    let r = idx.record(id(0x62)).await.expect("get").expect("present");
    assert_eq!(
        (r.state, r.committed_block, r.author),
        (RecordState::Committed, Some(7), AUTHOR)
    );
    let undone = idx.rewind(7, &[]).await.expect("rewind");
    assert_eq!(undone.uncommitted, 3);
    assert_eq!(
        idx.root(root.root).await.expect("root"),
        None,
        "the root is forgotten"
    );
    let r = idx.record(id(0x62)).await.expect("get").expect("present");
    assert_eq!(
        r.state,
        RecordState::Pending,
        "back to pending, to commit again"
    );
}

#[tokio::test]
async fn a_readers_wraps_are_paged_through_an_index_not_a_scan() {
    let (_dir, idx) = index().await;
    let sql = format!("EXPLAIN QUERY PLAN {}", super::wraps::WRAPS_HELD_BY);
    let rows = sqlx::query(&sql)
        .bind("0x01")
        .bind("")
        .bind("shredded")
        .bind(500_i64)
        .fetch_all(&idx.pool)
        .await
        .expect("plan");
    let plan: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>("detail").expect("detail"))
        .collect();
    assert!(
        plan.iter().any(|d| d.contains("wrapped_deks_reader")),
        "{plan:?}"
    );
}

#[tokio::test]
async fn an_upload_s_pending_quota_is_summed_through_an_index_not_a_scan() {
    let (_dir, idx) = index().await;
    let sql = format!("EXPLAIN QUERY PLAN {}", super::wraps::PENDING_BYTES);
    let rows = sqlx::query(&sql)
        .bind("pending")
        .bind("0x01")
        .fetch_all(&idx.pool)
        .await
        .expect("plan");
    let plan: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>("detail").expect("detail"))
        .collect();
    assert!(
        plan.iter().any(|d| d.contains("records_author_state")),
        "{plan:?}"
    );
    assert_eq!(
        idx.pending_bytes_of(Address::repeat_byte(1))
            .await
            .expect("sum"),
        0
    );
}

#[tokio::test]
async fn a_recovery_kit_is_replaced_whole_and_releases_are_kept_per_kit_and_request() {
    use medledger_protocol::api::recovery::RecoveryKit;
    use medledger_protocol::recovery::RecoverySet;
    let (_dir, idx) = index().await;
    let identity = Address::repeat_byte(0xaa);
    let kit = |threshold| RecoveryKit {
        set: RecoverySet {
            chain_id: 1337,
            contract: Address::repeat_byte(0xc0),
            account: identity,
            key_version: 1,
            threshold,
            guardians: vec![Address::repeat_byte(1), Address::repeat_byte(2)],
        },
        commitments: vec![id(1), id(2)],
        sealed: vec![vec![1u8; 81].into(), vec![2u8; 81].into()],
    };
    assert_eq!(idx.kit(identity).await.expect("kit"), None);
    idx.put_kit(identity, &kit(2), 100).await.expect("stored");
    idx.put_kit(identity, &kit(1), 101).await.expect("replaced");
    let stored = idx.kit(identity).await.expect("kit").expect("present");
    assert_eq!((stored.kit, stored.stored_at), (kit(1), 101));

    let wallet = Address::repeat_byte(0x77);
    let release = |request_id, index: u8, sealed: &str| NewRelease {
        identity,
        new_wallet: wallet,
        kit_id: id(0x52),
        request_id,
        index,
        guardian: Address::repeat_byte(index),
        sealed: sealed.into(),
        at: 200,
    };
    let idx = &idx;
    let put = |r: NewRelease| async move { idx.put_release(&r).await.expect("release") };
    assert_eq!(put(release(1, 1, "0x01")).await, 1);
    assert_eq!(put(release(1, 1, "0x0101")).await, 1, "replaced, not added");
    assert_eq!(put(release(1, 2, "0x02")).await, 2);
    assert_eq!(put(release(2, 2, "0x22")).await, 1, "another request");
    // Another kit's releases are not this kit's.
    let other_kit = NewRelease {
        kit_id: id(0x51),
        ..release(1, 1, "0x99")
    };
    assert_eq!(put(other_kit).await, 1);
    let of = |request| idx.releases(identity, wallet, id(0x52), request);
    assert_eq!(
        of(1).await.expect("request 1"),
        [
            (1, Address::repeat_byte(1), "0x0101".to_string()),
            (2, Address::repeat_byte(2), "0x02".to_string())
        ]
    );
    assert_eq!(
        of(2).await.expect("request 2"),
        [(2, Address::repeat_byte(2), "0x22".to_string())]
    );
    assert_eq!(
        idx.releases(identity, Address::repeat_byte(0x78), id(0x52), 1)
            .await
            .expect("none"),
        []
    );
}
