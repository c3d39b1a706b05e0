//! The part of the core contract's storage that `canRead` reads, rebuilt from its events: accounts
//! (kind, status, emergency opt-in), grants, records (patient, category, erasure), each patient's
//! erasure epoch and emergency opt-out period, emergency windows, the roots records are anchored
//! under with the ids erased beneath them, and licensing as far as `canRead` reads it (each
//! organisation's licence terms, each practitioner's organisation). [`ConsentState::apply`] changes it as the contract's
//! functions changed their storage when they emitted the event; [`ConsentState::read_basis`] is
//! `ConsentModule._canRead` over it and [`ConsentState::rooted_read_basis`] is
//! `RecordRootsModule._canReadRooted`, at a block's timestamp.
//!
//! Pure: no I/O, no clock. The differential test (`escrow-api/tests/consent_index.rs`) checks it
//! against the contract's own `canRead` on Ganache at every block of random histories.
//!
//! Memory: about 100 bytes a record (a 32-byte id, a 20-byte patient, category, epoch and flag,
//! plus the hash table's own slack), about 90 bytes a grant, an account or an emergency window.

use std::collections::{HashMap, HashSet};

use alloy_primitives::{Address, B256, U256};
use medledger_protocol::api::{AccountKind, AccountStatus};
use medledger_protocol::contract::MedLedger::RootedRecord;
use medledger_protocol::contract::MedLedgerEvents;
use medledger_protocol::record_root::RootTerms;

/// On what a read is released, when it is: the escrow logs and shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The reader is the patient, or holds an unexpired grant covering the record's category.
    Consent,
    /// Only an emergency window the reader (a practitioner) opened on the patient lets them read.
    Emergency,
}

#[derive(Debug, Clone, Copy)]
struct Account {
    /// `None` for a kind number this code does not know (never a reader `canRead` admits).
    kind: Option<AccountKind>,
    status: AccountStatus,
    emergency_opt_in: bool,
}

#[derive(Debug, Clone, Copy)]
struct Grant {
    categories: U256,
    can_write: bool,
    expiry: u64,
    /// The block of the first grant since the pair's last revocation (new terms keep it): when
    /// the reader's care began, a feature of the access-risk score.
    since_block: u64,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    patient: Address,
    category: u8,
    /// The patient's erasure epoch when the record was added.
    epoch: u64,
    erased: bool,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    until: u64,
    /// The patient's opt-out period it was opened in: an opt-out since closes it for good.
    period: u64,
}

/// A root records are anchored under (`MedLedger.RecordRoot`, the fields `canReadRooted` reads).
#[derive(Debug, Clone, Copy)]
struct Root {
    terms: RootTerms,
    /// The patient's erasure epoch when the root was anchored.
    epoch: u64,
}

/// What the contract's `canRead` and `canReadRooted` read, as of the last event applied.
#[derive(Debug, Default, Clone)]
pub struct ConsentState {
    accounts: HashMap<Address, Account>,
    grants: HashMap<(Address, Address), Grant>,
    records: HashMap<B256, Record>,
    erasure_epoch: HashMap<Address, u64>,
    emergency_period: HashMap<Address, u64>,
    windows: HashMap<(Address, Address), Window>,
    roots: HashMap<B256, Root>,
    /// (root, record id) erased one at a time by `eraseRootedRecord`.
    rooted_erased: HashSet<(B256, B256)>,
    /// Each organisation's licence terms (`LicenceTermsChanged`).
    licences: HashMap<u32, Licence>,
    /// The organisation each practitioner was verified for (`PractitionerOrganisationChanged`;
    /// absent: none).
    organisation_of: HashMap<Address, u32>,
    /// Wallets a recovery moved an identity to (`IdentityMoved`), and the identity.
    moved_to: HashMap<Address, Address>,
    /// Wallets a recovery moved an identity away from: they act for nobody.
    retired: HashSet<Address>,
}

