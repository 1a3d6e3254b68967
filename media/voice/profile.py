"""A streamer's voice as plain values, derived deterministically from what the persona says about it.

Why derive rather than configure: personas describe their voice in words ("booming showman", "dreamy whisper");
the same words must always give the same voice (a season replays exactly), and two streamers with different
words should sound different. A few keywords move the numbers the way the words say; a digest of the stream's
key and description spreads the rest, so even two "soft and slow" voices differ a little.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

ENGINES = ("piper", "espeak")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4")

# word -> (length_scale factor, pitch factor): a modelling choice, so the words sound like what they say
_WORDS: dict[str, tuple[float, float]] = {
    "slow": (1.18, 1.0),
    "unhurried": (1.15, 1.0),
    "quick": (0.86, 1.03),
    "bright": (0.95, 1.06),
    "booming": (1.05, 0.9),
    "baritone": (1.05, 0.9),
    "low": (1.05, 0.92),
    "gruff": (0.95, 0.92),
    "whisper": (1.1, 1.02),
    "soft": (1.08, 1.0),
    "tenor": (1.0, 1.05),
    "alto": (1.0, 1.04),
    "clear": (1.0, 1.0),
    "precise": (0.97, 1.0),
}


@dataclass(frozen=True)
class VoiceProfile:
    """How one streamer sounds. `model_path`: a Piper voice file (.onnx with its .onnx.json beside it), None
    for the packaged default. `pitch` shifts by resampling (Piper has no pitch control), compensated in
    `length_scale` so the speaking rate stays what the profile says."""

    key: str
    engine: str = "piper"
    model_path: str | None = None
    speaker: int | None = None
    length_scale: float = 1.0
    pitch: float = 1.0
    noise_scale: float = 0.667
    noise_w: float = 0.8
    espeak_variant: str = "m3"
    espeak_speed: int = 165


def _unit(digest: bytes, i: int) -> float:
    return digest[i] / 255.0


def voice_profile(
    key: str, description: str | None = None, model_path: str | None = None, engine: str = "piper"
) -> VoiceProfile:
    """The profile of stream `key` whose persona describes its voice as `description`."""
    if engine not in ENGINES:
        raise ValueError(f"voice engine must be one of {ENGINES}, got {engine!r}")
    text = (description or "").lower()
    digest = hashlib.sha256(f"{key}|{text}".encode()).digest()
    length, pitch = 1.0, 1.0
    for word, (dl, dp) in _WORDS.items():
        if word in text:
            length, pitch = length * dl, pitch * dp
    length *= 0.94 + 0.12 * _unit(digest, 0)  # +-6% around what the words say
    pitch *= 0.95 + 0.10 * _unit(digest, 1)
    return VoiceProfile(
        key=key,
        engine=engine,
        model_path=str(Path(model_path).expanduser()) if model_path else None,
        length_scale=round(min(max(length, 0.7), 1.4), 3),
        pitch=round(min(max(pitch, 0.8), 1.2), 3),
        noise_scale=round(0.5 + 0.3 * _unit(digest, 2), 3),
        noise_w=round(0.6 + 0.3 * _unit(digest, 3), 3),
        espeak_variant=ESPEAK_VARIANTS[digest[4] % len(ESPEAK_VARIANTS)],
        espeak_speed=int(round(165 / length)),
    )
