"""Untrusted text from the internet (stream titles) becomes plain, short, single-line text."""

from __future__ import annotations

import re

# C0/C1 controls, line/paragraph separators and bidi overrides (which can reorder what an agent or a page shows).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
MAX_TITLE = 120


def clean_title(text: object, max_chars: int = MAX_TITLE) -> str:
    """Strip control characters, squeeze whitespace, cap the length (with an ellipsis when cut)."""
    s = " ".join(_CONTROL.sub(" ", str(text or "")).split())
    return s if len(s) <= max_chars else s[: max_chars - 1].rstrip() + "…"