/// An organisation's licence terms (`MedLedger.LicenceTerms`).
#[derive(Debug, Clone, Copy)]
struct Licence {
    paid_until: u64,
    /// 0, or when the licence ends (or ended).
    terminates_at: u64,
}

impl Licence {
    /// `MedLedgerBase._licensed` of a practitioner of this organisation at `now`: Active or
    /// UnderNotice, i.e. not Terminated and not Lapsed.
    fn licensed_at(&self, now: u64) -> bool {
        let terminated = self.terminates_at != 0 && self.terminates_at <= now;
        !terminated && self.paid_until > now
    }
}

impl ConsentState {
    /// An empty state (the contract's before its first transaction).
    pub fn new() -> ConsentState {
        ConsentState::default()
    }

    /// Applies one of the core's events, in log order. Events `canRead` does not depend on are
    /// ignored.
    pub fn apply(&mut self, event: &MedLedgerEvents) {
        self.apply_in(event, 0);
    }

    /// [`ConsentState::apply`] of an event logged in `block` (kept as a grant's start).
    pub fn apply_in(&mut self, event: &MedLedgerEvents, block: u64) {
        use MedLedgerEvents as E;
        match event {
            E::AccountRegistered(e) => {
                let kind = AccountKind::from_chain_number(e.kind);
                let status = kind.map_or(AccountStatus::Pending, |k| k.status_at_registration());
                let account = Account {
                    kind,
                    status,
                    emergency_opt_in: false,
                };
                self.accounts.insert(e.account, account);
            }
            E::AccountVerified(e) => self.set_status(e.account, AccountStatus::Active),
            E::AccountSuspended(e) => self.set_status(e.account, AccountStatus::Suspended),
            E::AccountReinstated(e) => self.set_status(e.account, AccountStatus::Active),
            E::ConsentGranted(e) => {
                let pair = (e.patient, e.grantee);
                let since_block = self.grants.get(&pair).map_or(block, |g| g.since_block);
                let grant = Grant {
                    categories: e.categories,
                    can_write: e.canWrite,
                    expiry: e.expiry,
                    since_block,
                };
                self.grants.insert(pair, grant);
            }
            E::ConsentRevoked(e) => {
                self.grants.remove(&(e.patient, e.grantee));
            }
            E::RecordAdded(e) => {
                let record = Record {
                    patient: e.patient,
                    category: e.category,
                    epoch: self.epoch_of(e.patient),
                    erased: false,
                };
                self.records.insert(e.recordId, record);
            }
            E::RecordErased(e) => {
                if let Some(r) = self.records.get_mut(&e.recordId) {
                    r.erased = true;
                }
            }
            E::AllRecordsErased(e) => {
                self.erasure_epoch.insert(e.patient, e.newEpoch);
            }
            E::EmergencyOptInChanged(e) => self.set_opt_in(e.patient, e.optedIn),
            E::EmergencyAccessOpened(e) => {
                let window = Window {
                    until: e.expiresAt,
                    period: self.period_of(e.patient),
                };
                self.windows.insert((e.patient, e.practitioner), window);
            }
            E::EmergencyAccessEnded(e) => {
                self.windows.remove(&(e.patient, e.practitioner));
            }
            E::RecordRootAnchored(e) => {
                let terms = RootTerms {
                    patient: e.patient,
                    count: e.count,
                    categories: e.categories,
                };
                let root = Root {
                    terms,
                    epoch: self.epoch_of(e.patient),
                };
                self.roots.insert(e.root, root);
            }
            E::RootedRecordErased(e) => {
                self.rooted_erased.insert((e.root, e.recordId));
            }
            E::LicenceTermsChanged(e) => {
                let licence = Licence {
                    paid_until: e.paidUntil,
                    terminates_at: e.terminatesAt,
                };
                self.licences.insert(e.organisation, licence);
            }
            E::PractitionerOrganisationChanged(e) => {
                self.set_organisation(e.practitioner, e.organisation)
            }
            E::IdentityMoved(e) => self.identity_moved(e.oldWallet, e.newWallet, e.identity),
            _ => {}
        }
    }

