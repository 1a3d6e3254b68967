"""Caption variants for the built-in scenes: the text side of the base model's training pairs.

Why many variants: personas write free text ("a stormy sea livestream", "late-night downtown traffic cam"),
never the exact topic string. Training on several phrasings per scene, plus stream-style wrappers, teaches the
generator that the MiniLM embeddings of all of them point at the same scene, so it generalises to prompts it
never saw. The first phrase of each kind is its display caption.
"""

from __future__ import annotations

import numpy as np

from media.sources.scenes import scene_class

PHRASES: dict[str, tuple[str, ...]] = {
    "ocean": (
        "ocean waves breaking under a pale sky",
        "ocean waves",
        "waves rolling onto the shore",
        "a stormy sea livestream",
        "ocean waves at dusk",
        "blue sea with white foam",
        "surf cam: waves breaking",
        "calm ocean horizon",
        "seaside waves, relaxing",
        "the open sea",
    ),
    "city": (
        "city night traffic under a lit skyline",
        "city night traffic",
        "downtown skyline at night",
        "car light streaks on a night street",
        "late-night city traffic cam",
        "urban nightlife skyline",
        "busy highway at night",
        "lit office windows after dark",
        "neon-free city night",
        "night drive",
    ),
    "forest": (
        "forest trees swaying in the wind",
        "forest wind",
        "trees swaying in the breeze",
        "green woodland canopy",
        "a windy forest",
        "pine forest livestream",
        "leaves moving in the wind",
        "quiet woods at noon",
        "jungle canopy",
        "walk in the forest",
    ),
    "nebula": (
        "a space nebula drifting among stars",
        "space nebula",
        "purple galaxy clouds",
        "stars twinkling in deep space",
        "cosmic nebula timelapse",
        "the milky way at night",
        "astronomy livestream of a nebula",
        "outer space",
        "colourful star clouds",
        "deep field cosmos",
    ),
    "fireworks": (
        "fireworks bursting in the night sky",
        "fireworks",
        "new year fireworks show",
        "colourful firework explosions",
        "fireworks over the city",
        "celebration with fireworks",
        "sparkling pyrotechnics",
        "4th of july fireworks",
        "festival fireworks display",
        "firework bursts",
    ),
    "desert": (
        "a desert sunset over sand dunes",
        "desert sunset",
        "sun setting over the dunes",
        "orange sky above the sahara",
        "golden hour in the desert",
        "sand dunes at dusk",
        "warm sunset sky",
        "desert landscape livestream",
        "sunset horizon",
        "dunes and a setting sun",
    ),
    "rain": (
        "rain running down a window",
        "rain on glass",
        "raindrops on a window pane",
        "rainy night through the glass",
        "drizzle on the window",
        "storm outside the window",
        "cozy rain sounds window",
        "wet glass with blurred lights",
        "rainy day",
        "drops on glass",
    ),
    "neon": (
        "a neon tunnel of glowing rings",
        "neon tunnel",
        "glowing synthwave tunnel",
        "cyberpunk light tunnel",
        "flying through neon rings",
        "retro vaporwave tunnel",
        "laser tunnel visualizer",
        "pink and cyan neon lights",
        "rave tunnel",
        "endless neon corridor",
    ),
}

WRAPPERS: tuple[str, ...] = (
    "{}",
    "{}",
    "LIVE: {}",
    "{} livestream",
    "{} live cam",
    "24/7 {}",
    "relaxing {}",
    "{}, 4k",
    "watch {} now",
    "{} stream",
)


def scene_kind(topic: str) -> str:
    """The scene kind of a topic ("ocean", "city", ... or "generic")."""
    cls = scene_class(topic)
    return cls.kind if cls is not None else "generic"


def caption_for(topic: str) -> str:
    """A descriptive caption for a topic's scene (the topic itself for generic scenes)."""
    kind = scene_kind(topic)
    return PHRASES[kind][0] if kind in PHRASES else topic.strip()


def caption_variants(topic: str) -> list[str]:
    """Every training caption for a topic: the topic, its kind's phrases, each in stream-style wrappers.

    Deterministic and de-duplicated, so a trainer can embed them once up front.
    """
    kind = scene_kind(topic)
    phrases = (topic.strip(),) + PHRASES.get(kind, ())
    out = [w.format(p) for p in phrases for w in WRAPPERS]
    return list(dict.fromkeys(out))


def sample_caption(topic: str, rng: np.random.Generator) -> str:
    """One random training caption for a topic."""
    variants = caption_variants(topic)
    return variants[int(rng.integers(len(variants)))]
