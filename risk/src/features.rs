//! The features of an access attempt, computed in time order from the attempts before it: what
//! the escrow already holds (who, whose, which category, when, how much, under which grant),
//! never a record's contents. Each is documented with why it is there in docs/risk.md,
//! "Features"; [`NAMES`] lists them in vector order.

use std::collections::{HashMap, HashSet, VecDeque};

use alloy_primitives::Address;
use medledger_protocol::contract::Category;

use crate::access::{Access, Role};

/// How many features an access has.
pub const DIM: usize = 21;

/// A feature vector.
pub type Features = [f64; DIM];

/// The features' names, in vector order (for reports and explanations).
pub const NAMES: [&str; DIM] = [
    "reader is a practitioner",
    "reader is an insurer",
    "hour of day (sine)",
    "hour of day (cosine)",
    "day of week (sine)",
    "day of week (cosine)",
    "share of the reader's accesses at this hour",
    "share of the reader's accesses in this category",
    "hours since the grant began",
    "first read of this patient by this reader",
    "other readers' accesses to this patient in the last 7 days",
    "unexplained first read",
    "reader's accesses in the last 5 minutes",
    "reader's accesses in the last hour",
    "reader's accesses in the last 24 hours",
    "distinct patients in the reader's last hour",
    "reader's refusals in the last 24 hours",
    "emergency release",
    "refused",
    "record size",
    "record age",
];

const MINUTE: u64 = 60;
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;
const CATEGORIES: usize = Category::ALL.len();

/// The accesses within a trailing span of time, with how many each address (a patient, a
/// reader) has among them: the counts are kept as accesses enter and leave, so that an access
/// costs the same whether the window holds ten accesses or a hundred thousand (a reader's burst,
/// a patient read all day must not make every later access slower).
#[derive(Debug, Default)]
struct Window {
    entries: VecDeque<(u64, Address)>,
    per_address: HashMap<Address, u32>,
}

impl Window {
    /// Forgets the accesses at or before `cutoff`.
    fn forget_before(&mut self, cutoff: u64) {
        while let Some(&(t, who)) = self.entries.front() {
            if t > cutoff {
                break;
            }
            self.entries.pop_front();
            if let Some(n) = self.per_address.get_mut(&who) {
                *n -= 1;
                if *n == 0 {
                    self.per_address.remove(&who);
                }
            }
        }
    }

    fn push(&mut self, at: u64, who: Address) {
        self.entries.push_back((at, who));
        *self.per_address.entry(who).or_default() += 1;
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn of(&self, who: &Address) -> usize {
        self.per_address.get(who).map_or(0, |n| *n as usize)
    }

    fn distinct(&self) -> usize {
        self.per_address.len()
    }
}

/// What one reader has done so far.
#[derive(Debug, Default)]
struct ReaderHistory {
    /// Accesses of the last 24 hours.
    day: VecDeque<u64>,
    /// Accesses of the last hour, by patient.
    hour: Window,
    /// Accesses of the last 5 minutes.
    five_minutes: VecDeque<u64>,
    /// Refusals of the last 24 hours.
    refusals: VecDeque<u64>,
    /// Every patient this reader has accessed.
    patients: HashSet<Address>,
    /// Accesses per local hour of day.
    hours: [u32; 24],
    /// Accesses per category.
    categories: [u32; CATEGORIES],
    /// All accesses.
    total: u32,
    /// Running mean and variance of "accesses in the last hour" at each access (Welford), for
    /// the per-reader rate baseline; a value joins it an hour after its access, so that a burst
    /// is measured against the reader's past and not against itself.
    rate: Welford,
    /// Values waiting to join `rate`: (when, accesses in the hour before then).
    rate_pending: VecDeque<(u64, f64)>,
}

/// Welford's running mean and variance.
#[derive(Debug, Default, Clone, Copy)]
struct Welford {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Welford {
    fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    fn std(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / (self.n - 1) as f64).sqrt()
        }
    }
}