    fn set_status(&mut self, account: Address, status: AccountStatus) {
        if let Some(a) = self.accounts.get_mut(&account) {
            a.status = status;
        }
    }

    /// `assignPractitioner` (an organisation; its `AccountVerified` follows and makes the account
    /// Active) or `releasePractitioner` (0: an Active account is Pending again, a Suspended one
    /// stays so).
    fn set_organisation(&mut self, practitioner: Address, organisation: u32) {
        if organisation == 0 {
            self.organisation_of.remove(&practitioner);
            // A suspended practitioner stays suspended (LicenceTermsModule._releasePractitioner).
            let active = self
                .accounts
                .get(&practitioner)
                .is_some_and(|a| a.status == AccountStatus::Active);
            if active {
                self.set_status(practitioner, AccountStatus::Pending);
            }
        } else {
            self.organisation_of.insert(practitioner, organisation);
        }
    }

    /// `MedLedgerBase._licensed`: true unless the account belongs to an organisation whose licence
    /// is neither Active nor UnderNotice at `now`.
    fn licensed(&self, account: Address, now: u64) -> bool {
        match self.organisation_of.get(&account) {
            None => true,
            Some(org) => self.licences.get(org).is_some_and(|l| l.licensed_at(now)),
        }
    }

    fn set_opt_in(&mut self, patient: Address, opted_in: bool) {
        if let Some(a) = self.accounts.get_mut(&patient) {
            a.emergency_opt_in = opted_in;
        }
        if !opted_in {
            *self.emergency_period.entry(patient).or_default() += 1;
        }
    }

    fn epoch_of(&self, patient: Address) -> u64 {
        self.erasure_epoch.get(&patient).copied().unwrap_or(0)
    }

    fn period_of(&self, patient: Address) -> u64 {
        self.emergency_period.get(&patient).copied().unwrap_or(0)
    }

    /// What a recovery made of `wallet`, as far as the state has seen: `Some(identity)` for a
    /// wallet an identity moved to, `Some(Address::ZERO)` for a retired one, `None` when no move
    /// the state has applied touched it (which proves nothing while the state is catching up).
    pub fn moved(&self, wallet: Address) -> Option<Address> {
        if let Some(identity) = self.moved_to.get(&wallet) {
            return Some(*identity);
        }
        self.retired.contains(&wallet).then_some(Address::ZERO)
    }

    fn identity_moved(&mut self, old_wallet: Address, new_wallet: Address, identity: Address) {
        self.moved_to.remove(&old_wallet);
        self.retired.insert(old_wallet);
        self.moved_to.insert(new_wallet, identity);
    }

    /// Whether the patient is opted in to emergency access (`emergencyOptIn` of the account).
    pub fn emergency_opt_in(&self, patient: Address) -> bool {
        self.accounts
            .get(&patient)
            .is_some_and(|a| a.emergency_opt_in)
    }

    /// The end of `practitioner`'s emergency window on `patient` (`emergencyAccessUntil`): 0 when
    /// there is none, or it was opened before the patient's last opt-out.
    pub fn emergency_until(&self, patient: Address, practitioner: Address) -> u64 {
        match self.windows.get(&(patient, practitioner)) {
            Some(w) if w.period == self.period_of(patient) => w.until,
            _ => 0,
        }
    }

    /// The block in which `reader`'s current grant from `patient` began, if they hold one
    /// (expired or not: the grant's age is what the risk features ask).
    pub fn grant_began(&self, patient: Address, reader: Address) -> Option<u64> {
        self.grants.get(&(patient, reader)).map(|g| g.since_block)
    }

    /// `canRead(patient, reader, recordId)` at a block whose timestamp is `now`, with the basis it
    /// holds on; `None` where the contract answers false.
    pub fn read_basis(
        &self,
        patient: Address,
        reader: Address,
        record_id: B256,
        now: u64,
    ) -> Option<Basis> {
        let r = self.records.get(&record_id)?;
        if r.patient != patient || self.is_erased(r) {
            return None;
        }
        self.consent_basis(patient, reader, r.category, now)
    }

