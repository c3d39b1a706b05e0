//! Identity messages: key derivation from a wallet signature, SIWE build/parse/verify with every
//! check failing on its own, EIP-712 escrow requests.

use alloy_primitives::{address, b256, eip191_hash_message, hex, Address, B256, U256};
use k256::ecdsa::SigningKey;
use medledger_protocol::identity::{
    format_rfc3339, parse_rfc3339, verify_siwe, EscrowRequest, HoldDecisionMessage, IdentityError,
    KeyDerivation, MoveWrapsMessage, SiweExpectations, SiweMessage, KEY_VERSION,
    TRANSPORT_KEY_VERSION,
};
use proptest::prelude::*;

const CHAIN: u64 = 1337;
const CONTRACT: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
const NOW: i64 = 1_795_593_300; // 2026-11-25T07:55:00Z

/// Hardhat/Ganache test account #0.
fn wallet() -> (SigningKey, Address) {
    let sk = SigningKey::from_slice(&hex!(
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    ))
    .expect("key");
    (sk, address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"))
}

fn other_wallet() -> SigningKey {
    SigningKey::from_slice(&hex!(
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
    ))
    .expect("key")
}

fn sign_hash(sk: &SigningKey, hash: &B256) -> [u8; 65] {
    let (sig, recid) = sk.sign_prehash_recoverable(hash.as_slice()).expect("sign");
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&sig.to_bytes());
    out[64] = 27 + recid.to_byte();
    out
}

fn personal_sign(sk: &SigningKey, msg: &str) -> [u8; 65] {
    sign_hash(sk, &eip191_hash_message(msg))
}

#[test]
fn key_derivation_is_deterministic_and_bound_to_signer_and_deployment() {
    let (sk, account) = wallet();
    let kd = KeyDerivation::new(CHAIN, CONTRACT, account);
    let sig = sign_hash(&sk, &kd.signing_hash());
    let kp = kd.derive_keypair(&sig).expect("derive");
    // RFC 6979 signatures are deterministic, so is the key.
    let sig2 = sign_hash(&sk, &kd.signing_hash());
    assert_eq!(sig, sig2);
    assert_eq!(
        kd.derive_keypair(&sig2).expect("again").public(),
        kp.public()
    );
    // v written as 0/1 instead of 27/28 gives the same key.
    let mut sig01 = sig;
    sig01[64] -= 27;
    assert_eq!(
        kd.derive_keypair(&sig01).expect("v 0/1").public(),
        kp.public()
    );

    // Another deployment signs another message and gets another key.
    let kd2 = KeyDerivation::new(
        CHAIN,
        address!("e7f1725E7734CE288F8367e1Bb143E90bb3F0512"),
        account,
    );
    assert_ne!(kd2.signing_hash(), kd.signing_hash());
    let kp2 = kd2
        .derive_keypair(&sign_hash(&sk, &kd2.signing_hash()))
        .expect("derive");
    assert_ne!(kp2.public(), kp.public());

    // A signature over another message, or by another key, is refused.
    assert!(matches!(
        kd.derive_keypair(&sign_hash(&sk, &kd2.signing_hash())),
        Err(IdentityError::WrongSigner { .. })
    ));
    assert!(matches!(
        kd.derive_keypair(&sign_hash(&other_wallet(), &kd.signing_hash())),
        Err(IdentityError::WrongSigner { .. })
    ));
    assert!(matches!(
        kd.derive_keypair(&sig[..64]),
        Err(IdentityError::BadSignature(_))
    ));
    let mut bad_v = sig;
    bad_v[64] = 5;
    assert!(matches!(
        kd.derive_keypair(&bad_v),
        Err(IdentityError::BadSignature(_))
    ));
}

#[test]
fn typed_data_json_names_the_same_message() {
    let (_, account) = wallet();
    let kd = KeyDerivation::new(CHAIN, CONTRACT, account);
    let json = kd.typed_data_json();
    assert_eq!(json["primaryType"], "DeriveEncryptionKey");
    assert_eq!(json["domain"]["chainId"], CHAIN);
    assert_eq!(
        json["domain"]["verifyingContract"],
        CONTRACT.to_checksum(None)
    );
    assert_eq!(json["message"]["account"], account.to_checksum(None));
    assert_eq!(json["message"]["keyVersion"], 1);
}

