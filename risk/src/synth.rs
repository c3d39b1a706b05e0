//! A synthetic hospital access log, seeded and labelled: practitioners with specialties, shifts
//! and panels of patients who granted them, insurers reading claims in office hours, patients
//! reading their own records, emergency care; and episodes of six kinds of misuse
//! ([`Label::ANOMALIES`]). docs/risk.md, "The synthetic hospital", says what each part models
//! and why.

use std::collections::HashSet;

use alloy_primitives::Address;
use medledger_protocol::contract::Category;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Poisson};

use crate::access::{Access, Label, Role};

const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

/// The hospital to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HospitalParams {
    /// Practitioners (a sixth of them in emergency care).
    pub practitioners: usize,
    /// Insurers.
    pub insurers: usize,
    /// Patients.
    pub patients: usize,
    /// Days simulated.
    pub days: u32,
    /// The first day's midnight, Unix seconds (local time is UTC).
    pub start: u64,
    /// Episodes of each anomaly kind, all after the warm-up.
    pub episodes_per_kind: usize,
    /// Days at the start with normal work only: the history that features need (a reader's
    /// usual hours, the patients they know) before anything is scored.
    pub warm_up_days: u32,
}

impl Default for HospitalParams {
    fn default() -> Self {
        HospitalParams {
            practitioners: 60,
            insurers: 3,
            patients: 2_000,
            days: 21,
            // Monday 2026-01-05, 00:00 UTC.
            start: 1_767_571_200,
            episodes_per_kind: 12,
            warm_up_days: 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Specialty {
    GeneralPractice,
    Cardiology,
    Radiology,
    Laboratory,
    Pharmacy,
    Emergency,
}

impl Specialty {
    const ALL: [Specialty; 6] = [
        Specialty::GeneralPractice,
        Specialty::Cardiology,
        Specialty::Radiology,
        Specialty::Laboratory,
        Specialty::Pharmacy,
        Specialty::Emergency,
    ];

    /// The categories its work reads, with relative weights.
    fn categories(self) -> &'static [(Category, u32)] {
        use Category::*;
        match self {
            Specialty::GeneralPractice => &[
                (General, 2),
                (Vitals, 4),
                (History, 4),
                (Medication, 3),
                (Encounters, 4),
                (Laboratory, 2),
            ],
            Specialty::Cardiology => &[
                (Vitals, 5),
                (Laboratory, 3),
                (Imaging, 2),
                (Medication, 3),
                (History, 2),
            ],
            Specialty::Radiology => &[(Imaging, 8), (History, 2)],
            Specialty::Laboratory => &[(Laboratory, 9), (History, 1)],
            Specialty::Pharmacy => &[(Medication, 8), (History, 1), (Laboratory, 1)],
            Specialty::Emergency => &[
                (Vitals, 4),
                (History, 3),
                (Medication, 3),
                (Laboratory, 2),
                (Imaging, 2),
                (Encounters, 2),
            ],
        }
    }
}

/// A practitioner's working hours: eight from this local hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shift {
    Day = 7,
    Evening = 15,
    Night = 23,
}

#[derive(Debug, Clone)]
struct Practitioner {
    address: Address,
    specialty: Specialty,
    shift: Shift,
    /// Patients in this practitioner's care (indices into the patients).
    panel: Vec<usize>,
    /// Mean accesses per shift.
    rate: f64,
    /// Weekdays off (0 = Monday).
    days_off: [u32; 2],
}

#[derive(Debug, Clone)]
struct Patient {
    address: Address,
    /// When this patient's broad consent to the hospital's staff began: what a snooper or a
    /// stolen credential reads under.
    hospital_grant_since: u64,
}

/// One read of an anomaly episode: when, whose (a patient index), which category, and whether
/// it is an emergency release.
type EpisodeRead = (u64, usize, Category, bool);

/// The simulation's state: the people and the random source.
struct Hospital {
    params: HospitalParams,
    rng: ChaCha8Rng,
    practitioners: Vec<Practitioner>,
    insurers: Vec<(Address, Vec<usize>)>,
    patients: Vec<Patient>,
    /// When each (practitioner, panel patient)'s grant began.
    grants: std::collections::HashMap<(usize, usize), u64>,
    out: Vec<Access>,
}

/// The labelled access log of a hospital, in time order.
pub fn generate(seed: u64, params: HospitalParams) -> Vec<Access> {
    let mut h = Hospital::new(seed, params);
    for day in 0..params.days {
        h.normal_day(day);
    }
    h.anomalies();
    let mut out = h.out;
    out.sort_by_key(|a| a.at);
    out
}

impl Hospital {
    fn new(seed: u64, params: HospitalParams) -> Hospital {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let patients: Vec<Patient> = (0..params.patients.max(1))
            .map(|_| Patient {
                address: Address::from(rng.random::<[u8; 20]>()),
                hospital_grant_since: params.start - rng.random_range(30..800) * DAY,
            })
            .collect();
        let mut h = Hospital {
            params,
            rng,
            practitioners: Vec::new(),
            insurers: Vec::new(),
            patients,
            grants: std::collections::HashMap::new(),
            out: Vec::new(),
        };
        for i in 0..params.practitioners.max(2) {
            let p = h.new_practitioner(i);
            h.practitioners.push(p);
        }
        for _ in 0..params.insurers {
            let address = Address::from(h.rng.random::<[u8; 20]>());
            let holders = h.sample_patients(300);
            h.insurers.push((address, holders));
        }
        h
    }

