"""The arena's options for one round: each a concrete, clamped tool call that the numbers point to.

Why options: the score depends on arithmetic a 135M-parameter model cannot do reliably (will 2 steps at 8 fps
fit the shared device? which wanted topic is under-served once rivals are counted?). The arena does that
arithmetic from the observation alone (nothing a streamer could not know) and offers the result as lettered
options; the agent decides which to take (`take_options`), or calls any tool itself. Taking an option applies
its call through the same validated, clamped path as any other call, so an option can never do what the tool
would refuse.

Each option is one fact and its call, ordered least pressing first (a small model tends to take what it read
last): a still picture, spare device time, the top trend when the streamer should chase it (else an
under-served topic the stream does not show), an overload. Spare device time and the trend follow
GreedyPolicy's rules (the same ladder order, quality-focused personas taking steps and resolution before fps,
and the trend before a topic move): with them the options-taking LLM's audience terms matched greedy's in 24
rotated seasons (detail +0.84 vs +0.82, trend +0.39 vs +0.39; before: +0.78 vs +0.82, +0.31 vs +0.37) and its
share rose from 31.1% to 35.3% against greedy's 36.4% (session 10). When
none applies the one option is `keep`. Why: a model must make one call, and with no options SmolLM2 called
`choose_prompt` in all 8 such decisions of an 8-season rotated run (`keep` in all 8 once offered; the share
did not move).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from tools.observation import Observation, TrendView
from tools.stream_tools import ToolArgs

HEADROOM_TARGET = 0.85  # a suggested tune keeps the predicted device load under this (stalls start above 1)
LETTERS = "ABCD"


class TakeOptionsArgs(ToolArgs):
    """`take_options`: letters of the round's options (the offered schema narrows them to this round's)."""

    options: list[Literal[tuple(LETTERS)]] = Field(min_length=1, max_length=len(LETTERS))


@dataclass(frozen=True)
class Option:
    """One lettered option: why (the fact, in a few words) and the call that acts on it."""

    letter: str
    why: str
    tool: str
    args: dict[str, Any] = field(default_factory=dict)

    def call_text(self) -> str:
        """`tune_generator fps=8 steps=2`: the call as the model reads it."""
        return " ".join(
            [self.tool, *(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.args.items())]
        )


def _own_load(obs: Observation) -> float:
    """This stream's part of the device load, estimated as an even share: the observation never carries a
    rival's settings, so the exact split is unknown to the streamer (as it would be on a real shared GPU)."""
    return obs.device_load / max(1, len(obs.leaderboard))


def _now(obs: Observation) -> dict[str, float | int]:
    s = obs.settings
    return {
        "fps": float(s.get("fps", 4.0)),
        "steps": int(s.get("steps", 1)),
        "resolution": int(s.get("resolution", 64)),
    }


def _ladder(obs: Observation, opening: bool = True) -> list[dict[str, float | int]]:
    """The rungs of visible improvement, each as the stream's new (fps, steps, resolution): 2 steps and 8 fps
    together (detail rises most from 1 to 2 steps, smoothness from 4 to 8 fps; only with `opening`), then fps
    x1.5 up to 16, then one more step, then the next larger resolution, then fps x1.2 up to the limit; a
    persona with a quality focus takes the step and resolution rungs before the fps ones. That is the order
    GreedyPolicy spends headroom in; without the last two rungs the options stopped where greedy went on to a
    larger picture (31.7% against greedy's 35.9% in 24 rotated bench seasons, session 10)."""
    lim, now = obs.limits, _now(obs)
    fps, steps, res = float(now["fps"]), int(now["steps"]), int(now["resolution"])
    fps_max, steps_max = float(lim.get("fps_max", 24.0)), int(lim.get("steps_max", 4))
    larger = sorted(int(r) for r in lim.get("resolutions", []) if int(r) > res)
    rungs: list[dict[str, float | int]] = []
    if fps < min(16.0, fps_max):
        rungs.append({"fps": min(16.0, fps_max, round(fps * 1.5, 1)), "steps": steps, "resolution": res})
    if steps < steps_max:
        rungs.append({"fps": fps, "steps": steps + 1, "resolution": res})
    if larger:
        rungs.append({"fps": fps, "steps": steps, "resolution": larger[0]})
    if fps < fps_max:
        rungs.append({"fps": min(fps_max, round(fps * 1.2, 1)), "steps": steps, "resolution": res})
    if obs.persona_traits.get("quality_focus", 0.5) > 0.5:  # as GreedyPolicy: steps and resolution before fps
        rungs.sort(key=lambda r: float(r["fps"]) != fps)  # stable within each group
    if opening and (steps < 2 <= steps_max or fps < min(8.0, fps_max)):
        rungs.insert(0, {"fps": max(fps, min(8.0, fps_max)), "steps": max(steps, min(2, steps_max)), "resolution": res})
    return rungs


