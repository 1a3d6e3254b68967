"""JSON-schema constrained decoding with llguidance, as a transformers LogitsProcessor.

Why llguidance (measured in bench/llm_grammar.py, see the report in issue 4): with this tokenizer it
compiled the two-/three-tool call schema in about a millisecond, with no vocabulary pre-indexing, and
its per-token mask is well under a millisecond next to a ~50 ms forward pass on 2 CPU cores. It has no
torch/triton dependency, accepts the JSON-schema subset pydantic emits (anyOf, enum, const,
minimum/maximum, maxLength), and never raises or hangs on a bad grammar: it reports an error string,
which we turn into a `GrammarError` before decoding starts.

Everything here treats schemas as untrusted data: they are size-capped and only ever compiled by the
grammar library, never evaluated.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterable
from typing import Any

import llguidance
import llguidance.hf
import llguidance.torch as llt
import numpy as np
import torch
from transformers import LogitsProcessor

MAX_SCHEMA_BYTES = 16_000  # one tool's parameters; crewai tool schemas are a few hundred bytes
MAX_TOOLS = 32
DEFAULT_MAX_STRING = 200  # strings without maxLength get one, so an answer always fits max_tokens
# Compact JSON: no free whitespace means fewer wasted tokens and no endless-whitespace loops.
_JSON_OPTIONS = {"whitespace_flexible": False}


class GrammarError(ValueError):
    """A schema the grammar library cannot compile (or one we refuse: too big, wrong shape)."""


_TOK_LOCK = threading.Lock()
_TOKENIZERS: dict[int, Any] = {}
_STATS = {"compiled": 0, "compile_seconds": 0.0, "masked_tokens": 0, "mask_seconds": 0.0}


def stats() -> dict:
    """Counters for the bench: compile count/time and per-token mask time."""
    s = dict(_STATS)
    s["compile_ms_mean"] = round(1000 * s["compile_seconds"] / max(1, s["compiled"]), 3)
    return s


def ll_tokenizer(hf_tokenizer) -> Any:
    """llguidance's view of a HF fast tokenizer (~1 s to build), cached per tokenizer object."""
    key = id(hf_tokenizer)
    with _TOK_LOCK:
        tok = _TOKENIZERS.get(key)
        if tok is None:
            tok = llguidance.hf.from_tokenizer(hf_tokenizer)
            _TOKENIZERS[key] = (tok, hf_tokenizer)  # keep the HF object alive so id() stays unique
            return tok
        return tok[0]


def _cap_strings(schema: Any, depth: int = 0) -> Any:
    """Tighten a schema so every answer ends: bounded strings, closed objects (stricter, so output
    still validates against the original)."""
    if depth > 32:
        raise GrammarError("schema nested deeper than 32 levels")
    if isinstance(schema, dict):
        out = {k: _cap_strings(v, depth + 1) for k, v in schema.items()}
        # Objects without an explicit additionalProperties get `false`: the original schema allows
        # extra keys, but a tiny model uses that freedom to invent arguments forever.
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        if (
            out.get("type") == "string"
            and "maxLength" not in out
            and "enum" not in out
            and "const" not in out
            and "pattern" not in out
            and "format" not in out
        ):
            out["maxLength"] = DEFAULT_MAX_STRING
        return out
    if isinstance(schema, list):
        return [_cap_strings(v, depth + 1) for v in schema]
    return schema


def clean_schema(schema: Any) -> dict:
    """Validate the outer shape, cap its size and bound its strings; returns a fresh copy."""
    if schema is None:
        schema = {"type": "object", "properties": {}}
    if not isinstance(schema, dict):
        raise GrammarError(f"a JSON schema must be an object, got {type(schema).__name__}")
    try:
        size = len(json.dumps(schema))
    except (TypeError, ValueError) as e:
        raise GrammarError(f"schema is not JSON-serialisable: {e}") from e
    if size > MAX_SCHEMA_BYTES:
        raise GrammarError(f"schema is {size} bytes, over the {MAX_SCHEMA_BYTES}-byte cap")
    return _cap_strings(copy.deepcopy(schema))