    fn new_practitioner(&mut self, i: usize) -> Practitioner {
        let rng = &mut self.rng;
        // Every sixth is in emergency care; the rest spread over the other specialties.
        let specialty = if i % 6 == 5 {
            Specialty::Emergency
        } else {
            Specialty::ALL[rng.random_range(0..5)]
        };
        let shift = match rng.random_range(0..20) {
            0..=12 => Shift::Day,
            13..=16 => Shift::Evening,
            _ => Shift::Night,
        };
        let address = Address::from(rng.random::<[u8; 20]>());
        let rate = rng.random_range(12.0..45.0);
        let first_off = rng.random_range(0..7);
        let days_off = [first_off, (first_off + 1 + rng.random_range(0..6)) % 7];
        let panel_size = rng.random_range(30..140).min(self.patients.len());
        let panel = self.sample_patients(panel_size);
        let (start, days) = (self.params.start, u64::from(self.params.days));
        for &p in &panel {
            // Most consented long ago; a seventh become this practitioner's patients during
            // the log, and are first read soon after their consent.
            let since = if self.rng.random_range(0..7) == 0 {
                start + self.rng.random_range(0..days.max(1)) * DAY + self.rng.random_range(0..DAY)
            } else {
                start - self.rng.random_range(1..500) * DAY
            };
            self.grants.insert((i, p), since);
        }
        Practitioner {
            address,
            specialty,
            shift,
            panel,
            rate,
            days_off,
        }
    }

    fn sample_patients(&mut self, n: usize) -> Vec<usize> {
        let mut chosen = HashSet::new();
        while chosen.len() < n.min(self.patients.len()) {
            chosen.insert(self.rng.random_range(0..self.patients.len()));
        }
        let mut v: Vec<usize> = chosen.into_iter().collect();
        v.sort_unstable();
        v
    }

    fn normal_day(&mut self, day: u32) {
        let midnight = self.params.start + u64::from(day) * DAY;
        let weekday = day % 7;
        for i in 0..self.practitioners.len() {
            if self.practitioners[i].days_off.contains(&weekday) {
                continue;
            }
            self.practitioner_shift(i, midnight);
        }
        if weekday < 5 {
            for i in 0..self.insurers.len() {
                self.insurer_day(i, midnight);
            }
        }
        self.patients_day(midnight);
    }

    fn practitioner_shift(&mut self, i: usize, midnight: u64) {
        let p = self.practitioners[i].clone();
        let n = poisson(&mut self.rng, p.rate);
        for _ in 0..n {
            let at = self.in_shift(p.shift, midnight);
            let Some(patient) = self.panel_patient(i, at) else {
                continue;
            };
            let category = weighted(&mut self.rng, p.specialty.categories());
            // One in a hundred is refused: a grant that lapsed, a category it does not cover.
            let refused = self.rng.random_range(0..100) == 0;
            let since = self.grants.get(&(i, patient)).copied();
            let mut a = self.access(at, p.address, Role::Practitioner, patient, category);
            a.granted = !refused;
            a.grant_since = if refused { None } else { since };
            self.out.push(a);
        }
        if p.specialty == Specialty::Emergency {
            // Emergency care opens the records of patients it has never seen.
            for _ in 0..self.rng.random_range(0..3) {
                let at = self.in_shift(p.shift, midnight);
                let patient = self.rng.random_range(0..self.patients.len());
                let category = weighted(&mut self.rng, p.specialty.categories());
                let mut a = self.access(at, p.address, Role::Practitioner, patient, category);
                a.emergency = true;
                a.grant_since = None;
                self.out.push(a);
            }
        }
    }

