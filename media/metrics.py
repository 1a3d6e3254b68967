"""Per-stream, per-round image metrics on uint8 RGB frames (numpy only), as the audience model's inputs.

Why these: a viewer perceives a stream's picture (is it colourful, sharp, well exposed, or noise?) and its
motion (does it flicker?). All are no-reference and cheap enough to run on every output frame (the engine runs
them on a deterministic subsample: see STILL_EVERY below):

* flicker: VBench temporal flickering score, (255 - mean |f_t - f_t-1|) / 255 (docs/facts.md), mean over pairs;
  1 = static, about 0.67 for independent uniform noise.
* ssim, colourfulness, sharpness, brightness, noise and the derived quality and stability scores: defined
  in media.frame_metrics (one frame or one pair of frames).
With fewer than two frames the temporal terms are those of a still picture (flicker 1, ssim 1).

Content over time, in the colour/structure feature space of media.topic_features (28-d, the same space the
topic classifier and the trend centroids use, so "looks like X" means the same everywhere):
* novelty: distance of this round's mean features to the mean features of the stream's previous rounds
  (an exponential average, half-life one round, so the last round weighs most); 0 in a stream's first round.
  A viewer who watched last round sees something new when it is high.
* drift: long-horizon drift (docs/facts.md: quality of the first vs last seconds): the feature distance between
  the stream's first DRIFT_WINDOW output frames and its latest DRIFT_WINDOW, and quality_drift = mean
  per-frame quality of the latest window minus the first (negative = the picture degrades over time, the
  autoregressive failure the drift guard of media.temporal fights).
* dist_<key>: distance of this round's mean features to each reference centroid given to the engine with
  set_references (trending scenes), and nearest_trend_distance = the smallest. Without frames this round the
  previous round's mean stands in; with none ever, the keys are absent.
"""

from __future__ import annotations

import math
import re
from collections import deque

import numpy as np

from media.frame_metrics import check_frame, quality_score, ssim32, stability_score, still_metrics, to_grey, to_planes
from media.topic_features import FEATURE_DIM, frame_features

DRIFT_WINDOW = 16  # output frames in the first and the latest window of the drift metric
NOVELTY_DECAY = 0.5  # weight of older rounds in the novelty history (half-life: one round)
# In the engine (RoundMetrics.sampled()), the expensive per-frame work runs on a deterministic subsample of
# output frames (counted over the stream's life, so a resumed season samples the same frames): the still
# metrics on every STILL_EVERY-th frame, SSIM and the mean absolute difference on every PAIR_EVERY-th frame
# with its immediate predecessor (so they still measure consecutive frames), the colour/structure features
# (novelty, drift, trend distance) on every FEATURE_EVERY-th frame. Those are the densest rates; a stream
# told its fps (set_fps) also caps each kind at so many samples per second of stream (the *_PER_SECOND
# below), because a round mean needs a number of samples per round, not one per frame, while the cost per
# frame is fixed: at the default season's 6-8 fps nothing changes, at 60 fps the still metrics run on every
# 5th frame. With a ~4 ms/frame generator, all of it on every frame cost ~25% of the engine's time
# (bench/season.py); RoundMetrics.sampled().update takes ~0.14 ms per sampled 64 px frame in float32.
STILL_EVERY, PAIR_EVERY, FEATURE_EVERY = 1, 2, 4
STILL_PER_SECOND, PAIRS_PER_SECOND, FEATURES_PER_SECOND = 12.0, 6.0, 3.0


