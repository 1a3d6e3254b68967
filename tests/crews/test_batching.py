"""Batched decoding on the embedded model: every row ends as its own request would (grammar, budget, stop,
errors), a batch is reproducible, its rows come back in key order whatever order the threads asked in, and
concurrent litellm calls of hosted decisions are decoded as one batch. Real model, short prompts."""

from __future__ import annotations

import asyncio
import json
import threading

import jsonschema
import litellm
import pytest

import crews.llm as cl
from crews.llm import batching, constrained
from crews.llm.loop_guard import LoopGuard
from tests.crews.tool_specs import choose_tool, tune_tool

EXTRA = cl.litellm_extra_kwargs()
CHOOSE = choose_tool(
    prompt={"type": "string", "maxLength": 40}, transition_seconds={"type": "number", "minimum": 0, "maximum": 10}
)
TUNE = tune_tool(steps={"type": "integer", "minimum": 1, "maximum": 4})
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in (CHOOSE, TUNE)}
USERS = [
    "Viewers want storms at sea. Change the scene.",
    "Your stream stalls. Make it cheaper.",
    "Ocean waves are trending.",
    "You are last in the ranking; do something bold with a long scene description.",
]


@pytest.fixture(scope="module")
def model():
    return cl.get_model()


def ids(model, user: str, persona: int = 0) -> list[int]:
    msgs = [
        {"role": "system", "content": f"You are streamer {persona}, who streams scenes for viewers. " * (1 + persona)},
        {"role": "user", "content": user},
    ]
    return list(
        model.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True)[
            "input_ids"
        ]
    )


def tool_request(model, i: int, **kw) -> tuple[batching.Request, constrained.JsonSchemaLogitsProcessor]:
    grammar = constrained.compile_schema(constrained.tool_call_schema([CHOOSE, TUNE]), model.tokenizer)
    matcher = constrained.JsonSchemaLogitsProcessor(grammar, model.tokenizer, model.vocab_size)
    p = ids(model, USERS[i % len(USERS)], i)
    kw.setdefault("max_new_tokens", 64)
    return batching.Request(p, logits_processors=[matcher, LoopGuard(len(p))], key=(f"s{i}",), **kw), matcher


def test_rows_of_a_batch_are_valid_tool_calls_and_a_batch_is_reproducible(model):
    runs = []
    for _ in range(2):
        reqs, matchers = zip(*(tool_request(model, i, temperature=0.2 * (i % 2)) for i in range(4)), strict=True)
        gens = model.generate_batch(list(reqs))
        for g, m in zip(gens, matchers, strict=True):
            assert m.accepted() and g.finish_reason == "stop"
            call = json.loads(g.text)
            jsonschema.validate(call["arguments"], SCHEMAS[call["name"]])
            assert g.prompt_tokens > 0 and g.completion_tokens == len(g.token_ids)
        runs.append([g.token_ids for g in gens])
    assert runs[0] == runs[1]  # same requests in the same composition: same tokens


def test_each_row_keeps_its_own_budget_stop_strings_and_errors(model):
    plain = [ids(model, "Tell a long story about the sea.", 1), ids(model, "Count: one, two, three, four,", 2)]
    reqs = [
        batching.Request(plain[0], max_new_tokens=3, key=("a",)),
        batching.Request(plain[1], max_new_tokens=40, stop=[","], key=("b",)),
        batching.Request([], key=("c",)),  # an empty prompt is that row's error
        batching.Request(plain[0], max_new_tokens=12, key=("d",)),
    ]
    a, b, c, d = model.generate_batch(reqs)
    assert a.completion_tokens == 3 and a.finish_reason == "length"
    assert "," not in b.text and b.finish_reason == "stop"
    assert isinstance(c, ValueError)
    assert d.completion_tokens == 12 and d.token_ids[:3] == a.token_ids  # same prompt, same greedy start


def test_a_row_in_a_batch_agrees_with_its_solo_decode(model):
    """Not bit-identical by design (other shapes, other rounding), but a wrong mask or position would change
    almost every token: the rows' greedy tokens must mostly match their solo decodes."""
    reqs = [batching.Request(ids(model, u, i), max_new_tokens=16, key=(str(i),)) for i, u in enumerate(USERS)]
    solo = [model._generate(r.prompt_ids, **r.solo_kwargs()).token_ids for r in reqs]
    batch = [g.token_ids for g in model.generate_batch(reqs)]
    same = sum(x == y for s, b in zip(solo, batch, strict=True) for x, y in zip(s, b, strict=False))
    assert same >= 0.8 * sum(len(s) for s in solo)


def test_concurrent_hosted_calls_are_one_batch_in_key_order(model, monkeypatch):
    """Four decisions ask at once, from their own threads, in scrambled order: one batch, rows by key, and
    the answers equal a direct batch of the same requests."""
    before = model.host.stats()
    order = [2, 0, 3, 1]

    def ask(i: int):
        return litellm.completion(
            model=cl.MODEL,
            messages=[{"role": "user", "content": USERS[i]}],
            tools=[CHOOSE, TUNE],
            temperature=0,
            max_tokens=128,  # a number may run on to 55+ tokens (grammar-bounded), the batch must not fail on it
            metadata={"totoroid": {"actor": f"s{i}", "round": 1, "purpose": "decision", "index": 0}},
            **EXTRA,
        )

    async def main():
        async def decision(i):
            with model.host.hosted_by(asyncio.get_running_loop()):
                return await asyncio.to_thread(ask, i)

        return await asyncio.gather(*(decision(i) for i in order))

    seen: list = []
    orig = type(model).decode_batch

    def spy(self, requests):  # on the class: the host gets a new bound method at every request, as in a season
        seen.append([r.key[-1] for r in requests])
        return orig(self, requests)

    monkeypatch.setattr(type(model), "decode_batch", spy)
    first = asyncio.run(main())
    second = asyncio.run(main())
    after = model.host.stats()
    from crews.llm.provider import _batch_key

    tags = [{"actor": f"s{i}", "round": 1, "purpose": "decision", "index": 0} for i in range(4)]
    expected = [k[-1] for k in sorted(_batch_key({"metadata": {"totoroid": t}}) for t in tags)]
    assert seen == [expected] * 2
    assert after["batches"] - before["batches"] == 2 and after["forced"] == before["forced"]
    for a, b in zip(first, second, strict=True):
        ca, cb = a.choices[0].message.tool_calls[0], b.choices[0].message.tool_calls[0]
        assert (ca.function.name, ca.function.arguments) == (cb.function.name, cb.function.arguments)
        jsonschema.validate(json.loads(ca.function.arguments), SCHEMAS[ca.function.name])
    assert threading.active_count() < 50


def test_batch_key_comes_from_the_recording_metadata():
    from crews.llm.provider import _batch_key

    def key(actor, round_number=3, index=0):
        tag = {"actor": actor, "round": round_number, "purpose": "decision", "index": index}
        return _batch_key({"metadata": {"totoroid": tag}})

    k = key("s02")
    assert k[:3] == ("00000003", "00000000", "decision") and k[-1] == "s02" and key("s02") == k
    assert _batch_key({"metadata": {}}) == () and _batch_key(None) == ()
    assert max(key(a) for a in ("s01", "s09")) < key("s01", index=1)  # first requests before second ones
    actors = [f"s{i:02d}" for i in range(1, 7)]
    orders = {tuple(sorted(actors, key=lambda a, r=r: key(a, r))) for r in range(1, 6)}
    assert len(orders) > 1  # the order of the actors changes from round to round
