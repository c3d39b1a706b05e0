//! The k-nearest-neighbours anomaly score: how far an access lies from the k-th nearest of a
//! deployment's reference accesses, in standardised feature space, turned into a 0–1 score by
//! its rank among the reference accesses' own distances (a score of 0.99 is farther out than 99 %
//! of normal accesses). The neighbour search is kiddo's immutable k-d tree, rebuilt whole when
//! the reference set changes.

use std::num::NonZero;

use kiddo::{ImmutableKdTree, SquaredEuclidean};

use crate::features::{Features, DIM};

/// A standardised value is kept within ±this many standard deviations, so that one rare binary
/// feature (an emergency, p ≈ 0.001, is 30 deviations from its mean) cannot outweigh all others.
pub const Z_CAP: f64 = 6.0;

/// At most this many reference accesses calibrate the score (their own k-th-neighbour
/// distances, evenly sampled): enough for a resolution of 0.0002, and a fit that stays fast on a
/// reference set of 100,000.
pub const CALIBRATION_SAMPLE: usize = 5_000;

/// Why a model cannot be fitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// k is 0.
    #[error("k must be at least 1")]
    ZeroK,
    /// Fewer reference accesses than k + 1.
    #[error("{have} reference accesses are too few for k = {k} (at least {} needed)", k + 1)]
    TooFew {
        /// How many there are.
        have: usize,
        /// The k asked for.
        k: usize,
    },
    /// A feature is not a finite number.
    #[error("reference access {0} has a feature that is not a finite number")]
    NotFinite(usize),
}

/// Per-feature mean and scale of the reference set.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardiser {
    mean: Features,
    scale: Features,
}

impl Standardiser {
    /// Fitted to `points` (not empty).
    pub fn fit(points: &[Features]) -> Standardiser {
        let n = points.len().max(1) as f64;
        let mut mean = [0.0; DIM];
        for p in points {
            for (m, x) in mean.iter_mut().zip(p) {
                *m += x / n;
            }
        }
        let mut var = [0.0; DIM];
        for p in points {
            for ((v, x), m) in var.iter_mut().zip(p).zip(&mean) {
                *v += (x - m) * (x - m) / n;
            }
        }
        // A feature constant over the reference keeps its raw unit: any departure from it is
        // then measured, not divided by zero.
        let scale = var.map(|v| if v > 1e-12 { v.sqrt() } else { 1.0 });
        Standardiser { mean, scale }
    }

    /// `x` in standard deviations from the reference mean, each within ±[`Z_CAP`].
    pub fn apply(&self, x: &Features) -> Features {
        let mut z = [0.0; DIM];
        for i in 0..DIM {
            z[i] = ((x[i] - self.mean[i]) / self.scale[i]).clamp(-Z_CAP, Z_CAP);
        }
        z
    }
}

/// A score, with what an explanation needs of the search that gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The calibrated score (0–1).
    pub score: f64,
    /// The access, standardised.
    z: Features,
    /// The reference accesses found within the search's bound, nearest first (item numbers).
    neighbours: Vec<usize>,
}

/// What a search that found no reference access within the bound proved about the space around
/// the access it scored: the nearest reference access lies `margin` beyond the bound. Distances
/// obey the triangle inequality, so any access within `margin` of `z` has no reference access
/// within the bound either, and scores 1 with no search ([`KnnModel::score_cleared`]). A
/// reader's burst (a bulk export: the same reader, nearly the same features, hundreds of times
/// a second) is the case this answers, and the one where a search costs most (an outlier's
/// bounded search visits much of the tree before it finds nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct Clearance {
    /// The standardised access the search was made for.
    z: Features,
    /// How far beyond the bound its nearest reference access lies (> 0).
    margin: f64,
}

/// Room left for single-precision rounding in the tree's distances (the tree holds `f32`):
/// a clearance is used only this far inside its margin, so that a point the bounded search
/// would find by rounding is searched for, never assumed away.
const CLEARANCE_SLACK: f64 = 1e-3;

