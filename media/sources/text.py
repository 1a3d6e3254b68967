"""Untrusted text from the internet (stream titles) becomes plain, short, single-line text."""

from __future__ import annotations

from common.untrusted import clean_text

MAX_TITLE = 120


def clean_title(text: object, max_chars: int = MAX_TITLE) -> str:
    """The project's one cleaner (controls, bidi, zero-width and tag characters out; one line), then the
    length capped with an ellipsis when cut."""
    s = clean_text(text, 4 * max_chars + 16)
    return s if len(s) <= max_chars else s[: max_chars - 1].rstrip() + "…"
