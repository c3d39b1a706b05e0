//! A browser harness for `medledger-protocol`: loaded by the end-to-end tests in `e2e/` into
//! headless Chromium and Firefox, it checks the committed test vectors (`protocol/tests/vectors`)
//! with the code the app will run — the envelope through both `aes-gcm` compiled to WASM and the
//! WebCrypto path — and times envelope encryption and decryption for `bench/`.
//!
//! Natively this crate compiles to nothing but the vector checks' shared helpers, so that
//! `cargo clippy --workspace` covers it; its exports exist only on wasm32.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod browser;