/// A fitted model.
pub struct KnnModel {
    k: usize,
    standardiser: Standardiser,
    /// Over the standardised reference in single precision: half the memory traffic of a
    /// query, and standardised values need no more.
    tree: ImmutableKdTree<f32, DIM>,
    /// The standardised reference points, by the tree's item numbers (for explanations).
    points: Vec<[f32; DIM]>,
    /// How many reference accesses.
    size: usize,
    /// Sorted own distances of the calibration sample.
    calibration: Vec<f64>,
}

impl std::fmt::Debug for KnnModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnnModel")
            .field("k", &self.k)
            .field("reference", &self.size)
            .finish()
    }
}

impl KnnModel {
    /// Fits to `reference` (normal accesses' features) with `k` neighbours.
    pub fn fit(reference: &[Features], k: usize) -> Result<KnnModel, ModelError> {
        if k == 0 {
            return Err(ModelError::ZeroK);
        }
        if reference.len() <= k {
            return Err(ModelError::TooFew {
                have: reference.len(),
                k,
            });
        }
        if let Some(i) = reference
            .iter()
            .position(|p| p.iter().any(|x| !x.is_finite()))
        {
            return Err(ModelError::NotFinite(i));
        }
        let standardiser = Standardiser::fit(reference);
        let points: Vec<Features> = reference.iter().map(|p| standardiser.apply(p)).collect();
        let narrow: Vec<[f32; DIM]> = points.iter().map(single).collect();
        let tree = ImmutableKdTree::new_from_slice(&narrow);
        let mut model = KnnModel {
            k,
            standardiser,
            tree,
            points: narrow,
            size: points.len(),
            calibration: Vec::new(),
        };
        // Each sampled reference point's own distance: its (k+1)-th neighbour, the first being
        // itself.
        let step = points.len().div_ceil(CALIBRATION_SAMPLE).max(1);
        let mut own: Vec<f64> = points
            .iter()
            .step_by(step)
            .map(|z| model.kth_distance(z, k + 1))
            .collect();
        own.sort_by(f64::total_cmp);
        model.calibration = own;
        Ok(model)
    }

    /// The k in use.
    pub fn k(&self) -> usize {
        self.k
    }

    /// How many reference accesses the model holds.
    pub fn reference_size(&self) -> usize {
        self.size
    }

    /// The distance from `x` to its k-th nearest reference access, in standardised units.
    pub fn distance(&self, x: &Features) -> f64 {
        self.kth_distance(&self.standardiser.apply(x), self.k)
    }

    /// The calibrated score of `x`: the share of the calibration sample whose own distance is
    /// below `x`'s (0 = as close as the closest normal access, 1 = farther than every one).
    ///
    /// The search is bounded by the largest calibration distance: an access farther than that
    /// from its k-th neighbour scores 1 whatever its exact distance, and an outlier (far from
    /// everything, the search's worst case) is answered without visiting the whole tree.
    pub fn score(&self, x: &Features) -> f64 {
        self.score_detailed(x).score
    }

    /// [`KnnModel::score`], with the neighbours it was measured against (for
    /// [`KnnModel::departures_of`]: an explanation costs no second search).
    pub fn score_detailed(&self, x: &Features) -> Scored {
        self.score_standardised(self.standardiser.apply(x))
    }

    fn score_standardised(&self, z: Features) -> Scored {
        let mut scored = Scored {
            score: 1.0,
            z,
            neighbours: Vec::new(),
        };
        let (Some(&farthest), Some(k)) = (self.calibration.last(), NonZero::new(self.k)) else {
            return scored;
        };
        let within = self.tree.nearest_n_within::<SquaredEuclidean>(
            &single(&z),
            (farthest * farthest) as f32,
            k,
            true,
        );
        scored.neighbours = within
            .iter()
            .filter_map(|nn| usize::try_from(nn.item).ok())
            .collect();
        if within.len() == self.k {
            let d = within
                .last()
                .map_or(f64::INFINITY, |nn| f64::from(nn.distance).sqrt());
            scored.score = self.rank(d);
        }
        scored
    }

