//! The run's people (patients and practitioners, each a wallet key and an X25519 encryption key)
//! and who has granted whom: what the patients' sessions change and the practitioners' read.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use alloy_primitives::{Address, B256};
use alloy_signer_local::PrivateKeySigner;
use medledger_protocol::wrap::KeyPair;
use rand::seq::SliceRandom;

/// A wallet and its registered encryption key.
pub struct Person {
    pub signer: PrivateKeySigner,
    pub keys: KeyPair,
}

impl Person {
    /// A fresh wallet key and encryption key.
    pub fn generate() -> Person {
        let mut seed = [0u8; 32];
        loop {
            medledger_protocol::cipher::fill_random(&mut seed).expect("random bytes");
            // A random 32-byte string is a valid secp256k1 key except with negligible odds.
            if let Ok(signer) = PrivateKeySigner::from_bytes(&B256::from(seed)) {
                let keys = KeyPair::generate().expect("x25519 key");
                return Person { signer, keys };
            }
        }
    }

    pub fn address(&self) -> Address {
        self.signer.address()
    }

    pub fn encryption_key(&self) -> B256 {
        B256::from(self.keys.public().0)
    }
}

/// People of one role, handed out once each to the load's users as they start.
pub struct Pool {
    pub people: Vec<Person>,
    next: AtomicUsize,
}

impl Pool {
    pub fn new(n: usize) -> Pool {
        Pool {
            people: (0..n).map(|_| Person::generate()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next person nobody has taken, by index; None once all are taken (one session per
    /// person: one sender per account).
    pub fn take(&self) -> Option<usize> {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        (i < self.people.len()).then_some(i)
    }
}

/// For each practitioner, the patients whose grant to them is mined (and not being revoked).
pub struct Grants {
    by_practitioner: Vec<Mutex<Vec<usize>>>,
}

impl Grants {
    pub fn new(practitioners: usize) -> Grants {
        Grants {
            by_practitioner: (0..practitioners).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    fn of(&self, practitioner: usize) -> std::sync::MutexGuard<'_, Vec<usize>> {
        self.by_practitioner[practitioner]
            .lock()
            .expect("grants lock")
    }

    pub fn add(&self, practitioner: usize, patient: usize) {
        let mut patients = self.of(practitioner);
        if !patients.contains(&patient) {
            patients.push(patient);
        }
    }

    pub fn remove(&self, practitioner: usize, patient: usize) {
        self.of(practitioner).retain(|&p| p != patient);
    }

    /// One of the patients who granted `practitioner`, at random.
    pub fn pick(&self, practitioner: usize) -> Option<usize> {
        self.of(practitioner)
            .choose(&mut rand::thread_rng())
            .copied()
    }

    /// How many grants are held in all.
    pub fn total(&self) -> usize {
        (0..self.by_practitioner.len())
            .map(|p| self.of(p).len())
            .sum()
    }
}
