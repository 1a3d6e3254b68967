"""Baseline policies kept for ablations: `hold`, `random`, `greedy`, `options`.

They act only through tools, exactly as the LLM crews do, so any difference in ERN between them and an LLM
is the decision quality, not a different control path.
"""

from __future__ import annotations

import numpy as np

from policies.base import Act, Policy
from tools.observation import Observation
from tools.options import round_options, trend_to_chase
from tools.stream_tools import compose_prompt


class HoldPolicy(Policy):
    """Never acts: the stream keeps its starting settings all season."""

    name = "hold"

    def decide(self, obs: Observation, act: Act, rng: np.random.Generator) -> None:
        return None


class RandomPolicy(Policy):
    """Each round, with probability 1/2 retunes one random knob to a random allowed value, and with
    probability 1/3 switches its prompt to a random trending topic."""

    name = "random"

    def decide(self, obs: Observation, act: Act, rng: np.random.Generator) -> None:
        lim = obs.limits
        if rng.random() < 0.5:
            knob = ["steps", "strength", "resolution", "fps"][int(rng.integers(4))]
            value = {
                "steps": lambda: int(rng.integers(lim["steps_min"], lim["steps_max"] + 1)),
                "strength": lambda: float(rng.uniform(lim["strength_min"], lim["strength_max"])),
                "resolution": lambda: int(rng.choice(lim["resolutions"])),
                "fps": lambda: float(rng.uniform(lim["fps_min"], lim["fps_max"])),
            }[knob]()
            act("tune_generator", {knob: value})
        if obs.trends and rng.random() < 1 / 3:
            trend = obs.trends[int(rng.integers(len(obs.trends)))]
            act("choose_prompt", {"prompt": trend.topic, "transition_seconds": 2.0})


class GreedyPolicy(Policy):
    """A documented heuristic that reads what the audience perceived (the reference a good policy must beat):

    0. Open with what viewers see at once and any device affords: round 1 sets 2 denoising steps (detail rises
       most from 1 to 2) and 8 fps (smoothness), unless the limits say less.
    1. Stay content-positive. Stalled last round, or the buffer under a quarter full: cut load. Lower fps by
       x0.8 while above `fps_min`, else drop a denoising step, else step the resolution down.
    2. Spend headroom (buffer at least three quarters full, no stall) where the audience sees it: fps x1.5 up
       to 16 (smoothness has diminishing returns past that), then more steps, then a larger resolution, then
       fps to the limit; streamers with a quality focus above 0.5 take steps and resolution before fps.
    3. Keep the picture alive: when viewers were bored (the `boredom` term cost more than 0.3 utils) or the
       picture barely moved, raise the img2img strength (more change between frames) up to 0.8.
    4. Chase the crowd: ranked in the bottom half, or trend-following above 0.7, switch the prompt to the
       most-watched trend in the streamer's own visual style (so it stays recognisable).
    """

    name = "greedy"

    def decide(self, obs: Observation, act: Act, rng: np.random.Generator) -> None:
        s, lim = obs.settings, obs.limits
        fill = obs.buffer_level / obs.buffer_capacity if obs.buffer_capacity else 0.0
        if obs.round == 1:
            opening = {"steps": min(2, lim["steps_max"]), "fps": min(8.0, lim["fps_max"])}
            if opening != {"steps": s["steps"], "fps": s["fps"]}:
                act("tune_generator", opening)
        elif obs.stall_seconds > 0 or fill < 0.25:
            self._cut_load(s, lim, act)
        elif fill >= 0.75:
            self._spend_headroom(s, lim, obs.persona_traits.get("quality_focus", 0.5) > 0.5, act)
        bored = obs.ern_terms.get("boredom", 0.0) < -0.3 or obs.perceived.get("motion", 1.0) < 0.2
        if obs.round > 1 and bored and s.get("strength", 1.0) < 0.8:
            act("tune_generator", {"strength": round(min(0.8, s.get("strength", 0.6) + 0.15), 3)})
        self._chase_trend(obs, act)

    @staticmethod
    def _cut_load(s: dict, lim: dict, act: Act) -> None:
        if s["fps"] > lim["fps_min"]:
            act("tune_generator", {"fps": round(max(lim["fps_min"], s["fps"] * 0.8), 3)})
        elif s["steps"] > lim["steps_min"]:
            act("tune_generator", {"steps": s["steps"] - 1})
        else:
            smaller = [r for r in lim["resolutions"] if r < s["resolution"]]
            if smaller:
                act("tune_generator", {"resolution": smaller[-1]})

    @staticmethod
    def _spend_headroom(s: dict, lim: dict, quality_first: bool, act: Act) -> None:
        larger = [r for r in lim["resolutions"] if r > s["resolution"]]
        options = [
            ("fps", s["fps"] < min(16.0, lim["fps_max"]), {"fps": round(min(16.0, lim["fps_max"], s["fps"] * 1.5), 3)}),
            ("steps", s["steps"] < lim["steps_max"], {"steps": s["steps"] + 1}),
            ("resolution", bool(larger), {"resolution": larger[0]} if larger else {}),
            ("fps", s["fps"] < lim["fps_max"], {"fps": round(min(lim["fps_max"], s["fps"] * 1.2), 3)}),
        ]
        if quality_first:
            options.sort(key=lambda o: o[0] == "fps")  # stable: steps and resolution first, in order
        for _, possible, change in options:
            if possible:
                act("tune_generator", change)
                return

    @staticmethod
    def _chase_trend(obs: Observation, act: Act) -> None:
        top = trend_to_chase(obs)
        if top is not None:
            prompt = compose_prompt(top.topic, obs.persona_style or "")
            if prompt[:240] != obs.settings.get("prompt"):
                act("choose_prompt", {"prompt": prompt, "transition_seconds": 2.0})


class OptionsPolicy(Policy):
    """Takes every option the arena offers (tools.options), in order, and nothing else: the arena's reading of
    the numbers without a model. Played beside `llm` it measures what the model's own choices add (or cost)
    over taking the options blindly."""

    name = "options"

    def decide(self, obs: Observation, act: Act, rng: np.random.Generator) -> None:
        for option in round_options(obs):
            act(option.tool, dict(option.args))


BASELINES: dict[str, type[Policy]] = {
    "hold": HoldPolicy,
    "random": RandomPolicy,
    "greedy": GreedyPolicy,
    "options": OptionsPolicy,
}
