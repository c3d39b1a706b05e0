//! Onboarding: no wallet, wrong network, connect, sign in (SIWE + key unlock), choosing a role
//! (a patient registers; a practitioner or insurer applies with a profile) and waiting for an
//! admin's verification.

use alloy_primitives::keccak256;
use leptos::prelude::*;
use leptos::task::spawn_local;
use medledger_protocol::api::AccountKind;
use medledger_protocol::contract::MedLedger;
use serde_json::json;

use super::super::components::{outcome_note, NoteView, Outcome};
use super::super::escrow::{self, AppConfig};
use super::super::session::{self, SignInError, Status};
use super::super::state::{app_state, AppState, SignedIn};
use super::super::wallet;

/// No injected wallet: how to get one and point it at the chain.
#[component]
pub fn NoWallet(config: AppConfig) -> impl IntoView {
    view! {
        <section class="screen" data-testid="no-wallet">
            <h2>"No wallet found"</h2>
            <p>"medledger signs every sign-in and transaction with your own Ethereum wallet. Install MetaMask for Chrome or Firefox, then reload this page."</p>
            <ol>
                <li>"Install MetaMask from metamask.io (Chrome Web Store or Firefox Add-ons) and create or import an account."</li>
                <li>"In MetaMask: Networks → Add a network manually: RPC URL " <code>{config.rpc_url.clone()}</code>
                    ", chain ID " <code>{config.chain_id}</code> ", currency symbol ETH."</li>
                <li>"Reload this page."</li>
            </ol>
        </section>
    }
}

/// The wallet is on another chain.
#[component]
pub fn WrongNetwork(config: AppConfig) -> impl IntoView {
    let state = app_state();
    let rpc = config.rpc_url.clone();
    let chain = config.chain_id;
    let name = format!("medledger ({})", config.network);
    let switch = Action::new_local(move |_: &()| {
        let (rpc, name) = (rpc.clone(), name.clone());
        async move {
            wallet::switch_chain(chain, &rpc, &name)
                .await
                .map_err(|e| super::super::chain::ChainError::from(e).to_string())?;
            state.chain_id.set(wallet::chain_id().await.ok());
            Ok("Switched network.".to_string())
        }
    });
    view! {
        <section class="screen" data-testid="wrong-network">
            <h2>"Wrong network"</h2>
            <p>"Your wallet is on chain " {move || state.chain_id.get().map(|c| c.to_string()).unwrap_or_else(|| "unknown".into())}
               "; medledger runs on chain " {chain} " (" {config.network.clone()} "). Switch your wallet to it — the app can ask the wallet to add it if it does not know it."</p>
            <button on:click=move |_| { switch.dispatch_local(()); } disabled=switch.pending()>"Switch network"</button>
            <NoteView note=outcome_note(switch)/>
        </section>
    }
}

/// Not connected (or the wallet is locked).
#[component]
pub fn Connect() -> impl IntoView {
    let state = app_state();
    let connect = Action::new_local(move |_: &()| async move {
        let account = wallet::connect()
            .await
            .map_err(|e| super::super::chain::ChainError::from(e).to_string())?;
        state.account.set(Some(account));
        Ok("Connected.".to_string())
    });
    view! {
        <section class="screen" data-testid="connect">
            <h2>"Connect your wallet"</h2>
            <p>"Your wallet is locked or not connected to medledger. Unlock it, then connect."</p>
            <button on:click=move |_| { connect.dispatch_local(()); } disabled=connect.pending()>"Connect wallet"</button>
            <NoteView note=outcome_note(connect)/>
        </section>
    }
}

/// Reads the account on chain again and updates the signed-in state.
pub async fn refresh_account(state: AppState) -> Result<(), String> {
    let contract = state.contract().ok_or("not configured")?;
    let Some(mut s) = state.signed_in.get_untracked() else {
        return Ok(());
    };
    s.on_chain = session::on_chain_account(&contract, s.account)
        .await
        .map_err(|e| e.to_string())?;
    state.signed_in.set(Some(s));
    Ok(())
}

