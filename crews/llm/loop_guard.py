"""Break degenerate repetition loops of the small embedded model.

Why: a 135M model decoding greedily sometimes falls into a loop ("1234567890" over and over inside a JSON
string, or the same nested object again and again) and stays there until max_tokens, so a constrained answer
is cut off and rejected. A global repetition penalty would reshape every answer; this guard only forbids a
token that would make the answer repeat a run of `NGRAM` tokens it has already produced (a no-repeat-n-gram
rule over the *generated* tokens only, so copying from the prompt, such as a trend id, stays free). Runs
that long repeat only in a loop; and the guard never removes the last token the grammar still allows.
"""

from __future__ import annotations

from transformers import LogitsProcessor

NGRAM = 12  # tokens; the digit loop has a period of 10 tokens with this tokenizer


def repeating_tokens(tokens: list[int], n: int = NGRAM) -> set[int]:
    """Tokens that, appended to `tokens`, would repeat an n-gram already in `tokens`."""
    if n < 1 or len(tokens) < n:
        return set()
    head = tuple(tokens[len(tokens) - n + 1 :]) if n > 1 else ()
    return {tokens[i + n - 1] for i in range(len(tokens) - n + 1) if tuple(tokens[i : i + n - 1]) == head}


class LoopGuard(LogitsProcessor):
    """transformers-style processor over the generated part of the sequence (after `prompt_len`)."""

    def __init__(self, prompt_len: int, n: int = NGRAM):
        self.prompt_len, self.n = prompt_len, n
        self.interventions = 0

    def __call__(self, input_ids, scores):
        banned = [
            t for t in repeating_tokens(input_ids[0, self.prompt_len :].tolist(), self.n) if 0 <= t < scores.shape[-1]
        ]
        if banned:
            blocked = scores.clone()
            blocked[0, banned] = float("-inf")
            if bool(blocked.isfinite().any()):  # never block the only allowed token
                self.interventions += 1
                return blocked
        return scores
