"""The tool is chosen by its name's own tokens: inside `{"name":"` only canonical name tokens stay allowed."""

from __future__ import annotations

import pytest
import torch

from crews.llm.embedded_model import get_model
from crews.llm.name_choice import NAME_OPEN, CanonicalToolNames

NAMES = ["tune_generator", "choose_prompt", "request_finetune"]


@pytest.fixture(scope="module")
def tok():
    return get_model().tokenizer


def test_only_canonical_name_tokens_inside_the_name(tok):
    proc = CanonicalToolNames(tok, NAMES, prompt_len=2)
    opening = tok.encode(NAME_OPEN, add_special_tokens=False)
    ids = torch.tensor([[1, 2, *opening]])
    vocab = len(tok)
    out = proc(ids, torch.zeros(1, vocab))
    allowed = set(torch.isfinite(out[0]).nonzero().flatten().tolist())
    assert allowed == {tok.encode(n, add_special_tokens=False)[0] for n in NAMES}
    fragment = tok.encode("re", add_special_tokens=False)  # the fragment that used to pick request_finetune
    assert len(fragment) == 1 and fragment[0] not in allowed
    # one token into a name: only that name's next canonical token
    first = tok.encode("choose_prompt", add_special_tokens=False)
    out = proc(torch.tensor([[1, 2, *opening, first[0]]]), torch.zeros(1, vocab))
    assert set(torch.isfinite(out[0]).nonzero().flatten().tolist()) == {first[1]}


def test_outside_the_name_and_against_the_grammar_it_stays_out_of_the_way(tok):
    proc = CanonicalToolNames(tok, NAMES, prompt_len=0)
    scores = torch.randn(1, len(tok))
    after = tok.encode(NAME_OPEN + 'tune_generator","arguments":{', add_special_tokens=False)
    assert torch.equal(proc(torch.tensor([after]), scores), scores)  # past the name: untouched
    blocked = torch.full((1, len(tok)), float("-inf"))  # the grammar allows none of the names: leave it be
    opening = tok.encode(NAME_OPEN, add_special_tokens=False)
    assert torch.equal(proc(torch.tensor([opening]), blocked), blocked)
