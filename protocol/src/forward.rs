//! Sponsored transactions (ERC-2771; docs/formats.md 6.7): the forward request an account's wallet
//! signs so that a relayer pays the gas of one of its transactions to the core contract, and which
//! of the core's functions a relayer sponsors. The forwarder is OpenZeppelin's `ERC2771Forwarder`
//! deployed as `MedLedgerForwarder` (its EIP-712 domain: name [`FORWARDER_DOMAIN_NAME`], version
//! [`FORWARDER_DOMAIN_VERSION`], the chain, the forwarder's address); the core and the recovery
//! contract trust it (`ERC2771Context`), so a forwarded call acts as the request's `from`, never as
//! the relayer.

use std::borrow::Cow;

use alloy_primitives::{aliases::U48, Address, Bytes, B256, U256};
use alloy_sol_types::{sol, Eip712Domain, SolInterface, SolStruct};

use crate::contract::MedLedger::MedLedgerCalls;
use crate::contract::MedLedgerRecovery::MedLedgerRecoveryCalls;
pub use crate::contract::{ForwardRequestData, FORWARDER_DOMAIN_NAME, FORWARDER_DOMAIN_VERSION};
use crate::identity::IdentityError;

sol! {
    /// OpenZeppelin 5.4 `ERC2771Forwarder`'s signed struct, field for field and in its order
    /// (`_FORWARD_REQUEST_TYPEHASH`).
    #[derive(Debug, PartialEq, Eq)]
    struct ForwardRequest {
        address from;
        address to;
        uint256 value;
        uint256 gas;
        uint256 nonce;
        uint48 deadline;
        bytes data;
    }
}

/// The forwarder's EIP-712 domain on `chain_id`.
pub fn forwarder_domain(chain_id: u64, forwarder: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(Cow::Borrowed(FORWARDER_DOMAIN_NAME)),
        Some(Cow::Borrowed(FORWARDER_DOMAIN_VERSION)),
        Some(U256::from(chain_id)),
        Some(forwarder),
        None,
    )
}

/// One forward request on one deployment: what the wallet signs. Sponsored requests carry no
/// ether (`value` 0): a relayer pays gas, never a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardMessage {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The forwarder.
    pub forwarder: Address,
    /// The account the call acts as: the signer.
    pub from: Address,
    /// The contract called (the core).
    pub to: Address,
    /// Gas forwarded to the call.
    pub gas: u64,
    /// The forwarder's nonce for `from` (`nonces(from)`), spent by the call.
    pub nonce: u64,
    /// The last second (chain time) the request may be executed in.
    pub deadline: u64,
    /// The call's ABI-encoded data.
    pub data: Bytes,
}

impl ForwardMessage {
    /// The typed struct.
    pub fn message(&self) -> ForwardRequest {
        ForwardRequest {
            from: self.from,
            to: self.to,
            value: U256::ZERO,
            gas: U256::from(self.gas),
            nonce: U256::from(self.nonce),
            deadline: U48::saturating_from(self.deadline),
            data: self.data.clone(),
        }
    }

    /// The EIP-712 hash the wallet signs and the forwarder checks.
    pub fn signing_hash(&self) -> B256 {
        self.message()
            .eip712_signing_hash(&forwarder_domain(self.chain_id, self.forwarder))
    }

    /// The `eth_signTypedData_v4` payload. Integers wider than 53 bits go as decimal strings, as
    /// EIP-712 wallets read them.
    pub fn typed_data_json(&self) -> serde_json::Value {
        serde_json::json!({
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"}
                ],
                "ForwardRequest": [
                    {"name": "from", "type": "address"},
                    {"name": "to", "type": "address"},
                    {"name": "value", "type": "uint256"},
                    {"name": "gas", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint48"},
                    {"name": "data", "type": "bytes"}
                ]
            },
            "primaryType": "ForwardRequest",
            "domain": {
                "name": FORWARDER_DOMAIN_NAME,
                "version": FORWARDER_DOMAIN_VERSION,
                "chainId": self.chain_id,
                "verifyingContract": self.forwarder.to_checksum(None)
            },
            "message": {
                "from": self.from.to_checksum(None),
                "to": self.to.to_checksum(None),
                "value": "0",
                "gas": self.gas.to_string(),
                "nonce": self.nonce.to_string(),
                "deadline": self.deadline.to_string(),
                "data": self.data.to_string()
            }
        })
    }

    /// What the forwarder's `execute` and `verify` take: the request with its signature (the
    /// nonce is left out: the forwarder uses its own, which the signature covers).
    pub fn request_data(&self, signature: Bytes) -> ForwardRequestData {
        ForwardRequestData {
            from: self.from,
            to: self.to,
            value: U256::ZERO,
            gas: U256::from(self.gas),
            deadline: U48::saturating_from(self.deadline),
            data: self.data.clone(),
            signature,
        }
    }

    /// Checks `signature` is `from`'s over this request (low s, as the forwarder's ECDSA requires).
    pub fn verify(&self, signature: &[u8]) -> Result<(), IdentityError> {
        crate::identity::verify_typed(&self.signing_hash(), signature, self.from)
    }
}

