"""Decode the concurrent requests of a round as one batch: one forward pass per step for every sequence.

Why: a round asks the embedded model for every streamer's decision at once, and decoding one sequence on a CPU
is bound by reading the weights (each step reads all 135M of them for one token). Decoding B sequences in one
forward pass reads them once for B tokens, so a step of 6 rows costs little more than a step of one, while
serving the same 6 requests one after another costs 6 times the steps (bench/llm_speed.py `batch`).

How (`decode_batch`, driven step by step by the host, `host_thread.HostThread.run_batched`):
1. Each row is prefilled alone, exactly as a solo request (`EmbeddedModel._prefill`: 128-token aligned chunks,
   the prefix cache), and its first token is picked from its own logits. Prefill is compute-bound on a CPU, so
   batching it would save little, and alone it stays bit-identical with or without the prefix cache.
2. The rows' KV caches are stacked into one `DynamicCache`, left-padded to the longest; a 2D attention mask
   marks the padding and each row gets its own position ids, so a row attends to exactly its own tokens.
3. Each step feeds every active row its next tokens: the sampled one plus what its grammar forces
   (`fast_forward`). Rows feed different numbers of tokens, so a step is as wide as its widest feed and the
   shorter feeds are padded on the left: a row's last real token is always the step's last column, and only
   that column's logits are computed (`logits_to_keep=1`). Padding is masked out for good.
4. Every row keeps its own sampler (seeded `torch.Generator`), logits processors (grammar matcher, loop guard),
   budget and stop strings, through the same per-row step as a solo decode (`EmbeddedModel.advance`). A row
   that ends leaves the batch (its cache rows and mask row are dropped, and mask columns no row needs any
   more are cut); its result is handed back at once, so its decision goes on while the others still decode.
   A row whose processors raise (a grammar error) ends with that error; the others go on.
A batch of one request is decoded by the solo path (`EmbeddedModel._generate`), unchanged; so is every request
of a model with sliding-window layers (`batchable`: Gemma 3), one after another.

Reproducibility: a row's tokens may depend on the batch it is decoded in (the same arithmetic on other
shapes can round differently), so the host fixes the composition without looking at the clock: it forms a
batch only when every decision it hosts has a request pending (or has ended), orders the rows by a stable key
(provider `_batch_key`: round, call index, purpose, a digest of round and actor; then the prompt) and takes
the first MAX_ROWS of them; the rest form the next batch under the same rule. The same requests in the same
composition give the same tokens; how often a row differs from its solo decode is measured by
bench/llm_speed.py (`batch.solo_agreement`).

Why at most 4 rows (MAX_ROWS), measured with bench/llm_speed.py on a real season's decision requests: a
decision request is ~660 prompt tokens (~220 new per round after the prefix cache, session 10) and ~16 answer
tokens, of which the grammar forces most: 1-4 forward passes of decoding. Prefill dominates and cannot be
shared (compute-bound: 4 rows' round texts prefilled as one padded batch took 1.04-1.06 s against 1.04-1.08 s
one after another, an ad-hoc probe in session 10), so one batch of all 6 makes every decision wait for all 6
prefills (p50 = p95 = the round), while serving one at a time lets the first ones finish early but pays every
decode step 6 times. Batches of 4 then 2 had the lowest p95 and round time of the three, and with 6 streamers
the median decision is in the first batch; see the report in issue 13 for the figures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

# The most rows in one batch (None: every pending request). See the module docstring for the measured choice.
MAX_ROWS: int | None = 4
Result = tuple[int, Any]  # (the request's index in the batch, its Generation or the exception it raised)


@dataclass
class Request:
    """One pending decode, with everything `EmbeddedModel._generate` takes; `key` orders it in its batch."""

    prompt_ids: Sequence[int]
    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    logits_processors: Sequence = ()
    stop: Sequence[str] = ()
    key: tuple[str, ...] = ()

    def sort_key(self) -> tuple:
        """Stable across runs and threads: the caller's key (actor, round, ...), then the prompt itself."""
        return (tuple(str(k) for k in self.key), tuple(int(t) for t in self.prompt_ids))

    def solo_kwargs(self) -> dict[str, Any]:
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "logits_processors": self.logits_processors,
            "stop": self.stop,
        }


