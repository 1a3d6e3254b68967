"""LLM traffic in the event log: `llm_call` events written by the arena, read back for `--llm replay:SEASON`.

Why here and not in `crews`: crews never touch the database. The policy hands the arena plain records (one per
request: messages, tools offered, answer, tokens, cost, latency, actor, round, call index); the arena stores
them in the same transaction as the round they belong to, so a replay sees exactly the committed rounds.
"""

from __future__ import annotations

from typing import Any

from arena.db import Database, Event, dumps
from common.errors import ConfigError

KIND = "llm_call"


def llm_call_events(season_id: int, round_number: int, records: list[dict[str, Any]]) -> list[Event]:
    return [Event(season_id=season_id, round=round_number, kind=KIND, payload_json=dumps(r)) for r in records]


def load_llm_records(db: Database, season_name: str) -> list[dict[str, Any]]:
    """Every recorded LLM call of a season, for the replay provider. A missing season is a user error."""
    season = db.season(season_name)
    if season is None:
        raise ConfigError(f"llm.model replay:{season_name}: no season {season_name!r} in {db.url}")
    records = [e.payload for e in db.events(season.id, kinds=[KIND])]
    if not records:
        raise ConfigError(
            f"llm.model replay:{season_name}: season {season_name!r} has no recorded LLM calls "
            "(it was not played with policy: llm)"
        )
    return records