    /// `canReadRooted(patient, reader, root, record, proof)` at a block whose timestamp is `now`,
    /// with the basis it holds on; `None` where the contract answers false: the root is not
    /// `patient`'s, the record is not its leaf (index past the count, a category the root does not
    /// allow, a zero id or hash, a proof that fails), or it is erased (one by one, or by an
    /// `eraseAll` since the root was anchored).
    pub fn rooted_read_basis(
        &self,
        patient: Address,
        reader: Address,
        root: B256,
        record: &RootedRecord,
        proof: &[B256],
        now: u64,
    ) -> Option<Basis> {
        let rr = self.roots.get(&root)?;
        if !rr.terms.holds(root, patient, record, proof) {
            return None;
        }
        if self.is_rooted_erased(root, record.recordId) != Some(false) {
            return None;
        }
        self.consent_basis(patient, reader, record.category, now)
    }

    /// Whether `record_id` under `root` is erased (`isRootedErased`); `None` for an unknown root.
    pub fn is_rooted_erased(&self, root: B256, record_id: B256) -> Option<bool> {
        let rr = self.roots.get(&root)?;
        Some(
            rr.epoch != self.epoch_of(rr.terms.patient)
                || self.rooted_erased.contains(&(root, record_id)),
        )
    }

    /// `ConsentModule._mayRead`: whether `reader` may read `patient`'s records of `category`, once
    /// the record is known to be the patient's and not erased.
    fn consent_basis(
        &self,
        patient: Address,
        reader: Address,
        category: u8,
        now: u64,
    ) -> Option<Basis> {
        if reader == patient {
            return Some(Basis::Consent);
        }
        let a = self.accounts.get(&reader)?;
        if a.status != AccountStatus::Active {
            return None;
        }
        let kind = a.kind?;
        if kind == AccountKind::Patient || !self.licensed(reader, now) {
            return None;
        }
        if let Some(g) = self.grants.get(&(patient, reader)) {
            if g.expiry > now && g.categories.bit(usize::from(category)) {
                return Some(Basis::Consent);
            }
        }
        let open = self.emergency_opt_in(patient) && self.emergency_until(patient, reader) > now;
        (kind == AccountKind::Practitioner && open).then_some(Basis::Emergency)
    }

    /// `canRead` itself: [`ConsentState::read_basis`] is some.
    pub fn can_read(&self, patient: Address, reader: Address, record_id: B256, now: u64) -> bool {
        self.read_basis(patient, reader, record_id, now).is_some()
    }

    /// `canWrite(patient, writer, category)` at a block whose timestamp is `now`
    /// (`ConsentModule._canWrite`): the patient, or a verified practitioner holding an unexpired
    /// grant with the write flag that covers the category.
    pub fn can_write(&self, patient: Address, writer: Address, category: u8, now: u64) -> bool {
        let is_patient = |a: &Address| {
            let account = self.accounts.get(a);
            account.is_some_and(|a| a.kind == Some(AccountKind::Patient))
        };
        if !is_patient(&patient) {
            return false;
        }
        if writer == patient {
            return true;
        }
        let verified_practitioner = self.accounts.get(&writer).is_some_and(|a| {
            a.kind == Some(AccountKind::Practitioner) && a.status == AccountStatus::Active
        }) && self.licensed(writer, now);
        let grant = self.grants.get(&(patient, writer));
        verified_practitioner
            && grant.is_some_and(|g| {
                g.can_write && g.expiry > now && g.categories.bit(usize::from(category))
            })
    }