def _changed(obs: Observation, rung: dict[str, float | int]) -> dict[str, float | int]:
    """A rung as a tune_generator call: only the knobs it changes."""
    now = _now(obs)
    return {k: v for k, v in rung.items() if v != now[k]}


def _cost(setting: dict[str, float | int]) -> float:
    """The cost model's shape: linear in frames/s, steps and pixels."""
    return float(setting["fps"]) * int(setting["steps"]) * int(setting["resolution"]) ** 2


def headroom_tune(obs: Observation) -> dict[str, float | int] | None:
    """The largest visible improvement the device can afford: the first rung of the ladder whose predicted
    load (this stream's even share scaled by the change) stays under HEADROOM_TARGET."""
    base = _cost(_now(obs))
    own = _own_load(obs)
    for rung in _ladder(obs):
        factor = _cost(rung) / max(base, 1e-9)
        if obs.device_load + own * (factor - 1) <= HEADROOM_TARGET:
            return _changed(obs, rung)
    return None


def rivals_showing(obs: Observation, topic: str) -> int:
    """How many rivals the audience's eye saw showing `topic` last round."""
    return sum(r.topic == topic for r in obs.leaderboard if not r.is_self)


def _per_stream(obs: Observation, topic: str) -> float:
    """Viewers who want `topic` per stream showing it, counting this one as if it moved there."""
    return obs.topic_demand.get(topic, 0) / (1 + rivals_showing(obs, topic))


def open_topic(obs: Observation) -> str | None:
    """The wanted topic with the most viewers per stream showing it (counting this one if it moved there):
    where the audience is under-served, not where every rival already is."""
    if not obs.topic_demand:
        return None
    return max(obs.topic_demand, key=lambda t: _per_stream(obs, t))


TREND_FOLLOWER = 0.7  # a persona's trend_following above this chases the top trend whatever its rank


def trend_to_chase(obs: Observation) -> TrendView | None:
    """The most-watched trend, when the streamer should chase it: ranked in the bottom half, or a trend
    follower (GreedyPolicy's rule 4 and an option). Why: the audience's `trend` term rewards frames that look
    like the trend; in 24 rotated seasons greedy, which chases, earned +0.42 on that term against +0.37 for the
    options, which did not (session 10, /tmp/exp/llm24.db: the only term on which they differed)."""
    if not obs.trends:
        return None
    bottom_half = obs.rank is not None and obs.rank > max(1, len(obs.leaderboard)) / 2
    if not (bottom_half or obs.persona_traits.get("trend_following", 0.5) > TREND_FOLLOWER):
        return None
    return max(obs.trends, key=lambda t: t.viewers)


TOPIC_MARGIN = 1.25  # move to another wanted topic only when it has this many times the viewers per stream
LOW_BUFFER, FULL_BUFFER = 0.25, 0.75  # fractions of the stream's own frame buffer


def buffer_fill(obs: Observation) -> float | None:
    """How full the stream's own frame buffer is (None: not known yet)."""
    return obs.buffer_level / obs.buffer_capacity if obs.buffer_capacity else None