/// The functions a relayer pays for: an account's own acts on its own records and consent (the
/// core's), and recovery (the recovery contract's: a new wallet that asks for and completes a
/// recovery holds no ether yet, and neither may the patient naming guardians or a relative
/// approving). Administration, the escrow's duties, practitioners' applications and emergency
/// access are not sponsored: the accounts that do them are the deployment's staff, who hold ether.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sponsored {
    /// `registerPatient`.
    RegisterPatient,
    /// `rotateEncryptionKey`.
    RotateEncryptionKey,
    /// `grant`.
    Grant,
    /// `revoke`.
    Revoke,
    /// `addRecord`.
    AddRecord,
    /// `addRecords`.
    AddRecords,
    /// `anchorRecordRoot`.
    AnchorRecordRoot,
    /// `eraseRecord`.
    EraseRecord,
    /// `eraseRootedRecord`.
    EraseRootedRecord,
    /// `eraseAll`.
    EraseAll,
    /// `setEmergencyOptIn`.
    SetEmergencyOptIn,
    /// `endEmergencyAccess`.
    EndEmergencyAccess,
    /// `setGuardians` (the recovery contract's).
    SetGuardians,
    /// `requestRecovery` (the recovery contract's).
    RequestRecovery,
    /// `approveRecovery` (the recovery contract's).
    ApproveRecovery,
    /// `cancelRecovery` (the recovery contract's).
    CancelRecovery,
    /// `completeRecovery` (the recovery contract's).
    CompleteRecovery,
}

/// The contract a sponsored request calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The core, `MedLedger`.
    Core,
    /// The recovery contract, `MedLedgerRecovery`.
    Recovery,
}

impl Sponsored {
    /// Every sponsored function.
    pub const ALL: [Sponsored; 17] = [
        Sponsored::RegisterPatient,
        Sponsored::RotateEncryptionKey,
        Sponsored::Grant,
        Sponsored::Revoke,
        Sponsored::AddRecord,
        Sponsored::AddRecords,
        Sponsored::AnchorRecordRoot,
        Sponsored::EraseRecord,
        Sponsored::EraseRootedRecord,
        Sponsored::EraseAll,
        Sponsored::SetEmergencyOptIn,
        Sponsored::EndEmergencyAccess,
        Sponsored::SetGuardians,
        Sponsored::RequestRecovery,
        Sponsored::ApproveRecovery,
        Sponsored::CancelRecovery,
        Sponsored::CompleteRecovery,
    ];

    /// The function's name in the contract.
    pub fn name(self) -> &'static str {
        match self {
            Sponsored::RegisterPatient => "registerPatient",
            Sponsored::RotateEncryptionKey => "rotateEncryptionKey",
            Sponsored::Grant => "grant",
            Sponsored::Revoke => "revoke",
            Sponsored::AddRecord => "addRecord",
            Sponsored::AddRecords => "addRecords",
            Sponsored::AnchorRecordRoot => "anchorRecordRoot",
            Sponsored::EraseRecord => "eraseRecord",
            Sponsored::EraseRootedRecord => "eraseRootedRecord",
            Sponsored::EraseAll => "eraseAll",
            Sponsored::SetEmergencyOptIn => "setEmergencyOptIn",
            Sponsored::EndEmergencyAccess => "endEmergencyAccess",
            Sponsored::SetGuardians => "setGuardians",
            Sponsored::RequestRecovery => "requestRecovery",
            Sponsored::ApproveRecovery => "approveRecovery",
            Sponsored::CancelRecovery => "cancelRecovery",
            Sponsored::CompleteRecovery => "completeRecovery",
        }
    }

    /// The contract the function is on.
    pub fn target(self) -> Target {
        match self {
            Sponsored::SetGuardians
            | Sponsored::RequestRecovery
            | Sponsored::ApproveRecovery
            | Sponsored::CancelRecovery
            | Sponsored::CompleteRecovery => Target::Recovery,
            _ => Target::Core,
        }
    }
}

