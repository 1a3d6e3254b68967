"""The stream tools as crewai `BaseTool`s, one set per decision, each calling the round's `act`, plus
`take_options`, which applies the arena's lettered options (tools.options) through the same `act`.

Why not crewai's own argument validation: crewai validates against `args_schema` before `_run` and answers
its own error text, which would bypass `tools.stream_tools` (our clamps, our clear `error: field: ...` lines)
and the action record the arena stores. So the schema is *offered* to the model (crewai turns it into the
OpenAI tool schema, which the embedded model's constrained decoder enforces), but `run` hands the raw,
untrusted arguments straight to `act`, where the one validated path lives. Every call, good or bad, is
recorded there.
"""

from __future__ import annotations

from typing import Any, Literal

from crewai.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, create_model

from crews.recording import CallSession
from policies.base import Act
from tools.observation import Observation
from tools.options import Option, TakeOptionsArgs, round_options
from tools.stream_tools import (
    FINETUNE_MAX_STEPS,
    CameraArgs,
    ChoosePromptArgs,
    NoArgs,
    RequestFinetuneArgs,
    SpeakArgs,
    ToolArgs,
    TuneGeneratorArgs,
    known_topics,
)

TOOL_LIMIT_TEXT = "error: this round's tool-call limit is reached; nothing was applied. Give your final answer now."


class _NoArgsSchema(BaseModel):
    """crewai needs a schema object even for a tool without arguments."""

    model_config = ConfigDict(extra="forbid")


# What the model is *offered*: the tools' argument models with short string bounds. A constrained decoder
# (the embedded model's) then cannot ramble inside a string until max_tokens runs out; the tools still
# validate and clamp whatever arrives (an unconstrained remote model may ignore these bounds).
class _ChoosePromptOffer(ToolArgs):
    topic: str = Field(max_length=60, description='a topic viewers want, or "my style"')
    details: str | None = Field(None, max_length=40, description="optional extra words")


class _TuneGeneratorOffer(ToolArgs):
    """Every knob nullable: crewai marks every offered property required, so "leave it" is a null."""

    fps: float | None = Field(None, ge=0.5, le=60)
    steps: int | None = Field(None, ge=1, le=50)
    resolution: int | None = Field(None, ge=8, le=4096)
    strength: float | None = Field(None, ge=0, le=1)
    interpolation: int | None = Field(None, ge=1, le=16)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class _RequestFinetuneOffer(RequestFinetuneArgs):
    source_id: str = Field(max_length=40, description="trend id")
    steps: int = Field(50, ge=1, le=FINETUNE_MAX_STEPS)


class _SpeakOffer(SpeakArgs):
    text: str = Field(max_length=80, description="one line for the viewers")


_OFFERED = {
    ChoosePromptArgs: _ChoosePromptOffer,
    TuneGeneratorArgs: _TuneGeneratorOffer,
    RequestFinetuneArgs: _RequestFinetuneOffer,
    SpeakArgs: _SpeakOffer,
    NoArgs: _NoArgsSchema,
}  # NoArgs has no fields: crewai would skip it; keep an explicit empty object


def _schema_of(model: type[BaseModel]) -> type[BaseModel]:
    return _OFFERED.get(model, model)


# Most useful first (a small model leans to the first tools it reads); descriptions short: every word is
# prompt tokens on each request. The read-only tools (read_trends, read_leaderboard) are not offered: the
# observation already carries their data, and a call to one spent the round's only action on reading.
SPECS: dict[str, tuple[type[BaseModel], str]] = {
    "take_options": (TakeOptionsArgs, "Take one or more of the lettered Options: each applies its call."),
    "tune_generator": (TuneGeneratorArgs, "Change fps, steps, resolution, strength (null = keep)."),
    "choose_prompt": (ChoosePromptArgs, "Show a topic (or a viewer's request) in your style."),
    "move_camera": (CameraArgs, "Zoom, pan or rotate per second (motion keeps viewers); all 0 stops."),
    "request_finetune": (RequestFinetuneArgs, "Finetune your generator on a trend id."),
    "speak": (SpeakArgs, "Say one line to your viewers (answer chat)."),
    "keep": (NoArgs, "Change nothing this round."),
}