class RoundMetrics:
    """Running metrics of the frames a stream outputs in one round. Keeps only the previous frame and sums."""

    _STILL = ("colourfulness", "sharpness", "brightness", "noise")

    def __init__(
        self,
        pair_every: int = 1,
        feature_every: int = 1,
        still_every: int = 1,
        rate_caps: tuple[float, float, float] | None = None,
    ) -> None:
        if pair_every < 1 or feature_every < 1 or still_every < 1:
            raise ValueError("still_every, pair_every and feature_every must be >= 1")
        self._base = (int(still_every), int(pair_every), int(feature_every))
        self.still_every, self.pair_every, self.feature_every = self._base
        self._caps = rate_caps  # (still, pairs, features) per second of stream, or None: no cap
        self.fps: float | None = None
        self._prev: np.ndarray | None = None  # the previous output frame as given (uint8 view); converted lazily
        # Long-horizon state (kept across rounds): novelty history, first/latest drift windows.
        self._seen = 0  # output frames seen over the stream's life (picks the subsample)
        self._history: np.ndarray | None = None  # decayed mean features of previous rounds
        self._last_mean: np.ndarray | None = None  # the latest round mean (stands in for an empty round)
        self._first: tuple[tuple[np.ndarray, float], ...] = ()  # (features, quality) of the first output frames
        self._latest: deque[tuple[np.ndarray, float]] = deque(maxlen=DRIFT_WINDOW)
        self.references: dict[str, np.ndarray] = {}  # set by the engine: sanitised key -> centroid
        self.reset(keep_previous=False)

    @classmethod
    def sampled(cls) -> RoundMetrics:
        """The engine's metrics: the subsample and per-second caps described at STILL_EVERY above."""
        return cls(PAIR_EVERY, FEATURE_EVERY, STILL_EVERY, (STILL_PER_SECOND, PAIRS_PER_SECOND, FEATURES_PER_SECOND))

    def set_fps(self, fps: float) -> None:
        """The stream's output rate: with rate caps, sample every max(base, ceil(fps / cap))-th frame."""
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        self.fps = float(fps)
        if self._caps is None:
            return
        self.still_every, self.pair_every, self.feature_every = (
            max(base, math.ceil(self.fps / cap - 1e-9)) for base, cap in zip(self._base, self._caps)
        )

    def reset(self, keep_previous: bool = True) -> None:
        """Start a new round; with keep_previous the first pair spans the round boundary (no free pass)."""
        self.frames = 0
        self.pairs = 0
        self.still_n = 0
        self._sums = dict.fromkeys(self._STILL, 0.0)
        self._abs_diff = 0.0
        self._ssim = 0.0
        if getattr(self, "_feat_n", 0):  # close the previous round for novelty
            mean = self._feat_sum / self._feat_n
            self._history = (
                mean if self._history is None else NOVELTY_DECAY * self._history + (1 - NOVELTY_DECAY) * mean
            )
            self._last_mean = mean
        self._feat_sum = np.zeros(FEATURE_DIM, dtype=np.float64)
        self._feat_n = 0
        self._round_history = self._history  # what this round's novelty compares to
        if not keep_previous:
            self._prev = None

    def update(self, frame: np.ndarray) -> None:
        f = check_frame(frame)
        self.frames += 1
        seen, self._seen = self._seen, self._seen + 1
        do_still = seen % self.still_every == 0 or self.still_n == 0  # a round with frames has still metrics
        do_feat = seen % self.feature_every == 0
        prev = self._prev
        do_pair = seen % self.pair_every == 0 and prev is not None and prev.shape == f.shape
        self._prev = f
        if not (do_still or do_feat or do_pair):
            return  # a frame outside every subsample costs only the counters
        planes = to_planes(f)
        grey = to_grey(planes)
        still = None
        if do_still or do_feat:
            still = still_metrics(planes, grey)
        if do_still:
            sums = self._sums
            for k, v in still.items():
                sums[k] += v
            self.still_n += 1
        if do_feat:
            feat = frame_features(f)[0].astype(np.float64)
            self._feat_sum += feat
            self._feat_n += 1
            entry = (
                feat,
                quality_score(still["colourfulness"], still["sharpness"], still["brightness"], still["noise"]),
            )
            if len(self._first) < DRIFT_WINDOW:
                self._first = (*self._first, entry)  # a tuple: it stops growing at DRIFT_WINDOW
            self._latest.append(entry)
        if do_pair:
            prev_planes = to_planes(prev)
            # Differences of 0..255 integers and their float32 sums (< 2^24 at <= 128 x 128 x 3) are exact.
            diff = planes - prev_planes
            np.abs(diff, out=diff)
            self._abs_diff += float(diff.sum()) / diff.size
            self._ssim += ssim32(grey, to_grey(prev_planes))
            self.pairs += 1

    def result(self) -> dict[str, float]:
        """The round's metrics; all zero quality (and still-picture stability) when nothing was output."""
        n = max(1, self.still_n)
        out = {k: v / n for k, v in self._sums.items()}
        mad = self._abs_diff / self.pairs if self.pairs else 0.0
        ssim_mean = self._ssim / self.pairs if self.pairs else 1.0
        out["flicker"] = (255.0 - mad) / 255.0
        out["ssim"] = ssim_mean
        out["quality"] = (
            quality_score(out["colourfulness"], out["sharpness"], out["brightness"], out["noise"])
            if self.frames
            else 0.0
        )
        out["stability"] = stability_score(mad, ssim_mean)
        out["frames"] = float(self.frames)
        mean = self._feat_sum / self._feat_n if self._feat_n else self._last_mean
        hist = self._round_history
        out["novelty"] = _dist(mean, hist) if mean is not None and hist is not None else 0.0
        if self._first:
            f_first = np.mean([f for f, _ in self._first], axis=0)
            f_last = np.mean([f for f, _ in self._latest], axis=0)
            out["drift"] = _dist(f_last, f_first)
            out["quality_drift"] = float(np.mean([q for _, q in self._latest]) - np.mean([q for _, q in self._first]))
        else:
            out["drift"] = out["quality_drift"] = 0.0
        if mean is not None and self.references:
            dists = {f"dist_{k}": _dist(mean, c) for k, c in self.references.items()}
            out.update(dists)
            out["nearest_trend_distance"] = min(dists.values())
        return out

    def state_dict(self) -> dict:
        def arr(a):
            return None if a is None else np.array(a)

        return {
            "frames": self.frames,
            "pairs": self.pairs,
            "sums": dict(self._sums),
            "abs_diff": self._abs_diff,
            "ssim": self._ssim,
            "prev": None if self._prev is None else np.array(self._prev, dtype=np.uint8),
            "still_n": self.still_n,
            "fps": self.fps,
            "feat_sum": self._feat_sum.copy(),
            "feat_n": self._feat_n,
            "history": arr(self._history),
            "round_history": arr(self._round_history),
            "last_mean": arr(self._last_mean),
            "first": [(f.copy(), q) for f, q in self._first],
            "latest": [(f.copy(), q) for f, q in self._latest],
            "references": {k: v.copy() for k, v in self.references.items()},
            "seen": self._seen,
        }

    def load_state_dict(self, state: dict) -> None:
        self.frames, self.pairs = int(state["frames"]), int(state["pairs"])
        self._sums = {k: float(v) for k, v in state["sums"].items()}
        self._abs_diff, self._ssim = float(state["abs_diff"]), float(state["ssim"])
        prev = state["prev"]
        self._prev = None if prev is None else np.asarray(prev, dtype=np.uint8)
        self._seen = int(state.get("seen", 0))
        self.still_n = int(state.get("still_n", self.frames))  # older states sampled still metrics on every frame
        if state.get("fps") is not None:
            self.set_fps(float(state["fps"]))
        if "feat_sum" not in state:  # a state saved before the content metrics existed
            return

        def arr(a):
            return None if a is None else np.array(a, dtype=np.float64)

        self._feat_sum, self._feat_n = arr(state["feat_sum"]), int(state["feat_n"])
        self._history, self._round_history = arr(state["history"]), arr(state["round_history"])
        self._last_mean = arr(state["last_mean"])
        self._first = tuple((arr(f), float(q)) for f, q in state["first"])
        self._latest = deque(((arr(f), float(q)) for f, q in state["latest"]), maxlen=DRIFT_WINDOW)
        self.references = {k: arr(v) for k, v in state["references"].items()}


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance by elementwise arithmetic (no BLAS: bit-identical on replay)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(math.sqrt(float((d * d).sum())))


