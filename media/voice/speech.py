"""Synthesised speech as a value: mono float32 samples at the broadcast's audio rate, and the resampling both
engines share (to that rate, and the pitch shift).

Why resample for pitch: Piper has no pitch control; playing the samples back faster raises the pitch and
shortens the line, which the caller compensates in the length scale (`VoiceProfile.pitch`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 22050  # the broadcast's AAC rate (media.broadcast.encoder.AUDIO_RATE); Piper medium voices use it too


@dataclass(frozen=True)
class Speech:
    text: str
    samples: np.ndarray  # float32 mono in -1..1 at SAMPLE_RATE
    engine: str  # "piper" or "espeak": who actually spoke (after any fallback)

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def resample(samples: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Linear-interpolation resampling: speech at 16-22 kHz needs no better for a stream's AAC track."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if len(x) == 0 or abs(rate_in - rate_out) < 1e-9:
        return x.copy()
    n = max(1, int(round(len(x) * rate_out / rate_in)))
    pos = np.arange(n, dtype=np.float64) * (rate_in / rate_out)
    return np.interp(pos, np.arange(len(x)), x).astype(np.float32)


def pitched(samples: np.ndarray, rate: float, pitch: float) -> np.ndarray:
    """`samples` at `rate` -> SAMPLE_RATE with the pitch raised by `pitch` (and the line shortened by it)."""
    return resample(samples, rate * pitch, SAMPLE_RATE)