    /// [`KnnModel::score_detailed`], skipping the search when `prior` (the same reader's last
    /// clearance) proves the answer: an access within a clearance's margin of the access that
    /// earned it has no reference access within the bound, so it scores 1 with no neighbours,
    /// exactly what the search would have found. Returns the clearance to keep for the reader's
    /// next access: `prior` again when it was used, a new one when this search found nothing
    /// within the bound (one more search, for the nearest reference access, measures its
    /// margin), else none.
    pub fn score_cleared(
        &self,
        x: &Features,
        prior: Option<&Clearance>,
    ) -> (Scored, Option<Clearance>) {
        let z = self.standardiser.apply(x);
        if let Some(c) = prior.filter(|c| euclidean(&c.z, &z) + CLEARANCE_SLACK < c.margin) {
            let cleared = Scored {
                score: 1.0,
                z,
                neighbours: Vec::new(),
            };
            return (cleared, Some(c.clone()));
        }
        let scored = self.score_standardised(z);
        let clearance = match (scored.neighbours.is_empty(), self.calibration.last()) {
            (true, Some(&farthest)) => {
                let margin = self.kth_distance(&scored.z, 1) - farthest;
                (margin > CLEARANCE_SLACK).then_some(Clearance { z, margin })
            }
            _ => None,
        };
        (scored, clearance)
    }

    /// [`KnnModel::score`] by the unbounded search (the same answer; for tests and benchmarks).
    pub fn score_unbounded(&self, x: &Features) -> f64 {
        self.rank(self.distance(x))
    }

    /// Where `x` departs from its nearest reference accesses, feature by feature: the signed
    /// mean difference between `x` and them, in standardised units (positive: `x` is higher).
    /// The squares of these are what make its distance; explanations name the largest.
    pub fn departures(&self, x: &Features) -> Features {
        self.departures_of(&self.score_detailed(x))
    }

    /// [`KnnModel::departures`] of a scored access: from the neighbours its bounded search found.
    /// An access with none within the bound (farther out than every normal access) departs from
    /// the reference as a whole: its standardised values, the distance from the reference's mean.
    pub fn departures_of(&self, scored: &Scored) -> Features {
        let z = &scored.z;
        let points: Vec<&[f32; DIM]> = scored
            .neighbours
            .iter()
            .filter_map(|i| self.points.get(*i))
            .collect();
        if points.is_empty() {
            return *z;
        }
        let mut out = [0.0; DIM];
        for p in &points {
            for ((o, zi), pi) in out.iter_mut().zip(z).zip(p.iter()) {
                *o += zi - f64::from(*pi);
            }
        }
        let n = points.len() as f64;
        out.iter_mut().for_each(|o| *o /= n);
        out
    }

    /// The share of the calibration sample whose own distance is below `d`.
    fn rank(&self, d: f64) -> f64 {
        let below = self.calibration.partition_point(|own| *own < d);
        below as f64 / self.calibration.len() as f64
    }

    fn kth_distance(&self, z: &Features, n: usize) -> f64 {
        let Some(n) = NonZero::new(n) else {
            return 0.0;
        };
        self.tree
            .nearest_n::<SquaredEuclidean>(&single(z), n)
            .last()
            .map_or(f64::INFINITY, |nn| f64::from(nn.distance).sqrt())
    }
}

