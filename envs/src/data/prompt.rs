//! Prompt templates: MedEvalKit's direct-answer and boxed-answer formats, or the bare question.

use medgym_rewards::{AnswerType, Reference};

/// How a question becomes the prompt text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PromptStyle {
    /// MedEvalKit's direct-answer templates (its default, reasoning off).
    #[default]
    MedEvalKit,
    /// MedEvalKit's reasoning templates: answer inside one `\boxed{}`.
    MedEvalKitBoxed,
    /// The question (plus lettered options for multiple choice) with no instruction.
    Plain,
}

impl std::str::FromStr for PromptStyle {
    type Err = crate::error::EnvError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "medevalkit" => Ok(Self::MedEvalKit),
            "medevalkit-boxed" => Ok(Self::MedEvalKitBoxed),
            "plain" => Ok(Self::Plain),
            other => Err(crate::error::EnvError::DataConfig(format!(
                "prompt style must be medevalkit, medevalkit-boxed or plain, got `{other}`"
            ))),
        }
    }
}

/// Language of the instruction appended to the question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptLanguage {
    /// English instructions.
    English,
    /// Chinese instructions (SLAKE rows with `q_lang` "zh").
    Chinese,
}

/// The options as "A. text" lines.
fn option_lines(reference: &Reference) -> String {
    reference
        .options()
        .iter()
        .map(|(letter, text)| format!("{letter}. {text}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The instruction for an answer type, style and language (`None` for [`PromptStyle::Plain`]).
fn instruction(
    answer_type: AnswerType,
    style: PromptStyle,
    language: PromptLanguage,
) -> Option<&'static str> {
    use AnswerType as T;
    use PromptLanguage as L;
    use PromptStyle as S;
    Some(match (style, language, answer_type) {
        (S::Plain, _, _) => return None,
        (S::MedEvalKit, L::English, T::MultipleChoice) => {
            "Answer with the option's letter from the given choices directly."
        }
        (S::MedEvalKitBoxed, L::English, T::MultipleChoice) => {
            "Answer with the option's letter from the given choices and put the letter in one \"\\boxed{}\"."
        }
        (S::MedEvalKit, L::English, T::YesNo) => "Please output 'yes' or 'no'(no extra output).",
        (S::MedEvalKitBoxed, L::English, T::YesNo) => {
            "Please output \"yes\" or \"no\" and put the answer in one \"\\boxed{}\"."
        }
        (S::MedEvalKit, L::English, T::Closed) => "Answer the question using a single word or phrase.",
        (S::MedEvalKitBoxed, L::English, T::Closed) => {
            "Answer the question using a single word or phrase and put the answer in one \"\\boxed{}\"."
        }
        (S::MedEvalKit, L::English, _) => "Please answer the question concisely.",
        (S::MedEvalKitBoxed, L::English, _) => {
            "Please answer the question concisely and put the answer in one \"\\boxed{}\"."
        }
        (S::MedEvalKit, L::Chinese, T::MultipleChoice) => "请直接回答选项字母。",
        (S::MedEvalKitBoxed, L::Chinese, T::MultipleChoice) => "请将选项字母写在一个\"\\boxed{}\"中。",
        (S::MedEvalKit, L::Chinese, T::YesNo) => "请回答'是'或'否'(不要输出其他内容)。",
        (S::MedEvalKitBoxed, L::Chinese, T::YesNo) => "请回答\"是\"或\"否\"并将答案写在一个\"\\boxed{}\"中。",
        (S::MedEvalKit, L::Chinese, T::Closed) => "请用一个词或短语回答问题。",
        (S::MedEvalKitBoxed, L::Chinese, T::Closed) => "请用一个词或短语回答问题,并将答案写在一个\"\\boxed{}\"中。",
        (S::MedEvalKit, L::Chinese, _) => "请简洁地回答问题。",
        (S::MedEvalKitBoxed, L::Chinese, _) => "请简洁地回答问题,并将答案写在一个\"\\boxed{}\"中。",
    })
}

/// The prompt for a question: multiple choice as "Question: …\nOptions: \n A. …" then the
/// instruction; other types the question then the instruction, on a new line.
pub fn render_prompt(
    question: &str,
    reference: &Reference,
    style: PromptStyle,
    language: PromptLanguage,
) -> String {
    let question = question.trim();
    let body = if reference.answer_type == AnswerType::MultipleChoice {
        format!(
            "Question: {question}\nOptions: \n{}",
            option_lines(reference)
        )
    } else {
        question.to_string()
    };
    match instruction(reference.answer_type, style, language) {
        Some(text) => format!("{body}\n{text}"),
        None => body,
    }
}