/// What a core call is, for the relayer's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallKind {
    /// A sponsored function.
    Sponsored(Sponsored),
    /// One of the core's functions a relayer does not pay for (its name).
    NotSponsored(String),
    /// Not a call of the core's ABI.
    Unknown,
}

/// Which function of `target` `data` calls: [`call_kind`] for the core,
/// [`recovery_call_kind`] for the recovery contract.
pub fn call_kind_at(target: Target, data: &[u8]) -> CallKind {
    match target {
        Target::Core => call_kind(data),
        Target::Recovery => recovery_call_kind(data),
    }
}

/// Which of the recovery contract's functions `data` calls, decoded exactly as [`call_kind`]
/// decodes the core's. Every function that changes its state is sponsored.
pub fn recovery_call_kind(data: &[u8]) -> CallKind {
    let Ok(call) = MedLedgerRecoveryCalls::abi_decode(data) else {
        return CallKind::Unknown;
    };
    if call.abi_encode() != data {
        return CallKind::Unknown;
    }
    let sponsored = match call {
        MedLedgerRecoveryCalls::setGuardians(_) => Sponsored::SetGuardians,
        MedLedgerRecoveryCalls::requestRecovery(_) => Sponsored::RequestRecovery,
        MedLedgerRecoveryCalls::approveRecovery(_) => Sponsored::ApproveRecovery,
        MedLedgerRecoveryCalls::cancelRecovery(_) => Sponsored::CancelRecovery,
        MedLedgerRecoveryCalls::completeRecovery(_) => Sponsored::CompleteRecovery,
        other => {
            let selector = other.selector();
            let name = MedLedgerRecoveryCalls::SIGNATURES
                .iter()
                .zip(MedLedgerRecoveryCalls::SELECTORS)
                .find(|(_, s)| **s == selector)
                .and_then(|(signature, _)| signature.split('(').next())
                .unwrap_or("unknown");
            return CallKind::NotSponsored(name.to_string());
        }
    };
    CallKind::Sponsored(sponsored)
}

