"""The season loop: one committed round at a time, each round six visible phases.

The loop is the game master (Concordia's word): agents only see Observations and act through tools; the
engine and audience only see settings and views; the database only sees what the recorder writes. Read
`SeasonRunner.play_round` top to bottom: 1 observe -> 2 decide and 3 stream (in the clock's order) -> 4 watch
-> 5 score -> 6 relegate, then commit. The phases live in `arena.round` (observe, views, score), `arena.clocks`
(decide and stream), `arena.spawning` (relegate and respawn), `arena.roster` (who is live) and
`arena.recorder` (the only writer). Each round is written in one transaction after its resume state is on
disk (`arena.resume_state`), so Ctrl-C or `kill -9` at any moment loses at most the round in flight.

Why this module is over 400 lines: it is the wiring of the game master (construction, resume, the phases,
the commit, the run loop), and every rule it wires lives in its own module; splitting the wiring itself
would hide the order of the phases, which is the point of reading it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agents.loading import builtin_persona_dir, load_persona_pool
from agents.persona import Persona
from arena import resume_state
from arena.audience import RoundAudience, StreamView
from arena.chat_room import ChatRoom
from arena.clocks import DecidedAndStreamed, make_clock
from arena.config import SeasonConfig
from arena.db import Database, Season
from arena.evolution import SpawnPlan
from arena.finetune_requests import TrendReferences, finished_finetunes, start_finetunes
from arena.llm_log import llm_call_events, load_llm_records
from arena.memory import REFLECTION_MAX_CHARS, reflection_request, remember
from arena.recorder import Recorder, RoundWriter
from arena.roster import LiveStreamer, Roster
from arena.round import ScoredRound, apply_scores, decision_records, observe, score, stream_views, zone_after_round
from arena.rules import is_window_round
from arena.spawning import Spawner, Verdict
from arena.voices import SeasonVoices
from arena.world import World, build_world, policy_rng
from common.errors import ConfigError, FieldError
from common.untrusted import clean_text
from crews.registry import make_policy
from media.avatar.echomimic import EchoMimicRenderer
from media.avatar.echomimic import check as check_echomimic
from media.broadcast import Broadcaster, BroadcastError
from media.engine_streams import StreamReport
from policies.base import Policy
from policies.decide import DecisionJob, DecisionOutcome, decide_all, summarise_failures
from tools.observation import Observation

log = logging.getLogger("arena")


class SeasonStopped(Exception):
    """Raised inside a round when a stop was requested; the round is discarded, nothing half-written."""


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
        self.run_dir = Path(season.run_dir)
        self.recorder = Recorder(db, season)
        self.clock = make_clock(config.clock)
        # One policy object per policy name the season uses (a mixed season has several); each decides for
        # the streamers that play it. Persona completion asks the LLM policy when the season has one.
        names = dict.fromkeys(config.policy_mix or [config.policy])  # the policies streamers actually play
        self.policies: dict[str, Policy] = {name: make_policy(name, config.llm) for name in names}
        if "llm" in self.policies and config.llm.replay_season:  # answer every LLM call from a recorded season
            source = config.llm.replay_season
            self.policies["llm"].replay(source, load_llm_records(db, source))
        persona_policy = self.policies.get("llm", next(iter(self.policies.values())))
        self.spawner = Spawner(config, persona_policy, pool, world.rngs)
        # Finished finetunes are saved here (runs/<season>/checkpoints/<slot>/ft-<n>.safetensors).
        self.world.engine.set_checkpoint_root(self.run_dir / "checkpoints")
        self.references = TrendReferences()
        self.zone: set[int] = set()  # the relegation zone after the last round (`arena.rules.zone_after`)
        self.round_events: list[tuple[str, dict[str, Any]]] = []  # finetune events waiting for the round's commit
        self.stop_event = threading.Event()
        self.broadcaster: Broadcaster | None = None
        if config.chat.writer == "llm" and "llm" not in self.policies:
            raise ConfigError(
                "chat.writer: llm writes chat with the season's LLM: set policy: llm (or llm in policy_mix)"
            )
        writer = self.policies["llm"].completer if config.chat.writer == "llm" else None
        self.chat = ChatRoom(config.chat, config.seed, completer_of=writer)  # its board is the watch page's
        self.roster = Roster(world, config.generator.limits, self.run_dir, None)
        self.voices = SeasonVoices(config.voice, self.run_dir, config.round_seconds)  # spoken lines and faces
        self.voices.generator = getattr(world.engine, "generator", None)  # portraits from the streams' generator
        budget = config.voice.budget  # never more speech than a round holds: lines queue, a backlog would grow
        self.roster.speech_budget = budget.model_copy(
            update={"seconds_per_round": min(budget.seconds_per_round, config.round_seconds)}
        )
        self.roster.on_attach = self.voices.attach

    @property
    def policy(self) -> Policy:
        """The season's policy (`policy:`; with a mix, its first policy when `policy` is not in it)."""
        return self.policies.get(self.config.policy) or next(iter(self.policies.values()))

    @policy.setter
    def policy(self, policy: Policy) -> None:
        """Let one policy decide for every streamer (tests); persona completion follows it."""
        self.policies = dict.fromkeys(self.policies, policy)
        self.spawner.policy = policy

    def policy_of(self, st: LiveStreamer) -> Policy:
        return self.policies.get(st.policy) or self.policy

    def _distinct_policies(self) -> list[Policy]:
        return list({id(p): p for p in self.policies.values()}.values())

    def _policy_name(self, k: int, plan: SpawnPlan) -> str:
        """Initial streamer k plays policy_mix[k % len]; a respawn plays the policy of the one it replaces."""
        if plan.replaces >= 0:
            gone = self.roster.find(plan.replaces)
            if gone is not None and gone.policy:
                return gone.policy
        mix = self.config.policy_mix
        return mix[k % len(mix)] if mix else self.config.policy

    @property
    def live(self) -> dict[str, LiveStreamer]:
        return self.roster.live

    def start_broadcast(self, source: str = "season config") -> str | None:
        """Live mode (or `broadcast.enabled`): serve every stream as HLS. A taken port is one clear line."""
        if not (self.config.clock == "live" or self.config.broadcast.enabled):
            return None
        self.broadcaster = Broadcaster(self.config.broadcast, self.run_dir, chat=self.chat.board)
        try:
            url = self.broadcaster.start()
        except BroadcastError as exc:
            self.broadcaster = None
            raise ConfigError(f"{source}: {exc}") from None
        self.roster.broadcaster = self.broadcaster
        self.voices.broadcaster = self.broadcaster
        if self.config.voice.avatar == "echomimic" and self.config.voice.echomimic is not None:
            self.broadcaster.clips = EchoMimicRenderer(self.config.voice.echomimic, self.run_dir / "echomimic")
        return url

    def check_voices(self, source: str = "season config") -> None:
        """Before anything is stored: every persona's voice file, and EchoMimic's checkout, weights and GPU."""
        try:
            self.voices.check_personas(self.spawner.pool)
            if self.config.voice.avatar == "echomimic" and self.config.voice.echomimic is not None:
                check_echomimic(self.config.voice.echomimic)
        except (FieldError, ConfigError) as exc:
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
            engine = config.engine.model_copy(update={"calibrate": False, "cost_model": world.cost_model})
            config = config.model_copy(update={"engine": engine})
        run_dir = Path(config.run_dir) / name
        season = Season(
            name=name,
            seed=config.seed,
            config_json=config.model_dump_json(),
            rounds_planned=config.rounds,
            run_dir=str(run_dir),
        )
        runner = cls(config, db, season, world, pool)
        runner.check_voices(source)
        runner.start_broadcast(source)
        runner._spawn_initial()
        runner._broadcast_status(Verdict())  # the page shows personas and prompts from the start
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
        runner.check_voices()
        runner.start_broadcast()
        runner._load_state(resume_state.read_state(season.run_dir, season.rounds_done))
        runner._broadcast_status(Verdict())
        runner.recorder.resumed()
        return runner

    def _spawn_initial(self) -> None:
        plans = self.spawner.initial_plans()

        def write(w: RoundWriter) -> None:
            self._write_llm_events(w, 0)
            for k, plan in enumerate(plans):
                self.roster.spawn(w, plan, 0, self._policy_name(k, plan))

        self.recorder.create_season(write, lambda: resume_state.write_state(self.run_dir, 0, self._state(0)))

    # ---- one round ------------------------------------------------------------------------------------------
    def play_round(self, r: int) -> RoundResult:
        t0 = time.perf_counter()
        live = list(self.roster)
        self.references.update(self.world)
        observations = self.chat.observe(self.observe(r, live))  # 1. observe (with the stream's chat)
        self.chat.apply_auto(live, observations)  # viewers' style requests a persona takes without asking
        round_start = self.world.engine.now  # the stream clock at the round's start: spoken lines queue from it
        streamed = self.clock.decide_and_stream(  # 2. decide and 3. stream, in the clock's order
            lambda: self.decide(r, observations), lambda: self._start_finetunes(r), self.stream
        )
        if self.stop_event.is_set():
            raise SeasonStopped()
        self.chat.after_decisions(live, streamed.outcomes)  # approvals, spoken lines, the chat answered
        self.round_events += self.voices.after_decisions(r, live, streamed.outcomes, round_start)  # heard lines
        views, watched = self.watch(streamed.reports)  # 4. watch
        self.chat.simulate(r, views, self.world.audience)  # the simulated audience talks about what it saw
        scored = self.score(r, streamed, watched, views)  # 5. score
        before = {st.slot: (st.ern_history[-1] if st.ern_history else 0.0) for st in live}
        apply_scores(scored, live)
        for o in streamed.outcomes:  # each streamer remembers what it did and what its viewers did next
            st = self.live[o.stream_id]
            after = st.ern_history[-1] if st.ern_history else 0.0
            st.memory = remember(st.memory, r, o.actions, before[o.stream_id], after, st.share)
        self.zone = zone_after_round(live, self.config, r)
        self.round_events += finished_finetunes(self.world, self.live)
        self.round_events += [("engine_actor_restarted", e) for e in self.world.engine.drain_fault_events()]
        verdict = self.spawner.relegation(r, live, self.roster.all_names)  # 6. relegate
        gone = {st.streamer_id for st, _ in verdict.relegated}
        self.round_events += self.reflect(r, [st for st in live if st.streamer_id not in gone])
        self.world.trends.step()
        wall = time.perf_counter() - t0
        self.commit(r, scored, verdict, wall)
        return self._result(r, scored, verdict, wall)

    def observe(self, r: int, live: list[LiveStreamer]) -> dict[str, Observation]:
        zone = self.zone & {st.streamer_id for st in live}  # the table's zone, less anyone relegated since
        trends = self.world.trends.current()
        demand = self.world.audience.demand()
        load = self.world.cost_model.load([st.control.current_settings() for st in live])
        return {st.slot: observe(st, live, r, self.config, trends, zone, demand, load) for st in live}

    def decide(self, r: int, observations: dict[str, Observation]) -> list[DecisionOutcome]:
        for policy in self._distinct_policies():
            policy.meet_streamers({st.slot: st.persona for st in self.roster if self.policy_of(st) is policy})
        jobs = [
            DecisionJob(
                st.slot,
                self.policy_of(st),
                observations[st.slot],
                st.control,
                policy_rng(self.config.seed, r, st.streamer_id),
            )
            for st in self.roster
        ]
        outcomes = decide_all(jobs, self.config.decision.max_parallel, self.config.decision.timeout_seconds)
        if failed := summarise_failures(outcomes):  # once per round, one line (each error is in its outcome)
            log.warning("round %d: %s", r, failed)
        return outcomes

    def reflect(self, r: int, survivors: list[LiveStreamer]) -> list[tuple[str, dict[str, Any]]]:
        """When a relegation window closes, each surviving streamer's policy may write its lessons and plan
        (`Policy.reflect_all`); they enter its next observations, and an exploit child inherits them."""
        c = self.config.relegation
        if not is_window_round(r, c.every, self.config.rounds):
            return []
        events = []
        for policy in self._distinct_policies():
            mine = [st for st in survivors if self.policy_of(st) is policy]
            requests = [reflection_request(st, r, c.every, len(survivors)) for st in mine]
            try:
                written = policy.reflect_all(requests) if requests else {}
            except Exception as exc:  # noqa: BLE001 - a model failure keeps the old reflections
                log.warning("reflections of round %d failed: %s", r, f"{type(exc).__name__}: {exc}"[:200])
                written = {}
            for st in mine:
                text = clean_text(written.get(st.slot, ""), REFLECTION_MAX_CHARS)
                if text:
                    st.reflection = text
                    events.append(
                        ("reflection", {"streamer_id": st.streamer_id, "slot": st.slot, "name": st.name, "text": text})
                    )
        return events

    def _start_finetunes(self, r: int) -> None:
        self.round_events += start_finetunes(self.world, self.roster, self.config.seed, r)

    def stream(self) -> dict[str, StreamReport]:
        on_frame = self.broadcaster.on_frame if self.broadcaster else None
        return self.world.engine.advance(
            self.config.round_seconds, should_stop=self.stop_event.is_set, on_frame=on_frame
        )

    def watch(self, reports: dict[str, StreamReport]) -> tuple[dict[str, StreamView], RoundAudience]:
        """The audience sees the round's output frames (through the eye) and moves; interests drift first."""
        c = self.config
        ticks = max(1, round(c.round_seconds / c.audience.tick_seconds))
        views = stream_views(list(self.live), reports, self.world.eye, c.round_seconds, c.audience.tick_seconds, ticks)
        for v in views:
            v.topic = self.world.audience.topic_of(v.content_embedding)
            v.chat_answered = self.chat.answered.get(v.stream_id, 0.0)
            v.commentary = self.voices.commentary.get(v.stream_id, 0.0)
            v.speech_spam = self.voices.spam.get(v.stream_id, 0.0)
        self.world.audience.drift_interests(self.world.trend_view.topic_popularity())
        watched = self.world.audience.step_round(views, ticks, self.world.trend_embedding())
        return {v.stream_id: v for v in views}, watched

    def score(
        self, r: int, streamed: DecidedAndStreamed, watched: RoundAudience, views: dict[str, StreamView]
    ) -> ScoredRound:
        # Real viewers counted by the broadcast server are added on top of the simulated ones, stored apart.
        real = self.broadcaster.real_viewers() if self.broadcaster else {}
        sid = self.recorder.season_id
        names = {st.slot: self.policy_of(st).name for st in self.roster}
        events, actions = decision_records(r, sid, streamed.outcomes, self.live, names)
        scored = score(
            r,
            sid,
            list(self.roster),
            streamed.reports,
            watched,
            real,
            lambda slot, image: self._thumbnail(slot, r, image),
            self.world.engine.now,
            views,
            distinct_real=self.broadcaster.distinct_real_viewers() if self.broadcaster else None,
        )
        scored.events[:0] = events
        scored.rows[:0] = actions
        return scored

    def _thumbnail(self, slot: str, r: int, image: np.ndarray | None) -> str | None:
        if image is None:
            return None
        rel = Path("thumbs") / slot / f"r{r:05d}.png"
        path = self.run_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path)
        return str(rel)

    def commit(self, r: int, scored: ScoredRound, verdict: Verdict, wall: float) -> None:
        """The round in one transaction: scores, relegations, respawns, then the resume state, then commit."""
        for st, _ in verdict.relegated:  # stop their finetunes before the respawns inherit checkpoints
            self.world.engine.cancel_finetunes(st.slot)
        policies = [self._policy_name(k, plan) for k, plan in enumerate(verdict.plans)]  # before anyone leaves
        chat_rows, chat_events = self.chat.drain(r, self.recorder.season_id, list(self.roster))
        with self.recorder.round(lambda: resume_state.write_state(self.run_dir, r, self._state(r))) as w:
            w.add(*scored.rows)
            for kind, payload in scored.events:
                w.event(r, kind, payload)
            w.add(*chat_rows)
            for kind, payload in chat_events:
                w.event(r, kind, payload)
            self._write_llm_events(w, r)
            for st, window in verdict.relegated:
                w.relegate(st.streamer_id, r)
                w.event(
                    r,
                    "relegated",
                    {"streamer_id": st.streamer_id, "slot": st.slot, "name": st.name, "window_ern": window},
                )
                self.roster.remove(st)
                self.chat.forget(st.slot)
                self.voices.forget(st.slot)
            for plan, policy in zip(verdict.plans, policies):
                self.roster.spawn(w, plan, r, policy)
            for kind, payload in self.round_events:
                w.event(r, kind, payload)
            self.round_events = []
            w.close_round(r, self.world.engine.now, scored.online, wall)
        self.season.rounds_done = r
        resume_state.prune_states(self.run_dir, r)
        self._broadcast_status(verdict)

    def _write_llm_events(self, w: RoundWriter, r: int) -> None:
        """The round's persona LLM outcomes, then its recorded LLM calls (decisions and personas)."""
        for round_number, kind, payload in self.spawner.drain_events():
            w.event(round_number, kind, payload)
        for policy in self._distinct_policies():
            w.add(*llm_call_events(self.recorder.season_id, r, policy.drain_records()))

    def _broadcast_status(self, verdict: Verdict) -> None:
        if not self.broadcaster:
            return
        live = [
            {
                "id": st.slot,
                "name": st.name,
                "ern": st.ern_history[-1] if st.ern_history else 0.0,
                "status": "live",
                "rank": st.rank,
                "persona": st.persona.character or st.persona.seed,
                "prompt": st.control.current_settings().prompt,
                "said": self.chat.said.get(st.slot, ""),
            }
            for st in self.roster
        ]
        gone = [
            {"id": st.slot, "name": st.name, "ern": window, "status": "relegated", "rank": None}
            for st, window in verdict.relegated
        ]
        self.broadcaster.update_status(live + gone)

    def _result(self, r: int, scored: ScoredRound, verdict: Verdict, wall: float) -> RoundResult:
        gone = {st.streamer_id for st, _ in verdict.relegated}
        names = {st.streamer_id: st.name for st in self.roster} | {
            st.streamer_id: st.name for st, _ in verdict.relegated
        }
        table = [
            {
                "rank": x.rank,
                "name": names[x.streamer_id],
                "ern": x.ern_mean,
                "share": x.share,
                "rating": x.rating.ordinal,
                "status": "relegated" if x.streamer_id in gone else "live",
            }
            for x in scored.table
        ]
        return RoundResult(
            r, table, [st.name for st, _ in verdict.relegated], [p.persona.display_name for p in verdict.plans], wall
        )

    # ---- resume state ---------------------------------------------------------------------------------------
    def _state(self, round_number: int) -> dict[str, Any]:
        return {
            "round": round_number,
            **self.roster.state(),
            "zone": sorted(self.zone),
            "rngs": self.world.rng_states(),
            "audience": self.world.audience.state_dict(),
            "engine": self.world.engine.state_dict(),
            "trends": self.world.trends.state_dict(),
            "chat": self.chat.state(),
            "voices": self.voices.state_dict(),
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self.roster.load_state(state)
        self.zone = set(state.get("zone", []))
        self.world.engine.load_state_dict(state["engine"])
        self.world.audience.load_state_dict(state["audience"])
        self.world.trends.load_state_dict(state["trends"])
        self.world.load_rng_states(state["rngs"])
        self.chat.load_state(state.get("chat"))
        self.voices.load_state_dict(state.get("voices", {}))

    # ---- the season -----------------------------------------------------------------------------------------
    def run(self, on_round: Callable[[RoundResult], None] | None = None) -> str:
        """Play the remaining rounds. Returns the final status: finished | stopped."""
        self.world.trends.start()  # network sources (yt-dlp) refresh in the background
        self.chat.start_sources()  # external chats (chat.sources) read in the background
        try:
            self._prepare_policy()
            return self._run(on_round)
        finally:
            self.world.trends.close()
            self.chat.stop_sources()
            self.chat.board.set_streams(set())  # the season is over: chat is refused (404), never silently lost
            self.world.engine.close()  # the Ray backend's actors (and a Ray it started); nothing for local
            if self.broadcaster:
                self.broadcaster.stop()

    def _prepare_policy(self) -> None:
        """Load the policy's local model before round 1 (a failure is left to the first decision, which
        logs it and keeps the stream as it was)."""
        if self.season.rounds_done >= self.config.rounds:
            return
        for policy in self._distinct_policies():
            try:
                ready = policy.prepare()
            except Exception as e:  # noqa: BLE001
                ready = {"error": f"{type(e).__name__}: {e}"[:300]}
            if ready is not None:
                self.recorder.events(self.season.rounds_done, [("policy_ready", ready)])

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
        self.recorder.set_status(status, last_round)
        return status