def reference_key(key: str) -> str:
    """A reference name as a metrics key suffix: lower case, [a-z0-9_] only, at most 48 characters."""
    k = re.sub(r"[^a-z0-9]+", "_", str(key).lower()).strip("_")[:48]
    if not k:
        raise ValueError(f"reference key {key!r} has no letters or digits")
    return k


def check_references(references: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Validate {name: centroid (FEATURE_DIM,)} and return it keyed by sanitised names (one clear error)."""
    out: dict[str, np.ndarray] = {}
    for name, centroid in references.items():
        c = np.asarray(centroid, dtype=np.float64)
        if c.shape != (FEATURE_DIM,) or not np.all(np.isfinite(c)):
            raise ValueError(
                f"reference {name!r} must be a finite feature centroid of shape ({FEATURE_DIM},), got {c.shape}"
            )
        key = reference_key(name)
        if key in out:
            raise ValueError(f"references {name!r} and another one both become the metrics key dist_{key}")
        out[key] = c
    return out


def centroids_from_frames(frames_by_key: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Feature centroids (media.topic_features) of each key's frames (N, H, W, 3) uint8, for set_references."""
    out = {}
    for key, frames in frames_by_key.items():
        f = np.asarray(frames)
        if f.ndim == 3:
            f = f[None]
        if f.ndim != 4 or len(f) == 0:
            raise ValueError(f"frames of reference {key!r} must be a non-empty uint8 (N, H, W, 3) array, got {f.shape}")
        out[key] = frame_features(f).astype(np.float64).mean(axis=0)
    return out
