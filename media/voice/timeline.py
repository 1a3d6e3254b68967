"""Where spoken lines sit on a stream's clock: one after another, never overlapping.

Why on the stream clock: in turn mode the stream's time comes from the cost model, not the wall, so placing
each line at (round start + queue position) makes the schedule, the captions' times and the audience's
commentary term the same on every replay. A line still playing when the round ends carries into the next.
"""

from __future__ import annotations

from dataclasses import dataclass

from media.voice.budget import estimate_seconds

LEAD_SECONDS = 0.5  # a round's first line starts a moment after the decision, not on the cut


@dataclass(frozen=True)
class SpokenLine:
    text: str
    start: float  # stream seconds
    end: float

    def to_json(self) -> dict:
        return {"text": self.text, "start": round(self.start, 3), "end": round(self.end, 3)}


def place_lines(texts: list[str], round_start: float, busy_until: float, length_scale: float = 1.0) -> list[SpokenLine]:
    """Queue `texts` from `round_start` (after anything still playing until `busy_until`)."""
    out: list[SpokenLine] = []
    t = max(round_start + LEAD_SECONDS, busy_until)
    for text in texts:
        end = t + estimate_seconds(text, length_scale)
        out.append(SpokenLine(text, round(t, 3), round(end, 3)))
        t = end
    return out


def spoken_seconds(lines: list[SpokenLine], start: float, end: float) -> float:
    """Seconds of [start, end) covered by the lines (for the audience's commentary term)."""
    return sum(max(0.0, min(line.end, end) - max(line.start, start)) for line in lines)