/// The Euclidean distance between two standardised points.
fn euclidean(a: &Features, b: &Features) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// A standardised point in single precision.
fn single(z: &Features) -> [f32; DIM] {
    z.map(|v| v as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cloud of "normal" points around the origin, with many exact duplicates (as real
    /// accesses have: binary features, a few hours, the same categories).
    fn cloud() -> Vec<Features> {
        (0..2_000)
            .map(|i| {
                let mut p = [0.0; DIM];
                p[0] = f64::from(i % 2);
                p[1] = f64::from((i / 2) % 5);
                p[2] = f64::from(i % 7) * 0.1;
                p
            })
            .collect()
    }

    #[test]
    fn an_ordinary_point_scores_low_an_outlier_high_and_the_same_input_the_same() {
        let model = KnnModel::fit(&cloud(), 5).expect("fit");
        let ordinary = cloud()[17];
        let mut outlier = ordinary;
        outlier[1] = 40.0;
        outlier[5] = 3.0;
        let (low, high) = (model.score(&ordinary), model.score(&outlier));
        assert!(low < 0.5, "{low}");
        assert!(high > 0.99, "{high}");
        assert_eq!(model.score(&outlier), high, "deterministic");
        assert_eq!(
            model.score_unbounded(&outlier),
            high,
            "the bounded search agrees"
        );
        assert_eq!(model.score_unbounded(&ordinary), low);
        assert!(model.distance(&outlier) > model.distance(&ordinary));
        assert_eq!(model.reference_size(), 2_000);
    }

    #[test]
    fn a_cleared_score_is_the_searched_score_and_clearances_are_used() {
        let model = KnnModel::fit(&cloud(), 5).expect("fit");
        // A walk from far outside the cloud into it and out again, in small steps of several
        // features at once (a burst drifting as its counts grow, then an ordinary access).
        let mut clearance = None;
        let (mut used, mut searched_far) = (0, 0);
        for step in 0..400 {
            let t = f64::from(step);
            let mut x = cloud()[step as usize % 50];
            let out = (200.0 - t).abs() / 20.0;
            x[1] += out;
            x[3] = out * 0.5 + (t * 0.37).sin() * 0.05;
            x[7] = (t * 0.11).cos() * 0.2;
            let searched = model.score_detailed(&x);
            let before = clearance.clone();
            let (cleared, after) = model.score_cleared(&x, before.as_ref());
            assert_eq!(
                cleared, searched,
                "step {step}: the same score and neighbours"
            );
            match (&before, &after) {
                (Some(b), Some(a)) if a == b => used += 1,
                (_, Some(_)) => searched_far += 1,
                (_, None) => {}
            }
            if searched.score < 1.0 {
                assert!(after.is_none(), "step {step}: a point in reach earns none");
            }
            clearance = after;
        }
        assert!(used > 100, "clearances were used {used} times");
        assert!(searched_far > 1, "and renewed {searched_far} times");
    }

    #[test]
    fn a_farther_point_never_scores_lower() {
        let model = KnnModel::fit(&cloud(), 3).expect("fit");
        let mut p = cloud()[3];
        let mut last = 0.0;
        for step in 0..40 {
            p[3] = f64::from(step) * 0.05;
            let s = model.score(&p);
            assert_eq!(s, model.score_unbounded(&p), "step {step}");
            assert!(s >= last, "step {step}: {s} < {last}");
            last = s;
        }
        assert!(last > 0.9);
    }

    #[test]
    fn bad_fits_are_refused_by_cause() {
        assert_eq!(KnnModel::fit(&cloud(), 0).err(), Some(ModelError::ZeroK));
        assert_eq!(
            KnnModel::fit(&cloud()[..5], 5).err(),
            Some(ModelError::TooFew { have: 5, k: 5 })
        );
        let mut bad = cloud();
        bad[9][4] = f64::NAN;
        assert_eq!(KnnModel::fit(&bad, 5).err(), Some(ModelError::NotFinite(9)));
    }

    #[test]
    fn standardising_caps_rare_features_and_keeps_constant_ones_in_raw_units() {
        let mut points = vec![[0.0; DIM]; 1_000];
        points[0][0] = 1.0; // rare
        let s = Standardiser::fit(&points);
        let mut x = [0.0; DIM];
        x[0] = 1.0;
        x[1] = 2.5; // constant 0 in the reference
        let z = s.apply(&x);
        assert_eq!(z[0], Z_CAP);
        assert_eq!(z[1], 2.5);
    }
}