    fn is_erased(&self, r: &Record) -> bool {
        r.erased || r.epoch != self.epoch_of(r.patient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medledger_protocol::contract::MedLedger as M;

    const NOW: u64 = 1_000;

    fn addr(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    fn id(n: u8) -> B256 {
        B256::repeat_byte(n)
    }

    fn register(s: &mut ConsentState, who: Address, kind: AccountKind) {
        s.apply(&MedLedgerEvents::AccountRegistered(M::AccountRegistered {
            account: who,
            kind: kind.chain_number(),
            encryptionKey: B256::repeat_byte(9),
            profileHash: B256::ZERO,
        }));
    }

    fn verify(s: &mut ConsentState, who: Address) {
        s.apply(&MedLedgerEvents::AccountVerified(M::AccountVerified {
            account: who,
            admin: addr(0xad),
        }));
    }

    fn add(s: &mut ConsentState, record: B256, patient: Address, category: u8) {
        s.apply(&MedLedgerEvents::RecordAdded(M::RecordAdded {
            recordId: record,
            patient,
            author: patient,
            ciphertextHash: B256::repeat_byte(7),
            category,
            supersedes: B256::ZERO,
        }));
    }

    fn grant(s: &mut ConsentState, patient: Address, grantee: Address, cats: u64, expiry: u64) {
        s.apply(&MedLedgerEvents::ConsentGranted(M::ConsentGranted {
            patient,
            grantee,
            categories: U256::from(cats),
            canWrite: false,
            expiry,
        }));
    }

    /// A patient (1), a verified doctor (2) with a grant on category 3 until NOW + 10, a
    /// pending doctor (3) with the same grant, and record 0xaa of category 3.
    fn world() -> ConsentState {
        let mut s = ConsentState::new();
        register(&mut s, addr(1), AccountKind::Patient);
        register(&mut s, addr(2), AccountKind::Practitioner);
        register(&mut s, addr(3), AccountKind::Practitioner);
        verify(&mut s, addr(2));
        add(&mut s, id(0xaa), addr(1), 3);
        grant(&mut s, addr(1), addr(2), 1 << 3, NOW + 10);
        grant(&mut s, addr(1), addr(3), 1 << 3, NOW + 10);
        s
    }

    #[test]
    fn a_covering_unexpired_grant_to_an_active_practitioner_reads() {
        let s = world();
        assert_eq!(
            s.read_basis(addr(1), addr(2), id(0xaa), NOW),
            Some(Basis::Consent)
        );
        assert!(s.can_read(addr(1), addr(1), id(0xaa), NOW), "the patient");
        assert!(!s.can_read(addr(1), addr(3), id(0xaa), NOW), "not verified");
        assert!(!s.can_read(addr(1), addr(2), id(0xaa), NOW + 10), "expired");
        assert!(
            !s.can_read(addr(2), addr(2), id(0xaa), NOW),
            "wrong patient"
        );
        assert!(
            !s.can_read(addr(1), addr(2), id(0xbb), NOW),
            "unknown record"
        );
    }

    #[test]
    fn category_suspension_revocation_and_erasure_each_refuse() {
        let mut s = world();
        add(&mut s, id(0xbb), addr(1), 4);
        assert!(
            !s.can_read(addr(1), addr(2), id(0xbb), NOW),
            "uncovered category"
        );
        s.apply(&MedLedgerEvents::AccountSuspended(M::AccountSuspended {
            account: addr(2),
            admin: addr(0xad),
            reasonHash: B256::repeat_byte(1),
        }));
        assert!(!s.can_read(addr(1), addr(2), id(0xaa), NOW), "suspended");
        s.apply(&MedLedgerEvents::AccountReinstated(M::AccountReinstated {
            account: addr(2),
            admin: addr(0xad),
        }));
        assert!(s.can_read(addr(1), addr(2), id(0xaa), NOW), "reinstated");
        s.apply(&MedLedgerEvents::ConsentRevoked(M::ConsentRevoked {
            patient: addr(1),
            grantee: addr(2),
        }));
        assert!(!s.can_read(addr(1), addr(2), id(0xaa), NOW), "revoked");
        s.apply(&MedLedgerEvents::RecordErased(M::RecordErased {
            recordId: id(0xaa),
            patient: addr(1),
        }));
        assert!(!s.can_read(addr(1), addr(1), id(0xaa), NOW), "erased");
    }

    #[test]
    fn erase_all_moves_the_epoch_past_older_records_only() {
        let mut s = world();
        s.apply(&MedLedgerEvents::AllRecordsErased(M::AllRecordsErased {
            patient: addr(1),
            newEpoch: 1,
        }));
        assert!(!s.can_read(addr(1), addr(1), id(0xaa), NOW));
        add(&mut s, id(0xcc), addr(1), 3);
        assert!(s.can_read(addr(1), addr(2), id(0xcc), NOW));
    }

    #[test]
    fn emergency_windows_need_the_opt_in_and_die_with_an_opt_out() {
        let mut s = world();
        let opt = |s: &mut ConsentState, opted_in| {
            s.apply(&MedLedgerEvents::EmergencyOptInChanged(
                M::EmergencyOptInChanged {
                    patient: addr(1),
                    optedIn: opted_in,
                },
            ))
        };
        let open = |s: &mut ConsentState, who| {
            s.apply(&MedLedgerEvents::EmergencyAccessOpened(
                M::EmergencyAccessOpened {
                    patient: addr(1),
                    practitioner: who,
                    reasonHash: B256::repeat_byte(3),
                    expiresAt: NOW + 100,
                },
            ))
        };
        register(&mut s, addr(4), AccountKind::Practitioner);
        verify(&mut s, addr(4));
        opt(&mut s, true);
        open(&mut s, addr(4));
        assert_eq!(
            s.read_basis(addr(1), addr(4), id(0xaa), NOW),
            Some(Basis::Emergency)
        );
        assert!(!s.can_read(addr(1), addr(4), id(0xaa), NOW + 100), "closed");
        opt(&mut s, false);
        assert!(!s.can_read(addr(1), addr(4), id(0xaa), NOW), "opted out");
        opt(&mut s, true);
        assert!(
            !s.can_read(addr(1), addr(4), id(0xaa), NOW),
            "a window from before the opt-out stays closed"
        );
        open(&mut s, addr(4));
        assert!(s.can_read(addr(1), addr(4), id(0xaa), NOW));
        s.apply(&MedLedgerEvents::EmergencyAccessEnded(
            M::EmergencyAccessEnded {
                patient: addr(1),
                practitioner: addr(4),
            },
        ));
        assert!(!s.can_read(addr(1), addr(4), id(0xaa), NOW), "ended");
    }

    #[test]
    fn only_the_patient_and_write_granted_verified_practitioners_write() {
        let mut s = world();
        assert!(s.can_write(addr(1), addr(1), 3, NOW), "the patient");
        assert!(!s.can_write(addr(1), addr(2), 3, NOW), "a read-only grant");
        // Patient 1 grants `grantee` category 3 with write, until NOW + 10.
        let write_grant = |grantee| {
            MedLedgerEvents::ConsentGranted(M::ConsentGranted {
                patient: addr(1),
                grantee: addr(grantee),
                categories: U256::from(1u64 << 3),
                canWrite: true,
                expiry: NOW + 10,
            })
        };
        s.apply(&write_grant(2));
        assert!(s.can_write(addr(1), addr(2), 3, NOW));
        assert!(!s.can_write(addr(1), addr(2), 4, NOW), "uncovered category");
        assert!(!s.can_write(addr(1), addr(2), 3, NOW + 10), "expired");
        assert!(
            !s.can_write(addr(2), addr(2), 3, NOW),
            "not a patient's record"
        );
        s.apply(&write_grant(3));
        assert!(!s.can_write(addr(1), addr(3), 3, NOW), "not verified");
    }

    #[test]
    fn insurers_read_on_grants_but_never_by_emergency() {
        let mut s = world();
        register(&mut s, addr(5), AccountKind::Insurer);
        verify(&mut s, addr(5));
        grant(&mut s, addr(1), addr(5), 1 << 3, NOW + 10);
        assert!(s.can_read(addr(1), addr(5), id(0xaa), NOW));
        register(&mut s, addr(6), AccountKind::Patient);
        grant(&mut s, addr(1), addr(6), 1 << 3, NOW + 10);
        assert!(
            !s.can_read(addr(1), addr(6), id(0xaa), NOW),
            "a patient reader"
        );
    }

    /// Records 0x51..=0x53 (categories 3, 3, 4) anchored under one root of patient 1 in `world`.
    fn rooted_world() -> (ConsentState, medledger_protocol::record_root::RootedBatch) {
        use medledger_protocol::record_root::{NewRootedRecord, RootedBatch};
        let mut s = world();
        let items: Vec<_> = [(0x51, 3), (0x52, 3), (0x53, 4)]
            .map(|(n, category)| NewRootedRecord {
                record_id: id(n),
                ciphertext_hash: B256::repeat_byte(n ^ 0xff),
                category,
            })
            .to_vec();
        let batch = RootedBatch::new(&items).expect("a batch");
        s.apply(&MedLedgerEvents::RecordRootAnchored(
            M::RecordRootAnchored {
                root: batch.root(),
                patient: addr(1),
                author: addr(1),
                count: batch.count(),
                categories: batch.categories(),
            },
        ));
        (s, batch)
    }

    #[test]
    fn a_rooted_record_reads_on_its_proof_and_consent_only() {
        let (s, batch) = rooted_world();
        let root = batch.root();
        let (r0, p0) = batch.proof(0).expect("leaf 0");
        let (r2, p2) = batch.proof(2).expect("leaf 2");
        let basis = |reader, r: &RootedRecord, p: &[B256]| {
            s.rooted_read_basis(addr(1), reader, root, r, p, NOW)
        };
        assert_eq!(basis(addr(2), r0, &p0), Some(Basis::Consent));
        assert_eq!(basis(addr(1), r2, &p2), Some(Basis::Consent), "the patient");
        assert_eq!(basis(addr(2), r2, &p2), None, "category 4 is not granted");
        assert_eq!(basis(addr(3), r0, &p0), None, "not verified");
        assert_eq!(basis(addr(2), r0, &p2), None, "another leaf's proof");
        let mut forged = r0.clone();
        forged.ciphertextHash = B256::repeat_byte(1);
        assert_eq!(basis(addr(2), &forged, &p0), None, "a changed h1");
        let mut past = r0.clone();
        past.index = 3;
        assert_eq!(basis(addr(2), &past, &p0), None, "index past the count");
        let other = s.rooted_read_basis(addr(2), addr(2), root, r0, &p0, NOW);
        assert_eq!(other, None, "not that patient's root");
        let unknown = s.rooted_read_basis(addr(1), addr(2), id(9), r0, &p0, NOW);
        assert_eq!(unknown, None, "an unknown root");
    }

    #[test]
    fn a_rooted_record_is_erased_alone_or_by_erase_all() {
        let (mut s, batch) = rooted_world();
        let root = batch.root();
        let (r0, p0) = batch.proof(0).expect("leaf 0");
        let (r1, p1) = batch.proof(1).expect("leaf 1");
        s.apply(&MedLedgerEvents::RootedRecordErased(
            M::RootedRecordErased {
                root,
                recordId: id(0x51),
                patient: addr(1),
            },
        ));
        assert_eq!(s.is_rooted_erased(root, id(0x51)), Some(true));
        assert_eq!(s.is_rooted_erased(root, id(0x52)), Some(false));
        assert_eq!(s.is_rooted_erased(id(9), id(0x52)), None, "an unknown root");
        let read = |s: &ConsentState, r, p: &[B256]| {
            s.rooted_read_basis(addr(1), addr(1), root, r, p, NOW)
        };
        assert_eq!(read(&s, r0, &p0), None, "erased alone");
        assert_eq!(read(&s, r1, &p1), Some(Basis::Consent), "its sibling lives");
        s.apply(&MedLedgerEvents::AllRecordsErased(M::AllRecordsErased {
            patient: addr(1),
            newEpoch: 1,
        }));
        assert_eq!(
            read(&s, r1, &p1),
            None,
            "erased with all the patient's records"
        );
        assert_eq!(s.is_rooted_erased(root, id(0x52)), Some(true));
    }

    fn terms(s: &mut ConsentState, organisation: u32, paid_until: u64, terminates_at: u64) {
        s.apply(&MedLedgerEvents::LicenceTermsChanged(
            M::LicenceTermsChanged {
                organisation,
                paidUntil: paid_until,
                terminatesAt: terminates_at,
            },
        ));
    }

    fn join(s: &mut ConsentState, practitioner: Address, organisation: u32) {
        s.apply(&MedLedgerEvents::PractitionerOrganisationChanged(
            M::PractitionerOrganisationChanged {
                practitioner,
                organisation,
            },
        ));
    }

    #[test]
    fn a_practitioner_reads_and_writes_only_while_their_organisation_is_licensed() {
        let mut s = world();
        // Doctor 4 is verified for organisation 7, paid until NOW + 5, with a write grant.
        register(&mut s, addr(4), AccountKind::Practitioner);
        terms(&mut s, 7, NOW + 5, 0);
        join(&mut s, addr(4), 7);
        verify(&mut s, addr(4));
        s.apply(&MedLedgerEvents::ConsentGranted(M::ConsentGranted {
            patient: addr(1),
            grantee: addr(4),
            categories: U256::from(1u64 << 3),
            canWrite: true,
            expiry: NOW + 100,
        }));
        assert!(s.can_read(addr(1), addr(4), id(0xaa), NOW + 4), "paid");
        assert!(s.can_write(addr(1), addr(4), 3, NOW + 4));
        assert!(!s.can_read(addr(1), addr(4), id(0xaa), NOW + 5), "lapsed");
        assert!(!s.can_write(addr(1), addr(4), 3, NOW + 5));
        // Renewed, then under notice until NOW + 20: licensed until then, not from it.
        terms(&mut s, 7, NOW + 50, NOW + 20);
        assert!(
            s.can_read(addr(1), addr(4), id(0xaa), NOW + 19),
            "under notice"
        );
        assert!(
            !s.can_read(addr(1), addr(4), id(0xaa), NOW + 20),
            "terminated"
        );
        // Reinstated; the patient and the doctor verified by the platform (2) never depended on it.
        terms(&mut s, 7, NOW + 50, 0);
        assert!(s.can_read(addr(1), addr(4), id(0xaa), NOW + 20));
        terms(&mut s, 7, NOW + 50, NOW);
        assert!(
            s.can_read(addr(1), addr(1), id(0xaa), NOW + 30),
            "the patient"
        );
        assert!(
            s.can_read(addr(1), addr(2), id(0xaa), NOW + 9),
            "no organisation"
        );
        // Released: Pending, and so refused whatever the licence.
        terms(&mut s, 7, NOW + 50, 0);
        join(&mut s, addr(4), 0);
        assert!(
            !s.can_read(addr(1), addr(4), id(0xaa), NOW + 30),
            "released"
        );
    }

    #[test]
    fn a_moved_identity_answers_to_its_new_wallet_and_the_old_one_to_nobody() {
        let mut s = ConsentState::new();
        let (identity, second, third) = (addr(1), addr(7), addr(8));
        assert_eq!(s.moved(identity), None, "its own wallet until moved");
        s.apply(&MedLedgerEvents::IdentityMoved(M::IdentityMoved {
            identity,
            oldWallet: identity,
            newWallet: second,
        }));
        assert_eq!(s.moved(second), Some(identity));
        assert_eq!(s.moved(identity), Some(Address::ZERO), "retired");
        s.apply(&MedLedgerEvents::IdentityMoved(M::IdentityMoved {
            identity,
            oldWallet: second,
            newWallet: third,
        }));
        assert_eq!(s.moved(third), Some(identity));
        assert_eq!(s.moved(second), Some(Address::ZERO), "retired in its turn");
        assert_eq!(s.moved(identity), Some(Address::ZERO), "still retired");
        assert_eq!(s.moved(addr(9)), None, "no evidence either way");
    }
}
