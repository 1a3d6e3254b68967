"""The embedded model's speed paths must not change what it answers: prefix reuse, grammar fast-forward,
the loop guard and the dtype choice. Real model, real grammar, short prompts."""

from __future__ import annotations

import json

import litellm
import pytest
import torch
from transformers import DynamicCache

import crews.llm as cl
from crews.llm import constrained
from crews.llm.loop_guard import DigitCap, LoopGuard, repeating_tokens
from crews.llm.prefix_cache import PrefixCache, common_prefix, cut_points
from crews.llm_config import choose_dtype

SYSTEM = (
    "You are Mara Vex, a retired lighthouse keeper who streams storms at sea. Goal: grow the audience "
    "and stay out of the relegation zone. Your viewers love waves, thunder, lightning and old ships. "
)


@pytest.fixture(scope="module")
def model():
    return cl.get_model()


def prompt_ids(model, user: str) -> list[int]:
    msgs = [{"role": "system", "content": SYSTEM * 6}, {"role": "user", "content": user}]
    return list(
        model.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True)[
            "input_ids"
        ]
    )


# ---- prefix cache -------------------------------------------------------------------------------------------


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([5, 6], [5, 6]) == 2


def test_cut_points_are_the_marks_then_tail_chunks():
    assert cut_points(600, 128) == [0, 128, 256, 384, 512]  # no marks: every chunk
    assert cut_points(1000, 128, marks=(315, 463), tail=512) == [0, 315, 463, 975]
    assert cut_points(1000, 128, marks=(300,), tail=512) == [0, 300, 812]
    assert cut_points(1000, 128, marks=(300,)) == [0, 300, 428, 556, 684, 812, 940]
    assert cut_points(400, 128, marks=(315, 463), tail=512) == [0, 315]  # the first turn is not complete yet
    assert PrefixCache().cuts(900, (300,)) == [0, 300, 812]


def _cache_of(n: int) -> DynamicCache:
    c = DynamicCache()
    c.update(torch.arange(n, dtype=torch.float32).view(1, 1, n, 1), torch.zeros(1, 1, n, 1), 0)
    return c


def test_lookup_reuses_only_aligned_prefixes_and_leaves_a_token_to_compute():
    pc = PrefixCache(max_entries=2, chunk=4)
    pc.store(list(range(8)), _cache_of(8))
    assert pc.lookup([9, 9, 9, 9, 9]) == (0, None)  # nothing shared
    n, c = pc.lookup(list(range(6)) + [99])  # shares 6 tokens: reuse the aligned 4
    assert n == 4 and c.get_seq_length() == 4
    n, c = pc.lookup(list(range(8)))  # the whole prompt is stored, but one token must be left for the logits
    assert n == 4 and c.get_seq_length() == 4
    n, c = pc.lookup(list(range(9)))
    assert n == 8 and c.get_seq_length() == 8
    c.update(torch.ones(1, 1, 1, 1), torch.ones(1, 1, 1, 1), 0)  # the caller appends to its copy ...
    assert pc.lookup(list(range(9)))[1].get_seq_length() == 8  # ... the stored entry is untouched
    assert pc.stats()["hits"] == 4 and pc.stats()["misses"] == 1


def test_store_ignores_unaligned_prefixes_evicts_lru_and_drops_redundant_entries():
    pc = PrefixCache(max_entries=2, chunk=4)
    pc.store(list(range(6)), _cache_of(6))
    assert len(pc) == 0
    pc.store(list(range(4)), _cache_of(4))
    pc.store(list(range(8)), _cache_of(8))  # extends the first: it replaces it
    assert len(pc) == 1
    pc.store([7] * 4, _cache_of(4))
    pc.store([8] * 4, _cache_of(4))  # third entry: the least recently used (range(8)) goes
    assert len(pc) == 2 and pc.lookup(list(range(9))) == (0, None)


class _WindowCache:
    """A cache that cannot roll back (as a sliding-window layer past its window: Gemma 3's local layers)."""

    def __init__(self, n: int):
        self.n = n

    def crop(self, tokens_to_remove: int) -> None:
        raise RuntimeError("`crop` was called, but the current layer does not track past states")


def test_a_cache_that_cannot_crop_is_reused_only_whole():
    pc = PrefixCache(max_entries=2, chunk=4)
    pc.store(list(range(8)), _WindowCache(8))
    assert pc.lookup(list(range(6)) + [99]) == (0, None)  # would need a crop: a miss, not an error
    n, c = pc.lookup(list(range(9)))  # the whole stored prefix: no crop needed
    assert n == 8 and c.n == 8
    pc.store(list(range(4)) + [5] * 4, _WindowCache(8))
    n, _ = pc.lookup(list(range(8)) + [1])  # two candidates: the croppable-free one wins
    assert n == 8 and pc.stats()["misses"] == 1