def _limit(limits: dict[str, Any], key: str, default: Any) -> Any:
    v = limits.get(key)
    return default if v is None else v


def _choice(values: list[Any]) -> Any:
    """A Literal type of `values`: the JSON schema's enum, which a constrained decoder enforces."""
    return Literal.__getitem__(tuple(values))


DETAILS_PATTERN = r"^([A-Za-z][A-Za-z ,'-]*)?$"  # choose_prompt's optional extra words: letters, spaces, a few marks


def offered_schemas(obs: Observation, options: list[Option] | None = None) -> dict[str, type[BaseModel]]:
    """Argument models narrowed to this round: enums and bounds known when the task is built.

    With a constrained decoder the JSON-schema grammar then only admits values the tools will apply: a
    topic that exists, a trend id that exists (never a title), an allowed resolution, steps/fps/strength
    inside the limits; any knob may be null (unchanged)."""
    lim = obs.limits or {}
    out: dict[str, type[BaseModel]] = {}
    steps_lo, steps_hi = int(_limit(lim, "steps_min", 1)), int(_limit(lim, "steps_max", 50))
    fps_lo, fps_hi = float(_limit(lim, "fps_min", 0.5)), float(_limit(lim, "fps_max", 60))
    st_lo, st_hi = float(_limit(lim, "strength_min", 0.0)), float(_limit(lim, "strength_max", 1.0))
    resolutions = [int(r) for r in (lim.get("resolutions") or [])]
    res_type = (_choice(resolutions) if resolutions else int) | None
    out["tune_generator"] = create_model(
        "TuneGeneratorOffer",
        __base__=ToolArgs,
        fps=(float | None, Field(None, ge=fps_lo, le=max(fps_lo, fps_hi))),
        steps=(int | None, Field(None, ge=steps_lo, le=max(steps_lo, steps_hi))),
        resolution=(res_type, Field(None)),
        strength=(float | None, Field(None, ge=st_lo, le=max(st_lo, st_hi))),
        interpolation=(int | None, Field(None, ge=1, le=int(_limit(lim, "interpolation_max", 4)))),
        seed=(int | None, Field(None, ge=0, le=2**31 - 1)),
    )
    zoom_lo, zoom_hi = float(_limit(lim, "camera_zoom_min", 0.8)), float(_limit(lim, "camera_zoom_max", 1.25))
    pan, turn = float(_limit(lim, "camera_pan_max", 0.25)), float(_limit(lim, "camera_rotate_max", 30.0))
    out["move_camera"] = create_model(
        "MoveCameraOffer",
        __base__=ToolArgs,
        zoom_per_second=(float, Field(ge=zoom_lo, le=zoom_hi, description="1.1 in, 0.9 out, 1 none")),
        pan_x=(float, Field(ge=-pan, le=pan, description="+ right, - left, 0 none")),
        pan_y=(float, Field(ge=-pan, le=pan, description="+ down, - up, 0 none")),
        rotate_degrees_per_second=(float, Field(ge=-turn, le=turn, description="+ clockwise, 0 none")),
    )
    ids = [t.id for t in obs.trends][:16]
    if ids:
        out["request_finetune"] = create_model(
            "RequestFinetuneOffer",
            __base__=ToolArgs,
            source_id=(_choice(ids), Field(description="trend id")),
            steps=(int, Field(50, ge=1, le=FINETUNE_MAX_STEPS)),
        )
    letters = [o.letter for o in (round_options(obs) if options is None else options)]
    if letters:
        out["take_options"] = create_model(
            "TakeOptionsOffer",
            __base__=ToolArgs,
            options=(list[_choice(letters)], Field(min_length=1, max_length=len(letters), description="letters")),
        )
    out["choose_prompt"] = create_model(
        "ChoosePromptOffer",
        __base__=ToolArgs,
        topic=(_choice(known_topics(obs)), Field(description='a topic viewers want, or "my style"')),
        # Words only: the embedded model filled this free field with digit runs ("1.2.2.2.2 ...", bench/agents.py),
        # which cost decode steps and reached the picture's prompt.
        details=(str | None, Field(None, max_length=24, pattern=DETAILS_PATTERN, description="optional extra words")),
    )
    return out


