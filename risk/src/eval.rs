//! Evaluation: the kNN score and two baselines against a labelled access log. Ranking measures
//! (ROC-AUC, PR-AUC as average precision, both with tied scores grouped), and the operating point
//! an escrow would use: the lowest threshold whose false-positive rate is at most 5 %, with its
//! precision, recall and F1, overall and per anomaly kind.

use crate::access::{Access, Label};
use crate::features::{FeatureState, Features, Observed};
use crate::model::{KnnModel, ModelError};

/// The false-positive rate the operating threshold may not exceed.
pub const MAX_FALSE_POSITIVE_RATE: f64 = 0.05;

/// A local hour outside 07:00–19:00 is "off hours" for the rule baseline.
pub const RULE_DAY_HOURS: std::ops::Range<u32> = 7..19;
/// More distinct patients than this in a reader's last hour trips the rule baseline.
pub const RULE_PATIENTS_PER_HOUR: u32 = 10;

/// The features of every access of `log`, in order, from an empty history.
pub fn observe_all(log: &[Access], utc_offset_secs: i64) -> Vec<Observed> {
    let mut state = FeatureState::new(utc_offset_secs);
    log.iter().map(|a| state.observe(a)).collect()
}

/// The part of a log that is scored: its accesses from `warm_up_days` after its first one (the
/// earlier ones only build the readers' histories, as a deployment's first days would).
pub fn after_warm_up(
    log: &[Access],
    observed: &[Observed],
    warm_up_days: u32,
) -> (Vec<Access>, Vec<Observed>) {
    let from = log
        .first()
        .map_or(0, |a| a.at.saturating_add(u64::from(warm_up_days) * 86_400));
    log.iter()
        .zip(observed)
        .filter(|(a, _)| a.at >= from)
        .map(|(a, o)| (a.clone(), *o))
        .unzip()
}

/// The reference set a log gives: the features of its accesses not labelled anomalous (a
/// deployment's own log has no labels: all of it).
pub fn reference_of(log: &[Access], observed: &[Observed]) -> Vec<Features> {
    log.iter()
        .zip(observed)
        .filter(|(a, _)| !a.label.is_some_and(Label::is_anomaly))
        .map(|(_, o)| o.features)
        .collect()
}

/// The fixed rule: off hours, and too many patients in an hour, one point each.
pub fn rule_score(o: &Observed) -> f64 {
    f64::from(u8::from(!RULE_DAY_HOURS.contains(&o.hour)))
        + f64::from(u8::from(o.patients_last_hour > RULE_PATIENTS_PER_HOUR))
}

/// Ranking and operating-point measures of one scorer.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Area under the ROC curve.
    pub roc_auc: f64,
    /// Average precision (area under the precision–recall curve).
    pub pr_auc: f64,
    /// The operating threshold: flagged when score ≥ this.
    pub threshold: f64,
    /// The false-positive rate there.
    pub false_positive_rate: f64,
    /// Precision there.
    pub precision: f64,
    /// Recall there.
    pub recall: f64,
    /// F1 there.
    pub f1: f64,
}

/// One point per distinct score, from the highest down: (threshold, true positives, false
/// positives) counted at score ≥ threshold.
fn cumulative(scores: &[f64], positive: &[bool]) -> Vec<(f64, usize, usize)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let mut out: Vec<(f64, usize, usize)> = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    for (n, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order
            .get(n + 1)
            .is_none_or(|next| scores[*next] != scores[i]);
        if last_of_tie {
            out.push((scores[i], tp, fp));
        }
    }
    out
}

/// The ROC curve: (false-positive rate, true-positive rate) from (0, 0) to (1, 1).
pub fn roc_curve(scores: &[f64], positive: &[bool]) -> Vec<(f64, f64)> {
    roc_of(&cumulative(scores, positive), counts(positive))
}

/// The precision–recall curve: (recall, precision), one point per distinct threshold.
pub fn pr_curve(scores: &[f64], positive: &[bool]) -> Vec<(f64, f64)> {
    pr_of(&cumulative(scores, positive), counts(positive))
}

fn roc_of(points: &[(f64, usize, usize)], (p, n): (usize, usize)) -> Vec<(f64, f64)> {
    let mut curve = vec![(0.0, 0.0)];
    curve.extend(
        points
            .iter()
            .map(|(_, tp, fp)| (ratio(*fp, n), ratio(*tp, p))),
    );
    curve
}

fn pr_of(points: &[(f64, usize, usize)], (p, _): (usize, usize)) -> Vec<(f64, f64)> {
    points
        .iter()
        .map(|(_, tp, fp)| (ratio(*tp, p), ratio(*tp, tp + fp)))
        .collect()
}

