//! `medledger-risk`: generates synthetic hospital access logs and evaluates the kNN access-risk
//! score against labelled logs (docs/risk.md says what each figure means).
//!
//! ```text
//! medledger-risk generate --seed 1 --out train.jsonl
//! medledger-risk evaluate [--train FILE] [--test FILE] [--k 1,5,10,20] [--plots DIR]
//! ```

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use medledger_risk::access::{read_log, write_log, Access, Label};
use medledger_risk::eval::{self, Evaluation, Scorer};
use medledger_risk::plot::{unit_plot, Curve};
use medledger_risk::synth::{generate, HospitalParams};

#[derive(Parser)]
#[command(
    name = "medledger-risk",
    about = "Access risk: synthetic logs and the kNN score's evaluation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a synthetic hospital's labelled access log as JSON Lines.
    Generate {
        /// The random seed (the same seed and sizes give the same log).
        #[arg(long)]
        seed: u64,
        #[command(flatten)]
        hospital: HospitalArgs,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fits the model to a reference log and measures it and two baselines on a labelled test
    /// log; prints the figures as Markdown.
    Evaluate {
        /// The reference log (JSON Lines; accesses labelled anomalous are left out). Default:
        /// the synthetic hospital with --train-seed.
        #[arg(long)]
        train: Option<PathBuf>,
        /// The seed of the default reference log.
        #[arg(long, default_value_t = 1)]
        train_seed: u64,
        /// The labelled test log (JSON Lines). Default: a larger synthetic hospital, of other
        /// sizes, with --test-seed.
        #[arg(long)]
        test: Option<PathBuf>,
        /// The seed of the default test log (docs/risk.md, "What tuning saw": 2 and 4 were
        /// earlier test runs, 3 the validation log the features were revised on).
        #[arg(long, default_value_t = 5)]
        test_seed: u64,
        /// The neighbour counts to evaluate.
        #[arg(long, value_delimiter = ',', default_value = "1,5,10,20")]
        k: Vec<usize>,
        /// Days at the start of each log that only build history (not scored, not reference).
        #[arg(long, default_value_t = HospitalParams::default().warm_up_days)]
        warm_up_days: u32,
        /// Local time's offset from UTC, in hours, for both logs.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        utc_offset_hours: i64,
        /// Where to write roc.svg and pr.svg.
        #[arg(long)]
        plots: Option<PathBuf>,
    },
}

#[derive(Args)]
struct HospitalArgs {
    /// Practitioners.
    #[arg(long, default_value_t = HospitalParams::default().practitioners)]
    practitioners: usize,
    /// Insurers.
    #[arg(long, default_value_t = HospitalParams::default().insurers)]
    insurers: usize,
    /// Patients.
    #[arg(long, default_value_t = HospitalParams::default().patients)]
    patients: usize,
    /// Days.
    #[arg(long, default_value_t = HospitalParams::default().days)]
    days: u32,
    /// Episodes of each anomaly kind.
    #[arg(long, default_value_t = HospitalParams::default().episodes_per_kind)]
    episodes: usize,
    /// Days of normal work before the first anomaly.
    #[arg(long, default_value_t = HospitalParams::default().warm_up_days)]
    warm_up_days: u32,
}

impl HospitalArgs {
    fn params(&self) -> Result<HospitalParams> {
        if self.practitioners < 2 || self.patients < 10 || self.days <= self.warm_up_days {
            bail!("a hospital needs at least 2 practitioners, 10 patients, and more days than its warm-up");
        }
        Ok(HospitalParams {
            practitioners: self.practitioners,
            insurers: self.insurers,
            patients: self.patients,
            days: self.days,
            episodes_per_kind: self.episodes,
            warm_up_days: self.warm_up_days,
            ..HospitalParams::default()
        })
    }
}

