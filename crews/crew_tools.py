"""The six stream tools as crewai `BaseTool`s, one set per decision, each calling the round's `act`.

Why not crewai's own argument validation: crewai validates against `args_schema` before `_run` and answers
its own error text, which would bypass `tools.stream_tools` (our clamps, our clear `error: field: ...` lines)
and the action record the arena stores. So the schema is *offered* to the model (crewai turns it into the
OpenAI tool schema, which the embedded model's constrained decoder enforces), but `run` hands the raw,
untrusted arguments straight to `act`, where the one validated path lives. Every call, good or bad, is
recorded there.
"""

from __future__ import annotations

from typing import Any

from crewai.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from crews.policy import Act
from crews.recording import CallSession
from tools.stream_tools import ChoosePromptArgs, NoArgs, RequestFinetuneArgs, SpeakArgs, TuneGeneratorArgs

TOOL_LIMIT_TEXT = "error: this round's tool-call limit is reached; nothing was applied. Give your final answer now."


class _NoArgsSchema(BaseModel):
    """crewai needs a schema object even for a tool without arguments."""

    model_config = ConfigDict(extra="forbid")


# What the model is *offered*: the tools' argument models with short string bounds. A constrained decoder
# (the embedded model's) then cannot ramble inside a string until max_tokens runs out; the tools still
# validate and clamp whatever arrives (an unconstrained remote model may ignore these bounds).
class _ChoosePromptOffer(ChoosePromptArgs):
    prompt: str = Field(max_length=120, description="what the stream should show, a short scene description")


class _RequestFinetuneOffer(RequestFinetuneArgs):
    source_id: str = Field(max_length=40, description="id of a trend source (see read_trends)")


class _SpeakOffer(SpeakArgs):
    text: str = Field(max_length=120, description="one line of commentary for the viewers")


_OFFERED = {ChoosePromptArgs: _ChoosePromptOffer, RequestFinetuneArgs: _RequestFinetuneOffer, SpeakArgs: _SpeakOffer,
            NoArgs: _NoArgsSchema}  # NoArgs has no fields: crewai would skip it; keep an explicit empty object


def _schema_of(model: type[BaseModel]) -> type[BaseModel]:
    return _OFFERED.get(model, model)


SPECS: dict[str, tuple[type[BaseModel], str]] = {
    "choose_prompt": (ChoosePromptArgs, "Change what your stream shows: a short scene prompt, and how many "
                                        "seconds to blend from the current scene."),
    "tune_generator": (TuneGeneratorArgs, "Change generation settings (steps, strength, resolution, fps, "
                                          "interpolation, seed). Values are clamped to the season's limits."),
    "request_finetune": (RequestFinetuneArgs, "Queue a short finetune of your generator on a trend source id "
                                              "from read_trends, with a step budget."),
    "read_trends": (NoArgs, "List the trending sources right now (id, title, topic, viewers)."),
    "read_leaderboard": (NoArgs, "Show the standings: every streamer's ERN, share and rating."),
    "speak": (SpeakArgs, "Say one line of commentary to your viewers."),
}


class StreamTool(BaseTool):
    """One stream tool bound to one decision's `act` (so the gate and the record of that decision apply)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    tool_name: str = Field(exclude=True)
    _act: Act | None = PrivateAttr(default=None)
    _session: CallSession | None = PrivateAttr(default=None)

    def bind(self, act: Act, session: CallSession | None) -> "StreamTool":
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


def make_tools(act: Act, session: CallSession | None = None) -> list[StreamTool]:
    """Fresh tool objects for one decision (tools hold the decision's `act`, so they are never shared)."""
    # max_usage_count: crewai runs several tool calls of one answer in parallel threads unless a tool has a
    # usage cap; parallel calls would apply changes in a random order (and break replay). The cap itself is
    # never reached (the round's own tool budget, enforced above, is far lower).
    return [StreamTool(name=name, tool_name=name, description=desc, args_schema=_schema_of(schema),
                       max_usage_count=10**6).bind(act, session)
            for name, (schema, desc) in SPECS.items()]