/// An access's features, and what the baselines of docs/risk.md need from the same history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    /// The model's features.
    pub features: Features,
    /// Local hour of day (0–23).
    pub hour: u32,
    /// Distinct patients in the reader's last hour, this access included.
    pub patients_last_hour: u32,
    /// The reader's accesses in the last hour as a z-score against the reader's own past values
    /// (0 until the reader has two accesses); the per-reader rate baseline.
    pub rate_z: f64,
}

/// The histories of every reader so far; feed it accesses in time order.
#[derive(Debug, Default)]
pub struct FeatureState {
    readers: HashMap<Address, ReaderHistory>,
    /// Per patient, the accesses of the last 7 days, by reader.
    patients: HashMap<Address, Window>,
    utc_offset_secs: i64,
}

impl FeatureState {
    /// Empty, with hours of day taken at `utc_offset_secs` east of UTC (the deployment's
    /// local time: "off hours" are local).
    pub fn new(utc_offset_secs: i64) -> FeatureState {
        FeatureState {
            readers: HashMap::new(),
            patients: HashMap::new(),
            utc_offset_secs,
        }
    }

    /// The features of `a` given every access observed before it; then `a` joins its reader's
    /// history.
    pub fn observe(&mut self, a: &Access) -> Observed {
        let local = a.at.saturating_add_signed(self.utc_offset_secs);
        let hour = u32::try_from((local % DAY) / HOUR).unwrap_or(0);
        // 1970-01-01 was a Thursday: day 0 is Thursday, which is fine for a cyclic feature.
        let weekday = (local / DAY) % 7;
        let care = self.patients.entry(a.patient).or_default();
        care.forget_before(a.at.saturating_sub(7 * DAY));
        let others = care.len() - care.of(&a.reader);
        care.push(a.at, a.reader);
        let h = self.readers.entry(a.reader).or_default();
        h.forget_before(a.at);
        h.settle_rate(a.at.saturating_sub(HOUR));
        let (last_5m, last_1h, last_24h) = (h.five_minutes.len(), h.hour.len(), h.day.len());
        // The patients of the last hour, this access's included.
        let patients = h.hour.distinct() + usize::from(h.hour.of(&a.patient) == 0);
        let rate_z = match h.rate.std() {
            s if s > 0.0 => (last_1h as f64 - h.rate.mean) / s,
            _ => 0.0,
        };
        let (hour_sin, hour_cos) = cyclic(f64::from(hour), 24.0);
        let (weekday_sin, weekday_cos) = cyclic(weekday as f64, 7.0);
        let features = [
            f64::from(u8::from(a.role == Role::Practitioner)),
            f64::from(u8::from(a.role == Role::Insurer)),
            hour_sin,
            hour_cos,
            weekday_sin,
            weekday_cos,
            h.share_near_hour(hour),
            h.share_of_category(a.category),
            a.grant_since.map_or(0.0, |since| {
                log1p(a.at.saturating_sub(since) as f64 / HOUR as f64)
            }),
            f64::from(u8::from(!h.patients.contains(&a.patient))),
            log1p(others as f64),
            f64::from(u8::from(unexplained(a, h, others))),
            log1p(last_5m as f64),
            log1p(last_1h as f64),
            log1p(last_24h as f64),
            log1p(patients as f64),
            log1p(h.refusals.len() as f64),
            f64::from(u8::from(a.emergency)),
            f64::from(u8::from(!a.granted)),
            log1p(a.bytes as f64),
            log1p(a.at.saturating_sub(a.record_created) as f64 / DAY as f64),
        ];
        h.record(a, hour, last_1h);
        Observed {
            features,
            hour,
            patients_last_hour: u32::try_from(patients).unwrap_or(u32::MAX),
            rate_z,
        }
    }
}

impl ReaderHistory {
    /// Forgets what has left each window by `now`.
    fn forget_before(&mut self, now: u64) {
        let day = now.saturating_sub(DAY);
        forget_times(&mut self.day, day);
        forget_times(&mut self.refusals, day);
        forget_times(&mut self.five_minutes, now.saturating_sub(5 * MINUTE));
        self.hour.forget_before(now.saturating_sub(HOUR));
    }