/// Which of the core's functions `data` calls, decoded with the core's bindings. A call whose
/// arguments do not decode, or that is not exactly their encoding (trailing bytes, say, which a
/// relayer would pay calldata gas for), is [`CallKind::Unknown`].
pub fn call_kind(data: &[u8]) -> CallKind {
    let Ok(call) = MedLedgerCalls::abi_decode(data) else {
        return CallKind::Unknown;
    };
    if call.abi_encode() != data {
        return CallKind::Unknown;
    }
    let sponsored = match call {
        MedLedgerCalls::registerPatient(_) => Sponsored::RegisterPatient,
        MedLedgerCalls::rotateEncryptionKey(_) => Sponsored::RotateEncryptionKey,
        MedLedgerCalls::grant(_) => Sponsored::Grant,
        MedLedgerCalls::revoke(_) => Sponsored::Revoke,
        MedLedgerCalls::addRecord(_) => Sponsored::AddRecord,
        MedLedgerCalls::addRecords(_) => Sponsored::AddRecords,
        MedLedgerCalls::anchorRecordRoot(_) => Sponsored::AnchorRecordRoot,
        MedLedgerCalls::eraseRecord(_) => Sponsored::EraseRecord,
        MedLedgerCalls::eraseRootedRecord(_) => Sponsored::EraseRootedRecord,
        MedLedgerCalls::eraseAll(_) => Sponsored::EraseAll,
        MedLedgerCalls::setEmergencyOptIn(_) => Sponsored::SetEmergencyOptIn,
        MedLedgerCalls::endEmergencyAccess(_) => Sponsored::EndEmergencyAccess,
        other => return CallKind::NotSponsored(crate::contract::call_name(&other).to_string()),
    };
    CallKind::Sponsored(sponsored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::MedLedger;
    use alloy_primitives::{address, hex, keccak256};
    use alloy_sol_types::SolCall;
    use k256::ecdsa::SigningKey;

    fn key(byte: u8) -> (SigningKey, Address) {
        let sk = SigningKey::from_slice(&[byte; 32]).expect("key");
        let address = Address::from_public_key(sk.verifying_key());
        (sk, address)
    }

    fn sign(sk: &SigningKey, hash: &B256) -> Vec<u8> {
        let (sig, recid) = sk.sign_prehash_recoverable(hash.as_slice()).expect("sign");
        let mut out = sig.to_bytes().to_vec();
        out.push(27 + recid.to_byte());
        out
    }

    fn request(from: Address, data: Vec<u8>) -> ForwardMessage {
        ForwardMessage {
            chain_id: 1337,
            forwarder: address!("0x00000000000000000000000000000000000000f0"),
            from,
            to: address!("0x00000000000000000000000000000000000000c0"),
            gas: 300_000,
            nonce: 4,
            deadline: 1_900_000_000,
            data: data.into(),
        }
    }

    #[test]
    fn the_type_hash_is_openzeppelins() {
        // ERC2771Forwarder._FORWARD_REQUEST_TYPEHASH.
        let expected = keccak256(
            "ForwardRequest(address from,address to,uint256 value,uint256 gas,uint256 nonce,uint48 deadline,bytes data)",
        );
        assert_eq!(
            ForwardRequest::eip712_type_hash(&request(Address::ZERO, vec![]).message()),
            expected
        );
    }

    #[test]
    fn a_request_verifies_only_with_its_signers_signature() {
        let (sk, signer) = key(7);
        let (other_sk, other) = key(8);
        let call = MedLedger::revokeCall { grantee: other }.abi_encode();
        let m = request(signer, call);
        let good = sign(&sk, &m.signing_hash());
        assert!(m.verify(&good).is_ok());
        assert!(m.verify(&sign(&other_sk, &m.signing_hash())).is_err());
        let mut changed = m.clone();
        changed.nonce += 1;
        assert!(changed.verify(&good).is_err());
        let _ = hex::encode(&good);
    }

    #[test]
    fn only_an_accounts_own_acts_are_sponsored() {
        let who = address!("0x00000000000000000000000000000000000000aa");
        assert_eq!(
            call_kind(&MedLedger::revokeCall { grantee: who }.abi_encode()),
            CallKind::Sponsored(Sponsored::Revoke)
        );
        assert_eq!(
            call_kind(&MedLedger::eraseAllCall {}.abi_encode()),
            CallKind::Sponsored(Sponsored::EraseAll)
        );
        assert_eq!(
            call_kind(&MedLedger::verifyAccountCall { account: who }.abi_encode()),
            CallKind::NotSponsored("verifyAccount".into())
        );
        assert_eq!(call_kind(&[0xde, 0xad, 0xbe, 0xef]), CallKind::Unknown);
        let mut padded = MedLedger::revokeCall { grantee: who }.abi_encode();
        padded.extend_from_slice(&[0u8; 64]);
        assert_eq!(call_kind(&padded), CallKind::Unknown, "trailing bytes");
        assert_eq!(call_kind(&[]), CallKind::Unknown);
        for s in Sponsored::ALL {
            let signatures = match s.target() {
                Target::Core => MedLedgerCalls::SIGNATURES,
                Target::Recovery => MedLedgerRecoveryCalls::SIGNATURES,
            };
            assert!(
                signatures
                    .iter()
                    .any(|sig| sig.starts_with(&format!("{}(", s.name()))),
                "{}",
                s.name()
            );
        }
    }

    #[test]
    fn the_typed_data_names_the_forwarder_domain() {
        let m = request(Address::ZERO, vec![1, 2]);
        let json = m.typed_data_json();
        assert_eq!(json["domain"]["name"], FORWARDER_DOMAIN_NAME);
        assert_eq!(json["message"]["nonce"], "4");
        assert_eq!(json["message"]["data"], "0x0102");
    }

    #[test]
    fn the_recovery_contracts_state_changes_are_sponsored_and_decoded_exactly() {
        use crate::contract::MedLedgerRecovery;
        let who = address!("0x00000000000000000000000000000000000000aa");
        let ask = MedLedgerRecovery::requestRecoveryCall {
            identity: who,
            transportKey: B256::repeat_byte(1),
        }
        .abi_encode();
        assert_eq!(
            call_kind_at(Target::Recovery, &ask),
            CallKind::Sponsored(Sponsored::RequestRecovery)
        );
        assert_eq!(Sponsored::RequestRecovery.target(), Target::Recovery);
        assert_eq!(
            call_kind_at(Target::Core, &ask),
            CallKind::Unknown,
            "not a call of the core"
        );
        let view = MedLedgerRecovery::guardiansOfCall { identity: who }.abi_encode();
        assert_eq!(
            recovery_call_kind(&view),
            CallKind::NotSponsored("guardiansOf".into())
        );
        let mut padded = ask.clone();
        padded.push(0);
        assert_eq!(recovery_call_kind(&padded), CallKind::Unknown);
        let complete = MedLedgerRecovery::completeRecoveryCall { identity: who }.abi_encode();
        assert_eq!(
            recovery_call_kind(&complete),
            CallKind::Sponsored(Sponsored::CompleteRecovery)
        );
    }
}
