//! MedEvalKit's rule-based scoring (`utils/utils.py`), reproduced exactly, quirks included:
//! substring yes/no checks ("nodule" contains "no"), the string "None" for an unclosed box,
//! no punctuation stripping for open answers, and a multiple-choice fallback that always
//! guesses the option most similar (difflib ratio) to the response.

mod difflib;

use std::collections::BTreeMap;

/// Python's `str.isspace` (Rust's `char::is_whitespace` plus the separators U+001C..U+001F).
fn py_is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
fn py_strip(text: &str) -> &str {
    text.trim_matches(py_is_space)
}

/// Python's `text.split(sep)[-1]`: the text after the last `sep`.
fn after_last<'a>(text: &'a str, sep: &str) -> &'a str {
    text.rfind(sep).map_or(text, |at| &text[at + sep.len()..])
}

/// Python's `text.split(sep)[0]`: the text before the first `sep`.
fn before_first<'a>(text: &'a str, sep: &str) -> &'a str {
    text.find(sep).map_or(text, |at| &text[..at])
}

/// mathruler's `extract_boxed_content`: content of the last `\boxed{` up to its matching brace,
/// stripped, or the string `"None"` when there is no box or it never closes.
pub fn extract_boxed_content(text: &str) -> String {
    const MARKER: &str = "\\boxed{";
    let Some(start) = text.rfind(MARKER) else {
        return "None".to_owned();
    };
    let content = &text[start + MARKER.len()..];
    let mut depth = 0i64;
    for (at, c) in content.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if depth == -1 {
            return py_strip(&content[..at]).to_owned();
        }
    }
    "None".to_owned()
}

/// MedEvalKit's `extract(text, "answer")`: the contents of every complete `<answer>…</answer>`
/// pair joined by spaces and stripped; the whole text when there is none (tags case-sensitive).
pub fn extract_answer_tags(text: &str) -> String {
    const OPEN: &str = "<answer>";
    const CLOSE: &str = "</answer>";
    let mut joined = String::new();
    let mut start = text.find(OPEN);
    while let Some(open_at) = start {
        let content_from = open_at + OPEN.len();
        let Some(close_offset) = text[content_from..].find(CLOSE) else {
            break;
        };
        let close_at = content_from + close_offset;
        joined.push_str(&text[content_from..close_at]);
        joined.push(' ');
        let next_from = close_at + CLOSE.len();
        start = text[next_from..].find(OPEN).map(|i| next_from + i);
    }
    let stripped = py_strip(&joined);
    if stripped.is_empty() {
        text.to_owned()
    } else {
        stripped.to_owned()
    }
}

/// Announcements after which MedEvalKit keeps only the text after their last occurrence,
/// applied in this order.
const ANSWER_PATTERNS: [&str; 9] = [
    "**answer**:",
    "**answer**",
    "*answer*:",
    "**answer:**",
    "answer is",
    "answer:",
    "\u{7b54}\u{6848}:",
    "final answer",
    "final answer is",
];

/// MedEvalKit's `parse_response`: lower-case; the last box if the text contains "boxed", else
/// the answer tags' content if it contains `<answer>`; then the text after each announcement.
pub fn parse_response(response: &str) -> String {
    let lowered = response.to_lowercase();
    let mut text = if lowered.contains("boxed") {
        extract_boxed_content(&lowered)
    } else if lowered.contains("<answer>") {
        extract_answer_tags(&lowered)
    } else {
        lowered
    };
    for pattern in ANSWER_PATTERNS {
        if text.contains(pattern) {
            text = after_last(&text, pattern).to_owned();
        }
    }
    text
}

/// Parsed response with newlines and full stops removed, as the closed-question judges use it.
fn parsed_without_dots(response: &str) -> String {
    parse_response(response).replace(['\n', '.'], "")
}

/// MedEvalKit's `judge_judgement` (yes/no): exactly one of the substrings "yes"/"no" occurs
/// and the lower-cased reference is a substring of the parsed response.
pub fn judge_judgement(answer: &str, response: &str) -> bool {
    let answer = answer.to_lowercase();
    let parsed = parsed_without_dots(response);
    (parsed.contains("yes") ^ parsed.contains("no")) && parsed.contains(&answer)
}