    fn settle_rate(&mut self, cutoff: u64) {
        while let Some((_, value)) = self.rate_pending.front().filter(|(t, _)| *t <= cutoff) {
            self.rate.push(*value);
            self.rate_pending.pop_front();
        }
    }

    /// The share of this reader's accesses within an hour of `hour` (circular), smoothed
    /// towards 3/24 so that a reader with little history is neither usual nor unusual.
    fn share_near_hour(&self, hour: u32) -> f64 {
        let near: u32 = [23, 0, 1]
            .iter()
            .map(|d| self.hours[((hour + d) % 24) as usize])
            .sum();
        (f64::from(near) + 3.0) / (f64::from(self.total) + 24.0)
    }

    /// The share of this reader's accesses in `category`, smoothed towards 1/8.
    fn share_of_category(&self, category: Category) -> f64 {
        let n = self.categories[usize::from(category.number())];
        (f64::from(n) + 1.0) / (f64::from(self.total) + CATEGORIES as f64)
    }

    fn record(&mut self, a: &Access, hour: u32, last_1h: usize) {
        self.rate_pending.push_back((a.at, last_1h as f64));
        self.day.push_back(a.at);
        self.hour.push(a.at, a.patient);
        self.five_minutes.push_back(a.at);
        if !a.granted {
            self.refusals.push_back(a.at);
        }
        self.patients.insert(a.patient);
        self.hours[hour as usize] += 1;
        self.categories[usize::from(a.category.number())] += 1;
        self.total += 1;
    }
}

/// A first read that nothing in the log explains: the reader has never accessed the patient,
/// nobody else has in the last week (the patient is not in anyone's care), and the reader's grant
/// is not new (a new grant is the start of care). Each part alone is common; together they are
/// what a curiosity read looks like, and a distance treats a conjunction only as the sum of its
/// parts, so it is a feature of its own.
fn unexplained(a: &Access, h: &ReaderHistory, others: usize) -> bool {
    let new_grant = a
        .grant_since
        .is_some_and(|since| a.at.saturating_sub(since) < 7 * DAY);
    !h.patients.contains(&a.patient) && others == 0 && !new_grant && !a.emergency
}

/// Forgets the times at or before `cutoff` (kept in order).
fn forget_times(times: &mut VecDeque<u64>, cutoff: u64) {
    while times.front().is_some_and(|t| *t <= cutoff) {
        times.pop_front();
    }
}

fn cyclic(value: f64, period: f64) -> (f64, f64) {
    let angle = std::f64::consts::TAU * value / period;
    (angle.sin(), angle.cos())
}

