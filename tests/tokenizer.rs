//! The committed tokenizer is exactly what `medgym tokenizer build` produces, and it encodes every
//! built-in text compactly and losslessly.

use medgym::envs::{medsynth_v1_task_ids, task, Split};
use medgym::tokenizer_asset::{build_tokenizer, builtin_tokenizer};

fn tasks() -> Vec<std::sync::Arc<dyn medgym::envs::TaskFamily>> {
    medsynth_v1_task_ids()
        .iter()
        .map(|id| task(id).unwrap())
        .collect()
}

#[test]
fn committed_tokenizer_matches_a_fresh_build() {
    let fresh = build_tokenizer(&tasks()).unwrap();
    let committed = builtin_tokenizer().unwrap();
    assert_eq!(fresh.to_json().unwrap(), committed.to_json().unwrap());
}

#[test]
fn builtin_texts_round_trip_and_stay_short() {
    let tok = builtin_tokenizer().unwrap();
    for t in tasks() {
        for index in 0..50 {
            // Eval items are not in the tokenizer corpus.
            let item = t.item(Split::Eval, 99, index).unwrap();
            let ids = tok.encode(&item.reference_response).unwrap();
            assert_eq!(tok.decode(&ids, false).unwrap(), item.reference_response);
            assert!(
                ids.len() <= 40,
                "{} tokens for {:?}",
                ids.len(),
                item.reference_response
            );
            let think = tok.token_id("<think>").unwrap();
            assert_eq!(ids[0], think, "format tags are single tokens");
        }
    }
}
