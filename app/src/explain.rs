//! What went wrong, said for people: the contract's named errors, the escrow's error codes and the
//! wallet's EIP-1193 codes, each turned into what happened and what to do about it.

use medledger_protocol::contract::{
    ContractError, MedLedgerErrors, MedLedgerForwarderErrors, MedLedgerInsuranceErrors,
    MedLedgerLicensingErrors, MedLedgerRecoveryErrors,
};

/// A revert of either contract, explained, with the error's Solidity name for support.
pub fn contract_error(e: &ContractError) -> String {
    let text = match e {
        ContractError::Core(e) => core_error(e),
        ContractError::Insurance(e) => insurance_error(e),
        ContractError::Licensing(e) => licensing_error(e),
        ContractError::Forwarder(e) => forwarder_error(e),
        ContractError::Recovery(e) => recovery_error(e),
    };
    format!("{text} ({})", e.name())
}

// Errors both contracts declare (one selector each) say the same thing whichever contract raised it.
const NOT_A_PATIENT: &str = "That account is not a registered patient.";
const NOT_A_VERIFIED_PRACTITIONER: &str = "This needs a practitioner verified by an admin; the account is not, is suspended, or belongs to a hospital whose licence has lapsed or ended.";
const NOT_A_VERIFIED_INSURER: &str = "That account is not an insurer verified by an admin.";
const CHOOSE_A_CATEGORY: &str = "Choose at least one category.";
const UNKNOWN_RECORD: &str = "There is no such record on chain.";
const WALLET_RETIRED: &str = "This wallet was replaced by a recovery: your account now answers to another wallet. Sign in with that one.";
const WALLET_IN_USE: &str = "An account moves only to a new wallet that is not registered and controls no account: use a fresh wallet.";

/// What the core contract's refusal means.
fn core_error(e: &MedLedgerErrors) -> &'static str {
    use MedLedgerErrors as E;
    match e {
        E::AlreadyRegistered(_) => "This account is already registered.",
        E::NotRegistered(_) => "This account is not registered yet: finish onboarding first.",
        E::InvalidEncryptionKey(_) => {
            "The encryption key is not valid. Sign the key message again."
        }
        E::InvalidProfileHash(_) => "The application profile is empty.",
        E::NotAPatient(_) => NOT_A_PATIENT,
        E::NotAProfessional(_) => "That account is not a practitioner or insurer.",
        E::NotAVerifiedPractitioner(_) => NOT_A_VERIFIED_PRACTITIONER,
        E::InvalidStatusChange(_) => "That account cannot move to this state from its current one.",
        E::InvalidGrantee(_) => {
            "Access can only be granted to a verified practitioner or insurer (not to yourself)."
        }
        E::InvalidCategories(_) => CHOOSE_A_CATEGORY,
        E::ExpiryInPast(_) => "The expiry date has already passed: choose a later one.",
        E::NoActiveGrant(_) => "There is no active grant to that account.",
        E::InvalidRecordId(_) | E::InvalidCiphertextHash(_) => "The record's id or hash is empty.",
        E::RecordExists(_) => "A record with this id is already on chain.",
        E::UnknownRecord(_) => UNKNOWN_RECORD,
        E::NotRecordOwner(_) => "Only the record's patient can do that.",
        E::RecordAlreadyErased(_) => "That record is already erased.",
        E::RecordNotErased(_) => "That record is not erased.",
        E::ShredAlreadyConfirmed(_) => "The escrow already confirmed shredding this record.",
        E::InvalidReceiptHash(_) => "The shred receipt hash is empty.",
        E::InvalidSupersedes(_) => {
            "The record this one amends is not the same patient's, or does not exist."
        }
        E::WriteNotPermitted(_) => {
            "The patient has not granted you write access for this category (or it expired), or your hospital's licence has lapsed or ended."
        }
        E::NotLicensing(_) | E::LicensingAlreadySet(_) | E::InvalidLicensing(_) => {
            "Only the licensing contract does that, and it is named once."
        }
        E::InvalidLicenceTerms(_) => "That organisation has no licence.",
        E::NotInAnOrganisation(_) => "That practitioner belongs to no organisation.",
        E::EmergencyNotOptedIn(_) => "This patient has not opted in to emergency access.",
        E::InvalidReasonHash(_) => "Give a reason for emergency access.",
        E::EmergencyWindowOutOfRange(_) => {
            "The emergency window must be between 1 hour and 7 days."
        }
        E::NoEmergencyAccess(_) => "There is no open emergency window for that practitioner.",
        E::InvalidLogRange(_) | E::InvalidLogRoot(_) | E::UnknownAnchor(_) => {
            "The access-log anchor is not valid."
        }
        E::WalletRetired(_) => WALLET_RETIRED,
        E::WalletInUse(_) => WALLET_IN_USE,
        E::NotRecovery(_) => "Only a recovery your guardians approved moves an account.",
        _ => "The contract refused the transaction.",
    }
}

