"""Temporal consistency of a stream: prompt transitions, the drift guard, keyframe interpolation.

Why these three live together: they are the per-stream state that makes an autoregressive img2img stream
(each keyframe generated from the previous one, media.engine) watchable, and all of it must be saved and
restored exactly with the engine (a season resumes bit-exact after a kill). Everything here is plain numpy
with elementwise arithmetic and fixed-order reductions (no BLAS), so replays see the same bits.

* Prompt transitions (`PromptTransition`, `blend_conditioning`): StreamDiffusion's live prompt changes gave
  grey frames (docs/facts.md, its issue #167). A cut of the conditioning is a jump; a plain lerp between two unit
  embeddings passes through a shorter vector (|lerp| = cos(theta/2) halfway, 0.71 for orthogonal rows) that
  the model never saw in training. So rows are slerped on the unit sphere and their norms lerped: every
  intermediate row has the norm scale of real conditioning. Over `transition_seconds` of engine time.
* Drift guard (`DriftGuard`): Mirage/LSD's failure is autoregressive error accumulation until the video
  "gets stuck on a single colour" (docs/facts.md). The symptom is measurable per keyframe: its colour standard
  deviation falls (a single colour has none) or its pixels pile up at 0/255 (saturation). The guard keeps a
  reference (the mean colour std of the stream's first keyframes) and, while a keyframe looks collapsed,
  raises that stream's img2img strength toward 1 for the next keyframe: more of the frame is re-noised, so
  the model re-draws content instead of copying the collapsed picture. It escalates geometrically while
  the collapse persists (half the remaining way to 1 per collapsed keyframe) and lets go at once when the
  frame recovers, so a healthy stream keeps its agent's strength (and its smoothness).
* Interpolation (`interpolate_keyframes`): output fps may exceed generation fps; in-betweens are linear
  blends in pixel space (a cross-fade: no motion estimation, no extra model call, exact and cheap). They
  can only be made once the next keyframe exists, so they enter the buffer together with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from media.frames import as_frame_batch, channel_planes

# --------------------------------------------------------------------------------------------- metrics


def colour_std(frames: np.ndarray) -> np.ndarray:
    """Per-frame colour standard deviation (0..255 units): the std over pixels of each RGB channel, averaged
    over the 3 channels. (B, H, W, 3) or (H, W, 3) uint8 -> (B,) float64. A single-colour frame gives 0."""
    # On channel planes: reducing the pixel axis of (B, H*W, 3) directly is ~7x slower (this runs on every
    # generated batch). Same values: bit-identical at 32 and 64 px, within 1e-10 (and nearer the exact integer
    # result) at other sizes.
    return channel_planes(frames).astype(np.float64).std(axis=2).mean(axis=1)


def saturation_share(frames: np.ndarray) -> np.ndarray:
    """Share of channel values at 0 or 255 per frame: (B,) in [0, 1]."""
    f = as_frame_batch(frames)
    flat = f.reshape(f.shape[0], -1)
    return ((flat == 0) | (flat == 255)).mean(axis=1)


# ------------------------------------------------------------------------------------ prompt transitions


def blend_conditioning(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """Conditioning a fraction w in [0, 1] of the way from a to b: slerp of each row's direction (last axis),
    lerp of its norm. Rows that are (almost) parallel or zero fall back to a plain lerp. float32."""
    if not 0.0 <= w <= 1.0 or not math.isfinite(w):
        raise ValueError(f"blend weight must be in [0, 1], got {w}")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot blend conditioning of shapes {a.shape} and {b.shape}")
    if w == 0.0:
        return a.astype(np.float32)
    if w == 1.0:
        return b.astype(np.float32)
    na = np.sqrt((a * a).sum(-1, keepdims=True))
    nb = np.sqrt((b * b).sum(-1, keepdims=True))
    ok = (na > 1e-12) & (nb > 1e-12)
    ua = np.where(ok, a / np.where(ok, na, 1.0), 0.0)
    ub = np.where(ok, b / np.where(ok, nb, 1.0), 0.0)
    cos = np.clip((ua * ub).sum(-1, keepdims=True), -1.0, 1.0)
    theta = np.arccos(cos)
    sin = np.sin(theta)
    use_slerp = ok & (sin > 1e-6)
    safe_sin = np.where(use_slerp, sin, 1.0)
    direction = (np.sin((1 - w) * theta) * ua + np.sin(w * theta) * ub) / safe_sin
    slerped = direction * ((1 - w) * na + w * nb)
    lerped = (1 - w) * a + w * b
    return np.where(use_slerp, slerped, lerped).astype(np.float32)


@dataclass
class PromptTransition:
    """A prompt change in progress: conditioning travels from `start_cond` to the new prompt's conditioning
    over `seconds` of engine time from `start`. The target is not stored: it is the stream's current prompt."""

    start_cond: np.ndarray
    start: float
    seconds: float

    def weight(self, now: float) -> float:
        """How far along the transition is at engine time `now`: 0 at start, 1 when done."""
        if self.seconds <= 0:
            return 1.0
        return min(1.0, max(0.0, (now - self.start) / self.seconds))

    def cond(self, target: np.ndarray, now: float) -> np.ndarray:
        return blend_conditioning(self.start_cond, target, self.weight(now))

    def state_dict(self) -> dict[str, Any]:
        return {"start_cond": self.start_cond.copy(), "start": self.start, "seconds": self.seconds}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> PromptTransition | None:
        if state is None:
            return None
        return cls(np.array(state["start_cond"], dtype=np.float32), float(state["start"]), float(state["seconds"]))


