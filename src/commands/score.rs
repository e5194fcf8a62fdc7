//! `medgym score`: scores a JSONL file of responses against references in the `medevalkit`
//! mode, the `strict` mode, or both.
//!
//! Input line: `{"id", "response", "answer", "answer_type", "options"}` with `answer_type` one of
//! `yes_no`, `multiple_choice`, `closed`, `open`, `numeric`, `count` and `options` (multiple
//! choice only) mapping letters to option texts. Output line (one mode):
//! `{"id", "correct", "score", "outcome", "extracted"}`; with `--mode both`:
//! `{"id", "answer_type", "medevalkit": {…}, "strict": {…}, "agree"}`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use medgym_rewards::{score_item, AnswerType, ItemScore, Reference, RewardError, ScoringMode};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{MedgymError, Result};

/// Which scoring modes to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeChoice {
    /// MedEvalKit's rules, quirks included.
    Medevalkit,
    /// The corrected rules.
    Strict,
    /// Both, side by side, with the disagreements listed.
    Both,
}

impl ModeChoice {
    /// The modes to run, in output order.
    fn modes(self) -> &'static [ScoringMode] {
        match self {
            Self::Medevalkit => &[ScoringMode::Medevalkit],
            Self::Strict => &[ScoringMode::Strict],
            Self::Both => &ScoringMode::ALL,
        }
    }
}

/// What to do with an unusable input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnError {
    /// Stop at the first bad line.
    Fail,
    /// Skip it, count it and report it at the end.
    Skip,
}

/// Arguments of `medgym score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// JSONL file with one {"id","response","answer","answer_type","options"} object per line.
    #[arg(long)]
    pub input: PathBuf,
    /// Scoring mode.
    #[arg(long, value_enum, default_value = "strict")]
    pub mode: ModeChoice,
    /// Where to write the scored JSONL (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// What to do with a bad input line.
    #[arg(long, value_enum, default_value = "fail")]
    pub on_error: OnError,
}

/// One usable input line.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreItem {
    /// The item's id (numbers are kept as their JSON text).
    pub id: String,
    /// The model's response.
    pub response: String,
    /// The validated reference.
    pub reference: Reference,
}

/// Per-mode counts for one answer type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Items scored.
    pub total: usize,
    /// Items counted correct.
    pub correct: usize,
}

/// A line on which the modes disagree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disagreement {
    /// The item's id.
    pub id: String,
    /// Its answer type.
    pub answer_type: AnswerType,
    /// MedEvalKit's verdict.
    pub medevalkit: ItemScore,
    /// The strict verdict.
    pub strict: ItemScore,
}

/// Everything `medgym score` reports besides the output lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScoreSummary {
    /// Counts by (mode, answer type).
    pub tallies: BTreeMap<(ScoringMode, AnswerType), Tally>,
    /// Lines where the modes disagree on correctness (only with both modes).
    pub disagreements: Vec<Disagreement>,
    /// Skipped bad lines, as error messages naming file, line and field.
    pub skipped: Vec<String>,
}

/// Error for a bad field on a line.
fn bad(path: &Path, line: usize, field: &str, reason: impl Into<String>) -> MedgymError {
    MedgymError::BadInputLine {
        path: path.display().to_string(),
        line,
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A required string field.
fn string_field<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    path: &Path,
    line: usize,
) -> Result<&'a str> {
    match object.get(field) {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(bad(
            path,
            line,
            field,
            format!("expected a string, got {other}"),
        )),
        None => Err(bad(path, line, field, "missing")),
    }
}

/// Parses and validates one input line.
pub fn parse_item(text: &str, path: &Path, line: usize) -> Result<ScoreItem> {
    let value: Value =
        serde_json::from_str(text).map_err(|err| bad(path, line, "<line>", err.to_string()))?;
    let Value::Object(object) = value else {
        return Err(bad(path, line, "<line>", "expected a JSON object"));
    };
    let id = match object.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        Some(other) => {
            return Err(bad(
                path,
                line,
                "id",
                format!("expected a string or number, got {other}"),
            ))
        }
        None => return Err(bad(path, line, "id", "missing")),
    };
    let response = string_field(&object, "response", path, line)?.to_owned();
    let answer = string_field(&object, "answer", path, line)?;
    let type_name = string_field(&object, "answer_type", path, line)?;
    let answer_type = AnswerType::ALL
        .into_iter()
        .find(|kind| kind.as_str() == type_name)
        .ok_or_else(|| {
            let known: Vec<&str> = AnswerType::ALL.iter().map(|kind| kind.as_str()).collect();
            bad(
                path,
                line,
                "answer_type",
                format!("{type_name:?} is not one of {known:?}"),
            )
        })?;
    let options = match object.get("options") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(options)) => {
            let mut texts = BTreeMap::new();
            for (letter, text) in options {
                let Value::String(text) = text else {
                    return Err(bad(
                        path,
                        line,
                        &format!("options.{letter}"),
                        format!("expected a string, got {text}"),
                    ));
                };
                texts.insert(letter.clone(), text.clone());
            }
            texts
        }
        Some(other) => {
            return Err(bad(
                path,
                line,
                "options",
                format!("expected an object, got {other}"),
            ))
        }
    };
    let reference = match answer_type {
        AnswerType::MultipleChoice => Reference::multiple_choice(answer, options),
        _ if !options.is_empty() => {
            return Err(bad(
                path,
                line,
                "options",
                format!("options are only allowed for multiple_choice, not {answer_type}"),
            ))
        }
        _ => Reference::new(answer, answer_type),
    };
    let reference = reference.map_err(|err| match err {
        RewardError::InvalidReference {
            field,
            value,
            reason,
        } => bad(path, line, &field, format!("{value:?}: {reason}")),
        other => MedgymError::Reward(other),
    })?;
    Ok(ScoreItem {
        id,
        response,
        reference,
    })
}