@dataclass
class _Row:
    """A request in the decode phase: its state, sampler, where its tokens sit and what it feeds next."""

    index: int
    request: Request
    state: Any  # embedded_model.DecodeState
    sampler: Any  # embedded_model.Sampler
    feed: list[int]
    pos: int  # tokens of this row already in the KV cache (its next position id)
    reused: int
    prefill_seconds: float
    cache: Any = field(default=None, repr=False)  # its own cache until the rows are stacked


@dataclass
class BatchStats:
    """Counters for the bench: batches, rows, decode steps, and tokens fed (real vs padding)."""

    batches: int = 0
    rows: int = 0
    steps: int = 0
    fed_tokens: int = 0
    padded_tokens: int = 0
    sizes: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "rows": self.rows,
            "decode_steps": self.steps,
            "fed_tokens": self.fed_tokens,
            "padded_tokens": self.padded_tokens,
            "largest": max(self.sizes, default=0),
            "mean_size": round(sum(self.sizes) / len(self.sizes), 2) if self.sizes else 0.0,
        }


STATS = BatchStats()


def decode_batch(model, requests: Sequence[Request]) -> Iterator[list[Result]]:
    """Decode `requests` (in this order) together on `model` (an `EmbeddedModel`), one unit of work per
    iteration (a row's prefill, or one decode step of every active row); each iteration yields the results of
    the rows that ended in it. Every request gets exactly one result by the time the iterator is exhausted."""
    if len(requests) == 1 or not batchable(model):
        for i, req in enumerate(requests):  # one at a time, each handed back when it ends
            try:
                result: Any = model._generate(req.prompt_ids, **req.solo_kwargs())
            except Exception as exc:  # handed to the request's caller
                result = exc
            yield [(i, result)]
        return
    STATS.batches += 1
    STATS.rows += len(requests)
    STATS.sizes.append(len(requests))
    t0 = time.perf_counter()
    rows: list[_Row] = []
    for i, req in enumerate(requests):
        row, done = _prefill_row(model, i, req, t0)
        if row is not None:
            rows.append(row)
        yield done
    if rows:
        yield from _decode_rows(model, rows, t0)


def batchable(model) -> bool:
    """Whether `model`'s cache can be stacked here: every layer full attention (Gemma 3's sliding-window layers
    keep only their last window, which `_stack` does not line up; such a model decodes one request at a time)."""
    types = getattr(model.model.config, "layer_types", None) or ()
    return all(t == "full_attention" for t in types) and not getattr(model.model.config, "sliding_window", None)


def _prefill_row(model, index: int, req: Request, t0: float) -> tuple[_Row | None, list[Result]]:
    """Prefill one request alone and pick its first token: (the row, when it decodes on; its result if not)."""
    import torch  # deferred: see EmbeddedModel.__init__

    from .embedded_model import DecodeState, Sampler

    try:
        if not req.prompt_ids:
            raise ValueError("empty prompt")
        with model._lock, torch.inference_mode():
            t = time.perf_counter()
            state = DecodeState(seq=list(req.prompt_ids), budget=max(0, int(req.max_new_tokens)))
            sampler = Sampler.build(req.temperature, req.top_p, req.seed)
            cache, logits, reused = model._prefill(state.seq)
            prefill_s = time.perf_counter() - t
            feed = model.advance(state, logits, sampler, req.logits_processors, req.stop)
    except Exception as exc:  # this request's error; the batch goes on
        return None, [(index, exc)]
    if feed is None:
        return None, [(index, model.finish(state, len(req.prompt_ids), req.stop, t0, reused, prefill_s))]
    pos = len(state.seq) - len(feed)
    return _Row(index, req, state, sampler, feed, pos, reused, prefill_s, cache), []