def test_reused_prefix_gives_bit_identical_logits(model):
    """The point of reuse at cut points: an answer must not depend on what was asked before."""
    ids = prompt_ids(model, "Viewers want storms. Change the scene.")
    assert len(ids) > 2 * model.prefix_cache.chunk
    marks = model._marks(ids)
    assert marks and marks[-1] % model.prefix_cache.chunk  # the system turn ends between multiples
    with torch.inference_mode():
        model.prefix_cache.clear()
        _, cold, reused_cold = model._prefill(ids)
        _, warm, reused_warm = model._prefill(ids)
    assert reused_cold == 0 and reused_warm == model.prefix_cache.cuts(len(ids) - 1, marks)[-1]
    assert torch.equal(cold, warm)


def cold_then_after(model, first: list[int], second: list[int]):
    """`second`'s last logits prefilled cold, then after `first` was prefilled: (cold, warm, tokens reused)."""
    with torch.inference_mode():
        model.prefix_cache.clear()
        _, cold, _ = model._prefill(second)
        model.prefix_cache.clear()
        model._prefill(first)
        _, warm, reused = model._prefill(second)
    return cold, warm, reused


def test_the_next_round_reuses_the_whole_first_turn_and_answers_as_without_it(model):
    """A streamer's next request shares its system turn (tools, persona) and nothing after: all of that turn
    is reused, not only its 128-token multiples, and the logits equal a cold prefill's."""
    first, second = prompt_ids(model, "Round 1: viewers want storms."), prompt_ids(model, "Round 2: fog rolls in.")
    turn = model._first_turn_end(second)
    assert model._marks(second) == model._marks(first) == (turn,) and common_prefix(first, second) >= turn
    cold, warm, reused = cold_then_after(model, first, second)
    assert reused == turn and torch.equal(cold, warm)


def test_streamers_share_the_whole_tool_block_and_answer_as_without_it(model):
    """Two personas after the same tool block: the second reuses all of the block (its blank line is a mark),
    not only its 128-token multiples, and its logits equal a cold prefill's."""
    block = "Tools:\n" + "".join(
        f"- tool_{i}(level:int 1..8, mood:str|null): Change part {i} of the stream.\n" for i in range(12)
    )

    def ids_of(persona: str) -> list[int]:
        msgs = [{"role": "system", "content": block + "\n" + persona * 3}, {"role": "user", "content": "Go."}]
        out = model.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(out["input_ids"])

    a, b = ids_of("You are Ada, who paints storms at sea. "), ids_of("You are Bo, who films neon streets. ")
    (block_a, turn_a), (block_b, _) = model._marks(a), model._marks(b)
    assert block_a == block_b and block_a % model.prefix_cache.chunk and block_a < turn_a
    assert model.tokenizer.decode(a[:block_a]).endswith("\n\n") and a[:block_a] == b[:block_b]
    cold, warm, reused = cold_then_after(model, a, b)
    assert reused == block_b and torch.equal(cold, warm)


def test_a_later_prompt_with_the_same_first_turn_replaces_the_older_one():
    pc = PrefixCache(max_entries=4, chunk=4, tail=4)
    turn = list(range(6))  # the first turn ends at 6: cut points 0, 6, 10, 14, ...
    pc.store(turn, _cache_of(6), marks=(6,))  # a prefill stores its first turn, then its last cut point
    pc.store(turn + [50, 51, 52, 53], _cache_of(10), marks=(6,))
    pc.store(turn, _cache_of(6), marks=(6,))  # the next round: its first turn ...
    pc.store(turn + [60, 61, 62, 63], _cache_of(10), marks=(6,))  # ... and its prompt; the older prompt goes
    assert len(pc) == 2  # the first turn alone stays (a cache that cannot crop needs it whole)
    n, c = pc.lookup(turn + [70, 71, 72], marks=(6,))
    assert n == 6 and c.get_seq_length() == 6
    n, c = pc.lookup(turn + [60, 61, 62, 63, 64], marks=(6,))  # the same decision's next request
    assert n == 10 and c.get_seq_length() == 10
    pc.store([9] * 4, _cache_of(4))  # another prompt altogether is not touched
    assert len(pc) == 3
    pc.store(list(range(7)), _cache_of(7), marks=(6,))  # not a cut point (6 + 4k): not stored
    assert len(pc) == 3


def test_answers_are_identical_with_and_without_reuse(model):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "choose_prompt",
                "description": "Change the scene.",
                "parameters": {
                    "type": "object",
                    "properties": {"prompt": {"type": "string", "maxLength": 40}},
                    "required": ["prompt"],
                },
            },
        }
    ]
    msgs = [{"role": "system", "content": SYSTEM * 6}, {"role": "user", "content": "Show a storm."}]

    def ask():
        r = litellm.completion(model=cl.MODEL, messages=msgs, tools=tools, temperature=0, **cl.litellm_extra_kwargs())
        return r.choices[0].message.tool_calls[0].function.arguments, r.usage

    model.prefix_cache.clear()
    cold, usage_cold = ask()
    warm, usage_warm = ask()
    assert cold == warm
    assert usage_cold.prompt_tokens_details.cached_tokens == 0
    assert usage_warm.prompt_tokens_details.cached_tokens >= model.prefix_cache.chunk


# ---- grammar fast-forward -------------------------------------------------------------------------------------


