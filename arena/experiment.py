"""Experiments: which policy holds the audience's eyes, measured in rotated mixed-policy seasons.

Why mixed seasons: the audience is (nearly) a conserved quantity. A season where every streamer plays one
policy hands out about the same total ERN whatever that policy is, since viewers watch *someone*; comparing
separate seasons compares audience sizes, not policies. Only when policies compete for one audience does a
better policy take eyes from a worse one, so the measure is each policy's **share** of a season's total ERN.

Why rotations: with P policies, seasons come in blocks of P sharing a seed (block b: seed + b), so the same
personas sit in the same slots; rotation r plays `policy_mix = policies[r:] + policies[:r]`, so over a block
every policy plays every persona slot equally often and a strong persona cannot pass for a strong policy.
Relegation is off: a respawn would mix persona luck back in.

Results are computed from the stored event log only (`experiment_result`), so a report needs nothing but the
database, and an interrupted experiment continues where it stopped (finished seasons are read, not rerun).
The statistics (bootstrap CIs, paired differences) are in `arena.experiment_stats`.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError
from sqlalchemy import inspect as sa_inspect
from sqlmodel import select

from arena.config import SeasonConfig
from arena.db import Database, Experiment, ExperimentSeason, Season
from arena.experiment_stats import PairedComparison, all_pairs, bootstrap_ci, season_shares
from common.errors import ConfigError
from crews.registry import POLICY_NAMES


@dataclass(frozen=True)
class PlannedSeason:
    """One season of the plan: its block, its rotation and the full config it runs with."""

    block: int
    rotation: int
    config: SeasonConfig


@dataclass(frozen=True)
class Tick:
    """Progress: `done` of `total` rounds of the whole experiment are played; `season` is the one playing."""

    season: str
    done: int
    total: int


Progress = Callable[[Tick], None]


class SeasonShares(BaseModel):
    season: str
    block: int
    rotation: int
    policy_mix: list[str]
    status: str
    rounds_done: int
    shares: dict[str, float]  # policy -> share of the season's total ERN (sums to 1)


class PolicyShare(BaseModel):
    policy: str
    mean: float
    low: float
    high: float
    seasons: int


class ExperimentResult(BaseModel):
    """What an experiment measured, from finished seasons only (a stopped season is listed, not counted)."""

    name: str
    status: str
    policies: list[str]
    seasons_planned: int
    seasons_finished: int
    fair_share: float
    shares: list[PolicyShare]
    pairs: list[PairedComparison]
    seasons: list[SeasonShares]


# ---- the plan (validated before anything is written) ---------------------------------------------------------
def check_policies(policies: list[str]) -> list[str]:
    """At least two distinct known policy names; a bad list is one line."""
    unknown = [p for p in policies if p not in POLICY_NAMES]
    if unknown:
        raise ConfigError(f"--policies: unknown policy {unknown[0]!r}; choose from {', '.join(POLICY_NAMES)}")
    if len(policies) < 2 or len(set(policies)) != len(policies):
        raise ConfigError(f"--policies {','.join(policies)}: give at least two different policies")
    return list(policies)


def plan_experiment(base: SeasonConfig, policies: list[str], seasons: int, name: str) -> list[PlannedSeason]:
    """Every season's config, or a ConfigError: seasons and streamers must be multiples of the policy count
    (else some policy plays some slot more often than another), and every derived config must validate."""
    check_policies(policies)
    p = len(policies)
    if seasons < 1 or seasons % p:
        raise ConfigError(f"--seasons {seasons}: must be a positive multiple of the {p} policies (blocks of {p})")
    if base.streamers % p:
        raise ConfigError(f"streamers {base.streamers}: must be a multiple of the {p} policies (equal slots each)")
    plan = []
    for i in range(seasons):
        b, r = divmod(i, p)
        mix = policies[r:] + policies[:r]
        data = base.model_dump(mode="json")
        data.update(name=f"{name}-b{b}-r{r}", seed=base.seed + b, policy=mix[0], policy_mix=mix)
        data["relegation"] = {**data["relegation"], "every": 0}
        try:
            plan.append(PlannedSeason(b, r, SeasonConfig.model_validate(data)))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err.get("loc", ()))
            raise ConfigError(f"experiment {name!r}, season {data['name']}: {where}: {err['msg']}") from None
    return plan


# ---- storage -------------------------------------------------------------------------------------------------
def find_experiment(db: Database, name: str) -> Experiment | None:
    """The stored experiment, or None (also for a database written before experiments existed)."""
    if not sa_inspect(db.engine).has_table("experiment"):
        return None
    with db.session() as s:
        return s.exec(select(Experiment).where(Experiment.name == name)).first()


def stored_plan(row: Experiment) -> tuple[SeasonConfig, list[str], int]:
    """The base config, policies and season count an experiment was started with."""
    return SeasonConfig.model_validate_json(row.config_json), json.loads(row.policies_json), row.seasons_planned


def _comparable(config: SeasonConfig) -> dict:
    return config.model_dump(mode="json", exclude={"name", "database", "run_dir"})


def _open_experiment(db: Database, base: SeasonConfig, policies: list[str], seasons: int, name: str) -> Experiment:
    """Create the experiment row, or check that a stored one of that name has the same plan (a different
    config under one name would mix two experiments into one result)."""
    row = find_experiment(db, name)
    if row is None:
        row = Experiment(
            name=name,
            config_json=base.model_dump_json(),
            policies_json=json.dumps(policies),
            seasons_planned=seasons,
        )
        db.add(row)
        return row
    old_base, old_policies, old_seasons = stored_plan(row)
    if (old_policies, old_seasons) != (policies, seasons) or _comparable(old_base) != _comparable(base):
        raise ConfigError(
            f"experiment {name!r} exists with another plan (policies {','.join(old_policies)}, "
            f"{old_seasons} seasons, its own config); continue it with the same flags or pick another --name"
        )
    return row


def _links(db: Database, experiment_id: int) -> list[tuple[ExperimentSeason, Season]]:
    with db.session() as s:
        q = (
            select(ExperimentSeason, Season)
            .where(ExperimentSeason.experiment_id == experiment_id, ExperimentSeason.season_id == Season.id)
            .order_by(ExperimentSeason.block, ExperimentSeason.rotation)
        )
        return [(link, season) for link, season in s.exec(q)]


def _link(db: Database, experiment_id: int, planned: PlannedSeason, season_id: int) -> None:
    linked = {link.season_id for link, _ in _links(db, experiment_id)}
    if season_id not in linked:
        db.add(
            ExperimentSeason(
                experiment_id=experiment_id, season_id=season_id, block=planned.block, rotation=planned.rotation
            )
        )


def _set_status(db: Database, experiment_id: int, status: str) -> None:
    with db.session() as s:
        row = s.get(Experiment, experiment_id)
        row.status = status
        s.add(row)
        s.commit()


# ---- running -------------------------------------------------------------------------------------------------
def run_experiment(
    base: SeasonConfig,
    policies: list[str],
    seasons: int,
    db: Database,
    name: str,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    source: str = "season config",
) -> ExperimentResult:
    """Play the experiment's seasons not yet finished (a stopped one is resumed), then compute its result
    from the database. `stop` set (Ctrl-C) stops the season in flight at its next tick; the experiment is
    then `stopped` and running it again continues it."""
    plan = plan_experiment(base, policies, seasons, name)
    row = _open_experiment(db, base, policies, seasons, name)
    total = seasons * base.rounds
    done, status = 0, "finished"
    for planned in plan:
        if stop is not None and stop.is_set():
            status = "stopped"
            break
        status, played = _play(db, row.id, planned, stop, source, _ticker(progress, planned, done, total))
        done += played
        if status != "finished":
            break
    _set_status(db, row.id, "finished" if status == "finished" else "stopped")
    return experiment_result(db, name)


def _ticker(progress: Progress | None, planned: PlannedSeason, before: int, total: int) -> Callable[[int], None]:
    name = planned.config.name or ""
    return lambda rounds: progress(Tick(name, before + rounds, total)) if progress else None


def _play(
    db: Database,
    experiment_id: int,
    planned: PlannedSeason,
    stop: threading.Event | None,
    source: str,
    tick: Callable[[int], None],
) -> tuple[str, int]:
    """One season: read back if finished, resumed if stopped, else created. Returns (status, rounds)."""
    from arena.loop import SeasonRunner  # the season machinery (torch, the generator) only when playing

    config = planned.config
    season = db.season(config.name or "")
    if season is not None:
        _check_adoptable(season, config)
        _link(db, experiment_id, planned, int(season.id))
        if season.status == "finished":
            tick(config.rounds)
            return "finished", config.rounds
        runner = SeasonRunner.resume(db, season.name)
    else:
        runner = SeasonRunner.create(config, db, source=source)
        _link(db, experiment_id, planned, int(runner.season.id))
    if stop is not None:
        runner.stop_event = stop  # one Ctrl-C stops whichever season is playing
    tick(runner.season.rounds_done)
    status = runner.run(on_round=lambda res: tick(res.round))
    return status, config.rounds


def _check_adoptable(season: Season, config: SeasonConfig) -> None:
    """A season already under the planned name must be this plan's (same seed and mix), e.g. created just
    before a crash and not yet linked; anything else is a name clash, not part of this experiment."""
    stored = json.loads(season.config_json)
    if stored.get("seed") != config.seed or stored.get("policy_mix") != config.policy_mix:
        raise ConfigError(f"season {season.name!r} exists and is not part of this experiment; pick another --name")


# ---- results from the event log ------------------------------------------------------------------------------
def season_ern_by_policy(db: Database, season_id: int, policies: list[str]) -> dict[str, float]:
    """Each policy's ERN summed over its streamers and over every scored round, from the events alone."""
    policy_of = {
        int(e.payload["streamer_id"]): e.payload["policy"] for e in db.events(season_id, kinds=["streamer_spawned"])
    }
    ern: dict[str, float] = defaultdict(float, dict.fromkeys(policies, 0.0))
    for e in db.events(season_id, kinds=["round_scored"]):
        for streamer_id, stream in e.payload["streams"].items():
            ern[policy_of[int(streamer_id)]] += float(stream["ern_mean"])
    return dict(ern)