    fn insurer_day(&mut self, i: usize, midnight: u64) {
        let (address, holders) = self.insurers[i].clone();
        for _ in 0..poisson(&mut self.rng, 40.0) {
            let at = midnight + 9 * HOUR + self.rng.random_range(0..8 * HOUR);
            let patient = holders[self.rng.random_range(0..holders.len())];
            let category = if self.rng.random_range(0..5) == 0 {
                Category::Encounters
            } else {
                Category::Claims
            };
            let mut a = self.access(at, address, Role::Insurer, patient, category);
            a.grant_since = Some(self.patients[patient].hospital_grant_since);
            self.out.push(a);
        }
    }

    fn patients_day(&mut self, midnight: u64) {
        for patient in 0..self.patients.len() {
            if self.rng.random_range(0..60) != 0 {
                continue;
            }
            let at = midnight + 7 * HOUR + self.rng.random_range(0..16 * HOUR);
            let category = Category::ALL[self.rng.random_range(0..Category::ALL.len())];
            let me = self.patients[patient].address;
            let mut a = self.access(at, me, Role::Patient, patient, category);
            a.grant_since = None;
            self.out.push(a);
        }
    }

    /// A time within `shift` of the day starting at `midnight`.
    fn in_shift(&mut self, shift: Shift, midnight: u64) -> u64 {
        midnight + shift as u64 * HOUR + self.rng.random_range(0..8 * HOUR)
    }

    /// A patient of practitioner `i`'s panel who had consented by `at`: some are seen far more
    /// often than others (inpatients, chronic care).
    fn panel_patient(&mut self, i: usize, at: u64) -> Option<usize> {
        let panel = &self.practitioners[i].panel;
        for _ in 0..10 {
            let skew: f64 = Exp::new(4.0).map_or(0.0, |e| e.sample(&mut self.rng));
            let idx = ((skew * panel.len() as f64) as usize) % panel.len();
            let patient = panel[idx];
            if self
                .grants
                .get(&(i, patient))
                .is_some_and(|since| *since <= at)
            {
                return Some(patient);
            }
        }
        None
    }

    /// An ordinary access: released, not an emergency, a record of plausible size and age,
    /// labelled normal (callers change what differs).
    fn access(
        &mut self,
        at: u64,
        reader: Address,
        role: Role,
        patient: usize,
        category: Category,
    ) -> Access {
        let median: f64 = match category {
            Category::Imaging => 2_000_000.0,
            Category::Claims => 120_000.0,
            _ => 20_000.0,
        };
        let bytes = LogNormal::new(median.ln(), 0.8).map_or(median, |d| d.sample(&mut self.rng));
        // Care reads mostly what is new (this week's results and letters), sometimes history.
        let mean_days = if self.rng.random_range(0..10) < 7 {
            14.0
        } else {
            365.0
        };
        let age_days = Exp::new(1.0 / mean_days).map_or(0.0, |d| d.sample(&mut self.rng));
        Access {
            at,
            reader,
            role,
            patient: self.patients[patient].address,
            category,
            granted: true,
            emergency: false,
            bytes: bytes.max(200.0) as u64,
            grant_since: None,
            record_created: at.saturating_sub((age_days * DAY as f64) as u64),
            label: Some(Label::Normal),
        }
    }

    fn anomalies(&mut self) {
        if self.params.days == 0 {
            return;
        }
        for kind in Label::ANOMALIES {
            for _ in 0..self.params.episodes_per_kind {
                self.episode(kind);
            }
        }
    }

