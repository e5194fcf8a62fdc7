//! The checkpoint tokenizer and chat template against transformers' output.

mod hf_common;

use hf_common::{fixture, ids};
use medgym_policy::hf::HfTokenizer;

fn cases() -> serde_json::Value {
    let text =
        std::fs::read_to_string(fixture("tokenizer").join("token_cases.json")).expect("cases");
    serde_json::from_str(&text).expect("cases parse")
}

#[test]
fn thousand_strings_encode_like_transformers() {
    let tok = HfTokenizer::from_dir(&fixture("tokenizer")).expect("tokenizer");
    let cases = cases();
    let cases = cases["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 1000);
    let mut cjk = 0;
    let mut special = 0;
    for (i, case) in cases.iter().enumerate() {
        let text = case["text"].as_str().expect("text");
        cjk += usize::from(text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)));
        special += usize::from(text.contains("<|im_start|>") || text.contains("<|image_pad|>"));
        let expected = ids(&case["ids"]);
        assert_eq!(
            tok.encode(text).expect("encode"),
            expected,
            "case {i}: {text:?}"
        );
    }
    assert!(
        cjk > 100 && special > 50,
        "cases cover CJK ({cjk}) and special tokens ({special})"
    );
}

#[test]
fn chat_template_renders_like_transformers() {
    let tok = HfTokenizer::from_dir(&fixture("tokenizer")).expect("tokenizer");
    assert!(tok.has_chat_template());
    let cases = cases();
    for (i, chat) in cases["chats"].as_array().expect("chats").iter().enumerate() {
        let text = tok.render_chat(&chat["messages"], true).expect("render");
        assert_eq!(text, chat["text"].as_str().expect("text"), "chat {i}");
        assert_eq!(
            tok.encode(&text).expect("encode"),
            ids(&chat["ids"]),
            "chat {i} ids"
        );
    }
    // Model folders keep the template in chat_template.jinja (transformers 5 layout).
    let from_model_dir = HfTokenizer::from_dir(&fixture("qwen2_tied")).expect("tokenizer");
    let first = &cases["chats"][0];
    assert_eq!(
        from_model_dir
            .render_chat(&first["messages"], true)
            .expect("render"),
        first["text"].as_str().expect("text")
    );
}
