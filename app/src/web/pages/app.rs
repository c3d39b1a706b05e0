//! The root view and its gate: no wallet → how to get one; wrong network → switch; not connected
//! → connect; not signed in → sign in and unlock the key; the current licence agreement not
//! accepted → the agreement; not registered → onboarding; then the page for the role. The
//! wallet's account and chain events, and an escrow refusal for want of the agreement, move the
//! gate without a reload.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::super::components::{outcome_note, NoteView, Outcome};
use super::super::session::{Role, Status};
use super::super::state::{app_state, AppState, WalletPresence};
use super::super::{escrow, wallet};
use super::{agreement, doctor, insurer, onboarding, patient};
use crate::format;

/// Boots the app: config, wallet discovery, wallet listeners, and the agreement screen whenever the
/// escrow refuses a request for want of the licence agreement.
fn boot(state: AppState) {
    escrow::on_agreement_required(move || state.set_agreement_needed(true));
    spawn_local(async move {
        match escrow::config().await {
            Ok(c) => {
                escrow::set_pace(c.rate_limit_per_minute, c.rate_limit_burst);
                state.config.set(Some(c));
            }
            Err(e) => {
                state
                    .boot_error
                    .set(Some(format!("Could not load the app's configuration: {e}")));
                return;
            }
        }
        match wallet::discover().await {
            None => state.wallet.set(WalletPresence::Missing),
            Some(info) => {
                state.wallet.set(WalletPresence::Present(info.name));
                wallet::on_change(
                    move |account| {
                        if state.account.get_untracked() != account {
                            // Another account: nothing of the previous identity carries over.
                            state.signed_in.set(None);
                            state.account.set(account);
                        }
                    },
                    move |chain| state.chain_id.set(chain),
                );
                state.chain_id.set(wallet::chain_id().await.ok());
                state
                    .account
                    .set(wallet::current_account().await.ok().flatten());
            }
        }
    });
}

/// The app.
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    boot(state);
    view! {
        <Header/>
        <main id="main">
            <Gate/>
        </main>
        <footer>
            <p>"medledger — your records are encrypted in this browser; the server never sees them."</p>
        </footer>
    }
}

/// Ends the escrow session and forgets the signed-in identity (the gate goes back to Sign in).
pub async fn sign_out(state: AppState) -> Outcome {
    escrow::sign_out().await.map_err(|e| e.to_string())?;
    super::super::fhir::forget_opened();
    state.signed_in.set(None);
    Ok("Signed out.".to_string())
}

#[component]
fn Header() -> impl IntoView {
    let state = app_state();
    let sign_out = Action::new_local(move |_: &()| sign_out(state));
    let busy = sign_out.pending();
    view! {
        <header>
            <h1>"medledger"</h1>
            <nav aria-label="account">
                {move || {
                    state.signed_in.get().map(|s| {
                        let role = match s.on_chain.role {
                            Role::Patient => "patient",
                            Role::Practitioner => "practitioner",
                            Role::Insurer => "insurer",
                            Role::None => "not registered",
                        };
                        view! {
                            <span class="who" title=s.account.to_checksum(None) data-testid="who">
                                {format::short_address(&s.account)} " · " {role}
                            </span>
                            <button on:click=move |_| { sign_out.dispatch_local(()); } disabled=busy>"Sign out"</button>
                        }
                    })
                }}
            </nav>
            <NoteView note=outcome_note(sign_out)/>
            <crate::web::relay::PaidBy/>
        </header>
    }
}

/// Which screen the gate shows. A memo, so a page is built again only when the screen changes
/// (not on every change of the state it was derived from).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Screen {
    BootError(String),
    Loading,
    Detecting,
    NoWallet,
    WrongNetwork,
    Connect,
    SignIn,
    Agreement,
    ChooseRole,
    Awaiting,
    Patient,
    Doctor,
    Insurer,
}

#[component]
fn Gate() -> impl IntoView {
    let state = app_state();
    let screen = Memo::new(move |_| {
        if let Some(e) = state.boot_error.get() {
            return Screen::BootError(e);
        }
        let Some(chain_id) = state.config.with(|c| c.as_ref().map(|c| c.chain_id)) else {
            return Screen::Loading;
        };
        match state.wallet.get() {
            WalletPresence::Detecting => return Screen::Detecting,
            WalletPresence::Missing => return Screen::NoWallet,
            WalletPresence::Present(_) => {}
        }
        if state.chain_id.get() != Some(chain_id) {
            return Screen::WrongNetwork;
        }
        if state.account.get().is_none() {
            return Screen::Connect;
        }
        let Some((role, status, agreement_needed)) = state.signed_in.with(|s| {
            s.as_ref()
                .map(|s| (s.on_chain.role, s.on_chain.status, s.agreement_needed))
        }) else {
            return Screen::SignIn;
        };
        if agreement_needed {
            return Screen::Agreement;
        }
        match (role, status) {
            (Role::None, _) => Screen::ChooseRole,
            (Role::Patient, _) => Screen::Patient,
            (_, Status::Pending) | (_, Status::Suspended) => Screen::Awaiting,
            (Role::Practitioner, _) => Screen::Doctor,
            (Role::Insurer, _) => Screen::Insurer,
        }
    });
    move || {
        let config = state.config.get_untracked();
        match (screen.get(), config) {
            (Screen::BootError(e), _) => view! {
                <section class="screen" role="alert">
                    <h2>"medledger cannot start"</h2>
                    <p>{e}</p>
                    <p>"Is the escrow running? Reload the page when it is."</p>
                </section>
            }
            .into_any(),
            (Screen::Loading, _) | (_, None) => view! { <p>"Loading…"</p> }.into_any(),
            (Screen::Detecting, _) => view! { <p>"Looking for your wallet…"</p> }.into_any(),
            (Screen::NoWallet, Some(config)) => view! { <onboarding::NoWallet config/> }.into_any(),
            (Screen::WrongNetwork, Some(config)) => {
                view! { <onboarding::WrongNetwork config/> }.into_any()
            }
            (Screen::Connect, _) => view! { <onboarding::Connect/> }.into_any(),
            (Screen::SignIn, _) => view! { <onboarding::SignIn/> }.into_any(),
            (Screen::Agreement, _) => view! { <agreement::AgreementPage/> }.into_any(),
            (Screen::ChooseRole, _) => {
                view! { <onboarding::ChooseRole/><super::recovery::RecoverAccount/> }.into_any()
            }
            (Screen::Awaiting, _) => view! { <onboarding::AwaitingVerification/> }.into_any(),
            (Screen::Patient, _) => view! { <patient::PatientPage/> }.into_any(),
            (Screen::Doctor, _) => view! { <doctor::DoctorPage/> }.into_any(),
            (Screen::Insurer, _) => view! { <insurer::InsurerPage/> }.into_any(),
        }
    }
}