/// Signs in to the escrow (SIWE) and unlocks the encryption key.
#[component]
pub fn SignIn() -> impl IntoView {
    let state = app_state();
    let remember = RwSignal::new(true);
    let sheet = RwSignal::new(String::new());
    let sign_in = Action::new_local(move |(remember, sheet): &(bool, String)| {
        let sheet = Some(sheet.trim().to_string()).filter(|s| !s.is_empty());
        sign_in(state, *remember, sheet)
    });
    view! {
        <section class="screen" data-testid="sign-in">
            <h2>"Sign in"</h2>
            <p>"Your wallet asks for one signature to sign you in to the escrow (no transaction, no cost). The first time on this device it asks for a second one, which unlocks your encryption key: the key is computed in this browser from that signature and never leaves it."</p>
            <label>
                <input type="checkbox" prop:checked=move || remember.get() on:change=move |ev| remember.set(event_target_checked(&ev)) data-testid="remember-key"/>
                " This is my own device: remember my encryption key here, locked by the browser, so that the next sign-in asks for one signature. Untick it on a shared computer: nothing stays behind."
            </label>
            <details>
                <summary>"I recovered my account and have my recovery sheet"</summary>
                <label class="field">"The code on your recovery sheet (it stands in for one guardian's share)"
                    <input type="text" autocomplete="off" prop:value=move || sheet.get() on:input=move |ev| sheet.set(event_target_value(&ev)) data-testid="sheet-input"/>
                </label>
            </details>
            <button on:click=move |_| { sign_in.dispatch_local((remember.get_untracked(), sheet.get_untracked())); } disabled=sign_in.pending() data-testid="sign-in-button">"Sign in"</button>
            <NoteView note=outcome_note(sign_in)/>
        </section>
    }
}

/// Signs the wallet in to the escrow, reads the account it acts for on chain (itself, or the one a
/// recovery moved to it) and derives its key; a moved account whose key on chain is still the
/// one its guardians' shares give has it reassembled from them (`web::recovery`). With
/// `remember`, a key this device remembers for the wallet (`key_cache`) stands in for the key's
/// signature, and then the wallet always signs the sign-in itself afresh: every sign-in is one
/// signature of the wallet's at least (formats.md 6.1, "One signature at sign-in").
async fn sign_in(state: AppState, remember: bool, sheet: Option<String>) -> Outcome {
    let wallet = state
        .account
        .get_untracked()
        .ok_or("connect your wallet first")?;
    let contract = state.contract().ok_or("not configured")?;
    let explain = |e: SignInError| e.to_string();
    // The remembered key is used only when this sign-in was signed afresh: `fresh` decides both.
    let fresh =
        remember && super::super::key_cache::remembers(session::key_slot(&contract, wallet)).await;
    let escrow_session = session::ensure_escrow_session(wallet, fresh)
        .await
        .map_err(explain)?;
    let account = escrow_session.address;
    let on_chain = session::on_chain_account(&contract, account)
        .await
        .map_err(|e| e.to_string())?;
    let registered = (on_chain.status != Status::None).then_some(on_chain.encryption_key);
    let deploy_block = state.deploy_block();
    let (keys, recovered) = if account == wallet {
        let keys = session::derive_key(
            &contract,
            (account, wallet),
            registered,
            deploy_block,
            (remember, fresh),
        )
        .await
        .map_err(explain)?;
        (keys, false)
    } else {
        super::super::recovery::unlock_moved(
            &contract,
            (account, wallet),
            on_chain.encryption_key,
            deploy_block,
            super::super::recovery::Unlock {
                remember,
                use_remembered: fresh,
                sheet: sheet.as_deref(),
            },
        )
        .await?
    };
    // The wallet may have switched account while it was asked.
    if state.account.get_untracked() != Some(wallet) {
        return Err("The wallet switched account during sign-in: sign in again.".into());
    }
    state.signed_in.set(Some(SignedIn {
        account,
        wallet,
        keys,
        recovered,
        on_chain,
        agreement_needed: escrow_session.agreement.needs_acceptance(),
    }));
    Ok("Signed in.".into())
}

/// First visit: register as a patient, or apply as a practitioner or insurer.
#[component]
pub fn ChooseRole() -> impl IntoView {
    let state = app_state();
    let kind = RwSignal::new(AccountKind::Patient);
    let name = RwSignal::new(String::new());
    let licence = RwSignal::new(String::new());
    let organisation = RwSignal::new(String::new());
    let register =
        Action::new_local(move |application: &Application| register(state, application.clone()));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        register.dispatch_local(Application {
            kind: kind.get_untracked(),
            name: name.get_untracked(),
            licence: licence.get_untracked(),
            organisation: organisation.get_untracked(),
        });
    };
    let busy = register.pending();
    view! {
        <section class="screen" data-testid="choose-role">
            <h2>"Welcome to medledger"</h2>
            <form on:submit=submit>
                <fieldset>
                    <legend>"I am"</legend>
                    {AccountKind::ALL
                        .into_iter()
                        .map(|choice| view! {
                            <label>
                                <input type="radio" name="role" value=role_value(choice)
                                    prop:checked=move || kind.get() == choice
                                    on:change=move |_| kind.set(choice)/>
                                {role_text(choice)}
                            </label>
                        })
                        .collect_view()}
                </fieldset>
                <Show when=move || kind.get().needs_verification()>
                    <fieldset>
                        <legend>"Your profile (the admin who verifies you sees all of it; once you are verified, patients see your name and organisation, never your licence number; only its hash goes on chain)"</legend>
                        <label class="field">"Full name"<input type="text" required prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/></label>
                        <label class="field">"Licence number"<input type="text" required prop:value=move || licence.get() on:input=move |ev| licence.set(event_target_value(&ev))/></label>
                        <label class="field">"Organisation"<input type="text" required prop:value=move || organisation.get() on:input=move |ev| organisation.set(event_target_value(&ev))/></label>
                    </fieldset>
                </Show>
                <button type="submit" disabled=busy data-testid="register">
                    {move || if kind.get().needs_verification() { "Apply" } else { "Register as patient" }}
                </button>
            </form>
            <NoteView note=outcome_note(register)/>
        </section>
    }
}