/// MedEvalKit's `judge_close_end_vqa`: the parsed response without newlines and full stops
/// equals the lower-cased reference.
pub fn judge_close_end_vqa(answer: &str, response: &str) -> bool {
    parsed_without_dots(response) == answer.to_lowercase()
}

/// MedEvalKit's open-question exact match (`em` of `judge_open_end_vqa`): the parsed response
/// equals the lower-cased reference, with no stripping at all.
pub fn judge_open_end_vqa_em(answer: &str, response: &str) -> bool {
    parse_response(response) == answer.to_lowercase()
}

/// What `judge_multi_choice` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceJudgement {
    /// Whether MedEvalKit counts it correct.
    pub correct: bool,
    /// The option letter MedEvalKit read or guessed (upper-case), if any.
    pub letter: Option<char>,
    /// True when the letter came from the difflib "most similar option" fallback.
    pub guessed: bool,
}

/// Letter number `index` (0 → 'a').
fn alpha(index: usize) -> Option<char> {
    u8::try_from(index)
        .ok()
        .filter(|i| *i < 26)
        .map(|i| char::from(b'a' + i))
}

/// MedEvalKit's `judge_multi_choice(choices, answer, response)`; `choices` are the option texts
/// in letter order and `answer` is the reference letter (or option text).
pub fn judge_multi_choice(choices: &[String], answer: &str, response: &str) -> ChoiceJudgement {
    let alphas: Vec<String> = (0..choices.len())
        .filter_map(alpha)
        .map(String::from)
        .collect();
    let lowered = response.to_lowercase();
    let first_paragraph = before_first(&lowered, "\n\n");
    let last_paragraph_head = before_first(after_last(&lowered, "\n\n"), ".");
    let response = if alphas.iter().any(|a| a == first_paragraph) {
        first_paragraph
    } else if alphas.iter().any(|a| a == last_paragraph_head) {
        last_paragraph_head
    } else {
        &lowered
    };
    let parsed = parse_response(response);
    let choices: Vec<String> = choices.iter().map(|c| c.to_lowercase()).collect();
    let response = py_strip(&parsed).to_lowercase().replace('\n', "");
    let split_response = after_last(before_first(&response, "."), ":");
    let answer = py_strip(answer).to_lowercase();
    let letter_of = |index: usize| alpha(index).map(|c| c.to_ascii_uppercase());
    let alpha_index = alphas.iter().position(|a| a == split_response);
    let choice_index = choices.iter().position(|c| c == split_response);
    let answer_index = alphas.iter().position(|a| *a == answer);
    if split_response == answer {
        let letter = alpha_index.or(choice_index).and_then(letter_of);
        return ChoiceJudgement {
            correct: true,
            letter,
            guessed: false,
        };
    }
    if let Some(index) = alpha_index {
        return ChoiceJudgement {
            correct: choices[index] == answer,
            letter: letter_of(index),
            guessed: false,
        };
    }
    if let Some(index) = choice_index {
        return ChoiceJudgement {
            correct: answer_index.is_some_and(|a| choices[a] == split_response),
            letter: letter_of(index),
            guessed: false,
        };
    }
    let mut best_index = 0;
    let mut best_ratio = 0.0;
    for (index, choice) in choices.iter().enumerate() {
        let similarity = difflib::ratio(choice, &response);
        if similarity > best_ratio {
            best_index = index;
            best_ratio = similarity;
        }
    }
    let correct = alphas.get(best_index).is_some_and(|a| *a == answer)
        || choices.get(best_index).is_some_and(|c| *c == answer);
    ChoiceJudgement {
        correct,
        letter: letter_of(best_index),
        guessed: true,
    }
}

/// MedEvalKit's `choices` list for a reference's options, in letter order, rendered
/// `"A. text"` as its OmniMedVQA and MedXpertQA loaders do; a text that already starts with its
/// letter and `.` or `:` (PMC-VQA's `"A:text"`) is kept as it is.
pub fn lettered_choices(options: &BTreeMap<String, String>) -> Vec<String> {
    options
        .iter()
        .map(|(letter, text)| {
            let prefixed = text
                .strip_prefix(letter.as_str())
                .is_some_and(|rest| rest.starts_with(['.', ':']));
            if prefixed {
                text.clone()
            } else {
                format!("{letter}. {text}")
            }
        })
        .collect()
}
