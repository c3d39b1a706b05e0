//! What every operation of the run did and how long it took, as the user saw it (an upload from
//! its first attempt to its 201, retries after a shed included; a grant until its block), and the
//! escrow's memory; summarised per operation, bucketed over time into a CSV, and plotted into an
//! SVG drawn here.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    SignIn,
    PatientList,
    PatientRead,
    Upload,
    Anchor,
    Grant,
    AddWraps,
    Revoke,
    PractitionerList,
    PractitionerRead,
}

impl Op {
    pub const ALL: [Op; 10] = [
        Op::SignIn,
        Op::PatientList,
        Op::PatientRead,
        Op::Upload,
        Op::Anchor,
        Op::Grant,
        Op::AddWraps,
        Op::Revoke,
        Op::PractitionerList,
        Op::PractitionerRead,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::SignIn => "sign-in",
            Op::PatientList => "list (patient)",
            Op::PatientRead => "read (patient)",
            Op::Upload => "upload",
            Op::Anchor => "anchor (chain)",
            Op::Grant => "grant (chain)",
            Op::AddWraps => "wraps for grantee",
            Op::Revoke => "revoke (chain)",
            Op::PractitionerList => "list (practitioner)",
            Op::PractitionerRead => "read (practitioner)",
        }
    }

    fn colour(self) -> &'static str {
        const PALETTE: [&str; 10] = [
            "#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c", "#98df8a", "#d62728", "#9467bd", "#8c564b",
            "#17becf", "#e377c2",
        ];
        PALETTE[self as usize]
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// 503 `busy`: sent again after its `Retry-After`, as the app does.
    Shed,
    /// Refused with this status (a practitioner reading a patient who revoked them at that
    /// moment, say).
    Refused(u16),
    /// Anything else: an unexpected status, a broken connection, a reverted transaction.
    Failed,
}

struct Event {
    at: Duration,
    op: Op,
    latency: Duration,
    outcome: Outcome,
}

/// Events and memory samples since the run began.
pub struct Timeline {
    t0: Instant,
    events: Mutex<Vec<Event>>,
    /// Resident and anonymous (heap) memory, MiB.
    rss_mib: Mutex<Vec<(Duration, f64, f64)>>,
    /// Failures by operation and reason (hashes elided, so that like ones add up).
    failures: Mutex<std::collections::BTreeMap<(Op, String), usize>>,
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline {
            t0: Instant::now(),
            events: Mutex::new(Vec::new()),
            rss_mib: Mutex::new(Vec::new()),
            failures: Mutex::new(Default::default()),
        }
    }

    /// Time since the run began.
    pub fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// Notes `op`, begun at `started`, ending now as `outcome`.
    pub fn note(&self, op: Op, started: Instant, outcome: Outcome) {
        let latency = started.elapsed();
        let at = self.t0.elapsed();
        let event = Event {
            at,
            op,
            latency,
            outcome,
        };
        self.events.lock().expect("timeline").push(event);
    }

    /// Notes a failure of `op` and why; the report counts failures by reason.
    pub fn failed(&self, op: Op, started: Instant, why: &str) {
        self.note(op, started, Outcome::Failed);
        let reason: Vec<&str> = why
            .split_whitespace()
            .map(|w| if w.starts_with("0x") { "0x…" } else { w })
            .collect();
        let mut failures = self.failures.lock().expect("timeline");
        *failures.entry((op, reason.join(" "))).or_default() += 1;
    }

    /// Failures by operation and reason, most frequent first.
    pub fn failure_reasons(&self) -> Vec<String> {
        let failures = self.failures.lock().expect("timeline");
        let mut v: Vec<_> = failures.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1));
        v.iter()
            .map(|((op, why), n)| format!("{n:>6} × {}: {why}", op.name()))
            .collect()
    }

    /// When the last user had signed in (all users started), if any had.
    pub fn last_sign_in(&self) -> Option<Duration> {
        let events = self.events.lock().expect("timeline");
        events
            .iter()
            .filter(|e| e.op == Op::SignIn)
            .map(|e| e.at)
            .max()
    }

    pub fn sample_rss(&self, resident: f64, anonymous: f64) {
        let at = self.t0.elapsed();
        let sample = (at, resident, anonymous);
        self.rss_mib.lock().expect("timeline").push(sample);
    }

    /// Resident memory at the first sample, its peak, and the anonymous part's at the end (MiB).
    pub fn memory(&self) -> Option<(f64, f64, f64)> {
        let rss = self.rss_mib.lock().expect("timeline");
        let first = rss.first()?.1;
        let peak = rss.iter().map(|s| s.1).fold(0.0, f64::max);
        Some((first, peak, rss.last()?.2))
    }
}

