//! The insurer's page: verification state (claims views are added by the claims issue).

use leptos::prelude::*;

use super::super::state::app_state;
use crate::format;

/// The verified insurer's home.
#[component]
pub fn InsurerPage() -> impl IntoView {
    let state = app_state();
    let account = move || {
        state
            .signed_in
            .with(|s| s.as_ref().map(|s| format::short_address(&s.account)))
    };
    view! {
        <section data-testid="insurer-page">
            <h2>"Insurer"</h2>
            <p>"Your account " {account} " is verified. Patients can now grant you access to their claims documents."</p>
        </section>
    }
}