/// The radio button's value for a kind.
fn role_value(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::Patient => "patient",
        AccountKind::Practitioner => "practitioner",
        AccountKind::Insurer => "insurer",
    }
}

/// What the choose-role form says of a kind.
fn role_text(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::Patient => "a patient: I keep my records and decide who sees them",
        AccountKind::Practitioner => "a doctor or other practitioner (an admin verifies you)",
        AccountKind::Insurer => "an insurer (an admin verifies you)",
    }
}

/// The choose-role form as filled in.
#[derive(Clone)]
struct Application {
    /// What the account registers as.
    kind: AccountKind,
    name: String,
    licence: String,
    organisation: String,
}

/// Registers as a patient, or applies as a practitioner or insurer with the profile.
async fn register(state: AppState, application: Application) -> Outcome {
    let me = state.identity().ok_or("sign in first")?;
    let key = alloy_primitives::B256::from(me.keys.public().0);
    // One arm per kind: a role added to AccountKind does not compile until it is handled here.
    let applied = match application.kind {
        AccountKind::Patient => {
            let call = MedLedger::registerPatientCall { encryptionKey: key };
            me.send(call).await
        }
        AccountKind::Practitioner => {
            let profile_hash = profile_hash_of(&application)?;
            let call = MedLedger::applyAsPractitionerCall {
                encryptionKey: key,
                profileHash: profile_hash,
            };
            me.send(call).await
        }
        AccountKind::Insurer => {
            let profile_hash = profile_hash_of(&application)?;
            let call = MedLedger::applyAsInsurerCall {
                encryptionKey: key,
                profileHash: profile_hash,
            };
            me.send(call).await
        }
    };
    applied?;
    if application.kind.needs_verification() {
        submit_profile(&profile_of(&application)?).await?;
    }
    refresh_account(state).await?;
    Ok("Registered.".into())
}

/// The profile an admin verifies, as the JSON text the escrow keeps; refused when a field is empty.
fn profile_of(application: &Application) -> Result<String, String> {
    let (n, l, o) = (
        application.name.trim(),
        application.licence.trim(),
        application.organisation.trim(),
    );
    if n.is_empty() || l.is_empty() || o.is_empty() {
        return Err("Fill in your name, licence number and organisation.".into());
    }
    Ok(json!({"name": n, "licenceNumber": l, "organisation": o}).to_string())
}

/// The hash of [`profile_of`]'s text: what goes on chain.
fn profile_hash_of(application: &Application) -> Result<alloy_primitives::B256, String> {
    Ok(keccak256(profile_of(application)?.as_bytes()))
}

/// Sends the profile text to the escrow; retried while its follower has not yet seen the
/// application on chain.
async fn submit_profile(profile: &str) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..40 {
        match escrow::put_profile(profile).await {
            Ok(()) => return Ok(()),
            Err(e) if e.status == 409 || e.status == 404 => {
                last = e.to_string();
                wallet::sleep_ms(500).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!(
        "The application is on chain, but the escrow did not take the profile: {last}"
    ))
}

/// A practitioner or insurer waiting for (or suspended by) an admin.
#[component]
pub fn AwaitingVerification() -> impl IntoView {
    let state = app_state();
    let status = move || {
        state
            .signed_in
            .with(|s| s.as_ref().map(|s| s.on_chain.status))
    };
    // Poll the chain while this screen shows: the page moves on by itself once verified.
    spawn_local(async move {
        loop {
            wallet::sleep_ms(3000).await;
            if !matches!(
                status_untracked(state),
                Some(Status::Pending) | Some(Status::Suspended)
            ) {
                break;
            }
            let _ = refresh_account(state).await;
        }
    });
    view! {
        <section class="screen" data-testid="awaiting">
            {move || match status() {
                Some(Status::Suspended) => view! {
                    <h2>"Account suspended"</h2>
                    <p>"An admin suspended this account. Contact your medledger operator; nothing can be read or written meanwhile."</p>
                }.into_any(),
                _ => view! {
                    <h2>"Waiting for verification"</h2>
                    <p data-testid="pending">"Your application is on chain and pending. An admin checks your profile and verifies you on the console; this page moves on by itself once they have."</p>
                }.into_any(),
            }}
        </section>
    }
}

fn status_untracked(state: AppState) -> Option<Status> {
    state
        .signed_in
        .with_untracked(|s| s.as_ref().map(|s| s.on_chain.status))
}
