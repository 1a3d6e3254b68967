"""Where the avatar sits on the stream, as the agent set it (clamped by the tool) and the compositor reads it."""

from __future__ import annotations

from dataclasses import dataclass

SIZE_MIN, SIZE_MAX = 0.15, 0.5  # the avatar's side as a fraction of the frame's shorter side


@dataclass(frozen=True)
class AvatarPlacement:
    """`x`, `y`: the avatar's centre as fractions of the frame (0..1, kept inside the frame); `size`: its side
    as a fraction of the frame's shorter side; `visible`: False hides it."""

    x: float = 0.82
    y: float = 0.82
    size: float = 0.3
    visible: bool = True

    def clamped(self) -> AvatarPlacement:
        return AvatarPlacement(
            x=min(max(float(self.x), 0.0), 1.0),
            y=min(max(float(self.y), 0.0), 1.0),
            size=min(max(float(self.size), SIZE_MIN), SIZE_MAX),
            visible=bool(self.visible),
        )

    def box(self, height: int, width: int) -> tuple[int, int, int]:
        """(top, left, side) in pixels, the whole box inside the frame."""
        side = max(8, int(round(min(height, width) * self.size)))
        side = min(side, height, width)
        top = int(round(self.y * height - side / 2))
        left = int(round(self.x * width - side / 2))
        return min(max(top, 0), height - side), min(max(left, 0), width - side), side
