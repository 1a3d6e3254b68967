"""The menus a persona is chosen from: scenes and palettes (its visual style), character words, voices, goals and
survival motives.

Why a menu: the visual style is the stream's starting prompt, so it must be a scene the generator can render
and the audience's eye can recognise, not a sentence about a poet. The embedded 135M model copies sentences
between free-text fields but picks well from enums, so the persona schema offers these lists as enums (the
grammar then cannot write anything else) plus a few words of optional free text. Scenes are the trend feed's
topics (what the tiny diffusion base is trained on, `media.trends.DEFAULT_TOPICS`), the audience's niche
topics and the scenes of the built-in persona pool; palettes are the pool's colour pairs.

Why ranked: a small model favours the first options, so for a persona the menu is ordered by word overlap
with its seed line (a rain poet sees "rain on glass" first) and cut to a few entries, which also keeps the
schema, described in the prompt, short.
"""

from __future__ import annotations

import re
import zlib

from media.trends import DEFAULT_TOPICS

# The trend topics, then the audience's two niches (arena.audience_config; agents may not import arena), then
# the built-in pool's scenes (agents/personas/*.yaml visual styles, first phrase).
SCENES: tuple[str, ...] = (
    *DEFAULT_TOPICS,
    "snowy mountains",
    "coral reef fish",
    "stormy sea at night",
    "lighthouse beam over dark waves",
    "green forest canopy in sunlight",
    "sand dunes at dusk",
    "glitchy abstract patterns",
    "swirling space nebula",
    "fireworks over a dark harbour",
    "rain running down a window",
    "neon city rooftops",
    "northern lights over snow",
)
PALETTES: tuple[str, ...] = (
    "deep blue and white",
    "magenta and cyan",
    "red gold and green",
    "violet and gold",
    "orange and pink",
    "soft green and brown",
    "grey and silver",
    "black and neon green",
    "warm amber",
    "pale pastel",
)
VOICES: tuple[str, ...] = (
    "soft and slow",
    "quick and bright",
    "gruff and short",
    "booming showman",
    "clear and precise",
    "dreamy whisper",
    "dry and witty",
    "warm storyteller",
)
GOALS: tuple[str, ...] = (
    "give viewers a calm place to rest their eyes",
    "peak concurrent viewers every round",
    "ride every trending wave",
    "never let the stream stall",
    "show the sharpest picture in the arena",
    "win the viewers nobody else serves",
    "keep a loyal crowd through quiet rounds",
    "out-dazzle every rival",
)
CHARACTERS: tuple[str, ...] = (
    "wistful",
    "patient",
    "restless",
    "gruff",
    "playful",
    "theatrical",
    "precise",
    "gentle",
    "fearless",
    "curious",
    "stubborn",
    "dreamy",
    "loud",
    "shy",
    "witty",
    "proud",
)
MOTIVES: tuple[str, ...] = (
    "the viewers who stay pay the rent",
    "a stream nobody watches is switched off at the window",
    "the last place in the league is the end of the dream",
    "a promise to an old friend to keep the lights on",
    "without viewers the studio goes dark for good",
    "the crowd is the only family left",
)
MENU_SIZE = 6  # entries per enum offered to the model


def _stems(text: str) -> set[str]:
    """Word stems (first 4 letters of words of 3+ letters): 'sunsets' meets 'sunset', 'rainy' meets 'rain'."""
    return {w[:4] for w in re.findall(r"[a-z]{3,}", text.lower())}


def ranked(options: tuple[str, ...], text: str, exclude: set[str] = frozenset(), n: int = MENU_SIZE) -> list[str]:
    """`options` minus `exclude`, most word overlap with `text` first; ties broken by a hash of `text`, so
    personas with no overlap still see different first options (deterministic: same text, same menu)."""
    stems = _stems(text)
    salt = zlib.crc32(text.encode())
    pool = [o for o in options if o not in exclude]
    pool.sort(key=lambda o: (-len(_stems(o) & stems), zlib.crc32(o.encode()) ^ salt))
    return pool[:n]


def compose_style(scene: str, palette: str, detail: str = "") -> str:
    """The visual style (and so the starting prompt): 'rain on glass, grey and silver, a flickering lamp'. A
    detail that only repeats the scene or palette (the small model often writes the palette again) is dropped."""
    detail = " ".join(detail.split())
    if detail.lower() in (scene.lower(), palette.lower()):
        detail = ""
    return ", ".join(p for p in (scene, palette, detail) if p)


def split_style(style: str | None) -> tuple[str | None, str | None]:
    """(scene, palette) of a style written by `compose_style` (or None for either that is not in the menu)."""
    parts = [p.strip() for p in (style or "").split(",")]
    scene = next((p for p in parts if p in SCENES), None)
    palette = next((p for p in parts if p in PALETTES), None)
    return scene, palette


def offline_style(seed: str) -> str:
    """A renderable style for a persona that only has a seed line, without a model."""
    return compose_style(ranked(SCENES, seed, n=1)[0], ranked(PALETTES, seed, n=1)[0])


def compose_character(words: list[str]) -> str:
    """'wistful', 'shy', 'patient' -> 'Wistful, shy and patient.'"""
    text = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
    return text[:1].upper() + text[1:] + "."
