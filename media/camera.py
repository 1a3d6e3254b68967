"""The camera: cheap, visible motion on a stream's img2img chain.

As the EndlessDreams design steers its dreams with "zoom in / pan left": before each img2img keyframe the
previous keyframe (the next one's init) is warped by the camera's motion over the stream time that one keyframe
covers on screen, so the generator paints the new frame over a zoomed, panned or turned picture and the stream
travels through its scene. A warp costs one `affine_grid` + `grid_sample` on the batch (bilinear, reflection
padding at the edges the motion uncovers), far less than a denoising step, and is deterministic on the CPU.

The camera's settings are on `media.settings.StreamSettings`:
- `zoom_per_second`: factor per second; > 1 zooms in (the content grows), < 1 zooms out, 1 = no zoom.
- `pan_x`, `pan_y`: frame widths / heights per second the camera travels; `pan_x` > 0 pans right (the scene
  slides left), `pan_y` > 0 pans down (the scene slides up).
- `rotate_degrees_per_second`: > 0 turns the picture clockwise on screen.
Over `seconds` of stream the camera pans by `pan * seconds`, zooms by `zoom ** seconds` and turns by
`rotate * seconds`, about the centre of the panned view.

Why the stream time of one keyframe (`keyframe_seconds`: interpolation / fps, the output seconds one keyframe
fills) rather than engine seconds between two batches: the viewer sees the motion on the output timeline, which
the buffer decouples from the engine's (it generates ahead while filling, and behind while stalling); per
output second the motion is then exactly the setting, in model and wall timing alike, and needs no new state in
a resume. A still camera leaves the init untouched (no warp runs), so its frames are today's bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from media.settings import StreamSettings


def keyframe_seconds(settings: StreamSettings) -> float:
    """Output stream seconds one keyframe covers: its `interpolation` output frames at `fps`."""
    return settings.interpolation / settings.fps


def camera_theta(settings: StreamSettings, seconds: float) -> np.ndarray:
    """The (2, 3) affine map from output to input coordinates (normalised, -1..1, y down) of `seconds` of the
    camera's motion: input = pan + R(-angle) @ output / scale (see the module docstring for the conventions)."""
    t = float(seconds)
    scale = settings.zoom_per_second**t
    angle = math.radians(settings.rotate_degrees_per_second * t)
    c, s = math.cos(angle) / scale, math.sin(angle) / scale
    # A frame is 2 normalised units wide: a pan of p frames per second moves 2 p t units.
    return np.array([[c, s, 2.0 * settings.pan_x * t], [-s, c, 2.0 * settings.pan_y * t]], dtype=np.float64)


def warp_frames(frames: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """Warp uint8 frames (B, R, R, 3) by per-frame affine maps (B, 2, 3) in one grid_sample; uint8 out."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (B, H, W, 3), got {frames.dtype} {frames.shape}")
    thetas = np.asarray(thetas, dtype=np.float64).reshape(len(frames), 2, 3)
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(torch.float32)
    grid = F.affine_grid(torch.from_numpy(thetas).to(torch.float32), list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def apply_camera(frames: np.ndarray, settings: Sequence[StreamSettings], seconds: Sequence[float]) -> np.ndarray:
    """The batch's img2img inits after each stream's camera motion over its `seconds`. Items whose camera is
    still are returned unchanged (the same bytes); the moving ones are warped together in one call."""
    moving = [i for i, s in enumerate(settings) if s.camera_moving() and seconds[i] > 0]
    if not moving:
        return frames
    out = np.array(frames, copy=True)
    thetas = np.stack([camera_theta(settings[i], seconds[i]) for i in moving])
    out[moving] = warp_frames(out[moving], thetas)
    return out


def camera_inbetweens(prev: np.ndarray, key: np.ndarray, n: int, settings: StreamSettings) -> list[np.ndarray]:
    """With a moving camera, the n output frames one keyframe brings: in-between j of n cross-fades from the
    previous keyframe moved by j/n of the keyframe's motion to the new keyframe (round((1 - j/n) warped + (j/n)
    key), as media.temporal.interpolate_keyframes without a camera), so the motion is spread over the output
    frames instead of jumping at the keyframe; then `key`."""
    if n <= 1 or prev.shape != key.shape:
        return [key]
    seconds = keyframe_seconds(settings)
    thetas = np.stack([camera_theta(settings, seconds * j / n) for j in range(1, n)])
    moved = warp_frames(np.repeat(prev[None], n - 1, axis=0), thetas).astype(np.float32)
    b = key.astype(np.float32)
    out = []
    for j in range(1, n):
        w = np.float32(j / n)
        out.append(np.clip(np.rint((1 - w) * moved[j - 1] + w * b), 0, 255).astype(np.uint8))
    out.append(key)
    return out
