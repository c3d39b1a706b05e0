//! Access risk at the escrow (docs/risk.md, "At the escrow"): every read attempt by a signed-in
//! account is scored by the `medledger-risk` k-nearest-neighbours model before anything is
//! released, and the policy an admin set decides what a high score does: `flag` (release, flag
//! the entry, give its reasons) or `hold` (refuse with 423 until the patient approves;
//! `records::read` and `holds`).
//!
//! The engine owns three things:
//! - **the readers' histories** ([`FeatureState`]), fed every scored attempt in order and
//!   rebuilt at start-up from the scored attempts the access log keeps beside its entries
//!   (`risk_access`), so a restart forgets nothing the features look at;
//! - **the model**, fitted in the background: from the synthetic hospital (`risk::synth`) until
//!   the deployment has `risk_deployment_min` unflagged attempts of its own, then from its last
//!   `risk_reference_size` unflagged attempts, refitted as they grow by a tenth. Flagged
//!   attempts never join the reference, so a burst cannot teach the model that bursts are normal;
//! - **the policy**, cached from the index (`risk_policy`), `flag` at 950 until an admin sets one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use alloy_primitives::{Address, B256};
use medledger_protocol::api::{AccountKind, ReferenceSource, RiskMode, RiskPolicy, RiskStatus};
use medledger_risk::access::{Access, Role};
use medledger_risk::explain::{explain_scored, Reason};
use medledger_risk::features::{FeatureState, Features};
use medledger_risk::model::{Clearance, KnnModel, ModelError, Scored};
use medledger_risk::{eval, synth};
use tokio::sync::watch;

use crate::access_log::RiskNote;
use crate::db::{DbError, Index};

/// The policy before an admin sets one: flag what scores above 95 % of normal accesses (the
/// evaluation's operating point keeps false positives at or under 5 %, docs/risk.md).
pub const DEFAULT_POLICY: RiskPolicy = RiskPolicy {
    mode: RiskMode::Flag,
    threshold_milli: 950,
};

/// The synthetic hospital's seed for the start-up reference set (the evaluation's training
/// seed: the reference the report's figures were measured with).
const SYNTHETIC_SEED: u64 = 1;

/// The engine's settings (from the escrow's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskSettings {
    /// Whether attempts are scored at all (`risk_scoring`).
    pub scoring: bool,
    /// Whether a reader's clearance may stand in for a search (`risk_clearances`).
    pub clearances: bool,
    /// Neighbours.
    pub k: usize,
    /// The deployment's local time, seconds east of UTC ("off hours" are local).
    pub utc_offset_secs: i64,
    /// Most attempts in the reference set.
    pub reference_size: usize,
    /// Own unflagged attempts needed before they replace the synthetic reference.
    pub deployment_min: usize,
}

/// Why the engine cannot score.
#[derive(Debug, thiserror::Error)]
pub enum RiskError {
    /// The index failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The model could not be fitted.
    #[error("the risk model cannot be fitted: {0}")]
    Model(#[from] ModelError),
    /// The first fit failed (or stopped): nothing can be scored.
    #[error("the risk model could not be fitted: {0}")]
    FitFailed(String),
}

/// Where the engine's model stands.
#[derive(Clone)]
enum ModelState {
    /// The first fit is under way.
    Fitting,
    /// Fitted (a later refit replaces it only when it succeeds).
    Ready(Arc<Fitted>),
    /// The first fit failed: reads are refused (fail closed) rather than left waiting.
    Failed(String),
}

impl ModelState {
    fn fitted(&self) -> Option<&Arc<Fitted>> {
        match self {
            ModelState::Ready(f) => Some(f),
            _ => None,
        }
    }
}

/// A fitted model and where its reference came from.
struct Fitted {
    model: KnnModel,
    source: ReferenceSource,
    /// Each reader's last clearance under this model (`KnnModel::score_cleared`): a reader in a
    /// burst far from every normal access is scored without a search. Kept with the model, so
    /// a refit starts without any.
    clearances: Mutex<HashMap<Address, Clearance>>,
}

/// Most readers whose clearance is kept at once: the map is emptied past it (a clearance only
/// saves a search; losing one costs the next access its search, never its score).
const CLEARANCES_KEPT: usize = 100_000;

impl Fitted {
    fn new(model: KnnModel, source: ReferenceSource) -> Fitted {
        Fitted {
            model,
            source,
            clearances: Mutex::new(HashMap::new()),
        }
    }