fn log1p(x: f64) -> f64 {
    x.max(0.0).ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000 - 1_700_000_000 % DAY; // a midnight, UTC

    fn read(at: u64, reader: u8, patient: u8) -> Access {
        Access {
            at,
            reader: Address::repeat_byte(reader),
            role: Role::Practitioner,
            patient: Address::repeat_byte(patient),
            category: Category::Vitals,
            granted: true,
            emergency: false,
            bytes: 1_000,
            grant_since: Some(at.saturating_sub(10 * HOUR)),
            record_created: at.saturating_sub(2 * DAY),
            label: None,
        }
    }

    fn feature(o: &Observed, name: &str) -> f64 {
        let i = NAMES.iter().position(|n| *n == name).expect("a feature");
        o.features[i]
    }

    /// The windows kept incrementally agree with counting the whole history afresh, over a
    /// random stream of bursts and pauses by a few readers over a few patients.
    #[test]
    fn the_kept_windows_agree_with_a_recount_of_the_whole_history() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut s = FeatureState::new(0);
        let mut past: Vec<Access> = Vec::new();
        let mut at = T0;
        for _ in 0..3_000 {
            at += match rng.random_range(0..10) {
                0 => rng.random_range(3_600..30_000), // a pause
                1..=3 => rng.random_range(60..600),
                _ => rng.random_range(0..20), // a burst
            };
            let a = read(at, rng.random_range(1..4), rng.random_range(1..12));
            let o = s.observe(&a);
            let mine = |span: u64| {
                past.iter()
                    .filter(|p| p.reader == a.reader && p.at > at.saturating_sub(span))
                    .collect::<Vec<_>>()
            };
            let count = |span| (mine(span).len() as f64).ln_1p();
            assert_eq!(
                feature(&o, "reader's accesses in the last 5 minutes"),
                count(5 * MINUTE)
            );
            assert_eq!(
                feature(&o, "reader's accesses in the last hour"),
                count(HOUR)
            );
            assert_eq!(
                feature(&o, "reader's accesses in the last 24 hours"),
                count(DAY)
            );
            let mut patients: HashSet<Address> = mine(HOUR).iter().map(|p| p.patient).collect();
            patients.insert(a.patient);
            assert_eq!(o.patients_last_hour as usize, patients.len());
            let others = past
                .iter()
                .filter(|p| p.patient == a.patient && p.reader != a.reader)
                .filter(|p| p.at > at.saturating_sub(7 * DAY))
                .count();
            assert_eq!(
                feature(
                    &o,
                    "other readers' accesses to this patient in the last 7 days"
                ),
                (others as f64).ln_1p()
            );
            past.push(a);
        }
    }

    #[test]
    fn windows_count_the_reader_s_own_earlier_accesses() {
        let mut s = FeatureState::new(0);
        let first = s.observe(&read(T0 + 9 * HOUR, 1, 1));
        assert_eq!(
            feature(&first, "first read of this patient by this reader"),
            1.0
        );
        assert_eq!(feature(&first, "reader's accesses in the last hour"), 0.0);
        // Another reader's accesses are not this reader's.
        s.observe(&read(T0 + 9 * HOUR + 10, 2, 1));
        for (i, p) in (2..12).enumerate() {
            s.observe(&read(T0 + 9 * HOUR + 60 * (i as u64 + 1), 1, p));
        }
        let o = s.observe(&read(T0 + 9 * HOUR + 700, 1, 1));
        assert_eq!(o.hour, 9);
        assert_eq!(
            feature(&o, "first read of this patient by this reader"),
            0.0
        );
        assert_eq!(
            feature(&o, "reader's accesses in the last hour"),
            11f64.ln_1p()
        );
        // 420, 480, 540 and 600 s past nine are within five minutes of 700 s.
        assert_eq!(
            feature(&o, "reader's accesses in the last 5 minutes"),
            4f64.ln_1p()
        );
        assert_eq!(o.patients_last_hour, 11);
        assert_eq!(
            feature(&o, "distinct patients in the reader's last hour"),
            11f64.ln_1p()
        );
        // A day later the windows are empty again, and the patient is still known.
        let later = s.observe(&read(T0 + 34 * HOUR, 1, 3));
        assert_eq!(
            feature(&later, "reader's accesses in the last 24 hours"),
            0.0
        );
        assert_eq!(
            feature(&later, "first read of this patient by this reader"),
            0.0
        );
    }

    #[test]
    fn a_patient_s_care_is_the_other_readers_of_the_last_week() {
        let mut s = FeatureState::new(0);
        let care = "other readers' accesses to this patient in the last 7 days";
        s.observe(&read(T0, 2, 1));
        s.observe(&read(T0 + HOUR, 3, 1));
        s.observe(&read(T0 + 2 * HOUR, 1, 1));
        let o = s.observe(&read(T0 + 3 * HOUR, 1, 1));
        assert_eq!(
            feature(&o, care),
            2f64.ln_1p(),
            "readers 2 and 3, not reader 1"
        );
        let o = s.observe(&read(T0 + 7 * DAY + 30 * 60, 1, 1));
        assert_eq!(
            feature(&o, care),
            1f64.ln_1p(),
            "reader 2's access is a week old"
        );
    }

    #[test]
    fn a_first_read_is_unexplained_only_outside_anyone_s_care_under_an_old_grant() {
        let unexplained = "unexplained first read";
        let mut s = FeatureState::new(0);
        let mut old_grant = read(T0 + 30 * DAY, 1, 7);
        old_grant.grant_since = Some(T0);
        assert_eq!(feature(&s.observe(&old_grant), unexplained), 1.0);
        // Read before by this reader: explained.
        old_grant.at += 60;
        assert_eq!(feature(&s.observe(&old_grant), unexplained), 0.0);
        // A new grant is the start of care.
        let mut new_grant = read(T0 + 30 * DAY + 120, 1, 8);
        new_grant.grant_since = Some(new_grant.at - DAY);
        assert_eq!(feature(&s.observe(&new_grant), unexplained), 0.0);
        // Someone else is treating the patient this week.
        s.observe(&read(T0 + 30 * DAY + 180, 2, 9));
        let mut in_care = read(T0 + 30 * DAY + 240, 1, 9);
        in_care.grant_since = Some(T0);
        assert_eq!(feature(&s.observe(&in_care), unexplained), 0.0);
    }

    #[test]
    fn usual_hours_and_categories_are_the_reader_s_own() {
        let mut s = FeatureState::new(0);
        for day in 0..20 {
            s.observe(&read(T0 + day * DAY + 10 * HOUR, 1, 1));
        }
        let usual = s.observe(&read(T0 + 21 * DAY + 10 * HOUR, 1, 1));
        let mut night = read(T0 + 21 * DAY + 3 * HOUR, 1, 1);
        night.category = Category::Imaging;
        let unusual = s.observe(&night);
        let hour = "share of the reader's accesses at this hour";
        let category = "share of the reader's accesses in this category";
        assert!(feature(&usual, hour) > 0.4, "{usual:?}");
        assert!(feature(&unusual, hour) < 0.1, "{unusual:?}");
        assert!(feature(&usual, category) > 0.7);
        assert!(feature(&unusual, category) < 0.1);
        // Local time: the same instant is 05:00 two hours east of UTC.
        let mut east = FeatureState::new(2 * HOUR as i64);
        assert_eq!(east.observe(&read(T0 + 3 * HOUR, 1, 1)).hour, 5);
    }

    #[test]
    fn the_rate_baseline_compares_a_reader_with_their_own_past() {
        let mut s = FeatureState::new(0);
        // One access an hour for two days, then a burst.
        for i in 0..48 {
            s.observe(&read(T0 + i * HOUR + (i % 3) * 7 * MINUTE, 1, 1));
        }
        let calm = s.observe(&read(T0 + 48 * HOUR, 1, 1));
        for i in 0..30 {
            s.observe(&read(T0 + 48 * HOUR + 10 + i, 1, 2 + i as u8));
        }
        let burst = s.observe(&read(T0 + 48 * HOUR + 60, 1, 99));
        assert!(calm.rate_z.abs() < 3.0, "{}", calm.rate_z);
        assert!(burst.rate_z > 10.0, "{}", burst.rate_z);
    }

    #[test]
    fn refusals_and_emergencies_are_features_of_their_own() {
        let mut s = FeatureState::new(0);
        let mut refused = read(T0 + HOUR, 1, 1);
        refused.granted = false;
        refused.grant_since = None;
        let o = s.observe(&refused);
        assert_eq!(feature(&o, "refused"), 1.0);
        assert_eq!(feature(&o, "hours since the grant began"), 0.0);
        let mut emergency = read(T0 + 2 * HOUR, 1, 2);
        emergency.emergency = true;
        let o = s.observe(&emergency);
        assert_eq!(feature(&o, "emergency release"), 1.0);
        assert_eq!(
            feature(&o, "reader's refusals in the last 24 hours"),
            1f64.ln_1p()
        );
    }
}
