//! The `medledger-risk` command as a user runs it: generate logs, evaluate on them, and bad
//! input refused with a message that names the problem.

use std::path::Path;
use std::process::{Command, Output};

fn risk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medledger-risk"))
        .args(args)
        .output()
        .expect("run medledger-risk")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn generate(dir: &Path, name: &str, seed: &str) -> String {
    let path = dir.join(name).display().to_string();
    let small = [
        "--practitioners",
        "24",
        "--patients",
        "600",
        "--days",
        "10",
        "--episodes",
        "4",
    ];
    let mut args = vec!["generate", "--seed", seed, "--out", &path];
    args.extend(small);
    let out = risk(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("anomalous"), "{}", stdout(&out));
    path
}

#[test]
fn generated_logs_evaluate_with_every_scorer_and_draw_both_curves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let train = generate(dir.path(), "train.jsonl", "11");
    let test = generate(dir.path(), "test.jsonl", "12");
    let again = generate(dir.path(), "again.jsonl", "12");
    assert_eq!(
        std::fs::read(&test).expect("test"),
        std::fs::read(&again).expect("again"),
        "the same seed writes the same log"
    );
    let plots = dir.path().join("plots");
    let plots_arg = plots.display().to_string();
    let out = risk(&[
        "evaluate", "--train", &train, "--test", &test, "--k", "3,7", "--plots", &plots_arg,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    for row in [
        "| kNN, k = 3 |",
        "| kNN, k = 7 |",
        "| rule:",
        "| per-reader rate z-score |",
    ] {
        assert_eq!(
            report.matches(row).count(),
            2,
            "{row} in both tables:\n{report}"
        );
    }
    assert!(report.contains("bulk-export"), "{report}");
    for svg in ["roc.svg", "pr.svg"] {
        let text = std::fs::read_to_string(plots.join(svg)).expect(svg);
        assert_eq!(text.matches("<polyline").count(), 4, "{svg}");
    }
}

#[test]
fn bad_input_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.jsonl").display().to_string();
    let out = risk(&["evaluate", "--test", &missing]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("opening") && stderr(&out).contains("missing.jsonl"),
        "{}",
        stderr(&out)
    );

    let garbage = dir.path().join("garbage.jsonl");
    std::fs::write(&garbage, "{\"at\": 1}\n").expect("write");
    let out = risk(&["evaluate", "--test", &garbage.display().to_string()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("line 1: not an access"),
        "{}",
        stderr(&out)
    );

    // A log without labels cannot be evaluated against them.
    let train = generate(dir.path(), "train.jsonl", "5");
    let text = std::fs::read_to_string(&train).expect("read");
    let unlabelled: String = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
            v.as_object_mut().expect("object").remove("label");
            format!("{v}\n")
        })
        .collect();
    let path = dir.path().join("unlabelled.jsonl");
    std::fs::write(&path, unlabelled).expect("write");
    let out = risk(&[
        "evaluate",
        "--train",
        &train,
        "--test",
        &path.display().to_string(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("has no label"), "{}", stderr(&out));

    let out = risk(&["evaluate", "--k", "0"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--k takes"), "{}", stderr(&out));

    let out = risk(&["generate", "--seed", "1", "--days", "3", "--out", &missing]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("more days than its warm-up"),
        "{}",
        stderr(&out)
    );
}
