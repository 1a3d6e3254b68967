"""The embedded avatar animator: a portrait with drawn eyes and mouth, moved by the voice's loudness.

Why pre-rendered variants: a stream's encoder thread composites every tick, so the work per frame must be a
table look-up and one blend (target <= 1 ms at 128 px on a CPU). For each size in use the animator renders,
once, the portrait in a round mask with MOUTH_LEVELS mouth openings x eyes open/closed; a frame picks one
variant from the loudness (mouth) and the time (blinks), shifts it by the idle bob, and copies it into the
frame's box through the round mask (one masked copy: ~0.1 ms at 128 px, where an integer alpha blend took ~1 ms).
"""

from __future__ import annotations

import math

import numpy as np

from media.avatar.placement import AvatarPlacement

MOUTH_LEVELS = 5
BLINK_PERIOD = 3.7  # seconds between blinks (a relaxed adult blinks every 3-4 s)
BLINK_SECONDS = 0.15
BOB_PERIOD = 2.9  # idle motion: a slow vertical sway
BOB_FRACTION = 0.03  # of the avatar's side


def _resize(img: np.ndarray, side: int) -> np.ndarray:
    """Nearest-neighbour resize of a square-ish RGB image to side x side (done once per size)."""
    h, w = img.shape[:2]
    ys = (np.arange(side) * h // side).clip(0, h - 1)
    xs = (np.arange(side) * w // side).clip(0, w - 1)
    return img[ys][:, xs]


def _ellipse(side: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5
    return ((yy - cy) / max(ry, 0.5)) ** 2 + ((xx - cx) / max(rx, 0.5)) ** 2 <= 1.0


class Animator:
    """One streamer's animated avatar. `portrait`: HxWx3 uint8 (its stream generator's picture of its style)."""

    def __init__(self, portrait: np.ndarray, seed: int = 0):
        if portrait.ndim != 3 or portrait.shape[2] != 3:
            raise ValueError(f"portrait must be HxWx3, got {portrait.shape}")
        self.portrait = np.ascontiguousarray(portrait, dtype=np.uint8)
        self.phase = (seed % 997) / 997.0  # blinks and bob differ between streamers
        self._variants: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def variants(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        """(images (MOUTH_LEVELS, 2, side, side, 3) uint8, the round mask (side, side, 1) bool)."""
        cached = self._variants.get(side)
        if cached is None:
            cached = self._render(side)
            self._variants[side] = cached
        return cached

    def _render(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        base = _resize(self.portrait, side).astype(np.float32)
        # Lighten the middle so the drawn face reads on any scene.
        face = _ellipse(side, side * 0.52, side * 0.5, side * 0.36, side * 0.3)
        base[face] = base[face] * 0.45 + 0.55 * np.array([235, 205, 180], np.float32)
        out = np.empty((MOUTH_LEVELS, 2, side, side, 3), np.uint8)
        eye_y, eye_dx, eye_r = side * 0.43, side * 0.12, max(1.0, side * 0.055)
        for blink in (0, 1):
            img = base.copy()
            for ex in (side * 0.5 - eye_dx, side * 0.5 + eye_dx):
                if blink:
                    img[_ellipse(side, eye_y, ex, max(0.6, eye_r * 0.25), eye_r * 1.2)] = (40, 30, 30)
                else:
                    img[_ellipse(side, eye_y, ex, eye_r * 1.2, eye_r * 1.2)] = (250, 250, 250)
                    img[_ellipse(side, eye_y, ex, eye_r * 0.6, eye_r * 0.6)] = (20, 20, 30)
            for level in range(MOUTH_LEVELS):
                m = img.copy()
                open_ = level / (MOUTH_LEVELS - 1)
                ry = max(0.6, side * (0.015 + 0.07 * open_))
                m[_ellipse(side, side * 0.66, side * 0.5, ry, side * 0.11)] = (90, 20, 30)
                out[level, blink] = m.clip(0, 255).astype(np.uint8)
        return out, _ellipse(side, side / 2, side / 2, side / 2, side / 2)[..., None]

    def state(self, t: float, level: float) -> tuple[int, int, int]:
        """(mouth level index, blink 0/1, vertical bob in pixels at side 100) at stream time `t` seconds."""
        mouth = int(round(min(max(level, 0.0), 1.0) * (MOUTH_LEVELS - 1)))
        blink = int(((t / BLINK_PERIOD) + self.phase) % 1.0 < BLINK_SECONDS / BLINK_PERIOD)
        bob = math.sin(2 * math.pi * (t / BOB_PERIOD + self.phase))
        return mouth, blink, int(round(bob * 100))

    def composite_image(self, frame: np.ndarray, image: np.ndarray, placement: AvatarPlacement) -> np.ndarray:
        """`frame` with `image` (a square RGB picture, e.g. an EchoMimic clip frame) in the avatar's round box."""
        if not placement.visible:
            return frame
        h, w = frame.shape[:2]
        top, left, side = placement.box(h, w)
        _, mask = self.variants(side)
        img = image if image.shape[0] == side and image.shape[1] == side else _resize(image, side)
        np.copyto(frame[top : top + side, left : left + side], img, where=mask)
        return frame

    def composite(self, frame: np.ndarray, t: float, level: float, placement: AvatarPlacement) -> np.ndarray:
        """`frame` with the avatar blended in (in place when writable; returned either way)."""
        if not placement.visible:
            return frame
        h, w = frame.shape[:2]
        top, left, side = placement.box(h, w)
        images, mask = self.variants(side)
        mouth, blink, bob = self.state(t, level)
        top = min(max(top + int(round(bob / 100 * BOB_FRACTION * side)), 0), h - side)
        np.copyto(frame[top : top + side, left : left + side], images[mouth, blink], where=mask)
        return frame
