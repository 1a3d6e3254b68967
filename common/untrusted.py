"""The one cleaner for untrusted text (trend titles, LLM-written tool arguments, persona texts, chat messages).

Why one definition: text from the internet or from a model reaches prompts, tool results, the database and
the TUI. Two cleaners had drifted apart (one let C1 controls and bidi overrides through, the other stripped
no control characters at all), and an attack only needs the weaker one. What goes:

- C0 and C1 control characters (`\\x00`-`\\x1f`, `\\x7f`-`\\x9f`: ESC/CSI sequences rewrite a terminal), except
  the `\\n` / `\\t` a caller keeps; other line breaks (`\\r`, `\\x85`, U+2028/2029) become `\\n` or a space;
- every format character (Unicode category Cf): bidi embeddings, overrides, isolates and marks (U+202A-202E,
  U+2066-2069, U+200E/200F, U+061C), which reorder what a reader sees; zero-width characters (U+200B-200D,
  U+2060, U+FEFF), which split a special token or a keyword so a filter misses it; and the invisible tag
  characters (U+E0000 block) that can smuggle a hidden instruction past a human reader;
- lone surrogates, which cannot be encoded (the database and tokenizers would raise);
- the caller's special tokens (a chat template's `<|im_start|>`), removed until none is left, so a message
  cannot close its turn and open a fake one; invisible characters go first, so they cannot hide a token.

Then whitespace is squeezed (runs of spaces to one, blank-line runs to one blank line) and the result is cut
to `limit` characters, marker included.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Literal

MIDDLE_MARKER = " [...] "

_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")  # what str.splitlines() splits on
_DROPPED = frozenset(("Cf", "Cs"))  # format characters (bidi, zero-width, tags) and lone surrogates
_SPACES = re.compile(r" {2,}")
_SPACE_AROUND_NEWLINE = re.compile(r" *\n *")
_BLANK_LINES = re.compile(r"\n{3,}")


def _char(ch: str, keep: str) -> str:
    """What one character becomes: itself, a space, a newline or nothing."""
    if ch in keep:
        return ch
    if ch in _LINE_BREAKS:
        return "\n" if "\n" in keep else " "
    category = unicodedata.category(ch)
    if category in _DROPPED:
        return ""
    if category == "Cc" or category.startswith("Z"):  # controls and every other space (NBSP, em space, ...)
        return " "
    return ch


def _visible(text: str, keep: str) -> str:
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    if text.isprintable():  # the common case: nothing to look at character by character
        return text
    return "".join(ch if ch.isprintable() else _char(ch, keep) for ch in text)


def _without_specials(text: str, specials: Iterable[str]) -> str:
    tokens = [s for s in specials if s]
    changed = True
    while changed:  # "<|im_<|im_start|>start|>" must not leave an "<|im_start|>" behind
        changed = False
        for token in tokens:
            if token in text:
                text = text.replace(token, "")
                changed = True
    return text


def _squeezed(text: str) -> str:
    text = _SPACES.sub(" ", text)
    if "\n" in text:
        text = _BLANK_LINES.sub("\n\n", _SPACE_AROUND_NEWLINE.sub("\n", text))
    return text.strip(" \n")


def _cut(text: str, limit: int, cut: Literal["end", "middle"]) -> str:
    if len(text) <= limit:
        return text
    if cut == "middle" and limit > len(MIDDLE_MARKER) + 1:
        room = limit - len(MIDDLE_MARKER)
        head = (room + 1) // 2
        return text[:head] + MIDDLE_MARKER + text[len(text) - (room - head) :]
    return text[:limit].rstrip(" \n")


def clean_text(
    text: object,
    limit: int,
    *,
    keep: str = "",
    specials: Iterable[str] = (),
    cut: Literal["end", "middle"] = "end",
) -> str:
    """`text` as plain visible text of at most `limit` characters (see the module docstring for what goes).

    keep: the control characters allowed to stay, only "\\n" and/or "\\t" (default: one line, tabs are spaces).
    specials: tokens removed wherever they occur (a chat template's turn markers).
    cut: "end" keeps the start; "middle" keeps both ends around MIDDLE_MARKER (a long message's question is
    often at its end)."""
    if not set(keep) <= {"\n", "\t"}:
        raise ValueError(f"keep may hold only newline and tab, not {keep!r}")
    if limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit}")
    s = _visible(text if isinstance(text, str) else "" if text is None else str(text), keep)
    s = _squeezed(_without_specials(s, specials))
    return _cut(s, limit, cut)