def specialise(tools: list[StreamTool], obs: Observation) -> None:
    """Narrow the offered argument schemas of one decision's tools to its observation (in place); the options
    tool learns this round's options."""
    options = round_options(obs)
    schemas = offered_schemas(obs, options)  # the options tool's letters are those it is offered
    for t in tools:
        if isinstance(t, StreamTool) and t.tool_name in schemas:
            t.args_schema = schemas[t.tool_name]
        if isinstance(t, OptionsTool):
            t.offer(options)


class StreamTool(BaseTool):
    """One stream tool bound to one decision's `act` (so the gate and the record of that decision apply)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    tool_name: str = Field(exclude=True)
    _act: Act | None = PrivateAttr(default=None)
    _session: CallSession | None = PrivateAttr(default=None)

    def bind(self, act: Act, session: CallSession | None) -> StreamTool:
        self._act, self._session = act, session
        return self

    def run(self, *args: Any, **kwargs: Any) -> Any:  # skip crewai's schema check: `act` validates
        return self._run(*args, **kwargs)

    async def arun(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(*args, **kwargs)

    def _run(self, *args: Any, **kwargs: Any) -> str:
        if self._act is None:
            return "error: tool not bound to a decision"
        if self._session is not None and not self._session.count_tool_call():
            return TOOL_LIMIT_TEXT
        if args and not kwargs:  # a model that sent a bare value instead of an object
            return self._act(self.tool_name, args[0] if isinstance(args[0], dict) else {"raw": args[0]})  # type: ignore[arg-type]
        return self._act(self.tool_name, dict(kwargs))


class OptionsTool(StreamTool):
    """`take_options`: the letters of this round's options; each taken option's call goes through `act` in the
    order the options were offered (one tool call of the round's budget, however many letters)."""

    _options: list[Option] = PrivateAttr(default_factory=list)
    _taken: set[str] = PrivateAttr(default_factory=set)  # an option applies once per decision

    def offer(self, options: list[Option]) -> None:
        self._options, self._taken = list(options), set()

    def _run(self, *args: Any, **kwargs: Any) -> str:
        if self._act is None:
            return "error: tool not bound to a decision"
        letters = kwargs.get("options", args[0] if args else None)
        if isinstance(letters, str):
            letters = [letters]
        by_letter = {o.letter: o for o in self._options}
        if not isinstance(letters, list) or not letters or any(x not in by_letter for x in letters):
            offered = ", ".join(by_letter) or "none this round"
            return f"error: options: give a list of letters from the Options ({offered}); nothing was applied"
        if self._session is not None and not self._session.count_tool_call():
            return TOOL_LIMIT_TEXT
        lines = []
        for o in self._options:
            if o.letter in letters:
                done = o.letter in self._taken
                self._taken.add(o.letter)
                lines.append(
                    f"{o.letter}: " + ("already taken this round" if done else self._act(o.tool, dict(o.args)))
                )
        return "\n".join(lines)


def make_tools(act: Act, session: CallSession | None = None) -> list[StreamTool]:
    """Fresh tool objects for one decision (tools hold the decision's `act`, so they are never shared). Every
    tool every round: there is always an option to take (at least `keep`), so the tool block is the same each
    round and the embedded model's cached prompt prefix holds."""
    # max_usage_count: crewai runs several tool calls of one answer in parallel threads unless a tool has a
    # usage cap; parallel calls would apply changes in a random order (and break replay). The cap itself is
    # never reached (the round's own tool budget, enforced above, is far lower).
    return [
        (OptionsTool if name == "take_options" else StreamTool)(
            name=name, tool_name=name, description=desc, args_schema=_schema_of(schema), max_usage_count=10**6
        ).bind(act, session)
        for name, (schema, desc) in SPECS.items()
    ]