    /// Scores `features` of an access by `reader`, using and updating the reader's clearance.
    fn score(&self, reader: Address, features: &Features) -> Scored {
        let prior = self.clearance_of(reader);
        let (scored, clearance) = self.model.score_cleared(features, prior.as_ref());
        let mut kept = self.clearances.lock().unwrap_or_else(|p| p.into_inner());
        match clearance {
            Some(c) if prior.as_ref() != Some(&c) => {
                if kept.len() >= CLEARANCES_KEPT {
                    kept.clear();
                }
                kept.insert(reader, c);
            }
            Some(_) => {}
            None => {
                kept.remove(&reader);
            }
        }
        scored
    }

    fn clearance_of(&self, reader: Address) -> Option<Clearance> {
        self.clearances
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&reader)
            .cloned()
    }
}

/// The readers' histories and the deployment's own reference attempts.
struct History {
    features: FeatureState,
    /// Unflagged attempts' features, newest last, at most `reference_size`.
    reference: VecDeque<Features>,
    /// Reference attempts added since the last fit began.
    since_fit: usize,
    /// The last fit of the deployment's own reference failed: the next waits for growth.
    own_fit_failed: bool,
}

/// An attempt's assessment: what goes beside its log entry, and whether it is at or above the
/// threshold on its own (before an emergency, which is always flagged).
#[derive(Debug, Clone)]
pub struct Assessment {
    /// What the log keeps.
    pub note: RiskNote,
    /// The score reached the policy's threshold.
    pub above_threshold: bool,
    /// The policy in force when it was scored.
    pub policy: RiskPolicy,
}

/// The engine (see the module doc).
pub struct RiskEngine {
    settings: RiskSettings,
    history: Mutex<History>,
    model: watch::Sender<ModelState>,
    fitting: AtomicBool,
    policy: RwLock<RiskPolicy>,
    /// Block number → timestamp of the blocks grants began in (a grant's age is a feature).
    block_times: Mutex<HashMap<u64, u64>>,
    /// The kind each reader registered as: an account registers once (the contract refuses a
    /// second registration), so a kind once seen never changes.
    kinds: Mutex<HashMap<Address, AccountKind>>,
    /// The (reader, record) pairs that have a hold: a read of any other pair needs no look at
    /// the holds table (most reads, and every read under `flag` until a hold was ever made).
    held_pairs: Mutex<HashSet<(Address, B256)>>,
    /// Serialises the creation of holds (their numbers are `MAX(id) + 1`).
    pub hold_creation: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RiskEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RiskEngine")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RiskEngine {
    /// Rebuilds the histories from the index's scored attempts, loads the policy, and starts
    /// the first fit in the background.
    pub async fn start(
        index: &Index,
        settings: RiskSettings,
    ) -> Result<Arc<RiskEngine>, RiskError> {
        let policy = index.risk_policy().await?.unwrap_or(DEFAULT_POLICY);
        let stored = index
            .scored_accesses(i64::try_from(settings.reference_size).unwrap_or(i64::MAX))
            .await?;
        let engine = RiskEngine::with_history(settings, policy, &stored);
        let pairs = index.hold_pairs().await?;
        engine
            .held_pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(pairs);
        Ok(engine)
    }

