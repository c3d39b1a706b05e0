//! The licence agreement (EULA; docs/licensing.md "The agreement"): its versions, the gate that
//! refuses a signed-in account everything but sign-in, the agreement and health until it has
//! accepted the current one, and the acceptance itself (`GET`/`POST /api/agreement`).
//!
//! Versions are Markdown files named `v<N>.md` (N = 1, 2, …) in the configured `agreement_dir`, or
//! the texts of the repository's docs/eula/ built into the binary; the highest N is current. Each
//! is published by the keccak256 hash of its exact text. An acceptance is the account's EIP-712
//! signature over (account, version, text hash, time), checked here, stored with the access-log
//! entry that records it (one transaction), and so anchored on chain with the log: verifiable later
//! by anyone holding the text, without a transaction (and its gas) per user.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alloy_primitives::{hex, Address, B256};
use axum::extract::State;
use axum::Json;
use medledger_protocol::api::agreement::{
    agreement_hash, AcceptAgreementBody, AgreementAcceptance, AgreementStatus, AgreementText,
};
use medledger_protocol::api::AccessAction;
use medledger_protocol::identity::AgreementAcceptanceMessage;

use crate::access_log::{NewEntry, RiskNote, Write};
use crate::auth::SignedIn;
use crate::db::NewAcceptance;
use crate::error::{ApiError, JsonBody};
use crate::server::AppState;

/// The versions built into the binary (docs/eula/), used without an `agreement_dir`.
const BUNDLED: &[(u32, &str)] = &[(1, include_str!("../../docs/eula/v1.md"))];

/// How far an acceptance's signed time may be behind the escrow's clock (the person read the
/// text first) and ahead of it (clock skew).
const MAX_READING_SECS: u64 = 24 * 3_600;
const MAX_SKEW_SECS: u64 = 300;

/// One version's text and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Markdown.
    pub text: String,
    /// keccak256 of `text`.
    pub hash: B256,
}

