"""Turn the agents' finetune requests into engine jobs, and keep the trend references the engine measures
distance to.

Why the arena does this and not the tool: a request names a trend source; capturing its frames needs the
trend feed (held by the world), and the job's seed must come from the season so a season replays exactly.
A dead source or a backend that cannot finetune becomes a `finetune_failed` event, never a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

from arena.roster import LiveStreamer
from arena.world import World
from media.metrics import centroids_from_frames

log = logging.getLogger("arena")

FINETUNE_FRAMES = 32  # frames captured from a live source per finetune request (held in memory)

Event = tuple[str, dict[str, Any]]


def finetune_seed(season_seed: int, streamer_id: int, round_number: int, index: int) -> int:
    return (season_seed * 1_000_003 + streamer_id * 10_007 + round_number * 101 + index) % (2**31)


def start_finetunes(world: World, live: Iterable[LiveStreamer], season_seed: int, r: int) -> list[Event]:
    """Every queued request becomes an engine job on frames captured from its source now."""
    events: list[Event] = []
    for st in live:
        requests, st.control.finetune_requests = st.control.finetune_requests, []
        for i, req in enumerate(requests):
            settings = st.control.current_settings()
            payload = {"streamer_id": st.streamer_id, "slot": st.slot, "source_id": req.source_id, "steps": req.steps}
            try:
                frames = world.trends.sample_frames(req.source_id, FINETUNE_FRAMES, settings.resolution)
                seed = finetune_seed(season_seed, st.streamer_id, r, i)
                number = world.engine.finetune(st.slot, st.slot, frames, settings.prompt, steps=req.steps, seed=seed)
                events.append(("finetune_started", {**payload, "number": number}))
            except (ValueError, KeyError, RuntimeError) as exc:  # SourceError and FinetuneError are ValueErrors
                events.append(("finetune_failed", {**payload, "error": str(exc)[:300]}))
    return events


def finished_finetunes(world: World, live: dict[str, LiveStreamer]) -> list[Event]:
    """Finetunes the engine finished since the last round, for the streamers still live."""
    events: list[Event] = []
    for done in world.engine.drain_finetune_events():
        st = live.get(done["stream_id"])
        if st is not None:
            events.append(("finetune_done", {"streamer_id": st.streamer_id, "slot": st.slot, **done}))
    return events


class TrendReferences:
    """The trending scenes the `dist_<topic>` metrics measure against (built-in scenes; fixed frames), with
    each trend's centroid computed once per season."""

    def __init__(self) -> None:
        self._cache: dict[str, np.ndarray] = {}

    def update(self, world: World) -> None:
        refs: dict[str, np.ndarray] = {}
        for t in world.trends.current():
            if t.topic in refs:
                continue
            if t.id not in self._cache:
                frames = world.trends.reference_frames(t.id)
                if frames is None:
                    continue
                self._cache[t.id] = centroids_from_frames({"x": frames})["x"]
            refs[t.topic] = self._cache[t.id]
        try:
            world.engine.set_references(refs)
        except ValueError as exc:  # e.g. two topics that sanitise to the same metric name
            log.warning("trend references not updated: %s", exc)