    /// An engine whose histories are `stored` (risk-log lines, oldest first, each with whether
    /// it was flagged), fitting its first model in the background.
    pub fn with_history(
        settings: RiskSettings,
        policy: RiskPolicy,
        stored: &[(String, bool)],
    ) -> Arc<RiskEngine> {
        let mut history = History {
            features: FeatureState::new(settings.utc_offset_secs),
            reference: VecDeque::new(),
            since_fit: 0,
            own_fit_failed: false,
        };
        let mut skipped = 0usize;
        for (line, flagged) in stored {
            // A line this build cannot read (written by a later one) is left out of the history.
            let Ok(access) = serde_json::from_str::<Access>(line) else {
                skipped += 1;
                continue;
            };
            let observed = history.features.observe(&access);
            if !flagged {
                history.reference.push_back(observed.features);
            }
        }
        if skipped > 0 {
            tracing::warn!(skipped, "scored attempts the risk engine could not read");
        }
        let (model, _) = watch::channel(ModelState::Fitting);
        let engine = Arc::new(RiskEngine {
            settings,
            history: Mutex::new(history),
            model,
            fitting: AtomicBool::new(false),
            policy: RwLock::new(policy),
            block_times: Mutex::new(HashMap::new()),
            kinds: Mutex::new(HashMap::new()),
            held_pairs: Mutex::new(HashSet::new()),
            hold_creation: tokio::sync::Mutex::new(()),
        });
        if settings.scoring {
            engine.refit_if_due(true);
        }
        engine
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        // A panic while holding the lock leaves histories that are still valid data.
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether attempts are scored (`risk_scoring`).
    pub fn scoring(&self) -> bool {
        self.settings.scoring
    }

    /// The policy in force.
    pub fn policy(&self) -> RiskPolicy {
        *self.policy.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the policy (the caller stores it in the index first).
    pub fn set_policy(&self, policy: RiskPolicy) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// Where the model stands, for the console.
    pub fn status(&self) -> RiskStatus {
        let fitted = self.model.borrow().fitted().cloned();
        let own = self.history().reference.len();
        RiskStatus {
            scoring: self.settings.scoring,
            policy: self.policy(),
            reference: fitted
                .as_ref()
                .map_or(ReferenceSource::Synthetic, |f| f.source),
            reference_size: fitted
                .as_ref()
                .map_or(0, |f| f.model.reference_size() as u64),
            deployment_accesses: own as u64,
            deployment_needed: self.settings.deployment_min as u64,
            k: u32::try_from(self.settings.k).unwrap_or(u32::MAX),
        }
    }

    /// The timestamp of a block a grant began in, if the engine has it.
    pub fn block_time(&self, block: u64) -> Option<u64> {
        self.block_times
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&block)
            .copied()
    }

    /// The kind `reader` registered as: remembered, else asked of the index (`None`: not
    /// registered, or the index failed, which leaves the role feature at "patient").
    pub async fn kind_of(&self, index: &Index, reader: Address) -> Option<AccountKind> {
        let known = self
            .kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&reader)
            .copied();
        if known.is_some() {
            return known;
        }
        match index.account_kind(reader).await {
            Ok(Some(kind)) => {
                let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
                if kinds.len() >= 100_000 {
                    kinds.clear();
                }
                kinds.insert(reader, kind);
                Some(kind)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "account kind unknown for the risk features");
                None
            }
        }
    }

    /// Whether `reader` has ever had a read of `record` held.
    pub fn has_hold(&self, reader: Address, record: B256) -> bool {
        self.held_pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(reader, record))
    }

    /// Notes that `reader` has a hold on `record` (after it was stored).
    pub fn note_hold(&self, reader: Address, record: B256) {
        self.held_pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((reader, record));
    }

    /// Remembers a block's timestamp (bounded: the map is cleared past 100,000 blocks).
    pub fn remember_block_time(&self, block: u64, timestamp: u64) {
        let mut times = self.block_times.lock().unwrap_or_else(|p| p.into_inner());
        if times.len() >= 100_000 {
            times.clear();
        }
        times.insert(block, timestamp);
    }

    /// Scores `access` against everything before it, and adds it to its reader's history (and,
    /// unless flagged, to the deployment's reference). Waits for the first fit.
    pub async fn assess(self: &Arc<Self>, access: &Access) -> Result<Assessment, RiskError> {
        let fitted = self.fitted().await?;
        let policy = self.policy();
        let observed = self.history().features.observe(access);
        let scored = if self.settings.clearances {
            fitted.score(access.reader, &observed.features)
        } else {
            fitted.model.score_detailed(&observed.features)
        };
        let score_milli = (scored.score * 1000.0).round() as i64;
        let above_threshold = score_milli >= i64::from(policy.threshold_milli);
        let flagged = above_threshold || access.emergency;
        let reasons = if flagged {
            let offset = self.settings.utc_offset_secs;
            let mut reasons = explain_scored(&fitted.model, &scored, access, &observed, offset);
            if access.emergency {
                // The reason the patient needs first, whatever else stands out.
                reasons.retain(|r| *r != Reason::Emergency);
                reasons.insert(0, Reason::Emergency);
            }
            if reasons.is_empty() {
                reasons.push(Reason::Other);
            }
            reasons.iter().map(ToString::to_string).collect()
        } else {
            Vec::new()
        };
        {
            let mut h = self.history();
            if !flagged {
                h.reference.push_back(observed.features);
                while h.reference.len() > self.settings.reference_size {
                    h.reference.pop_front();
                }
                h.since_fit += 1;
            }
        }
        self.refit_if_due(false);
        Ok(Assessment {
            note: RiskNote {
                score_milli,
                flagged,
                reasons,
                access: serde_json::to_string(access).ok(),
            },
            above_threshold,
            policy,
        })
    }

    async fn fitted(&self) -> Result<Arc<Fitted>, RiskError> {
        let mut rx = self.model.subscribe();
        // The sender lives as long as the engine, and the fit always ends in Ready or Failed
        // (`FitEnd`), so this wait ends.
        let state = rx
            .wait_for(|m| !matches!(m, ModelState::Fitting))
            .await
            .map_err(|_| RiskError::FitFailed("the engine stopped".into()))?;
        match &*state {
            ModelState::Ready(f) => Ok(Arc::clone(f)),
            ModelState::Failed(why) => Err(RiskError::FitFailed(why.clone())),
            ModelState::Fitting => Err(RiskError::FitFailed("still fitting".into())),
        }
    }

    /// Starts a fit in the background when one is due: at start-up, when the deployment first
    /// has enough attempts of its own, and when its reference has grown by a tenth since.
    fn refit_if_due(self: &Arc<Self>, first: bool) {
        let snapshot = {
            let mut h = self.history();
            let own = h.reference.len();
            let enough = own >= self.settings.deployment_min && own > self.settings.k;
            let synthetic_now = self
                .model
                .borrow()
                .fitted()
                .is_none_or(|f| f.source == ReferenceSource::Synthetic);
            let grown = h.since_fit >= (own / 10).max(1_000);
            let switch = synthetic_now && !h.own_fit_failed;
            let due = first || (enough && (switch || grown));
            if !due || self.fitting.swap(true, Ordering::AcqRel) {
                return;
            }
            h.since_fit = 0;
            enough.then(|| h.reference.iter().copied().collect::<Vec<Features>>())
        };
        let end = FitEnd {
            engine: Arc::clone(self),
            own: snapshot.is_some(),
            done: false,
        };
        tokio::task::spawn_blocking(move || end.run(snapshot));
    }
}