def is_overloaded(obs: Observation) -> bool:
    """The stream's own truth: it stalled, or its buffer is draining. A device load above 1 alone is not an
    overload of this stream: the engine shares device time, so a stream with a full buffer still keeps up."""
    fill = buffer_fill(obs)
    return obs.stall_seconds > 0 or (fill is not None and fill < LOW_BUFFER)


def current_topic(obs: Observation) -> str | None:
    """The wanted topic the stream's prompt holds (what it meant to show), else what the audience saw."""
    prompt = str(obs.settings.get("prompt", ""))
    held = [t for t in obs.topic_demand if t and t in prompt]
    return max(held, key=len) if held else (obs.perceived_topic or None)


def topic_move(obs: Observation) -> str | None:
    """The under-served topic worth moving to: not what the stream shows already, and clearly better per stream
    (TOPIC_MARGIN) than the wanted topic it holds, so a stream does not flip topics on every small shift."""
    topic = open_topic(obs)
    if not topic or topic == obs.perceived_topic or topic in str(obs.settings.get("prompt", "")):
        return None
    here = current_topic(obs)
    if here in obs.topic_demand and _per_stream(obs, topic) < TOPIC_MARGIN * _per_stream(obs, here):
        return None
    return topic


def _full_buffer_tune(obs: Observation) -> dict[str, float | int] | None:
    """When the predicted load says no but the stream's own buffer is full and it never stalled, the engine is
    giving it more device time than it uses: one step of the headroom ladder (fps first), at the risk the next
    round's buffer shows."""
    fill = buffer_fill(obs)
    rungs = _ladder(obs, opening=False)
    return _changed(obs, rungs[0]) if fill is not None and fill >= FULL_BUFFER and rungs else None


def round_options(obs: Observation) -> list[Option]:
    """This round's options, lettered in order (least pressing first); empty when the numbers point nowhere."""
    s, lim = obs.settings, obs.limits
    found: list[tuple[str, str, dict[str, Any]]] = []
    if obs.ern_terms.get("boredom", 0.0) < -0.3 or obs.perceived.get("motion", 1.0) < 0.2:
        found.append(("the picture barely moves, viewers get bored", "move_camera", {"zoom_per_second": 1.1}))
    overloaded = is_overloaded(obs)
    tune = None if overloaded else headroom_tune(obs) or _full_buffer_tune(obs)
    if tune:
        found.append(("the device has room (sharper, smoother)", "tune_generator", dict(tune)))
    trend = trend_to_chase(obs)
    topic = None if trend is not None and trend.topic not in str(s.get("prompt", "")) else topic_move(obs)
    if trend is not None and trend.topic and trend.topic not in str(s.get("prompt", "")):
        rank = f"you rank {obs.rank}/{len(obs.leaderboard)}" if obs.rank else "you are unranked"
        found.append(
            (
                f"most viewers watch the {trend.topic} trend ({trend.viewers}), {rank}",
                "choose_prompt",
                {"topic": trend.topic},
            )
        )
    if topic:
        rivals = rivals_showing(obs, topic)
        seen = f"yours looks like {obs.perceived_topic}" if obs.perceived_topic else "you show something else"
        found.append(
            (
                f"viewers want {topic} ({obs.topic_demand[topic]}, {rivals} rivals show it), {seen}",
                "choose_prompt",
                {"topic": topic},
            )
        )
    if overloaded:
        lower = max(float(lim.get("fps_min", 1.0)), round(float(s.get("fps", 4.0)) * 0.7, 1))
        found.append(("overloaded, stalls lose viewers", "tune_generator", {"fps": lower}))
    if not found:  # the numbers point nowhere: say so, or a model that must act flips its topic
        found.append(("nothing in the numbers calls for a change", "keep", {}))
    return [Option(letter, why, tool, args) for letter, (why, tool, args) in zip(LETTERS, found, strict=False)]
