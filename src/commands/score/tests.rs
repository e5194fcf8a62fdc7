//! Tests of `medgym score`'s line handling.

use std::io::Cursor;

use super::*;

const INPUT: &str = r#"{"id":"mc1","response":"<answer>(B)</answer>","answer":"B","answer_type":"multiple_choice","options":{"A":"Diffuse uptake pattern","B":"Focal uptake pattern"}}
{"id":"yn1","response":"Yes, there is a nodule.","answer":"yes","answer_type":"yes_no"}

{"id":7,"response":"0.5 g","answer":"500 mg","answer_type":"numeric"}
{"id":"cl1","response":"Computed tomography","answer":"CT","answer_type":"closed"}
"#;

fn run_on(
    input: &str,
    choice: ModeChoice,
    on_error: OnError,
) -> Result<(Vec<Value>, ScoreSummary)> {
    let mut out = Vec::new();
    let summary = score_stream(
        Cursor::new(input),
        Path::new("in.jsonl"),
        choice,
        on_error,
        &mut out,
    )?;
    let text = String::from_utf8(out).unwrap_or_else(|err| panic!("{err}"));
    let lines = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect();
    Ok((lines, summary))
}

#[test]
fn strict_mode_lines_and_tallies() -> Result<()> {
    let (lines, summary) = run_on(INPUT, ModeChoice::Strict, OnError::Fail)?;
    assert_eq!(lines.len(), 4);
    let correct: Vec<bool> = lines
        .iter()
        .map(|l| l["correct"] == Value::Bool(true))
        .collect();
    // Strict: (B) is B; "Yes, ... nodule" is yes; 0.5 g = 500 mg; CT = computed tomography.
    assert_eq!(correct, [true, true, true, true]);
    assert_eq!(lines[2]["id"], "7");
    assert_eq!(lines[2]["extracted"], "0.5 g");
    assert_eq!(lines[0]["outcome"], "correct");
    let tally = summary.tallies[&(ScoringMode::Strict, AnswerType::YesNo)];
    assert_eq!((tally.total, tally.correct), (1, 1));
    Ok(())
}

#[test]
fn both_modes_list_disagreements() -> Result<()> {
    let (lines, summary) = run_on(INPUT, ModeChoice::Both, OnError::Fail)?;
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1]["medevalkit"]["correct"], false);
    assert_eq!(lines[1]["strict"]["correct"], true);
    assert_eq!(lines[1]["agree"], false);
    let ids: Vec<&str> = summary
        .disagreements
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    // MedEvalKit: "nodule" contains "no"; "0.5 g" is not "500 mg"; "computed tomography" is
    // not "ct". Its difflib fallback still credits "(B)".
    assert_eq!(ids, ["yn1", "7", "cl1"]);
    let report = summary_text(&summary);
    assert!(report.contains("3 disagreements"), "{report}");
    assert!(report.contains("yn1 [yes_no]"), "{report}");
    Ok(())
}

#[test]
fn bad_lines_name_file_line_and_field() {
    let cases = [
        ("not json", "<line>"),
        (
            r#"{"response":"x","answer":"yes","answer_type":"yes_no"}"#,
            "`id`",
        ),
        (
            r#"{"id":1,"response":"x","answer":"yes","answer_type":"maybe"}"#,
            "`answer_type`",
        ),
        (
            r#"{"id":1,"response":3,"answer":"yes","answer_type":"yes_no"}"#,
            "`response`",
        ),
        (
            r#"{"id":1,"response":"x","answer":"perhaps","answer_type":"yes_no"}"#,
            "`answer`",
        ),
        (
            r#"{"id":1,"response":"x","answer":"Z","answer_type":"multiple_choice","options":{"A":"a"}}"#,
            "`answer`",
        ),
        (
            r#"{"id":1,"response":"x","answer":"A","answer_type":"multiple_choice","options":{"A":2}}"#,
            "`options.A`",
        ),
        (
            r#"{"id":1,"response":"x","answer":"3","answer_type":"open","options":{"A":"a"}}"#,
            "`options`",
        ),
    ];
    for (line, field) in cases {
        let input = format!("{}\n{line}\n", INPUT.lines().next().unwrap_or_default());
        match run_on(&input, ModeChoice::Strict, OnError::Fail) {
            Ok(_) => panic!("accepted {line}"),
            Err(err) => {
                let message = err.to_string();
                assert!(message.starts_with("in.jsonl:2: field "), "{message}");
                assert!(message.contains(field), "{message}");
            }
        }
    }
}

#[test]
fn skip_counts_and_reports_bad_lines() -> Result<()> {
    let input = format!("{INPUT}oops\n{{\"id\":2}}\n");
    let (lines, summary) = run_on(&input, ModeChoice::Medevalkit, OnError::Skip)?;
    assert_eq!(lines.len(), 4);
    assert_eq!(summary.skipped.len(), 2);
    assert!(summary.skipped[0].starts_with("in.jsonl:6:"));
    assert!(summary_text(&summary).contains("skipped 2 bad lines"));
    Ok(())
}

#[test]
fn run_reads_and_writes_files() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|source| MedgymError::Io {
        path: "tempdir".into(),
        source,
    })?;
    let input = dir.path().join("in.jsonl");
    let out = dir.path().join("out.jsonl");
    std::fs::write(&input, INPUT).map_err(|source| MedgymError::Io {
        path: input.display().to_string(),
        source,
    })?;
    run(ScoreArgs {
        input: input.clone(),
        mode: ModeChoice::Both,
        out: Some(out.clone()),
        on_error: OnError::Fail,
    })?;
    let written = std::fs::read_to_string(&out).map_err(|source| MedgymError::Io {
        path: out.display().to_string(),
        source,
    })?;
    assert_eq!(written.lines().count(), 4);
    let missing = run(ScoreArgs {
        input: dir.path().join("absent.jsonl"),
        mode: ModeChoice::Strict,
        out: None,
        on_error: OnError::Fail,
    });
    assert!(matches!(missing, Err(MedgymError::Io { .. })));
    Ok(())
}