def experiment_result(db: Database, name: str) -> ExperimentResult:
    """The experiment's result, recomputed from the stored events (no season is run)."""
    row = find_experiment(db, name)
    if row is None:
        raise ConfigError(f"no experiment {name!r} in {db.url}")
    policies: list[str] = json.loads(row.policies_json)
    seasons = []
    for link, season in _links(db, int(row.id)):
        mix = json.loads(season.config_json).get("policy_mix") or []
        shares = season_shares(season_ern_by_policy(db, int(season.id), policies))
        seasons.append(
            SeasonShares(
                season=season.name,
                block=link.block,
                rotation=link.rotation,
                policy_mix=mix,
                status=season.status,
                rounds_done=season.rounds_done,
                shares=shares,
            )
        )
    finished = [s for s in seasons if s.status == "finished"]
    by_policy = {p: [s.shares[p] for s in finished] for p in policies}
    stats = [
        PolicyShare(policy=p, mean=ci.mean, low=ci.low, high=ci.high, seasons=ci.n)
        for p, ci in ((p, bootstrap_ci(v)) for p, v in by_policy.items() if v)
    ]
    return ExperimentResult(
        name=row.name,
        status=row.status,
        policies=policies,
        seasons_planned=row.seasons_planned,
        seasons_finished=len(finished),
        fair_share=1.0 / len(policies),
        shares=stats,
        pairs=all_pairs(by_policy) if finished else [],
        seasons=seasons,
    )


__all__ = [
    "ExperimentResult",
    "PlannedSeason",
    "Tick",
    "check_policies",
    "experiment_result",
    "find_experiment",
    "plan_experiment",
    "run_experiment",
    "stored_plan",
]