def test_fast_forward_returns_the_forced_json_prefix(model):
    schema = constrained.tool_call_schema(
        [
            {
                "type": "function",
                "function": {
                    "name": "speak",
                    "parameters": {"type": "object", "properties": {"line": {"type": "string"}}, "required": ["line"]},
                },
            }
        ]
    )
    grammar = constrained.compile_schema(schema, model.tokenizer)

    def proc():
        return constrained.JsonSchemaLogitsProcessor(grammar, model.tokenizer, model.vocab_size)

    p, prompt = proc(), [1, 2, 3]
    forced, done = p.fast_forward(prompt, 100)
    assert not done
    # Up to the property name; the closing quote and colon may merge with what the model writes next.
    assert model.tokenizer.decode(forced).startswith('{"name":"speak","arguments":{"line')
    p.fast_forward(prompt + forced, 100)  # the rest of the forced punctuation
    assert len(proc().fast_forward(prompt, 2)[0]) == 2  # `room` caps what one call forces


def test_tool_call_decoding_skips_forced_tokens(model):
    ids = prompt_ids(model, "Set steps to 2.")
    schema = constrained.tool_call_schema(
        [
            {
                "type": "function",
                "function": {
                    "name": "tune_generator",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "steps": {"type": "integer", "minimum": 1, "maximum": 4},
                            "resolution": {"type": "integer", "enum": [32, 64]},
                        },
                        "required": ["steps", "resolution"],
                    },
                },
            }
        ]
    )
    proc = constrained.JsonSchemaLogitsProcessor(
        constrained.compile_schema(schema, model.tokenizer), model.tokenizer, model.vocab_size
    )
    g = model.generate(ids, max_new_tokens=64, logits_processors=[proc])
    call = json.loads(g.text)
    assert call["name"] == "tune_generator" and set(call["arguments"]) == {"steps", "resolution"}
    assert proc.accepted() and g.finish_reason == "stop"
    assert g.forced_tokens >= g.completion_tokens // 2  # most of a call is punctuation and names


# ---- loop guard ------------------------------------------------------------------------------------------------


def test_repeating_tokens_finds_the_continuation_of_a_seen_run():
    seq = list(range(10)) * 2 + [0]  # the cycle 0..9 twice, then 0: continuing with 1 repeats a 12-gram
    assert repeating_tokens(seq, 12) == {1}
    assert repeating_tokens(list(range(30)), 12) == set()
    assert repeating_tokens([7] * 11, 12) == set() and repeating_tokens([7] * 12, 12) == {7}


def test_loop_guard_blocks_a_loop_but_never_the_only_allowed_token():
    guard = LoopGuard(prompt_len=2, n=3)
    ids = torch.tensor([[100, 101, 5, 6, 5, 6]])  # generated 5 6 5 6: next 5 would repeat "6 5 6"? no: "5 6 5"
    scores = torch.zeros(1, 10)
    out = guard(ids, scores.clone())
    assert out[0, 5] == float("-inf") and torch.isfinite(out[0, :5]).all()
    only = torch.full((1, 10), float("-inf"))
    only[0, 5] = 0.0  # the grammar allows nothing else
    assert torch.equal(guard(ids, only.clone()), only)


def test_digit_cap_closes_a_runaway_fraction_but_not_a_short_one(model):
    tok = model.tokenizer
    cap = DigitCap(tok, prompt_len=0, digit_ids=model.digit_token_ids)
    scores = torch.zeros(1, model.vocab_size)
    one = tok.convert_tokens_to_ids("1")
    assert one in model.digit_token_ids

    def after(text: str) -> torch.Tensor:
        return cap(torch.tensor([tok.encode(text, add_special_tokens=False)]), scores.clone())

    assert torch.isinf(after('{"fps": 1.1111')[0, one])  # four decimals: no fifth digit
    assert not torch.isinf(after('{"fps": 1.11')[0, one]).any()  # two: more may follow
    assert not torch.isinf(after('{"steps": 11111')[0, one]).any()  # an integer is the grammar's business
    assert not torch.isinf(after('{"fps": 1.1111, "steps": ')[0, one]).any()  # the next number starts afresh
    only = torch.full((1, model.vocab_size), float("-inf"))
    only[0, one] = 0.0  # the grammar allows nothing else
    ids = torch.tensor([tok.encode('{"fps": 1.1111', add_special_tokens=False)])
    assert torch.equal(cap(ids, only.clone()), only)


# ---- dtype -----------------------------------------------------------------------------------------------------


def test_dtype_choice_and_override(monkeypatch, model):
    monkeypatch.setenv("TOTOROID_LLM_DTYPE", "float32")
    assert choose_dtype() == "float32"
    monkeypatch.setenv("TOTOROID_LLM_DTYPE", "int4")
    with pytest.raises(ValueError, match="TOTOROID_LLM_DTYPE"):
        choose_dtype()
    monkeypatch.delenv("TOTOROID_LLM_DTYPE")
    assert choose_dtype() in ("float32", "bfloat16")
    assert str(next(model.model.parameters()).dtype) == f"torch.{model.dtype}"