/// One background fit, from start to its end: whatever happens (an error, a panic), the engine
/// learns it ended, so that no read waits for a first fit that stopped and refits go on.
struct FitEnd {
    engine: Arc<RiskEngine>,
    own: bool,
    done: bool,
}

impl FitEnd {
    fn run(mut self, own: Option<Vec<Features>>) {
        let k = self.engine.settings.k;
        let fitted = match own {
            Some(own) => {
                KnnModel::fit(&own, k).map(|model| Fitted::new(model, ReferenceSource::Deployment))
            }
            None => synthetic_model(self.engine.settings),
        };
        match fitted {
            Ok(f) => {
                tracing::info!(source = ?f.source, reference = f.model.reference_size(), "risk model fitted");
                self.engine.history().own_fit_failed = false;
                self.engine
                    .model
                    .send_replace(ModelState::Ready(Arc::new(f)));
            }
            Err(e) => self.failed(&e.to_string()),
        }
        self.done = true;
    }

    fn failed(&self, why: &str) {
        tracing::error!(error = %why, "risk model fit failed");
        if self.own {
            self.engine.history().own_fit_failed = true;
        }
        // A failed refit keeps the model in use; only a failed first fit refuses reads.
        self.engine.model.send_if_modified(|m| {
            let first = matches!(m, ModelState::Fitting);
            if first {
                *m = ModelState::Failed(why.to_string());
            }
            first
        });
    }
}

impl Drop for FitEnd {
    fn drop(&mut self) {
        if !self.done {
            self.failed("the fit stopped (panicked)");
        }
        self.engine.fitting.store(false, Ordering::Release);
    }
}

/// The model of the synthetic hospital's normal accesses (docs/risk.md, "The synthetic
/// hospital"). Its times are the hospital's local times already: its features are taken at
/// offset 0, and a deployment's own at its `utc_offset_secs`, so both speak of local hours.
fn synthetic_model(settings: RiskSettings) -> Result<Fitted, ModelError> {
    let params = synth::HospitalParams {
        episodes_per_kind: 0,
        ..synth::HospitalParams::default()
    };
    let log = synth::generate(SYNTHETIC_SEED, params);
    let observed = eval::observe_all(&log, 0);
    let reference = eval::reference_of(&log, &observed);
    Ok(Fitted::new(
        KnnModel::fit(&reference, settings.k)?,
        ReferenceSource::Synthetic,
    ))
}

