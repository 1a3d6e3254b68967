"""Break degenerate repetition loops of the small embedded model.

Why: a 135M model decoding greedily sometimes falls into a loop ("1234567890" over and over inside a JSON
string, or the same nested object again and again) and stays there until max_tokens, so a constrained answer
is cut off and rejected. A global repetition penalty would reshape every answer; this guard only forbids a
token that would make the answer repeat a run of `NGRAM` tokens it has already produced (a no-repeat-n-gram
rule over the *generated* tokens only, so copying from the prompt, such as a trend id, stays free). Runs
that long repeat only in a loop; and the guard never removes the last token the grammar still allows.

`DigitCap` ends the other loop a no-repeat rule cannot: a number whose fractional part runs on
("transition_seconds": 1.111111111111 ...), where each new digit repeats a 1-token period the n-gram rule
catches only after two full periods and which then drifts ("1.1111111112222222...") until max_tokens cut the
answer. After MAX_FRACTION_DIGITS digits behind a number's point, digit tokens are forbidden, so the grammar
closes the number; every tool argument of the arena needs two decimals at most.
"""

from __future__ import annotations

import re

from transformers import LogitsProcessor

NGRAM = 12  # tokens; the digit loop has a period of 10 tokens with this tokenizer
MAX_FRACTION_DIGITS = 4
TAIL_TOKENS = 16  # how much of the answer's end DigitCap reads (a number's digits are one token each here)
_NUMBER_END = re.compile(r"(?<![\w.])-?\d+\.(\d+)$")


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


def digit_token_ids(tokenizer) -> list[int]:
    """Ids of the tokens that begin with a digit (what would extend a number)."""
    return sorted(i for t, i in tokenizer.get_vocab().items() if t[:1].isdigit())


class DigitCap(LogitsProcessor):
    """Forbid digit tokens once the answer ends in a number with MAX_FRACTION_DIGITS fractional digits."""

    def __init__(self, tokenizer, prompt_len: int, digit_ids: list[int], max_fraction: int = MAX_FRACTION_DIGITS):
        self.tokenizer, self.prompt_len = tokenizer, prompt_len
        self.digit_ids, self.max_fraction = digit_ids, max_fraction
        self.interventions = 0

    def __call__(self, input_ids, scores):
        tail = input_ids[0, max(self.prompt_len, input_ids.shape[-1] - TAIL_TOKENS) :].tolist()
        end = _NUMBER_END.search(self.tokenizer.decode(tail)) if tail else None
        if end is None or len(end.group(1)) < self.max_fraction or not self.digit_ids:
            return scores
        blocked = scores.clone()
        blocked[0, self.digit_ids] = float("-inf")
        if bool(blocked.isfinite().any()):  # never block the only allowed token
            self.interventions += 1
            return blocked
        return scores