fn siwe(statement: Option<&str>) -> SiweMessage {
    SiweMessage {
        domain: "localhost:8080".into(),
        address: wallet().1,
        statement: statement.map(str::to_string),
        uri: "http://localhost:8080/login".into(),
        chain_id: CHAIN,
        nonce: "k3Jd8sLq2mZx".into(),
        issued_at: format_rfc3339(NOW - 10),
        expiration_time: Some(format_rfc3339(NOW + 600)),
        not_before: None,
        request_id: None,
        resources: vec![],
    }
}

fn expect() -> SiweExpectations<'static> {
    SiweExpectations {
        domain: "localhost:8080",
        uri: Some("http://localhost:8080/login"),
        chain_id: CHAIN,
        nonce: "k3Jd8sLq2mZx",
        max_age: Some(300),
        clock_skew: 30,
    }
}

#[test]
fn siwe_text_follows_eip4361() {
    let text = siwe(Some("Sign in to medledger.")).to_string();
    assert_eq!(
        text,
        "localhost:8080 wants you to sign in with your Ethereum account:\n\
         0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\n\
         \n\
         Sign in to medledger.\n\
         \n\
         URI: http://localhost:8080/login\n\
         Version: 1\n\
         Chain ID: 1337\n\
         Nonce: k3Jd8sLq2mZx\n\
         Issued At: 2026-11-25T07:54:50Z\n\
         Expiration Time: 2026-11-25T08:05:00Z"
    );
    let bare = siwe(None).to_string();
    assert!(bare.contains("2266\n\n\nURI: "), "{bare}");
    let mut full = siwe(None);
    full.not_before = Some("2026-11-25T07:00:00Z".into());
    full.request_id = Some("req-1".into());
    full.resources = vec!["ipfs://bafy".into(), "https://example.org/a".into()];
    let t = full.to_string();
    assert!(t.ends_with("\nNot Before: 2026-11-25T07:00:00Z\nRequest ID: req-1\nResources:\n- ipfs://bafy\n- https://example.org/a"), "{t}");
    assert_eq!(SiweMessage::parse(&t).expect("parse"), full);
}

#[test]
fn siwe_verify_accepts_the_right_sign_in() {
    let (sk, account) = wallet();
    for st in [Some("Sign in to medledger."), None] {
        let text = siwe(st).to_string();
        let sig = personal_sign(&sk, &text);
        let (msg, who) = verify_siwe(&text, &sig, &expect(), NOW).expect("verify");
        assert_eq!(who, account);
        assert_eq!(msg, siwe(st));
    }
}

#[test]
fn siwe_verify_rejects_each_bad_field() {
    let (sk, _) = wallet();
    let text = siwe(None).to_string();
    let sig = personal_sign(&sk, &text);
    let check = |e: SiweExpectations<'_>, now: i64| verify_siwe(&text, &sig, &e, now);

    let mut e = expect();
    e.domain = "evil.example";
    assert_eq!(
        check(e, NOW),
        Err(IdentityError::SiweMismatch { field: "domain" })
    );
    let mut e = expect();
    e.uri = Some("http://localhost:8080/other");
    assert_eq!(
        check(e, NOW),
        Err(IdentityError::SiweMismatch { field: "URI" })
    );
    let mut e = expect();
    e.chain_id = 1;
    assert_eq!(
        check(e, NOW),
        Err(IdentityError::SiweMismatch { field: "chain id" })
    );
    let mut e = expect();
    e.nonce = "anotherNonce1";
    assert_eq!(
        check(e, NOW),
        Err(IdentityError::SiweMismatch { field: "nonce" })
    );
    let mut e = expect();
    e.max_age = None;
    assert!(matches!(
        check(e, NOW + 600),
        Err(IdentityError::Expired { .. })
    ));
    assert!(matches!(
        check(expect(), NOW - 100),
        Err(IdentityError::NotYetValid { .. })
    ));
    let mut e = expect();
    e.max_age = Some(5);
    assert!(matches!(check(e, NOW), Err(IdentityError::TooOld { .. })));

    // Signed by someone else, or over other text.
    let forged = personal_sign(&other_wallet(), &text);
    assert!(matches!(
        verify_siwe(&text, &forged, &expect(), NOW),
        Err(IdentityError::WrongSigner { .. })
    ));
    let other_text = text.replace("Nonce: k3Jd8sLq2mZx", "Nonce: k3Jd8sLq2mZy");
    assert!(matches!(
        verify_siwe(&other_text, &sig, &expect(), NOW),
        Err(IdentityError::WrongSigner { .. }) | Err(IdentityError::SiweMismatch { .. })
    ));

    let mut nb = siwe(None);
    nb.not_before = Some(format_rfc3339(NOW + 120));
    let nb_text = nb.to_string();
    assert!(matches!(
        verify_siwe(&nb_text, &personal_sign(&sk, &nb_text), &expect(), NOW),
        Err(IdentityError::NotYetValid { .. })
    ));
}

