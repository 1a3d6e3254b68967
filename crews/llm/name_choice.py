"""Choose the tool by its name's own tokens, not by a fragment of it.

Why (measured on the embedded SmolLM2-135M with the round's real prompt): the JSON grammar allows every token
that keeps the answer valid, so inside `{"name":"` the model may start `request_finetune` with the fragment
"re" or `tune_generator` with "t". Those fragments are not how the tokenizer writes the names, and a small
model's probability for a one-letter fragment has little to do with its preference for the tool: scoring
each full name showed request_finetune at 5% of the choice, yet sampled at temperature 0.2 the decoder took
"re" and finetuned in every round. Allowing only the canonical tokenization of the offered names makes the
choice follow the model's preference for the whole name (as multiple-choice scoring by log-likelihood does).
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import LogitsProcessor

NAME_OPEN = '{"name":"'  # how the tool-call grammar opens an answer (constrained.tool_call_schema)


class CanonicalToolNames(LogitsProcessor):
    """While the answer is inside the tool name, only the next token of a name's canonical tokenization."""

    def __init__(self, tokenizer, names: Sequence[str], prompt_len: int):
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.names = {n: tokenizer.encode(n, add_special_tokens=False) for n in names}
        self.interventions = 0

    def allowed(self, partial_ids: list[int]) -> set[int]:
        """Next tokens that continue a name's canonical ids from `partial_ids` (empty: nothing to say)."""
        k = len(partial_ids)
        return {ids[k] for ids in self.names.values() if len(ids) > k and ids[:k] == partial_ids}

    def _name_tokens(self, generated: list[int]) -> list[int] | None:
        """The generated tokens that belong to the name so far, or None when not inside the name."""
        for cut in range(1, min(len(generated), 8) + 1):  # the opening is a few forced tokens
            head = self.tokenizer.decode(generated[:cut])
            if head == NAME_OPEN:
                rest = generated[cut:]
                return None if '"' in self.tokenizer.decode(rest) else rest
            if not NAME_OPEN.startswith(head):
                return None
        return None

    def __call__(self, input_ids, scores):
        partial = self._name_tokens(input_ids[0, self.prompt_len :].tolist())
        if partial is None:
            return scores
        ok = [t for t in self.allowed(partial) if 0 <= t < scores.shape[-1]]
        if not ok:
            return scores
        masked = scores.clone()
        keep = masked[0, ok].clone()
        masked[0, :] = float("-inf")
        masked[0, ok] = keep
        if not bool(masked.isfinite().any()):  # the grammar forbids them all: leave the grammar in charge
            return scores
        self.interventions += 1
        return masked
