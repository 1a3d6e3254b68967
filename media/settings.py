"""The knobs of one stream, and the limits a season puts on them.

These two models are the seam between the agents (who turn knobs through `tools/`) and the engine (which
reads a snapshot of the knobs before every batch). They live in `media` because the engine must not know
anything about agents or tools; `tools` imports them, never the other way round.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

# What any camera setting may be at all (a season's limits narrow these): zoom factor per second, pan in frame
# sizes per second, rotation in degrees per second.
ZOOM_BOUNDS = (0.25, 4.0)
PAN_BOUND = 1.0
ROTATE_BOUND = 180.0


class GeneratorLimits(BaseModel):
    """Bounds every tool call is clamped into. Part of the season config (`generator.limits`)."""

    model_config = ConfigDict(extra="forbid")

    steps_min: int = Field(1, ge=1, le=50)
    steps_max: int = Field(4, ge=1, le=50)
    resolutions: list[int] = Field(default_factory=lambda: [64, 96, 128])
    fps_min: float = Field(1.0, gt=0, le=60)
    fps_max: float = Field(24.0, gt=0, le=60)
    strength_min: float = Field(0.0, ge=0, le=1)
    strength_max: float = Field(1.0, ge=0, le=1)
    interpolation_max: int = Field(4, ge=1, le=16)
    transition_max_seconds: float = Field(10.0, ge=0, le=120)
    prompt_max_chars: int = Field(240, ge=8, le=2000)
    # The camera (media.camera): zoom factor per second, pan in frame sizes per second, rotation in degrees per
    # second. Moderate by default: at the most, a second of stream zooms by a quarter, pans a quarter frame or
    # turns 30 degrees, so img2img still has most of the previous picture to continue from.
    camera_zoom_min: float = Field(0.8, ge=ZOOM_BOUNDS[0], le=1)
    camera_zoom_max: float = Field(1.25, ge=1, le=ZOOM_BOUNDS[1])
    camera_pan_max: float = Field(0.25, ge=0, le=PAN_BOUND)
    camera_rotate_max: float = Field(30.0, ge=0, le=ROTATE_BOUND)

    @model_validator(mode="after")
    def _ordered(self) -> GeneratorLimits:
        if self.steps_min > self.steps_max:
            raise ValueError("steps_min must be <= steps_max")
        if self.fps_min > self.fps_max:
            raise ValueError("fps_min must be <= fps_max")
        if self.strength_min > self.strength_max:
            raise ValueError("strength_min must be <= strength_max")
        if not self.resolutions:
            raise ValueError("resolutions must list at least one size")
        bad = [r for r in self.resolutions if r < 16 or r > 1024 or r % 16]
        if bad:
            raise ValueError(f"resolutions must be multiples of 16 between 16 and 1024, got {bad}")
        self.resolutions = sorted(set(self.resolutions))
        return self


class StreamSettings(BaseModel):
    """What one stream is generating right now. The engine reads a copy before each batch."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = "an abstract colourful pattern"
    steps: int = Field(1, ge=1, le=50)
    strength: float = Field(0.6, ge=0, le=1)  # img2img strength (temporal consistency, media issue)
    resolution: int = Field(64, ge=16, le=1024)
    fps: float = Field(4.0, gt=0, le=60)  # output frames per second drained from the buffer
    interpolation: int = Field(1, ge=1, le=16)  # output frames per generated keyframe (media issue)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    transition_seconds: float = Field(0.0, ge=0, le=120)
    # The camera (media.camera), applied to each img2img init: 1, 0, 0, 0 = still (today's frames, bit for bit).
    zoom_per_second: float = Field(1.0, ge=ZOOM_BOUNDS[0], le=ZOOM_BOUNDS[1])  # > 1 zooms in, < 1 zooms out
    pan_x: float = Field(0.0, ge=-PAN_BOUND, le=PAN_BOUND)  # frame widths per second; > 0 pans right
    pan_y: float = Field(0.0, ge=-PAN_BOUND, le=PAN_BOUND)  # frame heights per second; > 0 pans down
    rotate_degrees_per_second: float = Field(0.0, ge=-ROTATE_BOUND, le=ROTATE_BOUND)  # > 0 turns clockwise

    def camera_moving(self) -> bool:
        """Whether the camera moves at all (a still camera leaves the img2img init untouched)."""
        return (self.zoom_per_second, self.pan_x, self.pan_y, self.rotate_degrees_per_second) != (1.0, 0.0, 0.0, 0.0)

    def batch_key(self) -> tuple[int, int]:
        """Streams with equal keys share one forward pass (same model, resolution and step count)."""
        return (self.resolution, self.steps)