/// All measures of `scores` against `positive`.
pub fn metrics(scores: &[f64], positive: &[bool]) -> Metrics {
    let (p, n) = counts(positive);
    // Sorted once; both curves and the operating point are read off the same points.
    let points = cumulative(scores, positive);
    let roc_auc = roc_of(&points, (p, n))
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum();
    let mut pr_auc = 0.0;
    let mut last_recall = 0.0;
    for (recall, precision) in pr_of(&points, (p, n)) {
        pr_auc += (recall - last_recall) * precision;
        last_recall = recall;
    }
    // The lowest threshold still within the false-positive budget.
    let mut op = (f64::INFINITY, 0, 0);
    for &point in &points {
        if ratio(point.2, n) <= MAX_FALSE_POSITIVE_RATE {
            op = point;
        } else {
            break;
        }
    }
    let (threshold, tp, fp) = op;
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, p);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Metrics {
        roc_auc,
        pr_auc,
        threshold,
        false_positive_rate: ratio(fp, n),
        precision,
        recall,
        f1,
    }
}

fn counts(positive: &[bool]) -> (usize, usize) {
    let p = positive.iter().filter(|x| **x).count();
    (p, positive.len() - p)
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The scorers compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scorer {
    /// The kNN model with this k.
    Knn(usize),
    /// The fixed rule ([`rule_score`]).
    Rule,
    /// The per-reader rate z-score.
    RateZ,
}

impl Scorer {
    /// Its name in reports.
    pub fn name(&self) -> String {
        match self {
            Scorer::Knn(k) => format!("kNN, k = {k}"),
            Scorer::Rule => "rule: off hours + > 10 patients/h".into(),
            Scorer::RateZ => "per-reader rate z-score".into(),
        }
    }
}

/// One scorer's results on a test log.
#[derive(Debug, Clone, PartialEq)]
pub struct ScorerResult {
    /// Which scorer.
    pub scorer: Scorer,
    /// Its scores, one per test access.
    pub scores: Vec<f64>,
    /// Over every anomaly against the normal accesses.
    pub overall: Metrics,
    /// Per anomaly kind present in the test log: its measures against the normal accesses (at
    /// its own operating point), and its recall at the overall operating threshold.
    pub per_kind: Vec<(Label, Metrics, f64)>,
}

/// The evaluation of every scorer on one test log.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// How many reference accesses the models were fitted to.
    pub reference: usize,
    /// How many test accesses, and how many of them anomalous.
    pub test: (usize, usize),
    /// How many test accesses of each anomaly kind present.
    pub kinds: Vec<(Label, usize)>,
    /// Each scorer's results, kNN first in the order of the ks given.
    pub results: Vec<ScorerResult>,
}

/// Why an evaluation cannot run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The model could not be fitted.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The test log has no labels to score against.
    #[error("test access {0} has no label: an evaluation needs a labelled log")]
    Unlabelled(usize),
    /// The test log has only one class.
    #[error("the test log needs both normal and anomalous accesses")]
    OneClass,
}

