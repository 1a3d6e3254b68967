"""Reuse the KV cache of prompt prefixes between requests to the embedded model.

Why: every request of a streamer starts with the same system block (tool list, persona) and the second
request of a decision repeats the whole first prompt, so most prompt tokens were prefilled before. Prefill is
the largest share of a request's time on CPU, so reusing it is the cheapest big win.

Why prefixes are reused only at a prompt's *cut points*: the model always prefills a prompt in chunks that
start at its cut points (`cut_points`), whether or not part of it came from here. The keys/values of a
position then come out of the same sequence of operations with the same shapes, so an answer is
bit-identical with and without the cache (a season stays reproducible in one process or two). The cut points
are the multiples of `CHUNK` before the end of the prompt's first turn (its `boundary`), that boundary, then
every `TAIL_CHUNK` tokens after it: a function of the prompt alone. The boundary is a cut point because the
first turn (tool list and persona) is what a streamer's next request shares; with 128-token cuts only, the ~60
tokens between the last multiple and the turn's end were prefilled again on every request.

Why the turn after the boundary is one chunk (`TAIL_CHUNK`, not `CHUNK`): it is the round's text, new in every
request, and only a decision's second request (the JSON-action retry, rare) could reuse its cuts. A forward
pass costs ~45 ms before its first token on this 2-core CPU (bench: 32 tokens 70 ms, 128 tokens 152 ms, 256
tokens 275 ms after a 448-token prefix), so prefilling a ~230-token round text as 128 + 102 paid that twice.
Generated tokens are never stored: they were computed one or a few at a time, not in the prompt's chunks.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

CHUNK = 128  # prefill chunk (tokens): reuse granularity; 64 made a cold 500-token prefill ~20% slower (bench)
TAIL_CHUNK = 512  # prefill chunk after the first turn: the round's text in one forward pass (docstring)
# Two entries per concurrent streamer of a default season (6: its first turn, its last prompt) with room for
# persona and reflection calls.
MAX_ENTRIES = 16


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def cut_points(limit: int, chunk: int, boundary: int | None = None, tail: int | None = None) -> list[int]:
    """A prompt's chunk starts up to `limit` (inclusive), in order: multiples of `chunk` below `boundary`,
    `boundary`, then `boundary` plus multiples of `tail` (default `chunk`); only multiples of `chunk` without a
    boundary."""
    if boundary is None or boundary <= 0:
        return list(range(0, limit + 1, chunk))
    before = list(range(0, min(boundary, limit + 1), chunk))
    return before + list(range(boundary, limit + 1, tail or chunk)) if boundary <= limit else before


class PrefixCache:
    """LRU of (prompt prefix at one of its cut points -> KV cache). Not thread-safe: the model's lock guards it."""

    def __init__(self, max_entries: int = MAX_ENTRIES, chunk: int = CHUNK, tail: int = TAIL_CHUNK):
        if max_entries < 0 or chunk < 1 or tail < 1:
            raise ValueError("max_entries must be >= 0, chunk and tail >= 1")
        self.max_entries, self.chunk, self.tail = max_entries, chunk, tail
        self._entries: OrderedDict[tuple[int, ...], tuple[Any, int | None]] = OrderedDict()
        self.hits = self.misses = self.reused_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def cuts(self, limit: int, boundary: int | None = None) -> list[int]:
        """`cut_points` with this cache's chunk sizes: where a prompt's prefill chunks start."""
        return cut_points(limit, self.chunk, boundary, self.tail)

    def _shared_cut(self, key: tuple[int, ...], key_boundary: int | None, ids: Sequence[int], boundary) -> int:
        """The largest position below len(ids) that is a cut point of both prompts and inside their common
        prefix: the keys/values before it were computed in the same chunks for both."""
        limit = min(common_prefix(key, ids), len(key), len(ids) - 1)
        if limit <= 0:
            return 0
        mine = set(self.cuts(limit, boundary))
        return max((p for p in self.cuts(limit, key_boundary) if p in mine), default=0)

    def lookup(self, ids: Sequence[int], boundary: int | None = None) -> tuple[int, Any | None]:
        """(n, a private cache holding the first n tokens of `ids`), n a cut point of `ids` (with `boundary`)
        below len(ids) (at least one token is left to prefill, for the logits); (0, None) when nothing useful
        is stored."""
        found = []
        for key, (_, key_boundary) in self._entries.items():
            n = self._shared_cut(key, key_boundary, ids, boundary)
            if n > 0:
                found.append((n, key))
        for n, key in sorted(found, key=lambda x: -x[0]):
            cache = copy.deepcopy(self._entries[key][0])  # decoding appends to it; the stored one stays put
            if len(key) > n:
                try:
                    cache.crop(n - len(key))  # transformers crops by a negative count of tokens to drop
                except (RuntimeError, ValueError):
                    # a sliding-window layer past its window cannot roll back (Gemma 3's local layers):
                    # only a stored prefix that needs no crop can serve this request
                    continue
            self._entries.move_to_end(key)
            self.hits += 1
            self.reused_tokens += n
            return n, cache
        self.misses += 1
        return 0, None

    def store(self, ids: Sequence[int], cache: Any, boundary: int | None = None) -> None:
        """Keep a copy of `cache`, which must hold exactly the prefix `ids`, ending at one of its cut points.

        Entries it makes redundant go: a stored prefix of it, and an older prompt with the same first turn
        that runs past that turn (the same streamer's earlier round: only its first turn will be asked again,
        and that is kept, or covered by this entry)."""
        if self.max_entries == 0 or not ids or len(ids) not in self.cuts(len(ids), boundary)[1:]:
            return
        key = tuple(ids)
        for other, (_, other_boundary) in list(self._entries.items()):
            shared = common_prefix(other, key)
            is_prefix = shared == len(other)
            same_turn = boundary is not None and other_boundary == boundary and shared >= boundary
            first_turn_alone = same_turn and len(other) == boundary  # kept for caches that cannot crop
            if (is_prefix or (same_turn and len(other) > boundary)) and not first_turn_alone:
                del self._entries[other]
        self._entries[key] = (copy.deepcopy(cache), boundary)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self._entries),
            "hits": self.hits,
            "misses": self.misses,
            "reused_tokens": self.reused_tokens,
        }