/// What the forwarder's refusal of a sponsored transaction means.
fn forwarder_error(e: &MedLedgerForwarderErrors) -> &'static str {
    use MedLedgerForwarderErrors as E;
    match e {
        E::ERC2771ForwarderInvalidSigner(_) => "The signed request does not match what was sent (another account signed it, or it was already used). Try again: the app signs a new one.",
        E::ERC2771ForwarderExpiredRequest(_) => "The signed request expired before it was sent. Try again: the app signs a new one.",
        E::ERC2771UntrustfulTarget(_) => "The contract does not accept requests from this forwarder: the deployment's configuration is wrong; tell your medledger operator.",
        E::ERC2771ForwarderMismatchedValue(_) => "The request's amount of ether does not match what was sent.",
        E::FailedCall(_) => "The contract refused the forwarded call.",
        E::InvalidAccountNonce(_) => "The signed request was already used. Try again: the app signs a new one.",
        E::InsufficientBalance(_) => "The forwarder does not hold the ether the request asks for.",
        E::InvalidShortString(_) | E::StringTooLong(_) => "The forwarder was deployed wrongly; tell your medledger operator.",
    }
}

/// What the recovery contract's refusal means.
fn recovery_error(e: &MedLedgerRecoveryErrors) -> &'static str {
    use MedLedgerRecoveryErrors as E;
    match e {
        E::WalletRetired(_) => WALLET_RETIRED,
        E::WalletInUse(_) => WALLET_IN_USE,
        E::NotAPatient(_) => NOT_A_PATIENT,
        E::InvalidGuardianSet(_) => "Choose between 1 and 10 guardians, a number of approvals no larger than the number of guardians, and a waiting time of at most 30 days.",
        E::InvalidGuardian(_) => "Each guardian must be a registered account other than you, named once.",
        E::NoGuardians(_) => "That account has named no guardians, so it cannot be recovered.",
        E::InvalidTransportKey(_) => "The recovery request's key is empty. Start the request again.",
        E::NoRecoveryRequest(_) => "There is no open recovery request for that wallet: it was never made, or the account's owner cancelled it, changed guardians, or a recovery completed.",
        E::NotAGuardian(_) => "Only the account's guardians can approve its recovery.",
        E::AlreadyApproved(_) => "You have already approved this recovery.",
        E::RecoveryNotReady(_) => "Not yet: the recovery needs more guardian approvals, or its waiting time has not passed.",
    }
}

/// What the licensing contract's refusal means.
fn licensing_error(e: &MedLedgerLicensingErrors) -> &'static str {
    use MedLedgerLicensingErrors as E;
    match e {
        E::NotPlatformAdmin(_) => "Only a platform admin can do that.",
        E::WalletRetired(_) => WALLET_RETIRED,
        E::NotOrganisationAdmin(_) => "Only an admin of that organisation (or of the platform) can do that.",
        E::UnknownOrganisation(_) => "There is no such organisation.",
        E::InvalidOrganisationName(_) => "Give the organisation a name of 1 to 64 bytes.",
        E::InvalidSeats(_) => {
            "Seat limits cannot go below the seats in use, and an organisation needs an admin seat."
        }
        E::NoSeatLeft(_) => "Every seat of that kind is taken: free one, or ask the platform for more.",
        E::InvalidOrganisationAdmin(_) => "That account already administers an organisation.",
        E::NotAnAdminOf(_) => "That account is not an admin of this organisation.",
        E::InvalidPaidUntil(_) => "The new paid-until date must be later than the current one.",
        E::RenewalNotPayable(_) => {
            "This organisation's renewals are recorded by the platform, not paid on chain."
        }
        E::WrongPayment(_) => "Pay exactly the organisation's annual fee.",
        E::InvalidLicenceStatus(_) => {
            "The organisation's licence does not allow this now (lapsed, terminated, or not under notice)."
        }
        E::InvalidNoticeDate(_) => "The notice must end in the future.",
        E::InvalidEnrolment(_) => "That enrolment is not in a state that allows this.",
        E::InvalidFeeWithdrawal(_) => "Withdraw more than nothing and no more than the fees held.",
        E::NotAPatient(_) => NOT_A_PATIENT,
        _ => "The licensing contract refused the transaction.",
    }
}

