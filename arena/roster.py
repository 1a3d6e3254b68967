"""The live set of streamers: who streams now, spawning and removing them, their lineage, and their part of the
resume state.

Why a class of its own: spawning a streamer touches four things that must agree (a database row, an engine
stream, the broadcast playlist, an inherited checkpoint), and relegation undoes three of them. The roster is
the only code that does either, so no phase of the round can leave a half-spawned streamer behind. It writes
to the database only through the recorder's open transaction (`arena.recorder.RoundWriter`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agents.persona import Persona
from arena.evolution import SpawnPlan
from arena.recorder import RoundWriter
from arena.scoring import Rating, new_rating
from arena.world import World
from media.avatar.placement import AvatarPlacement
from media.broadcast import Broadcaster
from media.engine_streams import StreamReport
from media.settings import GeneratorLimits, StreamSettings
from media.voice.budget import SpeechBudget
from tools.control import StreamControl
from tools.observation import Recollection


@dataclass(frozen=True)
class StreamSummary:
    """What a streamer's last round looked like from the engine's report: the typed value the observation,
    the score rows and the resume state all read (never a dict with `.get(..., 0)`)."""

    frames_generated: int = 0
    frames_output: int = 0
    buffer_level: int = 0
    buffer_capacity: int = 0
    stall_count: int = 0
    stall_seconds: float = 0.0
    startup_delay: float | None = None
    ttcp: float | None = None
    content_positive: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    perceived: dict[str, float] = field(default_factory=dict)  # what the audience saw (arena.round.stream_views)
    ern_terms: dict[str, float] = field(default_factory=dict)  # why viewers came or left (RoundAudience.terms)
    perceived_topic: str = ""  # the audience topic the eye saw in its frames (Audience.topic_of)

    @classmethod
    def from_report(
        cls,
        rep: StreamReport,
        perceived: dict[str, float] | None = None,
        ern_terms: dict[str, float] | None = None,
        perceived_topic: str = "",
    ) -> StreamSummary:
        return cls(
            frames_generated=rep.frames_generated,
            frames_output=rep.frames_output,
            buffer_level=rep.buffer_level,
            buffer_capacity=rep.buffer_capacity,
            stall_count=rep.stall_count,
            stall_seconds=rep.stall_seconds,
            startup_delay=rep.startup_delay,
            ttcp=rep.ttcp,
            content_positive=rep.content_positive,
            metrics={k: float(v) for k, v in rep.metrics.items()},
            perceived=dict(perceived or {}),
            ern_terms=dict(ern_terms or {}),
            perceived_topic=perceived_topic,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    last: StreamSummary = field(default_factory=StreamSummary)  # last round's report
    policy: str = ""  # the name of the policy that decides for this streamer (mixed seasons differ)
    memory: list[Recollection] = field(default_factory=list)  # recent decisions and their effect (arena.memory)
    reflection: str = ""  # lessons and plan from its last relegation window (or its parent's, for a child)

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
            "last": self.last.to_dict(),
            "policy": self.policy,
            "memory": [m.model_dump() for m in self.memory],
            "reflection": self.reflection,
            "spoken": list(self.control.spoken),  # the speech budget's repeat check (media.voice.budget)
            "avatar": asdict(self.control.avatar),
        }


class Roster:
    """The live streamers by slot, plus every name ever used and the slot counter (both part of resume)."""

    def __init__(self, world: World, limits: GeneratorLimits, run_dir: Path, broadcaster: Broadcaster | None):
        self.world = world
        self.limits = limits
        self.run_dir = run_dir
        self.broadcaster = broadcaster
        self.live: dict[str, LiveStreamer] = {}
        self.all_names: set[str] = set()
        self.next_slot = 0
        self.speech_budget: SpeechBudget | None = None  # the season's voice.budget, given to every control
        self.on_attach: Callable[[LiveStreamer], None] | None = None  # arena.voices: a face for a new stream

    def __iter__(self) -> Iterator[LiveStreamer]:
        return iter(self.live.values())

    def __len__(self) -> int:
        return len(self.live)

    def by_id(self, streamer_id: int) -> LiveStreamer:
        return next(st for st in self.live.values() if st.streamer_id == streamer_id)

    def find(self, streamer_id: int) -> LiveStreamer | None:
        return next((st for st in self.live.values() if st.streamer_id == streamer_id), None)

    def personas(self) -> dict[str, Persona]:
        return {st.slot: st.persona for st in self.live.values()}

    # ---- spawn and remove ---------------------------------------------------------------------------------
    def spawn(self, writer: RoundWriter, plan: SpawnPlan, round_number: int, policy: str) -> LiveStreamer:
        """A database row, an engine stream, a playlist and (for an exploit child) the parent's checkpoint."""
        self.next_slot += 1
        slot = f"s{self.next_slot:02d}"
        streamer_id = writer.add_streamer(slot, plan, round_number)
        control = self._control(slot, plan.settings)
        st = LiveStreamer(streamer_id, slot, plan.persona.display_name, plan.persona, control, round_number)
        st.policy = policy
        self._attach(st)
        self.all_names.add(st.name)
        self._inherit_checkpoint(writer, plan, st)
        parent = self.find(plan.parent_id) if plan.origin == "exploit" and plan.parent_id is not None else None
        st.reflection = parent.reflection if parent is not None else ""  # the exploit child learns its lessons
        writer.event(
            round_number,
            "streamer_spawned",
            {
                "streamer_id": streamer_id,
                "slot": slot,
                "name": st.name,
                "persona": plan.persona.model_dump(mode="json"),
                "settings": plan.settings.model_dump(mode="json"),
                "parent_id": plan.parent_id,
                "origin": plan.origin,
                "replaces": plan.replaces if plan.replaces >= 0 else None,
                "mutations": plan.mutations,
                "policy": policy,
                "inherited_reflection": st.reflection or None,
            },
        )
        return st

    def remove(self, st: LiveStreamer) -> None:
        """Relegation: the stream stops, the audience forgets it, its playlist ends (#EXT-X-ENDLIST)."""
        self.world.engine.remove_stream(st.slot)
        self.world.audience.remove_stream(st.slot)
        if self.broadcaster:
            self.broadcaster.end_stream(st.slot)
        del self.live[st.slot]

    def _control(self, slot: str, settings: StreamSettings) -> StreamControl:
        return StreamControl(
            slot, settings, self.limits, run_dir=str(self.run_dir / "streams" / slot), speech_budget=self.speech_budget
        )

    def _attach(self, st: LiveStreamer) -> None:
        self.live[st.slot] = st
        self.world.engine.add_stream(st.slot, st.control.current_settings, seed=st.control.current_settings().seed)
        if self.broadcaster:
            self.broadcaster.add_stream(st.slot, st.name)
        if self.on_attach is not None:
            self.on_attach(st)

    def _inherit_checkpoint(self, writer: RoundWriter, plan: SpawnPlan, st: LiveStreamer) -> None:
        """PBT exploit copies weights too: the child starts on its parent's latest finetuned checkpoint."""
        if plan.origin != "exploit" or plan.parent_id is None:
            return
        parent = self.find(plan.parent_id)
        if parent is None:
            return
        name = self.world.engine.inherit_finetune(parent.slot, st.slot)
        if name is not None:
            writer.event(
                st.born_round,
                "finetune_inherited",
                {"streamer_id": st.streamer_id, "slot": st.slot, "parent_id": plan.parent_id, "checkpoint": name},
            )

    # ---- resume state -------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "next_slot": self.next_slot,
            "all_names": sorted(self.all_names),
            "streamers": [st.to_state() for st in self.live.values()],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.next_slot = state["next_slot"]
        self.all_names = set(state["all_names"])
        for d in state["streamers"]:
            settings = StreamSettings.model_validate(d["settings"])
            st = LiveStreamer(
                d["streamer_id"],
                d["slot"],
                d["name"],
                Persona.model_validate(d["persona"]),
                self._control(d["slot"], settings),
                d["born_round"],
                list(d["ern_history"]),
                Rating(*d["rating"]),
                d["rank"],
                d["share"],
                StreamSummary(**d["last"]) if d.get("last") else StreamSummary(),
                d.get("policy", ""),
                [Recollection.model_validate(m) for m in d.get("memory", [])],
                d.get("reflection", ""),
            )
            st.control.spoken = list(d.get("spoken", []))
            st.control.avatar = AvatarPlacement(**d["avatar"]) if d.get("avatar") else AvatarPlacement()
            self._attach(st)
