"""The season loop: observe -> decide -> stream -> watch -> score -> (relegate), one committed round at a time.

The loop is the game master: agents only see Observations and act through tools; the engine and audience
only see settings and views; the database only sees what the loop records. Each round is written in one
transaction after its resume state is on disk (see `arena.resume_state`), so Ctrl-C or `kill -9` at any moment
loses at most the round in flight, and `resume` replays nothing twice.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agents.loading import builtin_persona_dir, load_persona_pool
from agents.mutation import mutate_persona, unique_name
from agents.persona import Persona
from agents.yamlfile import ConfigError, FieldError
from arena import resume_state
from arena.audience import StreamView
from arena.config import SeasonConfig
from arena.db import Action, Database, Event, Round, Season, Streamer, StreamStat, dumps
from arena.evolution import Candidate, SpawnPlan, plan_respawns, select_relegated
from arena.scoring import Rating, new_rating, rate_round, standings
from arena.world import World, build_world, policy_rng
from crews.registry import make_policy
from media.broadcast import Broadcaster, BroadcastError
from media.metrics import centroids_from_frames
from media.settings import StreamSettings
from policies.decide import DecisionJob, DecisionOutcome, decide_all
from tools.control import StreamControl
from tools.observation import LeaderboardRow, Observation, TrendView

log = logging.getLogger("arena")

FINETUNE_FRAMES = 32  # frames captured from a live source per finetune request (held in memory)

REPORT_FIELDS = (
    "frames_generated",
    "frames_output",
    "buffer_level",
    "buffer_capacity",
    "stall_count",
    "stall_seconds",
    "startup_delay",
    "ttcp",
    "content_positive",
)


class SeasonStopped(Exception):
    """Raised inside a round when a stop was requested; the round is discarded, nothing half-written."""


@dataclass
class LiveStreamer:
    streamer_id: int
    slot: str
    name: str
    persona: Persona
    control: StreamControl
    born_round: int
    ern_history: list[float] = field(default_factory=list)
    rating: Rating = field(default_factory=new_rating)
    rank: int | None = None
    share: float = 0.0
    last: dict[str, Any] = field(default_factory=dict)  # last round's report summary

    def to_state(self) -> dict[str, Any]:
        return {
            "streamer_id": self.streamer_id,
            "slot": self.slot,
            "name": self.name,
            "persona": self.persona.model_dump(mode="json"),
            "settings": self.control.current_settings().model_dump(mode="json"),
            "born_round": self.born_round,
            "ern_history": list(self.ern_history),
            "rating": (self.rating.mu, self.rating.sigma),
            "rank": self.rank,
            "share": self.share,
            "last": self.last,
        }


@dataclass
class RoundResult:
    round: int
    table: list[dict[str, Any]]
    relegated: list[str]
    spawned: list[str]
    wall_seconds: float


def _auto_name(db: Database, seed: int) -> str:
    base = f"season-{seed}-{datetime.now():%Y%m%d-%H%M%S}"
    taken = {s.name for s in db.seasons()}
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


class SeasonRunner:
    def __init__(self, config: SeasonConfig, db: Database, season: Season, world: World, pool: list[Persona]):
        self.config = config
        self.db = db
        self.season = season
        self.world = world
        self.pool = pool
        self.policy = make_policy(config.policy, config.llm)
        self.llm_round_events: list[Event] = []  # persona LLM calls/failures made while planning respawns
        if config.policy == "llm" and config.llm.replay_season:  # answer every LLM call from a recorded season
            from arena.llm_log import load_llm_records
            from crews.llm_replay import register_replay

            source = config.llm.replay_season
            self.policy.model = register_replay(source, load_llm_records(db, source))
        self.run_dir = Path(season.run_dir)
        # Finished finetunes are saved here (runs/<season>/checkpoints/<slot>/ft-<n>.safetensors).
        self.world.engine.finetunes.checkpoint_root = self.run_dir / "checkpoints"
        self.finetune_events: list[tuple[str, dict[str, Any]]] = []  # (kind, payload) for this round's log
        self._reference_cache: dict[str, np.ndarray] = {}
        self.live: dict[str, LiveStreamer] = {}
        self.all_names: set[str] = set()
        self.next_slot = 0
        self.stop_event = threading.Event()
        self.broadcaster: Broadcaster | None = None

    def start_broadcast(self, source: str = "season config") -> str | None:
        """Live mode (or `broadcast.enabled`): serve every stream as HLS. A taken port is one clear line."""
        if not (self.config.clock == "live" or self.config.broadcast.enabled):
            return None
        self.broadcaster = Broadcaster(self.config.broadcast, self.run_dir)
        try:
            return self.broadcaster.start()
        except BroadcastError as exc:
            self.broadcaster = None
            raise ConfigError(f"{source}: {exc}") from None

    # ---- construction ---------------------------------------------------------------------------------------
    @classmethod
    def create(cls, config: SeasonConfig, db: Database, source: str = "season config") -> SeasonRunner:
        """Validate everything that can fail (personas, models, names), then write the season's round 0.
        `source` (the YAML path) prefixes errors that come from a field of the season config."""
        if config.personas and not Path(config.personas).is_dir():
            raise ConfigError(f"{source}: field 'personas': folder {config.personas} not found")
        pool = load_persona_pool(config.personas or builtin_persona_dir())
        name = config.name or _auto_name(db, config.seed)
        if db.season(name) is not None:
            raise ConfigError(f"season name {name!r} already exists in {db.url}; pick another name or resume it")
        try:
            world = build_world(config)
        except FieldError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        config = config.model_copy(update={"name": name})
        if config.engine.calibrate:  # store the measured cost model so a resume charges the same costs
            config = config.model_copy(
                update={"engine": config.engine.model_copy(update={"calibrate": False, "cost_model": world.cost_model})}
            )
        run_dir = Path(config.run_dir) / name
        season = Season(
            name=name,
            seed=config.seed,
            config_json=config.model_dump_json(),
            rounds_planned=config.rounds,
            run_dir=str(run_dir),
        )
        runner = cls(config, db, season, world, pool)
        runner.start_broadcast(source)
        runner._spawn_initial()
        return runner

    @classmethod
    def resume(cls, db: Database, key: str) -> SeasonRunner:
        season = db.season(key)
        if season is None:
            raise ConfigError(f"no season {key!r} in {db.url}")
        if season.status == "finished":
            raise ConfigError(f"season {season.name!r} is already finished ({season.rounds_done} rounds)")
        config = SeasonConfig.model_validate_json(season.config_json)
        pool = load_persona_pool(config.personas or builtin_persona_dir())
        world = build_world(config)
        runner = cls(config, db, season, world, pool)
        runner.start_broadcast()
        runner._load_state(resume_state.read_state(season.run_dir, season.rounds_done))
        with db.session() as s:
            row = s.get(Season, season.id)
            row.status, row.updated_at = "running", time.time()
            s.add(
                Event(
                    season_id=season.id,
                    round=season.rounds_done,
                    kind="season_resumed",
                    payload_json=dumps({"after_round": season.rounds_done}),
                )
            )
            s.commit()
        return runner

    def _new_slot(self) -> str:
        self.next_slot += 1
        return f"s{self.next_slot:02d}"

    def _spawn_initial(self) -> None:
        rng = self.world.rngs["spawn"]
        order = list(rng.permutation(len(self.pool)))
        plans: list[SpawnPlan] = []
        taken: set[str] = set()
        for k in range(self.config.streamers):
            base = self._complete_persona(self.pool[order[k % len(self.pool)]], f"spawn{k}", 0, taken)
            if k < len(self.pool):
                persona = base.model_copy(update={"name": unique_name(base.display_name, taken)})
                changes: list[dict] = []
            else:  # more streamers than personas: mutated copies, as a respawn would make
                persona, changes = mutate_persona(base, rng, taken)
            taken.add(persona.display_name)
            settings = self.config.generator.defaults.model_copy(
                update={"prompt": persona.scene_prompt(), "seed": int(rng.integers(0, 2**31 - 1))}
            )
            plans.append(SpawnPlan(persona, settings, None, "pool", -1, changes))
        with self.db.session() as s:
            s.add(self.season)
            s.flush()
            s.add(
                Event(
                    season_id=self.season.id,
                    round=0,
                    kind="season_created",
                    payload_json=dumps(
                        {
                            "name": self.season.name,
                            "seed": self.season.seed,
                            "config": json.loads(self.season.config_json),
                        }
                    ),
                )
            )
            for ev in self._llm_events(0):
                s.add(ev)
            for plan in plans:
                self._spawn(s, plan, round_number=0)
            resume_state.write_state(self.run_dir, 0, self._state(0))
            s.commit()
            s.refresh(self.season)

    # ---- LLM personas (policy: llm) ---------------------------------------------------------------------------
    def _complete_persona(self, persona: Persona, actor: str, r: int, taken: set[str]) -> Persona:
        """Offline completion, or with `policy: llm` the LLM's (recorded; fallback to offline on failure)."""
        if self.config.policy != "llm" or persona.is_complete():
            return persona.complete_offline()
        from agents.llm_persona import complete_with_llm

        res = complete_with_llm(
            persona, self.policy.completer(actor, r, "persona"), taken, self.config.llm.persona_retries
        )
        self._persona_event(
            r,
            actor,
            "persona_generated" if res.ok else "persona_llm_failed",
            res,
            "complete_offline" if not res.ok else None,
        )
        return res.persona

    def _persona_event(self, r: int, actor: str, kind: str, res: Any, fallback: str | None) -> None:
        self.llm_round_events.append(
            Event(
                season_id=self.season.id,
                round=r,
                kind=kind,
                payload_json=dumps(
                    {
                        "actor": actor,
                        "name": res.persona.display_name,
                        "attempts": res.attempts,
                        "errors": res.errors,
                        "changes": res.changes,
                        "fallback": fallback,
                        "note": f"the LLM failed {res.attempts} time(s); used {fallback} so the season goes on"
                        if fallback
                        else None,
                    }
                ),
            )
        )

    def _llm_plans(self, plans: list[SpawnPlan], r: int) -> list[SpawnPlan]:
        """`policy: llm`: fresh spawns get LLM-completed personas, exploit copies an LLM mutation."""
        from agents.llm_persona import complete_with_llm, mutate_with_llm

        taken = set(self.all_names)
        out = []
        for i, plan in enumerate(plans):
            others = {p.persona.display_name for p in plans[i + 1 :]} | {p.persona.display_name for p in out}
            names = taken | others
            if plan.origin == "fresh":
                raw = next((p for p in self.pool if p.seed == plan.persona.seed), None)
                if raw is None or raw.is_complete():
                    out.append(plan)
                    continue
                res = complete_with_llm(
                    raw, self.policy.completer(f"respawn{i}", r, "persona"), names, self.config.llm.persona_retries
                )
                self._persona_event(
                    r,
                    f"respawn{i}",
                    "persona_generated" if res.ok else "persona_llm_failed",
                    res,
                    None if res.ok else "complete_offline",
                )
                persona, changes = (
                    (res.persona.model_copy(update={"traits": plan.persona.traits}), res.changes)
                    if res.ok
                    else (plan.persona, [])
                )
            else:
                res = mutate_with_llm(
                    plan.persona,
                    self.policy.completer(f"respawn{i}", r, "mutation"),
                    names - {plan.persona.display_name},
                    self.config.llm.persona_retries,
                )
                self._persona_event(
                    r,
                    f"respawn{i}",
                    "persona_mutated" if res.ok else "persona_llm_failed",
                    res,
                    None if res.ok else "pbt_mutation_only",
                )
                persona, changes = res.persona, res.changes
            settings = plan.settings
            if plan.origin == "fresh" and res.ok:
                settings = settings.model_copy(update={"prompt": persona.scene_prompt()})
            out.append(
                SpawnPlan(persona, settings, plan.parent_id, plan.origin, plan.replaces, [*plan.mutations, *changes])
            )
        return out

    def _llm_events(self, r: int) -> list[Event]:
        """The round's recorded LLM calls (decisions and personas) plus persona events, ready to store."""
        from arena.llm_log import llm_call_events

        events, self.llm_round_events = self.llm_round_events, []
        drain = getattr(self.policy, "drain_records", None)
        if drain is not None:
            events += llm_call_events(self.season.id, r, drain())
        for ev in events:
            ev.season_id = self.season.id
        return events

    def _spawn(self, s, plan: SpawnPlan, round_number: int) -> LiveStreamer:
        slot = self._new_slot()
        row = Streamer(
            season_id=self.season.id,
            slot=slot,
            name=plan.persona.display_name,
            persona_json=plan.persona.model_dump_json(),
            settings_json=plan.settings.model_dump_json(),
            parent_id=plan.parent_id,
            origin=plan.origin,
            born_round=round_number,
        )
        s.add(row)
        s.flush()
        control = StreamControl(
            slot, plan.settings, self.config.generator.limits, run_dir=str(self.run_dir / "streams" / slot)
        )
        st = LiveStreamer(row.id, slot, row.name, plan.persona, control, round_number)
        self.live[slot] = st
        self.all_names.add(row.name)
        self.world.engine.add_stream(slot, control.current_settings, seed=plan.settings.seed)
        self._inherit_checkpoint(plan, slot, row.id)
        if self.broadcaster:
            self.broadcaster.add_stream(slot, row.name)
        s.add(
            Event(
                season_id=self.season.id,
                round=round_number,
                kind="streamer_spawned",
                payload_json=dumps(
                    {
                        "streamer_id": row.id,
                        "slot": slot,
                        "name": row.name,
                        "persona": plan.persona.model_dump(mode="json"),
                        "settings": plan.settings.model_dump(mode="json"),
                        "parent_id": plan.parent_id,
                        "origin": plan.origin,
                        "replaces": plan.replaces if plan.replaces >= 0 else None,
                        "mutations": plan.mutations,
                    }
                ),
            )
        )
        return st

    def _inherit_checkpoint(self, plan: SpawnPlan, slot: str, streamer_id: int) -> None:
        """PBT exploit copies weights too: the child starts on its parent's latest finetuned checkpoint."""
        if plan.origin != "exploit" or plan.parent_id is None:
            return
        parent = next((st for st in self.live.values() if st.streamer_id == plan.parent_id), None)
        if parent is None:
            return
        name = self.world.engine.finetunes.inherit(parent.slot, slot)
        if name is not None:
            self.world.engine.set_stream_model(slot, name)
            self.finetune_events.append(
                (
                    "finetune_inherited",
                    {"streamer_id": streamer_id, "slot": slot, "parent_id": plan.parent_id, "checkpoint": name},
                )
            )

    def _start_finetunes(self, r: int) -> None:
        """Turn the finetune requests the agents queued into engine jobs on frames captured from the source now.
        A dead source or a backend that cannot finetune is an event, never a crash."""
        for st in self.live.values():
            requests, st.control.finetune_requests = st.control.finetune_requests, []
            for i, req in enumerate(requests):
                settings = st.control.current_settings()
                payload = {
                    "streamer_id": st.streamer_id,
                    "slot": st.slot,
                    "source_id": req.source_id,
                    "steps": req.steps,
                }
                try:
                    frames = self.world.trends.sample_frames(req.source_id, FINETUNE_FRAMES, settings.resolution)
                    seed = (self.config.seed * 1_000_003 + st.streamer_id * 10_007 + r * 101 + i) % (2**31)
                    number = self.world.engine.finetune(
                        st.slot, st.slot, frames, settings.prompt, steps=req.steps, seed=seed
                    )
                    self.finetune_events.append(("finetune_started", {**payload, "number": number}))
                except (ValueError, KeyError, RuntimeError) as exc:  # SourceError and FinetuneError are ValueErrors
                    self.finetune_events.append(("finetune_failed", {**payload, "error": str(exc)[:300]}))

    def _set_references(self) -> None:
        """The trending scenes the `dist_<topic>` metrics measure against (built-in scenes; fixed frames)."""
        refs: dict[str, np.ndarray] = {}
        for t in self.world.trends.current():
            key = t.topic
            if key in refs:
                continue
            if t.id not in self._reference_cache:
                frames = self.world.trends.reference_frames(t.id)
                if frames is None:
                    continue
                self._reference_cache[t.id] = centroids_from_frames({"x": frames})["x"]
            refs[key] = self._reference_cache[t.id]
        try:
            self.world.engine.set_references(refs)
        except ValueError as exc:  # e.g. two topics that sanitise to the same metric name
            log.warning("trend references not updated: %s", exc)

    # ---- resume state ---------------------------------------------------------------------------------------
    def _state(self, round_number: int) -> dict[str, Any]:
        return {
            "round": round_number,
            "next_slot": self.next_slot,
            "all_names": sorted(self.all_names),
            "rngs": self.world.rng_states(),
            "audience": self.world.audience.state_dict(),
            "engine": self.world.engine.state_dict(),
            "trends": self.world.trends.state_dict(),
            "streamers": [st.to_state() for st in self.live.values()],
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self.next_slot = state["next_slot"]
        self.all_names = set(state["all_names"])
        for d in state["streamers"]:
            settings = StreamSettings.model_validate(d["settings"])
            control = StreamControl(
                d["slot"], settings, self.config.generator.limits, run_dir=str(self.run_dir / "streams" / d["slot"])
            )
            st = LiveStreamer(
                d["streamer_id"],
                d["slot"],
                d["name"],
                Persona.model_validate(d["persona"]),
                control,
                d["born_round"],
                list(d["ern_history"]),
                Rating(*d["rating"]),
                d["rank"],
                d["share"],
                d["last"],
            )
            self.live[st.slot] = st
            self.world.engine.add_stream(st.slot, control.current_settings, seed=settings.seed)
            if self.broadcaster:
                self.broadcaster.add_stream(st.slot, st.name)
        self.world.engine.load_state_dict(state["engine"])
        self.world.audience.load_state_dict(state["audience"])
        self.world.trends.load_state_dict(state["trends"])
        self.world.load_rng_states(state["rngs"])

    # ---- one round ------------------------------------------------------------------------------------------
    def observe(self, st: LiveStreamer, r: int) -> Observation:
        c = self.config
        ranked = sorted(self.live.values(), key=lambda x: (x.rank or 10**6, x.streamer_id))
        n_releg = max(1, math.floor(len(self.live) * c.relegation.fraction))
        to_window = (c.relegation.every - (r - 1) % c.relegation.every) if c.relegation.every else 0
        return Observation(
            stream_id=st.slot,
            name=st.name,
            round=r,
            rounds_total=c.rounds,
            rounds_to_relegation=to_window,
            persona_summary=f"{st.persona.character or st.persona.seed} Goals: {'; '.join(st.persona.goals)}",
            persona_style=st.persona.visual_style or st.persona.seed,
            persona_traits=st.persona.traits.model_dump(),
            ern_history=st.ern_history[-10:],
            share=st.share,
            rating=st.rating.ordinal,
            rank=st.rank,
            in_relegation_zone=st.rank is not None and st.rank > len(self.live) - n_releg,
            buffer_level=st.last.get("buffer_level", 0),
            buffer_capacity=st.last.get("buffer_capacity", 0),
            stall_seconds=st.last.get("stall_seconds", 0.0),
            stall_count=st.last.get("stall_count", 0),
            frames_generated=st.last.get("frames_generated", 0),
            frames_output=st.last.get("frames_output", 0),
            settings=st.control.current_settings().model_dump(),
            limits=c.generator.limits.model_dump(),
            trends=[TrendView(**t.model_dump()) for t in self.world.trends.current()],
            leaderboard=[
                LeaderboardRow(
                    rank=x.rank or i + 1,
                    name=x.name,
                    ern=(x.ern_history[-1] if x.ern_history else 0.0),
                    share=x.share,
                    rating=x.rating.ordinal,
                    is_self=x is st,
                )
                for i, x in enumerate(ranked)
            ],
        )

    def _decide(self, r: int) -> list[DecisionOutcome]:
        if hasattr(self.policy, "personas"):  # the LLM policy builds each Agent from its persona
            self.policy.personas = {st.slot: st.persona for st in self.live.values()}
        jobs = [
            DecisionJob(
                st.slot, self.policy, self.observe(st, r), st.control, policy_rng(self.config.seed, r, st.streamer_id)
            )
            for st in self.live.values()
        ]
        return decide_all(jobs, self.config.decision.max_parallel, self.config.decision.timeout_seconds)

    def _stream(self, r: int) -> tuple[dict[str, Any], list[DecisionOutcome]]:
        engine = self.world.engine
        on_frame = self.broadcaster.on_frame if self.broadcaster else None
        self._set_references()
        if self.config.clock == "turn":
            outcomes = self._decide(r)
            self._start_finetunes(r)
            reports = engine.advance(self.config.round_seconds, should_stop=self.stop_event.is_set, on_frame=on_frame)
        else:  # live: the streams keep running while the agents think
            box: dict[str, list[DecisionOutcome]] = {}
            thinker = threading.Thread(target=lambda: box.setdefault("o", self._decide(r)), daemon=True)
            thinker.start()
            reports = engine.advance(self.config.round_seconds, should_stop=self.stop_event.is_set, on_frame=on_frame)
            thinker.join()
            outcomes = box.get("o", [])
            self._start_finetunes(r)  # requests made while streaming start now, on the next round's time
        if self.stop_event.is_set():
            raise SeasonStopped()
        return reports, outcomes

    def _views(self, reports: dict[str, Any]) -> list[StreamView]:
        slots = list(self.live)
        embs = np.stack([np.asarray(reports[s].prompt_embedding, dtype=np.float32) for s in slots])
        sims = embs @ embs.T
        np.fill_diagonal(sims, -1.0)
        views = []
        for i, s in enumerate(slots):
            rep = reports[s]
            novelty = float(np.clip(1.0 - sims[i].max(), 0.0, 1.0)) if len(slots) > 1 else 0.0
            views.append(
                StreamView(
                    stream_id=s,
                    prompt_embedding=embs[i],
                    quality=float(rep.metrics.get("quality", 0.5)),
                    stability=float(rep.metrics.get("stability", 0.5)),
                    stall_seconds_per_tick=list(rep.stall_seconds_per_second),
                    startup_delay=rep.startup_delay,
                    novelty=novelty,
                )
            )
        return views

    def _thumbnail(self, slot: str, r: int, image: np.ndarray | None) -> str | None:
        if image is None:
            return None
        rel = Path("thumbs") / slot / f"r{r:05d}.png"
        path = self.run_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path)
        return str(rel)

    def play_round(self, r: int) -> RoundResult:
        t0 = time.perf_counter()
        reports, outcomes = self._stream(r)
        ticks = max(1, round(self.config.round_seconds / self.config.audience.tick_seconds))
        watched = self.world.audience.step_round(self._views(reports), ticks, self.world.trend_embedding())
        by_id = {st.streamer_id: st for st in self.live.values()}
        # Real viewers counted by the broadcast server are added on top of the simulated ones, stored apart.
        real = self.broadcaster.real_viewers() if self.broadcaster else {}
        real_by_id = {st.streamer_id: int(real.get(st.slot, 0)) for st in self.live.values()}
        ern = {
            st.streamer_id: float(watched.ern[st.slot]["mean"]) + real_by_id[st.streamer_id]
            for st in self.live.values()
        }
        ratings = rate_round({i: by_id[i].rating for i in ern}, ern)
        table = standings(ern, ratings)
        sid, rnd = self.season.id, r
        events: list[Event] = []
        rows: list[Any] = []
        for o in outcomes:
            st = self.live[o.stream_id]
            acts = [{"tool": a.tool, "args": a.args, "result": a.result, "ok": a.ok} for a in o.actions]
            events.append(
                Event(
                    season_id=sid,
                    round=rnd,
                    kind="decision",
                    payload_json=dumps(
                        {
                            "streamer_id": st.streamer_id,
                            "slot": st.slot,
                            "policy": self.policy.name,
                            "ok": o.ok,
                            "error": o.error,
                            "seconds": round(o.seconds, 4),
                            "actions": acts,
                        }
                    ),
                )
            )
            rows += [
                Action(
                    season_id=sid,
                    round=rnd,
                    streamer_id=st.streamer_id,
                    tool=a.tool,
                    args_json=dumps(a.args),
                    result=a.result,
                    ok=a.ok,
                )
                for a in o.actions
            ]
        scored: dict[str, Any] = {}
        for stand in table:
            st = by_id[stand.streamer_id]
            rep = reports[st.slot]
            summary = {k: getattr(rep, k) for k in REPORT_FIELDS}
            summary["metrics"] = {k: float(v) for k, v in rep.metrics.items()}
            st.last = summary
            st.ern_history.append(stand.ern_mean)
            st.rating, st.rank, st.share = stand.rating, stand.rank, stand.share
            peak = int(watched.ern[st.slot]["peak"]) + real_by_id[st.streamer_id]
            scored[str(st.streamer_id)] = {
                **summary,
                "ern_mean": stand.ern_mean,
                "ern_peak": peak,
                "slot": st.slot,
                "real_viewers": real_by_id[st.streamer_id],
                "settings": rep.settings,
            }
            rows.append(
                StreamStat(
                    season_id=sid,
                    round=rnd,
                    streamer_id=st.streamer_id,
                    rank=stand.rank,
                    ern_mean=stand.ern_mean,
                    ern_peak=peak,
                    share=stand.share,
                    rating_mu=stand.rating.mu,
                    rating_sigma=stand.rating.sigma,
                    frames_generated=rep.frames_generated,
                    frames_output=rep.frames_output,
                    buffer_level=rep.buffer_level,
                    stall_count=rep.stall_count,
                    stall_seconds=rep.stall_seconds,
                    startup_delay=rep.startup_delay,
                    ttcp=rep.ttcp,
                    real_viewers=real_by_id[st.streamer_id],
                    metrics_json=dumps(summary["metrics"]),
                    thumbnail=self._thumbnail(st.slot, r, rep.thumbnail),
                )
            )
            if rep.stall_count > 0:
                events.append(
                    Event(
                        season_id=sid,
                        round=rnd,
                        kind="stall",
                        payload_json=dumps(
                            {
                                "streamer_id": st.streamer_id,
                                "slot": st.slot,
                                "stall_count": rep.stall_count,
                                "stall_seconds": rep.stall_seconds,
                            }
                        ),
                    )
                )
        events.append(
            Event(
                season_id=sid,
                round=rnd,
                kind="round_scored",
                payload_json=dumps(
                    {"round": r, "sim_time": self.world.engine.now, "online": watched.online_mean, "streams": scored}
                ),
            )
        )
        for done in self.world.engine.finetunes.drain_events():
            st = self.live.get(done["stream_id"])
            if st is not None:
                self.finetune_events.append(("finetune_done", {"streamer_id": st.streamer_id, "slot": st.slot, **done}))
        relegated, plans = self._relegation(r)
        events += self._llm_events(r)
        self.world.trends.step()
        wall = time.perf_counter() - t0
        self._commit_round(r, rows, events, relegated, plans, wall, watched.online_mean)
        gone = {st.streamer_id for st, _ in relegated}
        return RoundResult(
            r,
            [
                {
                    "rank": x.rank,
                    "name": by_id[x.streamer_id].name,
                    "ern": x.ern_mean,
                    "share": x.share,
                    "rating": x.rating.ordinal,
                    "status": "relegated" if x.streamer_id in gone else "live",
                }
                for x in table
            ],
            [st.name for st, _ in relegated],
            [p.persona.display_name for p in plans],
            wall,
        )

    def _relegation(self, r: int) -> tuple[list[tuple[LiveStreamer, float]], list[SpawnPlan]]:
        """At a window: who goes (with the window ERN that sent them) and the plans of who replaces them."""
        c = self.config.relegation
        if r % c.every != 0 or r >= self.config.rounds:
            return [], []
        cands = []
        for st in self.live.values():
            window = st.ern_history[-c.every :]
            cands.append(
                Candidate(
                    st.streamer_id,
                    st.name,
                    st.persona,
                    st.control.current_settings(),
                    float(np.mean(window)) if window else 0.0,
                    st.rating.ordinal,
                )
            )
        gone = select_relegated(cands, c.fraction)
        plans = plan_respawns(
            cands,
            gone,
            self.pool,
            self.config.generator.defaults,
            self.config.generator.limits,
            self.world.rngs["evolution"],
            top_fraction=c.top_fraction,
            fresh_probability=c.fresh_probability,
            resample_probability=c.resample_probability,
            taken_names=self.all_names,
        )
        if self.config.policy == "llm" and plans:
            plans = self._llm_plans(plans, r)
        return [(self._by_id(x.streamer_id), x.window_ern) for x in gone], plans

    def _by_id(self, streamer_id: int) -> LiveStreamer:
        return next(st for st in self.live.values() if st.streamer_id == streamer_id)

    def _commit_round(
        self,
        r: int,
        rows: list[Any],
        events: list[Event],
        relegated: list[tuple[LiveStreamer, float]],
        plans: list[SpawnPlan],
        wall: float,
        online: float,
    ) -> None:
        sid = self.season.id
        with self.db.session() as s:
            for st, _ in relegated:  # stop their finetunes before the respawns inherit checkpoints
                self.world.engine.finetunes.cancel(st.slot)
            for row in rows:
                s.add(row)
            for ev in events:
                s.add(ev)
            for st, window in relegated:
                db_row = s.get(Streamer, st.streamer_id)
                db_row.status, db_row.relegated_round = "relegated", r
                s.add(
                    Event(
                        season_id=sid,
                        round=r,
                        kind="relegated",
                        payload_json=dumps(
                            {"streamer_id": st.streamer_id, "slot": st.slot, "name": st.name, "window_ern": window}
                        ),
                    )
                )
                self.world.engine.remove_stream(st.slot)
                self.world.audience.remove_stream(st.slot)
                if self.broadcaster:
                    self.broadcaster.end_stream(st.slot)  # its playlist ends with #EXT-X-ENDLIST
                del self.live[st.slot]
            for plan in plans:
                self._spawn(s, plan, round_number=r)
            for kind, payload in self.finetune_events:
                s.add(Event(season_id=sid, round=r, kind=kind, payload_json=dumps(payload)))
            self.finetune_events = []
            s.add(
                Round(
                    season_id=sid,
                    number=r,
                    sim_time=self.world.engine.now,
                    online_viewers=int(round(online)),
                    wall_seconds=wall,
                )
            )
            season = s.get(Season, sid)
            season.rounds_done, season.updated_at = r, time.time()
            resume_state.write_state(self.run_dir, r, self._state(r))
            s.commit()
        self.season.rounds_done = r
        resume_state.prune_states(self.run_dir, r)
        if self.broadcaster:
            self.broadcaster.update_status(
                [
                    {
                        "id": st.slot,
                        "name": st.name,
                        "ern": st.ern_history[-1] if st.ern_history else 0.0,
                        "status": "live",
                        "rank": st.rank,
                    }
                    for st in self.live.values()
                ]
                + [
                    {"id": st.slot, "name": st.name, "ern": window, "status": "relegated", "rank": None}
                    for st, window in relegated
                ]
            )

    # ---- the season -----------------------------------------------------------------------------------------
    def run(self, on_round: Callable[[RoundResult], None] | None = None) -> str:
        """Play the remaining rounds. Returns the final status: finished | stopped."""
        self.world.trends.start()  # network sources (yt-dlp) refresh in the background
        try:
            self._prepare_policy()
            return self._run(on_round)
        finally:
            self.world.trends.close()
            if self.broadcaster:
                self.broadcaster.stop()

    def _prepare_policy(self) -> None:
        """Load the policy's local model before round 1 (a failure is left to the first decision, which
        logs it and keeps the stream as it was)."""
        if self.season.rounds_done >= self.config.rounds:
            return
        try:
            ready = self.policy.prepare()
        except Exception as e:  # noqa: BLE001
            ready = {"error": f"{type(e).__name__}: {e}"[:300]}
        if ready is not None:
            with self.db.session() as s:
                s.add(
                    Event(
                        season_id=self.season.id,
                        round=self.season.rounds_done,
                        kind="policy_ready",
                        payload_json=dumps(ready),
                    )
                )
                s.commit()

    def _run(self, on_round: Callable[[RoundResult], None] | None) -> str:
        start = self.season.rounds_done + 1
        for r in range(start, self.config.rounds + 1):
            if self.stop_event.is_set():
                return self._set_status("stopped", r - 1)
            try:
                result = self.play_round(r)
            except SeasonStopped:
                return self._set_status("stopped", r - 1)
            if on_round:
                on_round(result)
        return self._set_status("finished", self.config.rounds)

    def _set_status(self, status: str, last_round: int) -> str:
        with self.db.session() as s:
            season = s.get(Season, self.season.id)
            season.status, season.updated_at = status, time.time()
            s.add(
                Event(
                    season_id=self.season.id,
                    round=last_round,
                    kind=f"season_{status}",
                    payload_json=dumps({"rounds_done": season.rounds_done}),
                )
            )
            s.commit()
        self.season.status = status
        return status
