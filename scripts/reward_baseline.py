#!/usr/bin/env python3
"""Python regex verifiers on the corpus of benches/rewards.rs, for a side-by-side comparison.

Run by hand (standard library only), right before or after `cargo bench --bench rewards -- combined`
on the same machine:

    python3 scripts/reward_baseline.py

It rebuilds the bench's deterministic corpus (SplitMix64, the same seed and picks) and times the
usual Python reward functions of R1-style training code, on one thread:
  * format + multiple choice: a full-match regex for `<think>…</think><answer>…</answer>`, the
    answer tag's content by regex, a letter by regex (`B`, `(B)`, `B.`, `B:`, `B)`) or else the
    option text compared case-insensitively;
  * open token recall: the answer tag's content, lower-cased whitespace tokens, set recall.
Prints responses per second (the best of five timed passes over the corpus, 20 rounds each) and
how many were credited, so the Rust bench's counts can be checked against the same corpus.
"""

import re
import time

CORPUS_SIZE = 1024
SEED = 0x5EED_2026
MASK = (1 << 64) - 1
# Discriminants of medgym's AnswerType, which seed each corpus.
MULTIPLE_CHOICE = 1
OPEN = 3

THOUGHTS = [
    "The scan shows a well-defined opacity in the lower zone. ",
    "Wait, let me re-check the margins of the lesion. ",
    "There is no midline shift and the ventricles look normal. ",
    "Comparing both sides, the density differs on one side. ",
    "The cortex appears intact without erosion. ",
    "Considering the options, the pattern fits best. ",
    "On second look the contour is smooth. ",
    "No calcification is seen in this region. ",
]


class SplitMix:
    """SplitMix64, as in benches/rewards.rs."""

    def __init__(self, state):
        self.state = state & MASK

    def next(self):
        self.state = (self.state + 0x9E37_79B9_7F4A_7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB) & MASK
        return z ^ (z >> 31)

    def pick(self, items):
        return items[self.next() % len(items)]


def response(rng, answer):
    think = ""
    while len(think) < 300 - min(len(answer), 250):
        think += rng.pick(THOUGHTS)
    form = rng.next() % 8
    if form <= 3:
        return f"<think>{think}</think>\n<answer>{answer}</answer>"
    if form == 4:
        return f"{think}\n<answer>{answer}</answer>"
    if form == 5:
        return f"<think>{think}</think><answer>{answer}</answer><answer>{answer}</answer>"
    if form == 6:
        return f"<think>{think}</think> So: <answer>{answer}</answer>"
    return f"<think>{think}</think>\n<answer>{answer}"


def corpus(answer_type, forms):
    rng = SplitMix(SEED ^ answer_type)
    answers = [rng.pick(forms) for _ in range(CORPUS_SIZE)]
    return [response(rng, answer) for answer in answers]


FORMAT = re.compile(r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*", re.DOTALL)
ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
LETTER = re.compile(r"^\(?([A-Ja-j])\)?(?:[.:)]|\s|$)")
OPTIONS = {"A": "liver", "B": "bone", "C": "lung", "D": "brain"}


def format_and_multiple_choice(text, correct="B"):
    format_ok = FORMAT.fullmatch(text) is not None
    found = ANSWER.search(text)
    accuracy = False
    if found:
        content = found.group(1).strip()
        letter = LETTER.match(content)
        if letter:
            accuracy = letter.group(1).upper() == correct
        else:
            accuracy = content.lower() == OPTIONS[correct]
    return int(format_ok) + int(accuracy)


def open_token_recall(text, reference="pleural effusion"):
    found = ANSWER.search(text)
    if not found:
        return 0.0
    predicted = set(found.group(1).lower().split())
    expected = set(reference.lower().split())
    return len(predicted & expected) / len(expected)


def rate(function, texts, rounds=20, passes=5):
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        for _ in range(rounds):
            for text in texts:
                function(text)
        best = min(best, time.perf_counter() - start)
    return rounds * len(texts) / best


def main():
    choice = corpus(MULTIPLE_CHOICE, ["B", "(B)", "B. Bone", "C", "The answer is B.", "Lung", "b",
                                      "A or B"])
    open_ended = corpus(OPEN, ["Pleural effusion", "small left pleural effusion", "pneumothorax",
                               "effusion."])
    mean = sum(map(len, choice)) // len(choice)
    print(f"corpus: {len(choice)} responses, mean {mean} bytes")
    credited = sum(format_and_multiple_choice(text) for text in choice)
    print(f"format + multiple choice: {rate(format_and_multiple_choice, choice):,.0f} responses/s "
          f"(format and accuracy points over the corpus: {credited})")
    recall = sum(open_token_recall(text) for text in open_ended)
    print(f"open token recall: {rate(open_token_recall, open_ended):,.0f} responses/s "
          f"(recall summed over the corpus: {recall:.1f})")


if __name__ == "__main__":
    main()
