"""Reuse the KV cache of prompt prefixes between requests to the embedded model.

Why: every request of a streamer starts with the same system block (tool list, persona) and the second
request of a decision repeats the whole first prompt, so most prompt tokens were prefilled before. Prefill is
the largest share of a request's time on CPU, so reusing it is the cheapest big win.

Why prefixes are reused only at a prompt's *cut points*: the model always prefills a prompt in chunks that
start at its cut points (`cut_points`), whether or not part of it came from here. The keys/values of a
position then come out of the same sequence of operations with the same shapes, so an answer is
bit-identical with and without the cache (a season stays reproducible in one process or two). The cut points
are a function of the prompt alone: its *marks* (`EmbeddedModel._marks`: the end of the tool block, the first
blank line of the first turn, and the end of the first turn), then every `TAIL_CHUNK` tokens after the last
mark; a prompt without marks is cut every `CHUNK` tokens. Why marks: the tool block is what every streamer of a
season shares, and the first turn (tool block and persona) is what a streamer's next request shares, so those
are the prefixes worth reusing whole; cut at 128-token multiples instead, streamers shared only 256 of the
tool block's ~315 tokens and a cold first turn took five passes instead of two.

Why few, long chunks: a forward pass costs ~45 ms before its first token on this 2-core CPU (bench/llm_speed.py
`chunks`: 32 tokens 67 ms, 128 tokens 164 ms, 256 tokens 288 ms after a 448-token prefix), so the round's text
after the first turn is one pass (`TAIL_CHUNK`), not 128 + 102 tokens; only a decision's second request (the
JSON-action retry, rare) could have reused a cut inside it.
Generated tokens are never stored: they were computed one or a few at a time, not in the prompt's chunks.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

CHUNK = 128  # prefill chunk of a prompt without marks; 64 made a cold 500-token prefill ~20% slower (bench)
TAIL_CHUNK = 512  # prefill chunk after the last mark: the round's text in one forward pass (docstring)
# Two entries per concurrent streamer of a default season (6: its first turn, its last prompt) with room for
# persona and reflection calls.
MAX_ENTRIES = 16


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


Marks = tuple[int, ...]  # a prompt's mark positions, increasing (the last one: the end of its first turn)


def cut_points(limit: int, chunk: int, marks: Marks = (), tail: int | None = None) -> list[int]:
    """A prompt's chunk starts up to `limit` (inclusive), in order: 0, its `marks`, then the last mark plus
    multiples of `tail` (default `chunk`); multiples of `chunk` for a prompt without marks."""
    if not marks:
        return list(range(0, limit + 1, chunk))
    out = [0, *(m for m in marks if 0 < m <= limit)]
    if marks[-1] <= limit:
        out += list(range(marks[-1] + (tail or chunk), limit + 1, tail or chunk))
    return out


class PrefixCache:
    """LRU of (prompt prefix at one of its cut points -> KV cache). Not thread-safe: the model's lock guards it."""

    def __init__(self, max_entries: int = MAX_ENTRIES, chunk: int = CHUNK, tail: int = TAIL_CHUNK):
        if max_entries < 0 or chunk < 1 or tail < 1:
            raise ValueError("max_entries must be >= 0, chunk and tail >= 1")
        self.max_entries, self.chunk, self.tail = max_entries, chunk, tail
        self._entries: OrderedDict[tuple[int, ...], tuple[Any, Marks]] = OrderedDict()
        self.hits = self.misses = self.reused_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def cuts(self, limit: int, marks: Marks = ()) -> list[int]:
        """`cut_points` with this cache's chunk sizes: where a prompt's prefill chunks start."""
        return cut_points(limit, self.chunk, marks, self.tail)

    def _shared_cut(self, key: tuple[int, ...], key_marks: Marks, ids: Sequence[int], marks: Marks) -> int:
        """The largest position below len(ids) that is a cut point of both prompts and inside their common
        prefix: the keys/values before it were computed in the same chunks for both."""
        limit = min(common_prefix(key, ids), len(key), len(ids) - 1)
        if limit <= 0:
            return 0
        mine = set(self.cuts(limit, marks))
        return max((p for p in self.cuts(limit, key_marks) if p in mine), default=0)

    def lookup(self, ids: Sequence[int], marks: Marks = ()) -> tuple[int, Any | None]:
        """(n, a private cache holding the first n tokens of `ids`), n a cut point of `ids` (with `marks`)
        below len(ids) (at least one token is left to prefill, for the logits); (0, None) when nothing useful
        is stored."""
        found = []
        for key, (_, key_marks) in self._entries.items():
            n = self._shared_cut(key, key_marks, ids, marks)
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

    def store(self, ids: Sequence[int], cache: Any, marks: Marks = ()) -> None:
        """Keep a copy of `cache`, which must hold exactly the prefix `ids`, ending at one of its cut points.

        Entries it makes redundant go: a stored prefix of it, and an older prompt with the same first turn
        that runs past that turn (the same streamer's earlier round: only its first turn will be asked again,
        and that is kept, or covered by this entry). A stored prefix that ends at one of its marks (the tool
        block, a first turn) stays: a cache that cannot crop (Gemma 3's sliding-window layers) reuses only
        whole entries."""
        if self.max_entries == 0 or not ids or len(ids) not in self.cuts(len(ids), marks)[1:]:
            return
        key = tuple(ids)
        turn = marks[-1] if marks else None
        for other, (_, other_marks) in list(self._entries.items()):
            shared = common_prefix(other, key)
            is_prefix = shared == len(other)
            same_turn = turn is not None and other_marks[-1:] == (turn,) and shared >= turn
            at_a_mark = len(other) in other_marks
            if (is_prefix or (same_turn and len(other) > turn)) and not at_a_mark:
                del self._entries[other]
        self._entries[key] = (copy.deepcopy(cache), tuple(marks))
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