/// The JSON form of one mode's score.
fn score_json(score: &ItemScore) -> Value {
    serde_json::json!({
        "correct": score.correct,
        "score": score.score,
        "outcome": score.outcome,
        "extracted": score.extracted,
    })
}

/// Scores one item in the chosen modes and returns its output line.
fn score_line(item: &ScoreItem, choice: ModeChoice, summary: &mut ScoreSummary) -> Value {
    let answer_type = item.reference.answer_type;
    let scores: Vec<(ScoringMode, ItemScore)> = choice
        .modes()
        .iter()
        .map(|&mode| (mode, score_item(mode, &item.response, &item.reference)))
        .collect();
    for (mode, score) in &scores {
        let tally = summary.tallies.entry((*mode, answer_type)).or_default();
        tally.total += 1;
        tally.correct += usize::from(score.correct);
    }
    match scores.as_slice() {
        [(_, only)] => {
            let mut line = score_json(only);
            if let Value::Object(fields) = &mut line {
                fields.insert("id".to_owned(), Value::String(item.id.clone()));
            }
            line
        }
        [(_, medevalkit), (_, strict)] => {
            let agree = medevalkit.correct == strict.correct;
            if !agree {
                summary.disagreements.push(Disagreement {
                    id: item.id.clone(),
                    answer_type,
                    medevalkit: medevalkit.clone(),
                    strict: strict.clone(),
                });
            }
            serde_json::json!({
                "id": item.id,
                "answer_type": answer_type,
                "medevalkit": score_json(medevalkit),
                "strict": score_json(strict),
                "agree": agree,
            })
        }
        _ => Value::Null,
    }
}

/// Scores every line of `reader` (named `path` in errors) and writes one JSON line per item.
pub fn score_stream(
    reader: impl BufRead,
    path: &Path,
    choice: ModeChoice,
    on_error: OnError,
    out: &mut impl Write,
) -> Result<ScoreSummary> {
    let mut summary = ScoreSummary::default();
    let write_error = |source| MedgymError::Io {
        path: "score output".to_owned(),
        source,
    };
    for (index, text) in reader.lines().enumerate() {
        let line = index + 1;
        let text = text.map_err(|source| MedgymError::Io {
            path: format!("{}:{line}", path.display()),
            source,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let item = match parse_item(&text, path, line) {
            Ok(item) => item,
            Err(err) if on_error == OnError::Skip => {
                summary.skipped.push(err.to_string());
                continue;
            }
            Err(err) => return Err(err),
        };
        let output = score_line(&item, choice, &mut summary);
        writeln!(out, "{output}").map_err(write_error)?;
    }
    out.flush().map_err(write_error)?;
    Ok(summary)
}

/// The stderr report: accuracy by answer type and mode, disagreements, skipped lines.
pub fn summary_text(summary: &ScoreSummary) -> String {
    let mut text = format!(
        "{:<12} {:<16} {:>7} {:>7} {:>9}\n",
        "mode", "answer_type", "items", "correct", "accuracy"
    );
    for mode in ScoringMode::ALL {
        let mut all = Tally::default();
        for ((_, kind), tally) in summary.tallies.iter().filter(|((m, _), _)| *m == mode) {
            all.total += tally.total;
            all.correct += tally.correct;
            text += &format!(
                "{:<12} {:<16} {:>7} {:>7} {:>9.4}\n",
                mode.as_str(),
                kind.as_str(),
                tally.total,
                tally.correct,
                tally.correct as f64 / tally.total.max(1) as f64
            );
        }
        if all.total > 0 {
            text += &format!(
                "{:<12} {:<16} {:>7} {:>7} {:>9.4}\n",
                mode.as_str(),
                "all",
                all.total,
                all.correct,
                all.correct as f64 / all.total as f64
            );
        }
    }
    if summary
        .tallies
        .keys()
        .any(|(m, _)| *m == ScoringMode::Medevalkit)
        && summary
            .tallies
            .keys()
            .any(|(m, _)| *m == ScoringMode::Strict)
    {
        text += &format!("{} disagreements\n", summary.disagreements.len());
        for d in &summary.disagreements {
            let verdict = |s: &ItemScore| {
                format!(
                    "{} (extracted {:?})",
                    s.outcome,
                    s.extracted.as_deref().unwrap_or("")
                )
            };
            text += &format!(
                "  {} [{}]: medevalkit {} / strict {}\n",
                d.id,
                d.answer_type,
                verdict(&d.medevalkit),
                verdict(&d.strict)
            );
        }
    }
    if !summary.skipped.is_empty() {
        text += &format!("skipped {} bad lines\n", summary.skipped.len());
        for message in &summary.skipped {
            text += &format!("  {message}\n");
        }
    }
    text
}

/// Runs `medgym score`.
pub fn run(args: ScoreArgs) -> Result<()> {
    let file = File::open(&args.input).map_err(|source| MedgymError::Io {
        path: args.input.display().to_string(),
        source,
    })?;
    let reader = BufReader::new(file);
    let summary = match &args.out {
        Some(out_path) => {
            let file = File::create(out_path).map_err(|source| MedgymError::Io {
                path: out_path.display().to_string(),
                source,
            })?;
            let mut writer = BufWriter::new(file);
            score_stream(reader, &args.input, args.mode, args.on_error, &mut writer)?
        }
        None => {
            let stdout = std::io::stdout();
            let mut writer = BufWriter::new(stdout.lock());
            score_stream(reader, &args.input, args.mode, args.on_error, &mut writer)?
        }
    };
    eprint!("{}", summary_text(&summary));
    Ok(())
}

#[cfg(test)]
mod tests;