    /// One episode of `kind` by a practitioner fitting it, on a day after the warm-up (so that
    /// the actor has a history to depart from).
    fn episode(&mut self, kind: Label) {
        let days = u64::from(self.params.days);
        let day = self
            .rng
            .random_range(u64::from(self.params.warm_up_days).min(days - 1)..days);
        let midnight = self.params.start + day * DAY;
        let actor = self.actor_for(kind);
        let p = self.practitioners[actor].clone();
        let reads = match kind {
            Label::Snooping => self.snooping(actor, &p, midnight),
            Label::BulkExport => self.bulk_export(actor, &p, midnight),
            Label::OffHours => self.off_hours(actor, &p, midnight),
            Label::OutOfSpecialty => self.out_of_specialty(actor, &p, midnight),
            Label::StolenCredential => self.stolen_credential(actor, &p, midnight),
            Label::RepeatedEmergency => self.repeated_emergency(actor, &p, midnight),
            Label::Normal => Vec::new(),
        };
        for (at, patient, category, emergency) in reads {
            let mut a = self.access(at, p.address, Role::Practitioner, patient, category);
            if !p.panel.contains(&patient) {
                // A patient outside one's care has nothing new: their records are as old as
                // anyone's history.
                let days = Exp::new(1.0 / 365.0).map_or(0.0, |d| d.sample(&mut self.rng));
                a.record_created = at.saturating_sub((days * DAY as f64) as u64);
            }
            a.label = Some(kind);
            a.emergency = emergency;
            a.grant_since = if emergency {
                None
            } else {
                Some(
                    self.grants
                        .get(&(actor, patient))
                        .copied()
                        .unwrap_or(self.patients[patient].hospital_grant_since),
                )
            };
            self.out.push(a);
        }
    }

    /// 1–3 first reads, in the shift and the specialty, of patients outside the panel.
    fn snooping(&mut self, actor: usize, p: &Practitioner, midnight: u64) -> Vec<EpisodeRead> {
        let at = self.in_shift(p.shift, midnight);
        let n = self.rng.random_range(1..=3);
        (0..n)
            .map(|j| {
                let patient = self.stranger(actor);
                let category = weighted(&mut self.rng, p.specialty.categories());
                (
                    at + j * self.rng.random_range(30..300),
                    patient,
                    category,
                    false,
                )
            })
            .collect()
    }

    /// 30–100 reads within 10–30 minutes, panel and other patients, any clinical category.
    fn bulk_export(&mut self, actor: usize, p: &Practitioner, midnight: u64) -> Vec<EpisodeRead> {
        let at = self.in_shift(p.shift, midnight);
        let n = self.rng.random_range(30..100);
        let span = self.rng.random_range(10..30) * 60;
        (0..n)
            .map(|_| {
                let patient = if self.rng.random() {
                    p.panel[self.rng.random_range(0..p.panel.len())]
                } else {
                    self.stranger(actor)
                };
                let category = Category::ALL[self.rng.random_range(0..7)];
                (
                    at + self.rng.random_range(0..span),
                    patient,
                    category,
                    false,
                )
            })
            .collect()
    }

    /// 1–4 reads of panel patients between 01:00 and 05:00.
    fn off_hours(&mut self, actor: usize, p: &Practitioner, midnight: u64) -> Vec<EpisodeRead> {
        let at = midnight + self.rng.random_range(HOUR..5 * HOUR);
        let n = self.rng.random_range(1..=4);
        (0..n)
            .filter_map(|j| {
                let patient = self.panel_patient(actor, at)?;
                let category = weighted(&mut self.rng, p.specialty.categories());
                Some((
                    at + j * self.rng.random_range(60..900),
                    patient,
                    category,
                    false,
                ))
            })
            .collect()
    }

    /// 2–5 reads of panel patients in categories the specialty never reads.
    fn out_of_specialty(
        &mut self,
        actor: usize,
        p: &Practitioner,
        midnight: u64,
    ) -> Vec<EpisodeRead> {
        let at = self.in_shift(p.shift, midnight);
        let usual: Vec<Category> = p.specialty.categories().iter().map(|c| c.0).collect();
        let other: Vec<Category> = Category::ALL
            .into_iter()
            .filter(|c| !usual.contains(c) && *c != Category::Claims)
            .collect();
        let n = self.rng.random_range(2..=5);
        (0..n)
            .filter_map(|j| {
                let patient = self.panel_patient(actor, at)?;
                let category = other[self.rng.random_range(0..other.len())];
                Some((
                    at + j * self.rng.random_range(60..600),
                    patient,
                    category,
                    false,
                ))
            })
            .collect()
    }