def tool_call_schema(tools: Iterable[dict]) -> dict:
    """One call to exactly one offered tool: anyOf over {"name": const, "arguments": its parameters}.

    `name` comes first so the model commits to a tool before writing its arguments.
    """
    branches = []
    for t in tools:
        fn = t.get("function", t) if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise GrammarError("each tool needs a function with a non-empty string name")
        if len(fn["name"]) > 64:
            raise GrammarError(f"tool name longer than 64 characters: {fn['name'][:64]!r}...")
        branches.append(
            {
                "type": "object",
                "properties": {"name": {"const": fn["name"]}, "arguments": clean_schema(fn.get("parameters"))},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    if not branches:
        raise GrammarError("no tools offered")
    if len(branches) > MAX_TOOLS:
        raise GrammarError(f"{len(branches)} tools offered, over the cap of {MAX_TOOLS}")
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def compile_schema(schema: dict, hf_tokenizer) -> str:
    """Compile and validate a grammar for `schema`; GrammarError with the library's message if not."""
    tok = ll_tokenizer(hf_tokenizer)
    t = time.perf_counter()
    try:
        grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=_JSON_OPTIONS)
    except Exception as e:  # the library raises on malformed input; we give one clear type
        raise GrammarError(f"cannot compile JSON schema: {e}") from e
    err = llguidance.LLMatcher.validate_grammar(grammar, tok)
    if err:
        raise GrammarError(f"cannot compile JSON schema: {err.strip().splitlines()[0][:300]}")
    _STATS["compiled"] += 1
    _STATS["compile_seconds"] += time.perf_counter() - t
    return grammar


def apply_bitmask(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Set disallowed tokens to -inf from llguidance's packed int32 bitmask (bit i of word w = token
    32*w+i). llguidance.torch's own kernel is `torch.compile`d: 7.7 s to compile on first use and
    16-48 ms per call on this CPU (bench), while unpacking with numpy costs well under a millisecond."""
    bits = np.unpackbits(mask.numpy().view(np.uint8), axis=-1, bitorder="little")
    n = min(scores.shape[-1], bits.shape[-1])
    blocked = torch.from_numpy(bits[:, :n] == 0)
    scores[:, :n].masked_fill_(blocked, float("-inf"))
    if scores.shape[-1] > n:
        scores[:, n:] = float("-inf")
    return scores


class JsonSchemaLogitsProcessor(LogitsProcessor):
    """transformers-style LogitsProcessor: only tokens that keep the output inside the grammar survive.

    Call order is the one `generate` uses: `(input_ids, scores)` once per step; the first call sees the
    prompt, later calls see the new tokens since the last call (one sampled token, plus any the grammar
    forced), which we feed to the matcher before masking.
    """

    def __init__(self, grammar: str, hf_tokenizer, vocab_size: int):
        self.matcher = llguidance.LLMatcher(ll_tokenizer(hf_tokenizer), grammar)
        self.mask = llt.allocate_token_bitmask(1, vocab_size)
        self._seen: int | None = None  # length of the sequence the matcher has consumed up to
        self.eos_token_id = hf_tokenizer.eos_token_id

    def _catch_up(self, seq) -> None:
        n = len(seq)
        if self._seen is None:
            self._seen = n
        elif n > self._seen:
            self.matcher.consume_tokens([int(t) for t in seq[self._seen :]])  # False iff now in error: checked below
            self._seen = n
        if self.matcher.is_error():
            raise GrammarError(f"grammar matcher failed: {self.matcher.get_error()[:300]}")

    def __call__(self, input_ids, scores):
        self._catch_up(input_ids[0].tolist())
        t = time.perf_counter()
        llt.fill_next_token_bitmask(self.matcher, self.mask, 0)
        apply_bitmask(scores, self.mask)
        _STATS["masked_tokens"] += 1
        _STATS["mask_seconds"] += time.perf_counter() - t
        return scores

    def fast_forward(self, seq: list[int], room: int) -> tuple[list[int], bool]:
        """(tokens the grammar forces after `seq`, at most `room` of them; whether the answer is complete).

        The forced tokens are consumed here: the caller appends them to the sequence unchanged. An
        end-of-text token is never returned as forced; `complete` says the grammar admits nothing but it."""
        self._catch_up(seq)
        forced: list[int] = []
        if room > 0 and not self.matcher.is_stopped():
            forced = [int(t) for t in self.matcher.compute_ff_tokens()[:room]]
            if self.eos_token_id is not None:
                forced = forced[: forced.index(self.eos_token_id)] if self.eos_token_id in forced else forced
            if forced:
                self._catch_up(seq + forced)
        return forced, self.matcher.is_stopped()

    def accepted(self) -> bool:
        """True when the text so far is a complete match of the schema."""
        return self.matcher.is_accepting() and not self.matcher.is_error()
