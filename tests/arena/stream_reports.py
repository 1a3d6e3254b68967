"""Hand-made engine reports for tests of the round's phases (what `StreamEngine.advance` would return)."""

from __future__ import annotations

import numpy as np

from media.engine_streams import StreamReport


def make_report(
    slot: str,
    frames: int = 24,
    stalls: int = 0,
    *,
    sample: np.ndarray | None = None,
    prompt: str = "",
    metrics: dict[str, float] | None = None,
    seconds: int = 6,
) -> StreamReport:
    """`frames` output frames (all generated), `stalls` half-second stalls, `sample` the frames the eye sees."""
    shown = sample if sample is not None else np.zeros((0, 1, 1, 3), np.uint8)
    return StreamReport(
        stream_id=slot,
        frames_generated=frames,
        frames_generated_total=frames,
        frames_output=frames,
        frames_output_total=frames,
        frames_dropped_total=0,
        buffer_level=3,
        buffer_capacity=8,
        stall_count=stalls,
        stall_count_total=stalls,
        stall_seconds=0.5 * stalls,
        stall_seconds_total=0.5 * stalls,
        stall_seconds_per_second=[0.0] * seconds,
        startup_delay=0.1,
        ttcp=0.2,
        content_positive=stalls == 0,
        metrics=metrics if metrics is not None else {"quality": 0.7},
        thumbnail=shown[-1] if len(shown) else None,
        prompt_embedding=np.ones(384, dtype=np.float32) / np.sqrt(384),  # the intent; the audience never reads it
        settings={"prompt": prompt},
        frame_sample=shown,
    )