#[test]
fn siwe_parser_is_strict() {
    let good = siwe(Some("Hi.")).to_string();
    let cases = [
        good.replace(
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        ),
        good.replace("Version: 1", "Version: 2"),
        good.replace("Chain ID: 1337", "Chain ID: 01337"),
        good.replace("Nonce: k3Jd8sLq2mZx", "Nonce: short"),
        good.replace("Issued At: 2026-11-25T07:54:50Z", "Issued At: yesterday"),
        good.replace("\nURI", "URI"),
        good.replace(" wants you", " want you"),
        format!("{good}\n"),
        format!("{good}\nSomething: else"),
        good.replace("URI: http://localhost:8080/login", "URI: http://local host"),
        String::new(),
        "\n\n\n\n".into(),
    ];
    for bad in cases {
        assert!(
            matches!(
                SiweMessage::parse(&bad),
                Err(IdentityError::MalformedSiwe(_))
            ),
            "accepted: {bad:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn siwe_parse_never_panics(s in "\\PC{0,300}") {
        let _ = SiweMessage::parse(&s);
    }

    #[test]
    fn siwe_round_trips(statement in proptest::option::of("[A-Za-z0-9 .,!?]{1,60}"),
                        nonce in "[A-Za-z0-9]{8,24}",
                        chain in 1u64..u64::MAX,
                        secs in 0i64..253_402_300_799) {
        let mut m = siwe(None);
        m.statement = statement;
        m.nonce = nonce;
        m.chain_id = chain;
        m.issued_at = format_rfc3339(secs);
        prop_assert_eq!(parse_rfc3339(&m.issued_at), Some(secs));
        prop_assert_eq!(SiweMessage::parse(&m.to_string()).expect("parse"), m);
    }

    #[test]
    fn rfc3339_never_panics(s in "\\PC{0,40}") {
        let _ = parse_rfc3339(&s);
    }
}

#[test]
fn escrow_request_verifies_signer_and_expiry() {
    let (sk, account) = wallet();
    let req = EscrowRequest {
        action: "break-glass".into(),
        recordId: b256!("1111111111111111111111111111111111111111111111111111111111111111"),
        requester: account,
        nonce: U256::from(42u64),
        expiry: (NOW + 60) as u64,
    };
    let sig = sign_hash(&sk, &req.signing_hash(CHAIN, CONTRACT));
    assert_eq!(req.verify(CHAIN, CONTRACT, &sig, NOW), Ok(account));
    assert!(matches!(
        req.verify(CHAIN, CONTRACT, &sig, NOW + 60),
        Err(IdentityError::Expired { .. })
    ));
    // Another chain or contract: another domain, another signer recovered.
    assert!(matches!(
        req.verify(1, CONTRACT, &sig, NOW),
        Err(IdentityError::WrongSigner { .. })
    ));
    let mut changed = req.clone();
    changed.nonce = U256::from(43u64);
    assert!(matches!(
        changed.verify(CHAIN, CONTRACT, &sig, NOW),
        Err(IdentityError::WrongSigner { .. })
    ));
}

#[test]
fn hold_decisions_verify_only_for_the_patient_and_the_exact_decision() {
    let (sk, patient) = wallet();
    let decision = HoldDecisionMessage {
        chain_id: CHAIN,
        contract: CONTRACT,
        hold: 7,
        created_at: 1_795_593_000,
        record_id: b256!("2222222222222222222222222222222222222222222222222222222222222222"),
        reader: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
        patient,
        approve: true,
    };
    let sig = sign_hash(&sk, &decision.signing_hash());
    assert_eq!(decision.verify(&sig), Ok(()));
    // Each field is signed: a signature for approval is not one for denial, for another hold,
    // record or reader, or on another deployment.
    let variants = [
        HoldDecisionMessage {
            approve: false,
            ..decision
        },
        HoldDecisionMessage {
            hold: 8,
            ..decision
        },
        HoldDecisionMessage {
            created_at: 1,
            ..decision
        },
        HoldDecisionMessage {
            record_id: B256::ZERO,
            ..decision
        },
        HoldDecisionMessage {
            reader: patient,
            ..decision
        },
        HoldDecisionMessage {
            chain_id: 1,
            ..decision
        },
    ];
    for v in variants {
        assert!(
            matches!(v.verify(&sig), Err(IdentityError::WrongSigner { .. })),
            "{v:?}"
        );
    }
    // Signed by someone else.
    let forged = sign_hash(&other_wallet(), &decision.signing_hash());
    assert!(matches!(
        decision.verify(&forged),
        Err(IdentityError::WrongSigner { .. })
    ));
    assert!(matches!(
        decision.verify(&sig[..64]),
        Err(IdentityError::BadSignature(_))
    ));
    let json = decision.typed_data_json();
    assert_eq!(json["primaryType"], "HoldDecision");
    assert_eq!(json["message"]["hold"], 7);
    assert_eq!(json["message"]["approve"], true);
}

#[test]
fn moving_wraps_verifies_only_for_the_account_and_the_key_it_names() {
    let (sk, account) = wallet();
    let key = b256!("1111111111111111111111111111111111111111111111111111111111111111");
    let message = MoveWrapsMessage {
        chain_id: CHAIN,
        contract: CONTRACT,
        account,
        encryption_key: key,
        deadline: (NOW + 3_600) as u64,
    };
    let sig = sign_hash(&sk, &message.signing_hash());
    message.verify(&sig, NOW).expect("the account's own");
    assert!(matches!(
        message.verify(&sig, NOW + 3_600),
        Err(IdentityError::Expired { .. })
    ));
    // Another key, account, chain or contract: the signature does not carry over.
    let variants = [
        MoveWrapsMessage {
            encryption_key: B256::repeat_byte(2),
            ..message
        },
        MoveWrapsMessage {
            account: Address::repeat_byte(3),
            ..message
        },
        MoveWrapsMessage {
            chain_id: 1,
            ..message
        },
        MoveWrapsMessage {
            contract: Address::repeat_byte(4),
            ..message
        },
        MoveWrapsMessage {
            deadline: message.deadline + 1,
            ..message
        },
    ];
    for v in variants {
        assert!(
            matches!(v.verify(&sig, NOW), Err(IdentityError::WrongSigner { .. })),
            "{v:?}"
        );
    }
    let forged = sign_hash(&other_wallet(), &message.signing_hash());
    assert!(matches!(
        message.verify(&forged, NOW),
        Err(IdentityError::WrongSigner { .. })
    ));
    let json = message.typed_data_json();
    assert_eq!(json["primaryType"], "MoveWraps");
    assert_eq!(json["message"]["deadline"], NOW + 3_600);
    assert_eq!(json["message"]["account"], account.to_checksum(None));
    assert_eq!(json["message"]["encryptionKey"], key.to_string());
}

#[test]
fn each_rotation_derives_the_next_key_version() {
    let (sk, account) = wallet();
    let first = KeyDerivation::new(CHAIN, CONTRACT, account);
    assert_eq!(
        KeyDerivation::after_rotations(CHAIN, CONTRACT, account, 0),
        first
    );
    let second = KeyDerivation::after_rotations(CHAIN, CONTRACT, account, 1);
    assert_eq!(second.key_version, first.key_version + 1);
    assert_eq!(second.typed_data_json()["message"]["keyVersion"], 2);
    let keys = |kd: &KeyDerivation| {
        let sig = sign_hash(&sk, &kd.signing_hash());
        kd.derive_keypair(&sig).expect("derive").public()
    };
    assert_ne!(keys(&first), keys(&second), "a rotation gives a new key");
    assert_eq!(keys(&second), keys(&second), "and the same one each time");
}

#[test]
fn agreement_acceptances_verify_only_for_the_account_and_the_exact_text() {
    use medledger_protocol::api::agreement::agreement_hash;
    use medledger_protocol::identity::AgreementAcceptanceMessage;
    let (sk, account) = wallet();
    let accepted = AgreementAcceptanceMessage {
        chain_id: CHAIN,
        contract: CONTRACT,
        account,
        version: 2,
        text_hash: agreement_hash("# Terms\n\nversion 2\n"),
        accepted_at: NOW as u64,
    };
    let sig = sign_hash(&sk, &accepted.signing_hash());
    assert_eq!(accepted.verify(&sig), Ok(()));
    // Each field is signed: the signature accepts this text, in this version, by this account, at
    // this time, on this deployment, and nothing else.
    let variants = [
        AgreementAcceptanceMessage {
            version: 1,
            ..accepted
        },
        AgreementAcceptanceMessage {
            text_hash: agreement_hash("# Terms\n\nversion 2"),
            ..accepted
        },
        AgreementAcceptanceMessage {
            accepted_at: NOW as u64 + 1,
            ..accepted
        },
        AgreementAcceptanceMessage {
            chain_id: 1,
            ..accepted
        },
        AgreementAcceptanceMessage {
            contract: Address::ZERO,
            ..accepted
        },
    ];
    for v in variants {
        assert!(
            matches!(v.verify(&sig), Err(IdentityError::WrongSigner { .. })),
            "{v:?}"
        );
    }
    // Another wallet's signature over the same acceptance is not the account's.
    let forged = sign_hash(&other_wallet(), &accepted.signing_hash());
    assert!(matches!(
        accepted.verify(&forged),
        Err(IdentityError::WrongSigner { .. })
    ));
    let json = accepted.typed_data_json();
    assert_eq!(json["primaryType"], "AcceptAgreement");
    assert_eq!(json["message"]["version"], 2);
    assert_eq!(json["message"]["textHash"], accepted.text_hash.to_string());
}

/// A recovery moved the account's identity to a new wallet (docs/contract.md "Recovery"): the new
/// wallet's signature counts for the account it names through `verify_by` with that wallet, and
/// neither `verify` (the account's own key) nor `verify_by` with another wallet accepts it.
#[test]
fn a_new_wallet_signs_for_the_account_it_controls_and_only_as_named() {
    let (_, account) = wallet();
    let new_wallet_key = other_wallet();
    let new_wallet = Address::from_private_key(&new_wallet_key);
    let moving = MoveWrapsMessage {
        chain_id: CHAIN,
        contract: CONTRACT,
        account,
        encryption_key: B256::repeat_byte(3),
        deadline: (NOW + 600) as u64,
    };
    let sig = sign_hash(&new_wallet_key, &moving.signing_hash());
    moving
        .verify_by(&sig, new_wallet, NOW)
        .expect("the new wallet's, for the account");
    assert!(matches!(
        moving.verify(&sig, NOW),
        Err(IdentityError::WrongSigner { .. })
    ));
    assert!(matches!(
        moving.verify_by(&sig, account, NOW),
        Err(IdentityError::WrongSigner { .. })
    ));
    let decision = HoldDecisionMessage {
        chain_id: CHAIN,
        contract: CONTRACT,
        hold: 1,
        created_at: 1_795_593_000,
        record_id: B256::repeat_byte(4),
        reader: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
        patient: account,
        approve: false,
    };
    let sig = sign_hash(&new_wallet_key, &decision.signing_hash());
    assert_eq!(decision.verify_by(&sig, new_wallet), Ok(()));
    assert!(matches!(
        decision.verify(&sig),
        Err(IdentityError::WrongSigner { .. })
    ));
}

#[test]
fn a_moved_identity_s_key_is_derived_by_its_new_wallet_alone() {
    let (old_sk, account) = wallet();
    let new_sk = other_wallet();
    let new_wallet = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
    let own = KeyDerivation::after_rotations(CHAIN, CONTRACT, account, 1);
    // The account's own wallet: the message and the key are those of before.
    assert_eq!(own.by_wallet(account), own);
    assert!(!own.moved());
    let moved = own.by_wallet(new_wallet);
    assert!(moved.moved());
    assert_ne!(moved.signing_hash(), own.signing_hash());
    let json = moved.typed_data_json();
    assert_eq!(json["primaryType"], "DeriveMovedEncryptionKey");
    assert_eq!(json["message"]["account"], account.to_checksum(None));
    assert_eq!(json["message"]["wallet"], new_wallet.to_checksum(None));
    assert_eq!(json["message"]["keyVersion"], 2);

    let new_key = moved
        .derive_keypair(&sign_hash(&new_sk, &moved.signing_hash()))
        .expect("the new wallet derives");
    let old_key = own
        .derive_keypair(&sign_hash(&old_sk, &own.signing_hash()))
        .expect("the old wallet derives its own");
    assert_ne!(new_key.public(), old_key.public());
    assert_eq!(
        moved
            .derive_keypair(&sign_hash(&new_sk, &moved.signing_hash()))
            .expect("again")
            .public(),
        new_key.public(),
        "deterministic"
    );
    // The retired wallet's signature of the moved message gives nothing.
    assert!(matches!(
        moved.derive_keypair(&sign_hash(&old_sk, &moved.signing_hash())),
        Err(IdentityError::WrongSigner { .. })
    ));
    // Nor does the new wallet's signature of the account's own message.
    assert!(matches!(
        own.derive_keypair(&sign_hash(&new_sk, &own.signing_hash())),
        Err(IdentityError::WrongSigner { .. })
    ));
}

#[test]
fn a_transport_key_is_the_recovering_wallet_s_alone_and_never_an_account_key() {
    let (old_sk, account) = wallet();
    let new_sk = other_wallet();
    let new_wallet = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
    let transport = KeyDerivation::transport(CHAIN, CONTRACT, account, new_wallet);
    assert!(transport.moved());
    assert_eq!(transport.key_version, TRANSPORT_KEY_VERSION);
    // Below every account key's version, checked when the test compiles.
    const { assert!(TRANSPORT_KEY_VERSION < KEY_VERSION) };
    let key = transport
        .derive_keypair(&sign_hash(&new_sk, &transport.signing_hash()))
        .expect("the recovering wallet derives it");
    // The same key on another device: it is the signature's, not the browser's.
    let again = transport
        .derive_keypair(&sign_hash(&new_sk, &transport.signing_hash()))
        .expect("again");
    assert_eq!(key.public(), again.public());
    // Not the key the wallet will hold once the identity is its (any version from the first).
    for rotations in 0..3 {
        let moved = KeyDerivation::after_rotations(CHAIN, CONTRACT, account, rotations)
            .by_wallet(new_wallet);
        let account_key = moved
            .derive_keypair(&sign_hash(&new_sk, &moved.signing_hash()))
            .expect("moved key");
        assert_ne!(account_key.public(), key.public());
    }
    // The account's own wallet cannot derive the transport key of a wallet taking it over.
    assert!(matches!(
        transport.derive_keypair(&sign_hash(&old_sk, &transport.signing_hash())),
        Err(IdentityError::WrongSigner { .. })
    ));
}