/// The latency percentiles of `ok`, in milliseconds: p50, p95, p99.
fn percentiles(mut ok: Vec<Duration>) -> [f64; 3] {
    ok.sort();
    [0.50, 0.95, 0.99].map(|p| {
        if ok.is_empty() {
            return f64::NAN;
        }
        let i = ((ok.len() - 1) as f64 * p).round() as usize;
        ok[i].as_secs_f64() * 1e3
    })
}

/// One operation's events in one window.
#[derive(Default)]
struct Tally {
    ok: Vec<Duration>,
    shed: usize,
    refused: usize,
    failed: usize,
}

impl Tally {
    fn add(&mut self, e: &Event) {
        match e.outcome {
            Outcome::Ok => self.ok.push(e.latency),
            Outcome::Shed => self.shed += 1,
            Outcome::Refused(_) => self.refused += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

fn tally(events: &[Event], op: Op, from: Duration, to: Duration) -> Tally {
    let mut t = Tally::default();
    events
        .iter()
        .filter(|e| e.op == op && e.at >= from && e.at < to)
        .for_each(|e| t.add(e));
    t
}

/// What the report says of the whole run.
pub struct Totals {
    pub failed: usize,
    pub lines: Vec<String>,
}

impl Timeline {
    /// The summary of the steady window `[from, to)` (all users started), one line per operation.
    pub fn summary(&self, from: Duration, to: Duration) -> Totals {
        let events = self.events.lock().expect("timeline");
        let secs = (to - from).as_secs_f64();
        let mut lines = vec![format!(
            "{:<22}{:>8}{:>8}{:>7}{:>8}{:>7}{:>9}{:>9}{:>9}",
            "operation", "ok", "ok/s", "shed", "refused", "failed", "p50 ms", "p95 ms", "p99 ms"
        )];
        let mut failed = 0;
        for op in Op::ALL {
            let t = tally(&events, op, from, to);
            failed += t.failed;
            let n = t.ok.len();
            let [p50, p95, p99] = percentiles(t.ok);
            lines.push(format!(
                "{:<22}{:>8}{:>8.1}{:>7}{:>8}{:>7}{:>9.1}{:>9.1}{:>9.1}",
                op.name(),
                n,
                n as f64 / secs,
                t.shed,
                t.refused,
                t.failed,
                p50,
                p95,
                p99
            ));
        }
        let all_failed: usize = events
            .iter()
            .filter(|e| e.outcome == Outcome::Failed)
            .count();
        lines.push(format!(
            "failed over the whole run, ramp included: {all_failed}"
        ));
        Totals {
            failed: failed.max(all_failed),
            lines,
        }
    }

    /// Per `bucket` and operation: ok/s and latency percentiles, as CSV rows and plot series
    /// (whole buckets only: a last, partial one would understate its rates).
    fn buckets(&self, bucket: Duration) -> Vec<Row> {
        let events = self.events.lock().expect("timeline");
        let end = events.iter().map(|e| e.at).max().unwrap_or_default();
        let mut rows = Vec::new();
        let mut from = Duration::ZERO;
        while from + bucket <= end {
            let to = from + bucket;
            for op in Op::ALL {
                let t = tally(&events, op, from, to);
                let ok = t.ok.len();
                let (shed, refused, failed) = (t.shed, t.refused, t.failed);
                rows.push(Row {
                    at: from.as_secs_f64(),
                    op,
                    per_sec: ok as f64 / bucket.as_secs_f64(),
                    pct: percentiles(t.ok),
                    shed,
                    refused,
                    failed,
                });
            }
            from = to;
        }
        rows
    }

    /// Writes `<out>/<name>.csv` (per 10 s and operation) and `<out>/<name>.svg`; `steady` marks
    /// when the last user started and when the run ended.
    pub fn write(&self, out: &Path, name: &str, steady: (Duration, Duration)) {
        let rows = self.buckets(Duration::from_secs(10));
        let mut csv =
            String::from("t_s,operation,ok_per_s,shed,refused,failed,p50_ms,p95_ms,p99_ms\n");
        for r in &rows {
            let [p50, p95, p99] = r.pct;
            writeln!(
                csv,
                "{},{},{:.2},{},{},{},{:.1},{:.1},{:.1}",
                r.at,
                r.op.name(),
                r.per_sec,
                r.shed,
                r.refused,
                r.failed,
                p50,
                p95,
                p99
            )
            .expect("string");
        }
        std::fs::write(out.join(format!("{name}.csv")), csv).expect("csv");
        let rss = self.rss_mib.lock().expect("timeline").clone();
        let svg = Plot::new(&rows, &rss, steady).svg();
        std::fs::write(out.join(format!("{name}.svg")), svg).expect("svg");
    }
}

struct Row {
    at: f64,
    op: Op,
    per_sec: f64,
    pct: [f64; 3],
    shed: usize,
    refused: usize,
    failed: usize,
}

/// Three panels over one time axis: completed operations per second, p95 latency (log scale),
/// and the escrow's resident memory.
struct Plot<'a> {
    rows: &'a [Row],
    rss: &'a [(Duration, f64, f64)],
    steady: (f64, f64),
    end: f64,
}

const WIDTH: f64 = 960.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const PANEL: f64 = 200.0;
const GAP: f64 = 50.0;

impl<'a> Plot<'a> {
    fn new(rows: &'a [Row], rss: &'a [(Duration, f64, f64)], steady: (Duration, Duration)) -> Self {
        let end = rows.iter().map(|r| r.at + 10.0).fold(10.0, f64::max);
        let steady = (steady.0.as_secs_f64(), steady.1.as_secs_f64());
        Plot {
            rows,
            rss,
            steady,
            end,
        }
    }

    fn x(&self, t: f64) -> f64 {
        LEFT + (WIDTH - LEFT - RIGHT) * t / self.end
    }

    fn svg(&self) -> String {
        let height = 3.0 * (PANEL + GAP) + 30.0;
        let mut doc = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        let max_rate = self.rows.iter().map(|r| r.per_sec).fold(1.0, f64::max);
        let rate = |r: &Row| Some(r.per_sec);
        self.panel(
            &mut doc,
            0,
            "completed operations per second (10 s buckets)",
            (0.0, max_rate),
            false,
            &rate,
        );
        let p95 = |r: &Row| (r.pct[1].is_finite()).then_some(r.pct[1]);
        self.panel(
            &mut doc,
            1,
            "p95 latency, ms (log scale)",
            (1.0, 100_000.0),
            true,
            &p95,
        );
        self.memory(&mut doc, 2);
        for (i, op) in Op::ALL.iter().enumerate() {
            let y = 40.0 + 18.0 * i as f64;
            let lx = WIDTH - RIGHT + 15.0;
            writeln!(
                doc,
                "<line x1=\"{lx}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"3\"/><text x=\"{}\" y=\"{}\">{}</text>",
                lx + 20.0,
                op.colour(),
                lx + 26.0,
                y + 4.0,
                op.name()
            )
            .expect("string");
        }
        doc.push_str("</svg>\n");
        doc
    }

    /// Panel `n`'s frame, title, time axis and the steady window's bounds; its top and bottom.
    fn frame(&self, doc: &mut String, n: usize, title: &str) -> (f64, f64) {
        let top = 30.0 + n as f64 * (PANEL + GAP);
        let bottom = top + PANEL;
        let (x0, x1) = (self.x(0.0), self.x(self.end));
        writeln!(
            doc,
            "<text x=\"{x0}\" y=\"{}\" font-weight=\"bold\">{title}</text><rect x=\"{x0}\" y=\"{top}\" width=\"{}\" height=\"{PANEL}\" fill=\"none\" stroke=\"#333\"/>",
            top - 8.0,
            x1 - x0
        )
        .expect("string");
        let step = if self.end > 600.0 { 120.0 } else { 60.0 };
        let mut t = 0.0;
        while t <= self.end {
            writeln!(
                doc,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{t:.0} s</text>",
                self.x(t),
                bottom + 15.0
            )
            .expect("string");
            t += step;
        }
        for edge in [self.steady.0, self.steady.1] {
            let x = self.x(edge);
            writeln!(
                doc,
                "<line x1=\"{x}\" y1=\"{top}\" x2=\"{x}\" y2=\"{bottom}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>"
            )
            .expect("string");
        }
        (top, bottom)
    }

    /// A panel with one line per operation of `value` over time, on `range` (log10 when `log`).
    fn panel(
        &self,
        doc: &mut String,
        n: usize,
        title: &str,
        range: (f64, f64),
        log: bool,
        value: &dyn Fn(&Row) -> Option<f64>,
    ) {
        let (top, bottom) = self.frame(doc, n, title);
        let scale = |v: f64| if log { v.max(range.0).log10() } else { v };
        let (lo, hi) = (scale(range.0), scale(range.1));
        let y = |v: f64| bottom - PANEL * (scale(v) - lo) / (hi - lo);
        let ticks: Vec<f64> = if log {
            vec![1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0]
        } else {
            (0..=4).map(|i| range.1 * i as f64 / 4.0).collect()
        };
        let decimals = if range.1 < 10.0 { 1 } else { 0 };
        for v in ticks {
            writeln!(
                doc,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{v:.decimals$}</text>",
                LEFT - 6.0,
                y(v) + 4.0
            )
            .expect("string");
        }
        for op in Op::ALL {
            let points: Vec<String> = self
                .rows
                .iter()
                .filter(|r| r.op == op)
                .filter_map(|r| value(r).map(|v| format!("{:.1},{:.1}", self.x(r.at + 5.0), y(v))))
                .collect();
            if points.len() > 1 {
                writeln!(
                    doc,
                    "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
                    op.colour(),
                    points.join(" ")
                )
                .expect("string");
            }
        }
        let _ = top;
    }

    /// The escrow's resident memory over time (black) and its anonymous part (grey: the heap).
    fn memory(&self, doc: &mut String, n: usize) {
        let title = "escrow resident memory, MiB (grey: anonymous, the heap)";
        let (_, bottom) = self.frame(doc, n, title);
        let max = self.rss.iter().map(|s| s.1).fold(16.0, f64::max) * 1.1;
        let y = |v: f64| bottom - PANEL * v / max;
        for i in 0..=4 {
            let v = max * i as f64 / 4.0;
            writeln!(
                doc,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{v:.0}</text>",
                LEFT - 6.0,
                y(v) + 4.0
            )
            .expect("string");
        }
        for (colour, pick) in [("#333", 1), ("#aaa", 2)] {
            let points: Vec<String> = self
                .rss
                .iter()
                .map(|s| {
                    let v = if pick == 1 { s.1 } else { s.2 };
                    format!("{:.1},{:.1}", self.x(s.0.as_secs_f64()), y(v))
                })
                .collect();
            writeln!(
                doc,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
                points.join(" ")
            )
            .expect("string");
        }
    }
}