/// The default test hospital: sizes, a start date and a seed that the model's choices (k, the
/// features, the z cap) were never tuned on.
fn held_out() -> HospitalParams {
    HospitalParams {
        practitioners: 84,
        insurers: 4,
        patients: 3_000,
        days: 14,
        // Monday 2026-03-02.
        start: 1_772_409_600,
        episodes_per_kind: 10,
        warm_up_days: 5,
    }
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate {
            seed,
            hospital,
            out,
        } => {
            let log = generate(seed, hospital.params()?);
            let file = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            write_log(BufWriter::new(file), &log)
                .with_context(|| format!("writing {}", out.display()))?;
            let anomalous = log
                .iter()
                .filter(|a| a.label.is_some_and(Label::is_anomaly))
                .count();
            println!(
                "wrote {} accesses ({anomalous} anomalous) to {}",
                log.len(),
                out.display()
            );
            Ok(())
        }
        Command::Evaluate {
            train,
            train_seed,
            test,
            test_seed,
            k,
            warm_up_days,
            utc_offset_hours,
            plots,
        } => {
            if k.is_empty() || k.contains(&0) {
                bail!("--k takes neighbour counts of at least 1, such as 1,5,10,20");
            }
            let (train_log, train_what) = match &train {
                Some(path) => (load(path)?, path.display().to_string()),
                None => (
                    generate(train_seed, HospitalParams::default()),
                    describe(train_seed, HospitalParams::default()),
                ),
            };
            let (test_log, test_what) = match &test {
                Some(path) => (load(path)?, path.display().to_string()),
                None => (
                    generate(test_seed, held_out()),
                    describe(test_seed, held_out()),
                ),
            };
            let offset = utc_offset_hours * 3_600;
            let reference = {
                let observed = eval::observe_all(&train_log, offset);
                let (log, observed) = eval::after_warm_up(&train_log, &observed, warm_up_days);
                eval::reference_of(&log, &observed)
            };
            let (test_log, test_observed) = {
                let observed = eval::observe_all(&test_log, offset);
                eval::after_warm_up(&test_log, &observed, warm_up_days)
            };
            let evaluation =
                eval::evaluate(&reference, &test_log, &test_observed, &k).context("evaluating")?;
            print_report(&evaluation, &train_what, &test_what);
            if let Some(dir) = plots {
                write_plots(&dir, &evaluation, &test_log)?;
            }
            Ok(())
        }
    }
}

fn load(path: &Path) -> Result<Vec<Access>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    read_log(BufReader::new(file)).with_context(|| format!("reading {}", path.display()))
}

fn describe(seed: u64, p: HospitalParams) -> String {
    format!(
        "synthetic, seed {seed}: {} practitioners, {} insurers, {} patients, {} days, {} episodes of each anomaly",
        p.practitioners, p.insurers, p.patients, p.days, p.episodes_per_kind
    )
}

fn print_report(e: &Evaluation, train: &str, test: &str) {
    println!("reference: {} accesses ({train})", e.reference);
    let kinds: Vec<String> = e
        .kinds
        .iter()
        .map(|(kind, n)| format!("{n} {}", kind.name()))
        .collect();
    println!(
        "test: {} accesses, {} anomalous: {} ({test})\n",
        e.test.0,
        e.test.1,
        kinds.join(", ")
    );
    println!(
        "| scorer | ROC-AUC | PR-AUC | threshold | false positives | precision | recall | F1 |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &e.results {
        let m = &r.overall;
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r.scorer.name(),
            m.roc_auc,
            m.pr_auc,
            m.threshold,
            m.false_positive_rate,
            m.precision,
            m.recall,
            m.f1
        );
    }
    let Some(first) = e.results.first() else {
        return;
    };
    let kinds: Vec<Label> = first.per_kind.iter().map(|k| k.0).collect();
    println!("\nPer anomaly kind, against the normal accesses: ROC-AUC / PR-AUC / recall at the threshold above\n");
    let header: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    println!("| scorer | {} |", header.join(" | "));
    println!("| --- |{}", " ---: |".repeat(kinds.len()));
    for r in &e.results {
        let cells: Vec<String> = r
            .per_kind
            .iter()
            .map(|(_, m, recall)| format!("{:.3} / {:.3} / {recall:.2}", m.roc_auc, m.pr_auc))
            .collect();
        println!("| {} | {} |", r.scorer.name(), cells.join(" | "));
    }
}

/// A scorer's legend, ROC curve and precision–recall curve.
type NamedCurves = (String, Vec<(f64, f64)>, Vec<(f64, f64)>);

fn write_plots(dir: &Path, e: &Evaluation, test: &[Access]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let positive: Vec<bool> = test
        .iter()
        .map(|a| a.label.is_some_and(Label::is_anomaly))
        .collect();
    let curves: Vec<NamedCurves> = e
        .results
        .iter()
        .map(|r| {
            let name = match r.scorer {
                Scorer::Knn(_) => format!("{} (PR-AUC {:.2})", r.scorer.name(), r.overall.pr_auc),
                _ => format!("{} ({:.2})", r.scorer.name(), r.overall.pr_auc),
            };
            (
                name,
                eval::roc_curve(&r.scores, &positive),
                eval::pr_curve(&r.scores, &positive),
            )
        })
        .collect();
    let pick = |which: fn(&NamedCurves) -> &[(f64, f64)]| -> Vec<Curve> {
        curves
            .iter()
            .map(|c| Curve {
                name: c.0.clone(),
                points: which(c),
            })
            .collect()
    };
    let (roc, pr) = (pick(|c| &c.1), pick(|c| &c.2));
    let files = [
        (
            "roc.svg",
            unit_plot(
                "ROC: every anomaly against normal accesses",
                "false-positive rate",
                "true-positive rate",
                &roc,
                true,
            ),
        ),
        (
            "pr.svg",
            unit_plot(
                "Precision–recall: every anomaly",
                "recall",
                "precision",
                &pr,
                false,
            ),
        ),
    ];
    for (name, svg) in files {
        let path = dir.join(name);
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("\nwrote {}/roc.svg and pr.svg", dir.display());
    Ok(())
}