/// Fits the kNN model with each of `ks` to `reference` and scores `test` with it and with the
/// baselines.
pub fn evaluate(
    reference: &[Features],
    test: &[Access],
    test_observed: &[Observed],
    ks: &[usize],
) -> Result<Evaluation, EvalError> {
    let labels: Vec<Label> = test
        .iter()
        .enumerate()
        .map(|(i, a)| a.label.ok_or(EvalError::Unlabelled(i)))
        .collect::<Result<_, _>>()?;
    let positive: Vec<bool> = labels.iter().map(|l| l.is_anomaly()).collect();
    let anomalous = positive.iter().filter(|p| **p).count();
    if anomalous == 0 || anomalous == positive.len() {
        return Err(EvalError::OneClass);
    }
    let mut results = Vec::new();
    for &k in ks {
        let model = KnnModel::fit(reference, k)?;
        let scores = test_observed
            .iter()
            .map(|o| model.score(&o.features))
            .collect();
        results.push(result(Scorer::Knn(k), scores, &labels, &positive));
    }
    let rule = test_observed.iter().map(rule_score).collect();
    results.push(result(Scorer::Rule, rule, &labels, &positive));
    let rate = test_observed.iter().map(|o| o.rate_z).collect();
    results.push(result(Scorer::RateZ, rate, &labels, &positive));
    let kinds = Label::ANOMALIES
        .into_iter()
        .map(|kind| (kind, labels.iter().filter(|l| **l == kind).count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    Ok(Evaluation {
        reference: reference.len(),
        test: (test.len(), anomalous),
        kinds,
        results,
    })
}

fn result(scorer: Scorer, scores: Vec<f64>, labels: &[Label], positive: &[bool]) -> ScorerResult {
    let overall = metrics(&scores, positive);
    let per_kind = Label::ANOMALIES
        .into_iter()
        .filter(|kind| labels.contains(kind))
        .map(|kind| {
            let (s, p): (Vec<f64>, Vec<bool>) = scores
                .iter()
                .zip(labels)
                .filter(|(_, l)| **l == kind || **l == Label::Normal)
                .map(|(s, l)| (*s, *l == kind))
                .unzip();
            let of_kind: Vec<f64> = s.iter().zip(&p).filter(|x| *x.1).map(|x| *x.0).collect();
            let caught = of_kind.iter().filter(|s| **s >= overall.threshold).count();
            (kind, metrics(&s, &p), ratio(caught, of_kind.len()))
        })
        .collect();
    ScorerResult {
        scorer,
        scores,
        overall,
        per_kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_perfect_ranking_measures_one_and_a_reversed_one_zero() {
        let positive = [true, true, false, false, false];
        let perfect = metrics(&[0.9, 0.8, 0.3, 0.2, 0.1], &positive);
        assert!(close(perfect.roc_auc, 1.0) && close(perfect.pr_auc, 1.0));
        assert!(close(perfect.recall, 1.0) && close(perfect.precision, 1.0));
        assert!(close(perfect.threshold, 0.8), "{perfect:?}");
        let reversed = metrics(&[0.1, 0.2, 0.3, 0.8, 0.9], &positive);
        assert!(close(reversed.roc_auc, 0.0));
        assert!(
            close(reversed.recall, 0.0),
            "nothing flagged within 5 % FPR"
        );
    }

    #[test]
    fn tied_scores_count_as_half_a_win() {
        // Every score equal: no information, ROC-AUC one half, PR-AUC the prevalence.
        let positive = [true, false, false, false];
        let m = metrics(&[0.5; 4], &positive);
        assert!(close(m.roc_auc, 0.5), "{m:?}");
        assert!(close(m.pr_auc, 0.25), "{m:?}");
        // A hand-worked case: positives at 0.9 and 0.4, negatives at 0.7, 0.4, 0.1.
        // ROC-AUC = (1 + 0.5 + 1 + 1 + (0.5) ... ) by pairs: (0.9 beats all 3) + (0.4 beats 0.1,
        // ties 0.4, loses to 0.7) = 3 + 1.5 = 4.5 of 6.
        let m = metrics(
            &[0.9, 0.7, 0.4, 0.4, 0.1],
            &[true, false, true, false, false],
        );
        assert!(close(m.roc_auc, 0.75), "{m:?}");
        // AP: recall 0.5 at precision 1 (0.9), then recall 1 at precision 2/4 (the tie at 0.4).
        assert!(close(m.pr_auc, 0.5 * 1.0 + 0.5 * 0.5), "{m:?}");
    }

    #[test]
    fn the_operating_point_keeps_false_positives_within_five_percent() {
        // 100 negatives scored 0..99, 10 positives scored 95..104.5.
        let mut scores: Vec<f64> = (0..100).map(f64::from).collect();
        let mut positive = vec![false; 100];
        for i in 0..10 {
            scores.push(95.0 + f64::from(i));
            positive.push(true);
        }
        let m = metrics(&scores, &positive);
        assert!(m.false_positive_rate <= MAX_FALSE_POSITIVE_RATE, "{m:?}");
        assert!(close(m.threshold, 95.0), "{m:?}");
        assert!(close(m.recall, 1.0));
        assert!(close(m.false_positive_rate, 0.05));
    }

    /// A small seeded hospital end to end: the kNN score ranks anomalies above normal work
    /// better than both baselines, and catches bulk exports at the 5 % false-positive budget.
    #[test]
    fn on_a_seeded_hospital_the_knn_score_beats_both_baselines() {
        use crate::synth::{generate, HospitalParams};
        let small = HospitalParams {
            practitioners: 30,
            patients: 800,
            days: 12,
            episodes_per_kind: 5,
            ..HospitalParams::default()
        };
        let prepared = |seed| {
            let log = generate(seed, small);
            let observed = observe_all(&log, 0);
            after_warm_up(&log, &observed, small.warm_up_days)
        };
        let (train, train_observed) = prepared(21);
        let (test, test_observed) = prepared(22);
        let reference = reference_of(&train, &train_observed);
        assert!(
            reference.len() < train.len(),
            "anomalies left out of the reference"
        );
        let e = evaluate(&reference, &test, &test_observed, &[5]).expect("evaluate");
        let pr = |i: usize| e.results[i].overall.pr_auc;
        assert!(
            pr(0) > pr(1) && pr(0) > pr(2),
            "{:?}",
            e.results
                .iter()
                .map(|r| r.overall.pr_auc)
                .collect::<Vec<_>>()
        );
        let bulk = e.results[0]
            .per_kind
            .iter()
            .find(|k| k.0 == Label::BulkExport)
            .expect("bulk exports in the test log");
        assert!(bulk.2 >= 0.9, "bulk-export recall {}", bulk.2);
        // The scores are a function of the input.
        let again = evaluate(&reference, &test, &test_observed, &[5]).expect("evaluate");
        assert_eq!(again.results[0].scores, e.results[0].scores);
    }
}
