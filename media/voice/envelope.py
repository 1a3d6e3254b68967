"""A line's loudness over time, the avatar's mouth: RMS per video-frame window, scaled to 0..1.

Why from the audio and not the text: the mouth then opens on the syllables the listener hears, whichever
engine spoke (Piper, espeak-ng, or a user's voice).
"""

from __future__ import annotations

import numpy as np

from media.voice.speech import SAMPLE_RATE

FULL_RMS = 0.12  # an RMS at which the mouth is fully open (Piper's normalised speech peaks near 0.15)


def envelope(samples: np.ndarray, fps: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """One value in 0..1 per 1/fps of audio."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    hop = max(1, int(round(rate / fps)))
    n = -(-len(x) // hop)
    if n == 0:
        return np.zeros(0, np.float32)
    padded = np.zeros(n * hop, np.float32)
    padded[: len(x)] = x
    rms = np.sqrt((padded.reshape(n, hop) ** 2).mean(axis=1))
    return np.clip(rms / FULL_RMS, 0.0, 1.0).astype(np.float32)