# ------------------------------------------------------------------------------------------ drift guard


class DriftGuardConfig(BaseModel):
    """Thresholds of the drift guard (see the module docstring). Part of the engine's construction."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Keyframes whose mean colour std is the stream's reference (counted from its first keyframe and again
    # after every prompt change, since a new prompt may legitimately be calmer or busier).
    reference_frames: int = Field(8, ge=1, le=1000)
    # A keyframe is collapsed below this fraction of the reference. Half of the 25% the issue allows
    # (the test's bound), so the guard acts well before a viewer would call it "a single colour".
    fraction: float = Field(0.5, gt=0, lt=1)
    # ... or below this absolute colour std (0..255 units), whatever the reference: a practically flat frame.
    min_std: float = Field(2.0, ge=0)
    # ... or when more than this share of channel values sit at 0 or 255 AND more than twice the reference
    # share does (an untrained model saturates by nature; only a rise is a symptom).
    max_saturation: float = Field(0.8, gt=0, le=1)
    # Each consecutive collapsed keyframe takes this share of the remaining way from the strength to 1.
    boost: float = Field(0.5, gt=0, le=1)


class DriftGuard:
    """One stream's guard: observe each generated keyframe, ask the strength for the next one."""

    def __init__(self, config: DriftGuardConfig | None = None) -> None:
        self.config = config or DriftGuardConfig()
        self.reset_reference()
        self.streak = 0  # consecutive collapsed keyframes
        self.fired_total = 0  # collapsed keyframes that raised the next strength (reported)

    def reset_reference(self) -> None:
        """Measure a new reference from the next keyframes (after a prompt change)."""
        self.ref_std_sum = 0.0
        self.ref_sat_sum = 0.0
        self.ref_n = 0

    @property
    def reference_std(self) -> float | None:
        return self.ref_std_sum / self.ref_n if self.ref_n else None

    def observe(self, std: float, saturation: float) -> bool:
        """Account one generated keyframe (its colour std and saturation share); True if it looks collapsed."""
        c = self.config
        warm = self.ref_n >= c.reference_frames
        collapsed = std < c.min_std
        if warm:
            ref_std = self.ref_std_sum / self.ref_n
            ref_sat = self.ref_sat_sum / self.ref_n
            collapsed |= std < c.fraction * ref_std
            collapsed |= saturation > c.max_saturation and saturation > 2.0 * ref_sat
        elif not collapsed:  # a collapsed frame never becomes part of the reference
            self.ref_std_sum += float(std)
            self.ref_sat_sum += float(saturation)
            self.ref_n += 1
        self.streak = self.streak + 1 if collapsed and c.enabled else 0
        self.fired_total += self.streak > 0
        return bool(collapsed)

    def strength(self, base: float) -> float:
        """The img2img strength for the next keyframe: the agent's `base`, raised toward 1 while collapsed."""
        if self.streak == 0:
            return float(base)
        keep = (1.0 - self.config.boost) ** self.streak
        return float(1.0 - (1.0 - base) * keep)

    def state_dict(self) -> dict[str, Any]:
        return {
            "ref_std_sum": self.ref_std_sum,
            "ref_sat_sum": self.ref_sat_sum,
            "ref_n": self.ref_n,
            "streak": self.streak,
            "fired_total": self.fired_total,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ref_std_sum, self.ref_sat_sum = float(state["ref_std_sum"]), float(state["ref_sat_sum"])
        self.ref_n, self.streak = int(state["ref_n"]), int(state["streak"])
        self.fired_total = int(state["fired_total"])


# ----------------------------------------------------------------------------------------- keyframes


def interpolate_keyframes(prev: np.ndarray | None, key: np.ndarray, n: int) -> list[np.ndarray]:
    """The output frames one new keyframe brings: n - 1 cross-faded in-betweens from `prev`, then `key`.

    In-between j of n is round((1 - j/n) prev + (j/n) key), in float32. Without a previous keyframe of the
    same shape (the stream's first, or a resolution change that could not be bridged) only `key` is returned.
    """
    if n < 1:
        raise ValueError(f"interpolation must be >= 1 output frames per keyframe, got {n}")
    if n == 1 or prev is None or prev.shape != key.shape:
        return [key]
    a = prev.astype(np.float32)
    b = key.astype(np.float32)
    out = []
    for j in range(1, n):
        w = np.float32(j / n)
        out.append(np.clip(np.rint((1 - w) * a + w * b), 0, 255).astype(np.uint8))
    out.append(key)
    return out


def resize_frame(frame: np.ndarray, resolution: int) -> np.ndarray:
    """A square uint8 frame resized to `resolution` (area average down, bilinear up), so img2img and the
    interpolation continue across a resolution change instead of restarting from noise."""
    if frame.shape[0] == resolution and frame.shape[1] == resolution:
        return frame
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].to(torch.float32)
    if resolution < frame.shape[0]:
        y = F.adaptive_avg_pool2d(x, resolution)
    else:
        y = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