/// Why the agreement texts could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AgreementError {
    /// The directory or a file could not be read.
    #[error("agreement texts in {path}: {source}")]
    Read {
        /// The directory or file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A version's text is not the one accounts accepted: a published version was edited.
    #[error("agreement version {version} is not the text accounts accepted (its hash was {accepted}, the file's is {now}): a published version is never edited; publish the change as the next version")]
    Edited {
        /// The version.
        version: u32,
        /// The hash accepted.
        accepted: B256,
        /// The hash of the text loaded now.
        now: B256,
    },
    /// No `v<N>.md` file, or numbers that do not run 1, 2, … without a gap.
    #[error("agreement texts in {path}: {why}")]
    Versions {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Every published version; the last is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreements {
    versions: BTreeMap<u32, Version>,
}

impl Agreements {
    /// From `(version, text)` pairs, which must be numbered 1, 2, … without a gap (a version
    /// once published stays published: acceptances name it).
    pub fn new(texts: impl IntoIterator<Item = (u32, String)>) -> Result<Agreements, String> {
        let versions: BTreeMap<u32, Version> = texts
            .into_iter()
            .map(|(v, text)| {
                let hash = agreement_hash(&text);
                (v, Version { text, hash })
            })
            .collect();
        if versions.is_empty() {
            return Err("no version (files are named v1.md, v2.md, …)".into());
        }
        for (expected, got) in (1u32..).zip(versions.keys()) {
            if *got != expected {
                return Err(format!("version {expected} is missing (found v{got}.md)"));
            }
        }
        if versions.values().any(|v| v.text.trim().is_empty()) {
            return Err("a version's text is empty".into());
        }
        Ok(Agreements { versions })
    }

    /// The versions built into the binary.
    pub fn bundled() -> Agreements {
        // The bundled texts are numbered 1.. in this file, and a test below checks they load.
        Agreements::new(BUNDLED.iter().map(|(v, t)| (*v, t.to_string())))
            .unwrap_or_else(|why| unreachable!("the bundled agreement texts: {why}"))
    }

    /// The `v<N>.md` files of `dir` (other files are ignored).
    pub fn from_dir(dir: &Path) -> Result<Agreements, AgreementError> {
        let read = |path: &Path, source| AgreementError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut texts = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| read(dir, e))? {
            let path = entry.map_err(|e| read(dir, e))?.path();
            let Some(version) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(version_of)
            else {
                continue;
            };
            texts.push((
                version,
                std::fs::read_to_string(&path).map_err(|e| read(&path, e))?,
            ));
        }
        Agreements::new(texts).map_err(|why| AgreementError::Versions {
            path: dir.to_path_buf(),
            why,
        })
    }

    /// Checks that every version some account accepted is still the text it accepted (`accepted`:
    /// each version and hash the index holds acceptances of). The gate compares versions only,
    /// which is sound because of this check.
    pub fn check_unedited(&self, accepted: &[(u32, B256)]) -> Result<(), AgreementError> {
        for &(version, hash) in accepted {
            match self.versions.get(&version) {
                Some(v) if v.hash == hash => {}
                Some(v) => {
                    return Err(AgreementError::Edited {
                        version,
                        accepted: hash,
                        now: v.hash,
                    })
                }
                None => {
                    return Err(AgreementError::Versions {
                        path: PathBuf::from("agreement_dir"),
                        why: format!("version {version} was accepted but is no longer published"),
                    })
                }
            }
        }
        Ok(())
    }

    /// From the configuration: `agreement_dir`, or the bundled texts.
    pub fn load(dir: Option<&Path>) -> Result<Agreements, AgreementError> {
        dir.map_or_else(|| Ok(Agreements::bundled()), Agreements::from_dir)
    }

    /// The current version's number and text.
    pub fn current(&self) -> (u32, &Version) {
        let (v, text) = self
            .versions
            .last_key_value()
            .unwrap_or_else(|| unreachable!("Agreements::new refuses an empty set"));
        (*v, text)
    }

    /// Where an account that accepted `accepted` stands.
    pub fn status(&self, accepted: Option<u32>) -> AgreementStatus {
        AgreementStatus {
            current: self.current().0,
            accepted,
        }
    }
}

/// The version a file name publishes: exactly `v<N>.md`, N from 1 without leading zeros or a
/// sign, so that no two names publish one version.
fn version_of(name: &str) -> Option<u32> {
    let version: u32 = name.strip_prefix('v')?.strip_suffix(".md")?.parse().ok()?;
    (version > 0 && name == format!("v{version}.md")).then_some(version)
}

/// The refusal of an account that has not accepted the current version.
pub fn required(status: &AgreementStatus) -> ApiError {
    ApiError::forbidden(
        "agreement-required",
        format!(
            "accept version {} of the licence agreement first (GET /api/agreement shows it; you {})",
            status.current,
            match status.accepted {
                Some(v) => format!("accepted version {v}"),
                None => "have not accepted any version".into(),
            }
        ),
    )
}

/// `GET /api/agreement`: the current version, for any signed-in account.
pub async fn text(
    State(st): State<AppState>,
    session: SignedIn,
) -> Result<Json<AgreementText>, ApiError> {
    let (version, current) = st.agreements.current();
    Ok(Json(AgreementText {
        version,
        text_hash: current.hash,
        text: current.text.clone(),
        accepted: session.agreement.accepted,
    }))
}

fn refused(code: &'static str, message: String) -> ApiError {
    ApiError::bad_request(code, message)
}

/// Checks an acceptance names the current version and its text, at a believable time, and is
/// the account's own signature (low s, as sign-in requires), made by `wallet`, the session's,
/// which controls the account.
fn check(
    st: &AppState,
    (account, wallet): (Address, Address),
    body: &AcceptAgreementBody,
    now: u64,
) -> Result<(), ApiError> {
    let (version, current) = st.agreements.current();
    if body.version != version {
        return Err(refused(
            "agreement-version",
            format!(
                "version {} is not the current agreement ({version})",
                body.version
            ),
        ));
    }
    if body.text_hash != current.hash {
        return Err(refused(
            "agreement-hash",
            format!(
                "the text accepted is not version {version}'s (its hash is {})",
                current.hash
            ),
        ));
    }
    if body.accepted_at < now.saturating_sub(MAX_READING_SECS)
        || body.accepted_at > now.saturating_add(MAX_SKEW_SECS)
    {
        return Err(refused(
            "agreement-time",
            format!(
                "acceptedAt {} is too far from now ({now})",
                body.accepted_at
            ),
        ));
    }
    let bad = |why: String| {
        refused(
            "bad-signature",
            format!("the acceptance's signature: {why}"),
        )
    };
    let signature = hex::decode(body.signature.trim()).map_err(|e| bad(e.to_string()))?;
    if alloy_primitives::Signature::from_raw(&signature)
        .map_err(|e| bad(e.to_string()))?
        .normalize_s()
        .is_some()
    {
        return Err(bad(
            "a high-s (malleable) signature; EIP-2 requires low s".into()
        ));
    }
    AgreementAcceptanceMessage {
        chain_id: st.deployment.chain_id,
        contract: st.deployment.address,
        account,
        version: body.version,
        text_hash: body.text_hash,
        accepted_at: body.accepted_at,
    }
    .verify_by(&signature, wallet)
    .map_err(|e| bad(e.to_string()))
}

/// `POST /api/agreement`: the signed-in account accepts the current version. Accepting a version
/// already accepted answers the stored acceptance and writes nothing.
pub async fn accept(
    State(st): State<AppState>,
    session: SignedIn,
    JsonBody(body): JsonBody<AcceptAgreementBody>,
) -> Result<Json<AgreementAcceptance>, ApiError> {
    let account = session.address;
    let now = u64::try_from(crate::now_secs()).unwrap_or(0);
    check(&st, (account, session.wallet), &body, now)?;
    if let Some(stored) = st.index.agreement_acceptance(account, body.version).await? {
        return Ok(Json(stored));
    }
    let entry = NewEntry {
        actor: account,
        patient: Address::ZERO,
        record_id: body.text_hash,
        action: AccessAction::AcceptAgreement,
        granted: true,
        reason: format!("agreement-v{}", body.version),
        risk: RiskNote::default(),
    };
    let acceptance = NewAcceptance {
        account,
        version: body.version,
        text_hash: body.text_hash,
        accepted_at: body.accepted_at,
        signature: format!("0x{}", body.signature.trim().trim_start_matches("0x")),
    };
    st.log
        .append_with(entry, Write::Acceptance(Box::new(acceptance)))
        .await
        .map_err(|e| ApiError::internal("access log", &e))?;
    tracing::debug!(version = body.version, "licence agreement accepted");
    st.index
        .agreement_acceptance(account, body.version)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::internal("agreement", &"the acceptance was not stored"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_texts_load_and_the_last_is_current() {
        let a = Agreements::bundled();
        let (v, current) = a.current();
        assert_eq!(v, BUNDLED.len() as u32);
        assert_eq!(current.hash, agreement_hash(BUNDLED[BUNDLED.len() - 1].1));
        assert!(a.status(None).needs_acceptance());
        assert!(!a.status(Some(v)).needs_acceptance());
    }

    #[test]
    fn the_published_hashes_are_the_files() {
        let table = include_str!("../../docs/eula/README.md");
        for (version, text) in BUNDLED {
            let row = format!(
                "| [{version}](v{version}.md) | `{}` |",
                agreement_hash(text)
            );
            assert!(table.contains(&row), "docs/eula/README.md lacks {row}");
        }
    }

    #[test]
    fn only_exact_file_names_publish_a_version() {
        assert_eq!(version_of("v1.md"), Some(1));
        assert_eq!(version_of("v12.md"), Some(12));
        for name in [
            "v01.md", "v+1.md", "v0.md", "v1.txt", "1.md", "v1.md~", "V1.md",
        ] {
            assert_eq!(version_of(name), None, "{name}");
        }
    }

    #[test]
    fn an_edited_version_is_refused_and_a_withdrawn_one_too() {
        let a = Agreements::new([(1, "one".to_string()), (2, "two".to_string())]).expect("texts");
        assert!(a.check_unedited(&[(1, agreement_hash("one"))]).is_ok());
        assert!(matches!(
            a.check_unedited(&[(1, agreement_hash("one, edited"))]),
            Err(AgreementError::Edited { version: 1, .. })
        ));
        assert!(a.check_unedited(&[(3, agreement_hash("three"))]).is_err());
    }

    #[test]
    fn versions_run_from_one_without_a_gap() {
        let t = |v: u32| (v, format!("terms {v}"));
        let refusal = |texts: Vec<(u32, String)>| match Agreements::new(texts) {
            Ok(_) => String::from("accepted"),
            Err(why) => why,
        };
        assert!(Agreements::new([t(1), t(2)]).is_ok());
        assert!(refusal(vec![t(2)]).contains("version 1 is missing"));
        assert!(refusal(vec![t(1), t(3)]).contains("version 2"));
        assert!(Agreements::new(Vec::new()).is_err());
        assert!(Agreements::new([(1, " \n".to_string())]).is_err());
    }

    #[test]
    fn a_directory_of_versions_is_read_and_other_files_ignored() {
        let dir = std::env::temp_dir().join(format!("medledger-eula-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("v1.md"), "one").expect("v1");
        std::fs::write(dir.join("v2.md"), "two").expect("v2");
        std::fs::write(dir.join("README.md"), "not a version").expect("readme");
        let a = Agreements::from_dir(&dir).expect("load");
        assert_eq!(a.current().0, 2);
        assert_eq!(a.current().1.hash, agreement_hash("two"));
        std::fs::write(dir.join("v4.md"), "four").expect("v4");
        assert!(matches!(
            Agreements::from_dir(&dir),
            Err(AgreementError::Versions { .. })
        ));
        std::fs::remove_dir_all(&dir).expect("clean");
        assert!(matches!(
            Agreements::from_dir(&dir),
            Err(AgreementError::Read { .. })
        ));
    }
}