def _stack(model, rows: list[_Row]):
    """One DynamicCache for all rows, left-padded to the longest, and its [rows, length] attention mask."""
    import torch  # deferred: see EmbeddedModel.__init__
    from transformers import DynamicCache  # deferred: see EmbeddedModel.__init__

    length = max(r.pos for r in rows)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for b, r in enumerate(rows):
        mask[b, length - r.pos :] = 1
    cache = DynamicCache(config=model.model.config)
    for layer in range(len(rows[0].cache.layers)):
        keys, values = [], []
        for r in rows:
            k, v = r.cache.layers[layer].keys, r.cache.layers[layer].values
            pad = length - k.shape[-2]
            if pad:
                k = torch.cat([k.new_zeros(*k.shape[:-2], pad, k.shape[-1]), k], dim=-2)
                v = torch.cat([v.new_zeros(*v.shape[:-2], pad, v.shape[-1]), v], dim=-2)
            keys.append(k)
            values.append(v)
        cache.update(torch.cat(keys), torch.cat(values), layer)
    for r in rows:
        r.cache = None
    return cache, mask


def _step_inputs(rows: list[_Row], pad_id: int):
    """input ids, position ids and new mask columns of one step: feeds right-aligned, padding on the left."""
    import torch  # deferred: see EmbeddedModel.__init__

    width = max(len(r.feed) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    positions = torch.zeros(len(rows), width, dtype=torch.long)
    new_mask = torch.zeros(len(rows), width, dtype=torch.long)
    for b, r in enumerate(rows):
        w = len(r.feed)
        ids[b, width - w :] = torch.tensor(r.feed, dtype=torch.long)
        positions[b, :] = r.pos  # padding: any position, it is masked
        positions[b, width - w :] = torch.arange(r.pos, r.pos + w)
        new_mask[b, width - w :] = 1
        STATS.fed_tokens += w
        STATS.padded_tokens += width - w
    return ids, positions, new_mask


def _compact(cache, mask, keep: list[int]):
    """Keep rows `keep` of the cache and mask, and drop the mask columns none of them attends to."""
    import torch  # deferred: see EmbeddedModel.__init__

    rows = torch.tensor(keep, dtype=torch.long)
    mask = mask.index_select(0, rows)
    cols = mask.any(dim=0)
    all_cols = bool(cols.all())
    col_idx = cols.nonzero().flatten()
    for layer in cache.layers:
        k, v = layer.keys.index_select(0, rows), layer.values.index_select(0, rows)
        if not all_cols:
            k, v = k.index_select(-2, col_idx), v.index_select(-2, col_idx)
        layer.keys, layer.values = k, v
    return cache, (mask if all_cols else mask.index_select(1, col_idx))


def _decode_rows(model, rows: list[_Row], t0: float) -> Iterator[list[Result]]:
    """Decode the prefilled rows together, one step per iteration, until every row has ended."""
    import torch  # deferred: see EmbeddedModel.__init__

    with model._lock:
        cache, mask = _stack(model, rows)
    while rows:
        ids, positions, new_mask = _step_inputs(rows, model.eos_token_id)
        mask = torch.cat([mask, new_mask], dim=1)
        done: list[Result] = []
        keep: list[int] = []
        with model._lock, torch.inference_mode():
            out = model.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            logits = out.logits[:, -1, :].float()
            STATS.steps += 1
            for b, r in enumerate(rows):
                r.pos += len(r.feed)
                req = r.request
                try:
                    feed = model.advance(r.state, logits[b : b + 1], r.sampler, req.logits_processors, req.stop)
                except Exception as exc:  # this row's error (its grammar); the others go on
                    done.append((r.index, exc))
                    continue
                if feed is None:
                    gen = model.finish(r.state, len(req.prompt_ids), req.stop, t0, r.reused, r.prefill_seconds)
                    done.append((r.index, gen))
                else:
                    r.feed = feed
                    keep.append(b)
            if done and keep:
                cache, mask = _compact(cache, mask, keep)
        rows = [rows[b] for b in keep]
        yield done