    /// 8–25 reads over 1–2 hours, ten hours after the owner's shift begins (outside it,
    /// whichever shift it is), of other patients, in another specialty's categories.
    fn stolen_credential(
        &mut self,
        actor: usize,
        p: &Practitioner,
        midnight: u64,
    ) -> Vec<EpisodeRead> {
        // Ten hours after the shift begins: outside it, whichever shift it is.
        let at = midnight + (p.shift as u64 + 10) * HOUR + self.rng.random_range(0..3 * HOUR);
        let other = Specialty::ALL[self.rng.random_range(0..6)];
        let n = self.rng.random_range(8..25);
        let span = self.rng.random_range(1..3) * HOUR;
        (0..n)
            .map(|_| {
                let patient = self.stranger(actor);
                let category = weighted(&mut self.rng, other.categories());
                (
                    at + self.rng.random_range(0..span),
                    patient,
                    category,
                    false,
                )
            })
            .collect()
    }

    /// 4–10 emergency releases over up to three days, of patients outside the panel.
    fn repeated_emergency(
        &mut self,
        actor: usize,
        p: &Practitioner,
        midnight: u64,
    ) -> Vec<EpisodeRead> {
        let n = self.rng.random_range(4..=10);
        (0..n)
            .map(|_| {
                let on = midnight + self.rng.random_range(0..3) * DAY;
                let at = self.in_shift(p.shift, on);
                let patient = self.stranger(actor);
                let category = weighted(&mut self.rng, p.specialty.categories());
                (at, patient, category, true)
            })
            .collect()
    }

    /// A practitioner who fits `kind`: not in emergency care for repeated emergencies, on the
    /// day shift for off-hours reads.
    fn actor_for(&mut self, kind: Label) -> usize {
        let fits = |p: &Practitioner| match kind {
            Label::RepeatedEmergency => p.specialty != Specialty::Emergency,
            Label::OffHours => p.shift == Shift::Day,
            _ => true,
        };
        let candidates: Vec<usize> = (0..self.practitioners.len())
            .filter(|i| fits(&self.practitioners[*i]))
            .collect();
        if candidates.is_empty() {
            return 0;
        }
        candidates[self.rng.random_range(0..candidates.len())]
    }

    /// A patient outside practitioner `i`'s panel.
    fn stranger(&mut self, i: usize) -> usize {
        for _ in 0..20 {
            let p = self.rng.random_range(0..self.patients.len());
            if !self.grants.contains_key(&(i, p)) {
                return p;
            }
        }
        self.rng.random_range(0..self.patients.len())
    }
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    Poisson::new(mean).map_or(0, |d| d.sample(rng) as u64)
}

fn weighted(rng: &mut ChaCha8Rng, choices: &[(Category, u32)]) -> Category {
    let total: u32 = choices.iter().map(|c| c.1).sum();
    let mut pick = rng.random_range(0..total.max(1));
    for (c, w) in choices {
        if pick < *w {
            return *c;
        }
        pick -= w;
    }
    choices.first().map_or(Category::General, |c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> HospitalParams {
        HospitalParams {
            practitioners: 18,
            insurers: 1,
            patients: 400,
            days: 8,
            episodes_per_kind: 3,
            ..HospitalParams::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_log_and_another_seed_another() {
        let a = generate(7, small());
        assert_eq!(a, generate(7, small()));
        assert_ne!(a, generate(8, small()));
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at), "in time order");
    }

    #[test]
    fn every_anomaly_kind_is_present_and_normal_work_dominates() {
        let log = generate(3, small());
        let count = |l: Label| log.iter().filter(|a| a.label == Some(l)).count();
        for kind in Label::ANOMALIES {
            assert!(count(kind) >= 1, "{}", kind.name());
        }
        let anomalous = log
            .iter()
            .filter(|a| a.label.is_some_and(Label::is_anomaly))
            .count();
        assert!(
            count(Label::Normal) > 5 * anomalous,
            "{} vs {anomalous}",
            count(Label::Normal)
        );
        // Emergency releases happen in normal work too (emergency care), not only in misuse.
        assert!(log
            .iter()
            .any(|a| a.emergency && a.label == Some(Label::Normal)));
        // A practitioner's normal reads fall in one eight-hour shift of the day.
        let reader = log
            .iter()
            .find(|a| {
                a.role == Role::Practitioner && a.label == Some(Label::Normal) && !a.emergency
            })
            .map(|a| a.reader)
            .expect("a practitioner");
        let hours: HashSet<u64> = log
            .iter()
            .filter(|a| a.reader == reader && a.label == Some(Label::Normal))
            .map(|a| (a.at % DAY) / HOUR)
            .collect();
        assert!(hours.len() <= 8, "{hours:?}");
    }
}
