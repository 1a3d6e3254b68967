"""The only writer of a season's database rows and event log.

Why one writer: a round is stored in one transaction, after its resume state is on disk, so Ctrl-C or
`kill -9` at any moment loses at most the round in flight and `resume` replays nothing twice. Every phase of
the round hands its rows and events here instead of opening sessions of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session

from arena.db import Database, Event, Round, Season, Streamer, dumps
from arena.evolution import SpawnPlan
from arena.machine import describe_machine


class RoundWriter:
    """One open transaction: rows and events added here are committed together or not at all."""

    def __init__(self, session: Session, season_id: int):
        self.session = session
        self.season_id = season_id

    def event(self, round_number: int, kind: str, payload: dict[str, Any]) -> None:
        self.session.add(Event(season_id=self.season_id, round=round_number, kind=kind, payload_json=dumps(payload)))

    def add(self, *rows: Any) -> None:
        for row in rows:
            self.session.add(row)

    def add_streamer(self, slot: str, plan: SpawnPlan, round_number: int) -> int:
        """Insert the streamer's row now (its id is the streamer's identity for the rest of the season)."""
        row = Streamer(
            season_id=self.season_id,
            slot=slot,
            name=plan.persona.display_name,
            persona_json=plan.persona.model_dump_json(),
            settings_json=plan.settings.model_dump_json(),
            parent_id=plan.parent_id,
            origin=plan.origin,
            born_round=round_number,
        )
        self.session.add(row)
        self.session.flush()
        return int(row.id)

    def relegate(self, streamer_id: int, round_number: int) -> None:
        row = self.session.get(Streamer, streamer_id)
        row.status, row.relegated_round = "relegated", round_number

    def close_round(self, round_number: int, sim_time: float, online: float, wall: float) -> None:
        self.session.add(
            Round(
                season_id=self.season_id,
                number=round_number,
                sim_time=sim_time,
                online_viewers=int(round(online)),
                wall_seconds=wall,
            )
        )
        season = self.session.get(Season, self.season_id)
        season.rounds_done, season.updated_at = round_number, time.time()


class Recorder:
    def __init__(self, db: Database, season: Season):
        self.db = db
        self.season = season

    @property
    def season_id(self) -> int:
        return int(self.season.id)

    def create_season(self, write: Callable[[RoundWriter], None], before_commit: Callable[[], None]) -> None:
        """Insert the season row, its `season_created` event and what `write` adds (the first streamers)."""
        with self.db.session() as s:
            s.add(self.season)
            s.flush()
            w = RoundWriter(s, int(self.season.id))
            w.event(
                0,
                "season_created",
                {
                    "name": self.season.name,
                    "seed": self.season.seed,
                    "config": json.loads(self.season.config_json),
                    "machine": describe_machine(),
                },
            )
            write(w)
            before_commit()
            s.commit()
            s.refresh(self.season)

    @contextmanager
    def round(self, before_commit: Callable[[], None]) -> Iterator[RoundWriter]:
        """A round's transaction; `before_commit` (the resume state's write) runs last, inside it."""
        with self.db.session() as s:
            yield RoundWriter(s, self.season_id)
            before_commit()
            s.commit()

    def events(self, round_number: int, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Events outside a round's transaction (policy ready, season resumed): committed at once."""
        with self.db.session() as s:
            w = RoundWriter(s, self.season_id)
            for kind, payload in items:
                w.event(round_number, kind, payload)
            s.commit()

    def resumed(self) -> None:
        with self.db.session() as s:
            row = s.get(Season, self.season_id)
            row.status, row.updated_at = "running", time.time()
            RoundWriter(s, self.season_id).event(
                self.season.rounds_done,
                "season_resumed",
                {"after_round": self.season.rounds_done, "machine": describe_machine()},
            )
            s.commit()

    def set_status(self, status: str, last_round: int) -> None:
        with self.db.session() as s:
            season = s.get(Season, self.season_id)
            season.status, season.updated_at = status, time.time()
            RoundWriter(s, self.season_id).event(last_round, f"season_{status}", {"rounds_done": season.rounds_done})
            s.commit()
        self.season.status = status