/// What the insurance contract's refusal means.
fn insurance_error(e: &MedLedgerInsuranceErrors) -> &'static str {
    use MedLedgerInsuranceErrors as E;
    match e {
        E::NotAPatient(_) => NOT_A_PATIENT,
        E::NotAVerifiedPractitioner(_) => NOT_A_VERIFIED_PRACTITIONER,
        E::NotAVerifiedInsurer(_) => NOT_A_VERIFIED_INSURER,
        E::InvalidCategories(_) => CHOOSE_A_CATEGORY,
        E::NoPolicy(_) => "That insurer has not published a policy.",
        E::NothingToFund(_) => "Send a non-zero amount to fund the policy.",
        E::InsufficientAvailableFunds(_) => {
            "The policy does not hold enough free funds for this: fund it first."
        }
        E::InvalidClaimId(_) => "The claim id is empty.",
        E::InvalidAmount(_) => "The amount must be more than zero.",
        E::ClaimExists(_) => "A claim with this id already exists.",
        E::DuplicateClaimDocument(_) => "This claim document was already submitted (a duplicate).",
        E::InsurerNotPermitted(_) => {
            "The patient has not granted this insurer access to the claims category."
        }
        E::PractitionerNotPermitted(_) => {
            "The patient's grant to you does not cover the category of care claimed (or has expired)."
        }
        E::InvalidClaimDocument(_) => {
            "The claim document must be a Claims record you filed for this patient, not erased."
        }
        E::UnknownClaim(_) => "There is no such claim.",
        E::NotClaimInsurer(_) => "Only the claim's insurer can do that.",
        E::InvalidClaimTransition(_) => "The claim is not in a state that allows this.",
        E::PayoutExceedsClaim(_) => "The approved amount cannot exceed the claimed amount.",
        E::NothingToWithdraw(_) => "There is nothing to withdraw.",
        E::TransferFailed(_) => "The payment transfer failed.",
        E::InvalidReasonHash(_) => "Give the reason for the denial.",
        _ => "The insurance contract refused the transaction.",
    }
}

