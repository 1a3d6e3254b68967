"""The poller's state: open the database when it exists, attach to the season, fold the events after the last
one seen (the append-only event log is the change feed).

Runs in the app's worker thread; the app only sees the `PollResult` it posts. Problems (no file yet, no
season yet, a locked or foreign file) become a line for the user and the next poll tries again.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.fold import SeasonModel
from tui.model import SeasonInfo
from tui.store import ArenaData, DatabaseMissing


@dataclass(frozen=True)
class PollResult:
    model: SeasonModel | None
    problem: str | None  # a line for the user when there is nothing (yet) to show
    changed: bool
    more: bool = False  # more events are waiting (poll again without sleeping)
    seasons: tuple[SeasonInfo, ...] | None = None


class SeasonSource:
    """Called from one worker thread only."""

    BATCH = 2000

    def __init__(self, db_path: str, season: str | None):
        self.db_path = db_path
        self.key = season
        self.data: ArenaData | None = None
        self.model: SeasonModel | None = None
        self.problem: str | None = None
        self._polls = 0

    def close(self) -> None:
        if self.data is not None:
            self.data.close()

    def poll(self) -> PollResult:
        self._polls += 1
        problem: str | None = None
        changed = more = False
        seasons: tuple[SeasonInfo, ...] | None = None
        try:
            if self.data is None:
                self.data = ArenaData(self.db_path)
                changed = True
            if self.model is None or self._polls % 4 == 1:  # the season list changes rarely: every 4th poll
                seasons = tuple(self.data.seasons())
            if self.model is None:
                problem = self._attach(self.data)
                changed = changed or self.model is not None
            if self.model is not None:
                changed, more = self._fold(self.data, self.model, changed)
        except DatabaseMissing as exc:
            problem = str(exc)
        except Exception as exc:  # a locked, corrupt or foreign file: say so and keep trying
            first = str(exc).splitlines()[0] if str(exc) else ""
            problem = f"cannot read {self.db_path}: {type(exc).__name__}: {first}"
        if problem != self.problem:
            changed = True
            self.problem = problem
        return PollResult(self.model, problem, changed, more, seasons)

    def _attach(self, data: ArenaData) -> str | None:
        """Find the season to watch; the problem line while there is none."""
        info = data.season(self.key)
        if info is None:
            if self.key is not None:
                return f"no season {self.key!r} in {self.db_path}"
            return f"no seasons in {self.db_path} yet — waiting for one to start"
        self.model = SeasonModel(info)
        return None

    def _fold(self, data: ArenaData, model: SeasonModel, changed: bool) -> tuple[bool, bool]:
        """Fold the next batch of events and refresh the season row: (changed, more events waiting)."""
        events = data.events(model.season_id, after_id=model.last_event_id, limit=self.BATCH)
        more = len(events) >= self.BATCH
        if model.apply(events):
            changed = True
        info = data.season(model.season_id)
        if info is not None and model.set_info(info):
            changed = True
        return changed, more
