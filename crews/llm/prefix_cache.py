"""Reuse the KV cache of prompt prefixes between requests to the embedded model.

Why: every request of a streamer starts with the same system block (persona, tool list) and the second
request of a decision repeats the whole first prompt, so most prompt tokens were prefilled before. Prefill is
the largest share of a request's time on CPU, so reusing it is the cheapest big win.

Why prefixes are reused only at multiples of `CHUNK` tokens: the model always prefills a prompt in chunks
that start at multiples of `CHUNK` (see `EmbeddedModel`), whether or not part of it came from here. The
keys/values of a position then come out of the same sequence of operations with the same shapes, so an
answer is bit-identical with and without the cache (a season stays reproducible in one process or two).
Generated tokens are never stored: they were computed one or a few at a time, not in aligned chunks.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

CHUNK = 128  # prefill chunk (tokens): reuse granularity; 64 made a cold 500-token prefill ~20% slower (bench)
MAX_ENTRIES = 8  # one per concurrent streamer of a default season (6) with room for persona calls


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixCache:
    """LRU of (aligned prompt prefix -> KV cache). Not thread-safe: the model's lock guards it."""

    def __init__(self, max_entries: int = MAX_ENTRIES, chunk: int = CHUNK):
        if max_entries < 0 or chunk < 1:
            raise ValueError("max_entries must be >= 0 and chunk >= 1")
        self.max_entries, self.chunk = max_entries, chunk
        self._entries: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self.hits = self.misses = self.reused_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, ids: Sequence[int]) -> tuple[int, Any | None]:
        """(n, a private cache holding the first n tokens of `ids`), n a multiple of `chunk` below len(ids)
        (at least one token is left to prefill, for the logits); (0, None) when nothing useful is stored."""
        limit = (len(ids) - 1) // self.chunk * self.chunk
        found = []
        for key in self._entries:
            n = min(common_prefix(key, ids), limit) // self.chunk * self.chunk
            if n > 0:
                found.append((n, key))
        for n, key in sorted(found, key=lambda x: -x[0]):
            cache = copy.deepcopy(self._entries[key])  # decoding appends to it; the stored one stays put
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

    def store(self, ids: Sequence[int], cache: Any) -> None:
        """Keep a copy of `cache`, which must hold exactly the aligned prefix `ids`."""
        if self.max_entries == 0 or not ids or len(ids) % self.chunk:
            return
        key = tuple(ids)
        for other in list(self._entries):  # a stored prefix of this one is now redundant
            if len(other) <= len(key) and key[: len(other)] == other:
                del self._entries[other]
        self._entries[key] = copy.deepcopy(cache)
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
