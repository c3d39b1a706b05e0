//! The medledger single-page app: Leptos (CSR) compiled to WASM, all client-side cryptography in
//! the browser through `medledger-protocol`, every transaction and sign-in signed by the injected
//! wallet.
//!
//! Not built yet: this crate only holds its place in the workspace so that the layout of
//! `docs/architecture.md` is real. It has no pages and no wallet bridge; the app issue fills it.