/// An escrow error code (docs/api.md), explained.
pub fn escrow_error(code: &str) -> &'static str {
    match code {
        "unauthenticated" => "Your session has ended. Sign in again.",
        "siwe-refused" | "siwe-nonce" => "The sign-in was refused; try signing in again.",
        "wallet-retired" => WALLET_RETIRED,
        "no-read-consent" => "The patient's consent does not (or no longer does) allow you to open this record.",
        "no-write-consent" => "The patient has not granted you write access for this category.",
        // A practitioner of a hospital whose medledger licence lapsed or was terminated: the
        // contract refuses them whatever the patient granted.
        "licence-inactive" => "Your hospital's licence to use medledger has lapsed or was terminated, so you can open and add nothing until it is renewed or reinstated. Your patients' records and their sharing are unchanged.",
        "erased" => "This record was erased: its keys are destroyed and it can never be opened again.",
        "unknown-record" => "The escrow does not hold this record.",
        "no-wrapped-key" => "No key was shared with you for this record yet; the patient's app shares it the next time they sign in.",
        "chain-unavailable" => "The escrow cannot reach the chain right now, so it releases nothing. Try again shortly.",
        "log-unavailable" => "The escrow cannot write its access log right now, so it releases nothing. Try again shortly.",
        "h1-mismatch" => "The stored ciphertext does not match its on-chain hash: it was refused.",
        "record-exists" => "A different record with this id is already stored.",
        "too-large" => "The file is larger than the escrow accepts.",
        "not-your-record" => "Only the record's patient can do that.",
        "reader-not-granted" => "That reader has no consent for this record.",
        "rate-limited" => "Too many requests: wait a moment and retry.",
        "busy" => "The escrow is receiving as many uploads as it can right now; nothing was lost. Retry in a moment.",
        "not-an-envelope" | "wrong-record" => "The upload was not a valid encrypted record.",
        // A read held by the escrow's risk policy (docs/risk.md, "Hold") is not a refusal: the
        // reader is told the patient is being asked, in words that do not suggest wrongdoing.
        "held-for-approval" => "This read was held for the patient's approval because it looked unusual. The patient has been asked; try again after they answer.",
        "hold-denied" => "The patient declined this read.",
        // The patient's decision on a held read (`POST /api/holds/{id}`).
        "no-such-hold" => "That request is no longer waiting for your approval. Refresh the list.",
        "not-your-hold" => "That request is about another patient's record: only they can answer it.",
        "hold-decided" => "You have already answered that request. Refresh the list to see your decision.",
        "hold-expired" => "That request waited too long and expired; nothing was released. If the reader tries again and it still looks unusual, you are asked again.",
        "bad-signature" => "The escrow could not check your wallet's signature, so it did nothing. Try again.",
        // Every request of an account that has not accepted the current licence agreement (a new
        // version published while it was signed in): the app shows the agreement at once.
        "agreement-required" => "You need to accept the current licence agreement before medledger does anything more for you. Read it and accept it on the agreement screen (sign out and in again if it is not shown).",
        // An acceptance refused (`POST /api/agreement`): nothing was recorded.
        "agreement-version" => "A newer version of the licence agreement was published while you were reading this one, so your acceptance was not recorded. Read the current version (the screen shows it now) and accept it.",
        "agreement-hash" => "The text you accepted is not the one the escrow publishes for this version, so your acceptance was not recorded. Reload the page to read the text as published.",
        "agreement-time" => "Your device's clock is too far from the escrow's for your acceptance to be recorded. Set the clock right, then accept again.",
        // The relayer refused a sponsored transaction (`POST /api/relay`): nothing was sent.
        "relay-unavailable" => "This medledger does not pay network fees for its users. Add a little ether to your wallet to send transactions.",
        "relay-busy" => "medledger's relayer has paid for as many transactions as it can for now. Try again later, or add a little ether to your wallet.",
        "relay-recovery-busy" => "medledger's relayer has paid for as many recovery requests as it pays for today. Try again later, or ask from a wallet that holds a little ether.",
        "relay-quota" => "medledger's relayer has paid for as many of your transactions as it pays for in a day. Try again later, or add a little ether to your wallet.",
        "relay-not-sponsored" => "medledger's relayer does not pay for this kind of transaction. Add a little ether to your wallet to send it.",
        "relay-nonce" | "relay-expired" | "relay-invalid" => "The signed request was out of date by the time it reached the relayer (another of your transactions went first, or it waited too long). Try again: the app signs a new one.",
        "relay-reverted" => "The contract would refuse this transaction, so the relayer did not send it.",
        "relay-failed" => "The relayer sent your transaction but the chain did not carry it out. Check the page again before trying once more.",
        "relay-unfunded" => "medledger's relayer has run out of the ether it pays network fees with. Try again later, or add a little ether to your wallet.",
        "relay-too-large" => "This transaction is too large for medledger's relayer to pay for. Add a little ether to your wallet to send it.",
        "relay-gas" | "relay-target" | "relay-not-yours" => "The app built a request the relayer does not take. Reload the page and try again; if it persists, tell your medledger operator.",
        _ => UNKNOWN_ESCROW_ERROR,
    }
}

/// What a person is told of an escrow error: the explanation alone, for every code the app knows.
/// Only a code the app does not know yet is named (with its HTTP status), since then the generic
/// sentence says little and the code is what support would ask for.
pub fn escrow_error_text(code: &str, status: u16) -> String {
    let text = escrow_error(code);
    if text == UNKNOWN_ESCROW_ERROR {
        format!("{text} (code {code}, HTTP {status})")
    } else {
        text.to_string()
    }
}

const UNKNOWN_ESCROW_ERROR: &str = "The escrow refused the request.";

