//! The app's shared state, provided as one context: configuration, wallet, account, chain and the
//! signed-in identity. Views read these signals; only the gate and the wallet listeners write the
//! identity parts.

use alloy_primitives::Address;
use leptos::prelude::*;
use medledger_protocol::wrap::KeyPair;

use super::chain::Contract;
use super::escrow::AppConfig;
use super::records::Identity;
use super::session::OnChainAccount;

/// Whether a wallet is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletPresence {
    /// Still looking.
    Detecting,
    /// None injected.
    Missing,
    /// Found, by name.
    Present(String),
}

/// A user who signed in to the escrow and unlocked their key.
#[derive(Clone)]
pub struct SignedIn {
    /// The account: the identity on chain (the address it registered with).
    pub account: Address,
    /// The wallet that signs for it: the account itself, or the wallet a recovery moved the
    /// account to.
    pub wallet: Address,
    /// Their X25519 key pair (memory only; re-derived at every sign-in).
    pub keys: KeyPair,
    /// The account on chain at sign-in (refreshed by views that change it).
    pub on_chain: OnChainAccount,
    /// Whether the page holds a key its guardians' shares gave back (a recovery's last step): the
    /// account must rotate to a key of its new wallet's own.
    pub recovered: bool,
    /// Whether the account must accept the current licence agreement before anything else: as
    /// the session said at sign-in, or since the escrow refused a request for want of it.
    pub agreement_needed: bool,
}

/// The shared state.
#[derive(Clone, Copy)]
pub struct AppState {
    /// `/config.json`.
    pub config: RwSignal<Option<AppConfig>>,
    /// Why the app could not start.
    pub boot_error: RwSignal<Option<String>>,
    /// The wallet.
    pub wallet: RwSignal<WalletPresence>,
    /// The wallet's account.
    pub account: RwSignal<Option<Address>>,
    /// The wallet's chain.
    pub chain_id: RwSignal<Option<u64>>,
    /// The signed-in identity.
    pub signed_in: RwSignal<Option<SignedIn>>,
}

impl AppState {
    /// Fresh state.
    pub fn new() -> Self {
        Self {
            config: RwSignal::new(None),
            boot_error: RwSignal::new(None),
            wallet: RwSignal::new(WalletPresence::Detecting),
            account: RwSignal::new(None),
            chain_id: RwSignal::new(None),
            signed_in: RwSignal::new(None),
        }
    }

    /// The core contract, once configured.
    pub fn contract(&self) -> Option<Contract> {
        self.config.with_untracked(|c| {
            c.as_ref().map(|c| Contract {
                address: c.contract,
                chain_id: c.chain_id,
            })
        })
    }

    /// The insurance contract, once configured.
    pub fn insurance(&self) -> Option<Contract> {
        self.config.with_untracked(|c| {
            c.as_ref().map(|c| Contract {
                address: c.insurance,
                chain_id: c.chain_id,
            })
        })
    }

    /// The licensing contract, once configured (and when the escrow names one).
    pub fn licensing(&self) -> Option<Contract> {
        self.config.with_untracked(|c| {
            c.as_ref().and_then(|c| {
                c.licensing.map(|address| Contract {
                    address,
                    chain_id: c.chain_id,
                })
            })
        })
    }

    /// The block the contracts were deployed in (0 before the configuration is loaded): where a
    /// search of their logs starts.
    pub fn deploy_block(&self) -> u64 {
        self.config
            .with_untracked(|c| c.as_ref().map(|c| c.deploy_block))
            .unwrap_or(0)
    }

    /// Marks the signed-in account as having to accept the licence agreement (or not).
    pub fn set_agreement_needed(&self, needed: bool) {
        // Only a change notifies: every refused request of a page calls this.
        self.signed_in.maybe_update(|s| match s {
            Some(s) if s.agreement_needed != needed => {
                s.agreement_needed = needed;
                true
            }
            _ => false,
        });
    }

    /// The signed-in identity for the record protocols.
    pub fn identity(&self) -> Option<Identity> {
        let contract = self.contract()?;
        let insurance = self.insurance()?;
        self.signed_in.with_untracked(|s| {
            s.as_ref().map(|s| Identity {
                account: s.account,
                wallet: s.wallet,
                keys: s.keys.clone(),
                contract,
                insurance,
                forwarder: self
                    .config
                    .with_untracked(|c| c.as_ref().and_then(|c| c.forwarder)),
            })
        })
    }
}

impl Default for AppState {
    fn default() -> Self {
        Self::new()
    }
}

/// The state from context.
pub fn app_state() -> AppState {
    expect_context::<AppState>()
}