/// The role the features give a reader: the patient reading their own record, or the kind the
/// reader registered as (another patient reading under a grant reads as a patient).
pub fn role_of(reader: Address, patient: Address, kind: Option<AccountKind>) -> Role {
    if reader == patient {
        return Role::Patient;
    }
    match kind {
        Some(AccountKind::Practitioner) => Role::Practitioner,
        Some(AccountKind::Insurer) => Role::Insurer,
        _ => Role::Patient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medledger_protocol::contract::Category;

    const MONDAY: u64 = 1_767_571_200; // 2026-01-05 00:00 UTC
    const DAY: u64 = 86_400;
    const HOUR: u64 = 3_600;

    fn settings() -> RiskSettings {
        RiskSettings {
            scoring: true,
            clearances: true,
            k: 10,
            utc_offset_secs: 0,
            reference_size: 100_000,
            deployment_min: 1_000_000,
        }
    }

    fn read(at: u64, reader: u8, patient: u8, category: Category) -> Access {
        Access {
            at,
            reader: Address::repeat_byte(reader),
            role: Role::Practitioner,
            patient: Address::repeat_byte(patient),
            category,
            granted: true,
            emergency: false,
            bytes: 24_000,
            grant_since: Some(MONDAY.saturating_sub(30 * DAY)),
            record_created: MONDAY.saturating_sub(60 * DAY),
            label: None,
        }
    }

    /// Three weeks of a ward doctor's weekdays: from 08:00 to 17:00, a read every 20 minutes
    /// of one of their 12 patients (vitals and laboratory), the same patients seen by a
    /// colleague.
    fn history() -> Vec<Access> {
        let mut out = Vec::new();
        for day in 0..21u64 {
            if day % 7 >= 5 {
                continue;
            }
            for slot in 0..27u64 {
                let at = MONDAY + day * DAY + 8 * HOUR + slot * 20 * 60;
                let patient = 100 + u8::try_from((day * 5 + slot) % 12).unwrap_or(0);
                let category = if slot % 3 == 0 {
                    Category::Laboratory
                } else {
                    Category::Vitals
                };
                out.push(read(at, 1, patient, category));
                out.push(read(at + 300, 2, patient, Category::Vitals));
            }
        }
        out
    }

    async fn engine_after_history() -> (Arc<RiskEngine>, u64) {
        engine_after_history_with(settings()).await
    }

    async fn engine_after_history_with(settings: RiskSettings) -> (Arc<RiskEngine>, u64) {
        let engine = RiskEngine::with_history(settings, DEFAULT_POLICY, &[]);
        let past = history();
        let last = past.last().map_or(MONDAY, |a| a.at);
        for a in &past {
            engine.assess(a).await.expect("scored");
        }
        // The Monday after: the doctor's usual morning.
        let monday = MONDAY + 21 * DAY + 8 * HOUR;
        assert!(monday > last);
        (engine, monday)
    }

    #[tokio::test]
    async fn an_ordinary_read_scores_low_and_bursts_night_reads_and_strangers_high() {
        let (engine, monday) = engine_after_history().await;
        let ordinary = engine
            .assess(&read(monday + 40 * 60, 1, 104, Category::Vitals))
            .await
            .expect("scored");
        // Calibrated: an ordinary read ranks anywhere among normal ones; below the threshold.
        assert!(ordinary.note.score_milli < 950, "{ordinary:?}");
        assert!(!ordinary.note.flagged && ordinary.note.reasons.is_empty());

        // A first read, at night, of a patient nobody cares for.
        let night = engine
            .assess(&read(monday + 19 * HOUR, 1, 250, Category::History))
            .await
            .expect("scored");
        assert!(night.note.score_milli >= 950, "{night:?}");
        assert!(night.note.score_milli > ordinary.note.score_milli);
        assert!(
            night.note.flagged && !night.note.reasons.is_empty(),
            "{night:?}"
        );

        // A burst across 30 patients within minutes, in the doctor's morning.
        let burst_start = monday + 2 * HOUR;
        let mut last = None;
        for i in 0..30u8 {
            let a = read(
                burst_start + u64::from(i) * 10,
                1,
                150 + i,
                Category::Vitals,
            );
            last = Some(engine.assess(&a).await.expect("scored"));
        }
        let burst = last.expect("a burst");
        assert!(burst.note.score_milli >= 950, "{burst:?}");
        assert!(
            burst.note.reasons.iter().any(|r| r.contains("in the last")),
            "{burst:?}"
        );
    }

    #[tokio::test]
    async fn the_same_history_and_input_give_the_same_score() {
        let (a, monday) = engine_after_history().await;
        let (b, _) = engine_after_history().await;
        let x = read(monday + 3 * HOUR, 2, 107, Category::Vitals);
        let (sa, sb) = (
            a.assess(&x).await.expect("a"),
            b.assess(&x).await.expect("b"),
        );
        assert_eq!(sa.note, sb.note);
    }

    #[tokio::test]
    async fn clearances_save_searches_and_change_no_score() {
        let (cleared, monday) = engine_after_history().await;
        let searching = RiskSettings {
            clearances: false,
            ..settings()
        };
        let (searched, _) = engine_after_history_with(searching).await;
        // The bench's reader: the same few records again and again, seconds apart, then a
        // burst across patients and a return to the doctor's own.
        let start = monday + 2 * HOUR;
        let reads = (0..120u64).map(|i| match i {
            0..=59 => read(start + i, 1, 101 + (i % 3) as u8, Category::Vitals),
            60..=99 => read(start + i * 5, 1, 160 + (i % 40) as u8, Category::History),
            _ => read(start + i * 600, 1, 104, Category::Laboratory),
        });
        let kept = |e: &RiskEngine| {
            let model = e.model.borrow();
            model.fitted().map_or(0, |f| {
                f.clearances.lock().unwrap_or_else(|p| p.into_inner()).len()
            })
        };
        let (mut flagged, mut cleared_at) = (0, Vec::new());
        for (i, x) in reads.enumerate() {
            let (a, b) = (
                cleared.assess(&x).await.expect("cleared"),
                searched.assess(&x).await.expect("searched"),
            );
            assert_eq!(a.note, b.note, "access {i}");
            flagged += usize::from(a.note.flagged);
            cleared_at.push(kept(&cleared) > 0);
            assert_eq!(kept(&searched), 0, "access {i}");
        }
        assert!(flagged > 0, "the burst is flagged");
        // The burst far from every normal access was answered by clearances, and the return to
        // ordinary reads dropped them.
        assert!(cleared_at.iter().any(|&c| c), "{cleared_at:?}");
        assert!(!cleared_at[119], "{cleared_at:?}");
    }

    #[tokio::test]
    async fn a_restart_rebuilds_the_histories_from_the_stored_lines() {
        let (engine, monday) = engine_after_history().await;
        let stored: Vec<(String, bool)> = history()
            .iter()
            .map(|a| (serde_json::to_string(a).expect("line"), false))
            .collect();
        let restarted = RiskEngine::with_history(settings(), DEFAULT_POLICY, &stored);
        let x = read(monday + HOUR, 1, 150, Category::Imaging);
        let (before, after) = (
            engine.assess(&x).await.expect("scored"),
            restarted.assess(&x).await.expect("scored"),
        );
        assert_eq!(before.note.score_milli, after.note.score_milli);
    }

    #[tokio::test]
    async fn a_first_fit_that_fails_refuses_to_score_instead_of_waiting() {
        // More neighbours than the synthetic reference holds: the fit fails (the configuration
        // refuses such a k; the engine must not hang on it either way).
        let impossible = RiskSettings {
            k: 10_000_000,
            ..settings()
        };
        let engine = RiskEngine::with_history(impossible, DEFAULT_POLICY, &[]);
        let x = read(MONDAY, 1, 100, Category::Vitals);
        assert!(matches!(
            engine.assess(&x).await,
            Err(RiskError::FitFailed(_))
        ));
        assert_eq!(engine.status().reference_size, 0);
    }

    #[tokio::test]
    async fn emergencies_are_flagged_whatever_they_score_and_say_so_first() {
        let (engine, monday) = engine_after_history().await;
        let mut x = read(monday + HOUR, 1, 104, Category::Vitals);
        x.emergency = true;
        let a = engine.assess(&x).await.expect("scored");
        assert!(a.note.flagged);
        assert_eq!(
            a.note.reasons.first().map(String::as_str),
            Some("emergency access, without your grant")
        );
    }
}