/// An EIP-1193 wallet error code, explained.
pub fn wallet_error(code: i64) -> &'static str {
    match code {
        4001 => "You rejected the request in your wallet. Nothing was signed or sent; you can try again.",
        4100 => "The wallet is locked or this site is not connected: unlock it and connect.",
        4200 => "Your wallet does not support this request.",
        4900 | 4901 => "The wallet is not connected to the medledger chain: switch network in the wallet.",
        4902 => "The wallet does not know the medledger chain yet: add it (the app can do it for you).",
        -32002 => "The wallet already has a request waiting: open it and answer it.",
        _ => "The wallet reported an error.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Address;
    use alloy_primitives::B256;
    use alloy_sol_types::SolError;
    use medledger_protocol::contract::{decode_any_revert, MedLedger, MedLedgerInsurance};

    #[test]
    fn a_revert_from_the_chain_is_named_and_explained() {
        let data = MedLedger::NotAVerifiedPractitioner {
            account: Address::repeat_byte(7),
        }
        .abi_encode();
        let err = decode_any_revert(&data).expect("decodes");
        let text = contract_error(&err);
        assert!(text.contains("verified by an admin"), "{text}");
        assert!(text.ends_with("(NotAVerifiedPractitioner)"), "{text}");
    }

    #[test]
    fn a_revert_of_the_licensing_contract_is_named_and_explained() {
        use medledger_protocol::contract::MedLedgerLicensing;
        let data = MedLedgerLicensing::NoSeatLeft {
            organisation: 1,
            role: 1,
            limit: 1,
        }
        .abi_encode();
        let err = decode_any_revert(&data).expect("decodes");
        let text = contract_error(&err);
        assert!(text.contains("Every seat of that kind is taken"), "{text}");
        assert!(text.ends_with("(NoSeatLeft)"), "{text}");
    }

    #[test]
    fn a_revert_of_the_insurance_contract_is_named_and_explained() {
        let data = MedLedgerInsurance::NotClaimInsurer {
            claimId: B256::repeat_byte(1),
            caller: Address::repeat_byte(2),
        }
        .abi_encode();
        let err = decode_any_revert(&data).expect("decodes");
        let text = contract_error(&err);
        assert!(text.contains("Only the claim's insurer"), "{text}");
        assert!(text.ends_with("(NotClaimInsurer)"), "{text}");
    }

    #[test]
    fn codes_have_distinct_advice() {
        assert_ne!(escrow_error("erased"), escrow_error("no-read-consent"));
        assert_ne!(
            escrow_error("licence-inactive"),
            escrow_error("no-read-consent")
        );
        assert!(escrow_error("licence-inactive").contains("hospital's licence"));
        assert_eq!(
            escrow_error("something-new"),
            "The escrow refused the request."
        );
        assert!(wallet_error(4001).contains("rejected"));
    }

    #[test]
    fn people_read_no_internal_code_unless_the_app_cannot_explain_it() {
        let refused = escrow_error_text("no-read-consent", 403);
        assert!(
            refused.starts_with("The patient's consent does not"),
            "{refused}"
        );
        assert!(
            !refused.contains("no-read-consent") && !refused.contains("403"),
            "{refused}"
        );
        let unknown = escrow_error_text("brand-new", 409);
        assert!(
            unknown.contains("brand-new") && unknown.contains("409"),
            "{unknown}"
        );
        assert!(wallet_error(4902).contains("add it"));
    }

    #[test]
    fn an_account_without_the_current_agreement_is_told_to_accept_it() {
        let text = escrow_error_text("agreement-required", 403);
        assert!(
            text.starts_with("You need to accept the current licence agreement"),
            "{text}"
        );
        assert!(!text.contains("403"), "{text}");
        for code in ["agreement-version", "agreement-hash", "agreement-time"] {
            let text = escrow_error_text(code, 400);
            assert_ne!(text, UNKNOWN_ESCROW_ERROR, "{code}");
            assert!(text.contains("acceptance"), "{text}");
        }
    }

    #[test]
    fn a_held_or_declined_read_is_explained_calmly_to_the_reader() {
        assert_eq!(
            escrow_error_text("held-for-approval", 423),
            "This read was held for the patient's approval because it looked unusual. The patient has been asked; try again after they answer."
        );
        assert_eq!(
            escrow_error_text("hold-denied", 403),
            "The patient declined this read."
        );
        for code in [
            "no-such-hold",
            "not-your-hold",
            "hold-decided",
            "hold-expired",
            "bad-signature",
            "agreement-required",
            "relay-quota",
            "relay-recovery-busy",
            "relay-unavailable",
            "relay-reverted",
        ] {
            let text = escrow_error_text(code, 409);
            assert_ne!(text, UNKNOWN_ESCROW_ERROR, "{code}");
            assert!(!text.contains(code), "{text}");
        }
    }
}
