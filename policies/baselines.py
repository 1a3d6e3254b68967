"""Baseline policies kept for ablations: `hold`, `random`, `greedy`.

They act only through tools, exactly as the LLM crews do, so any difference in ERN between them and an LLM
is the decision quality, not a different control path.
"""

from __future__ import annotations

import numpy as np

from policies.base import Act, Policy
from tools.observation import Observation


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
    """A documented heuristic: first stay content-positive, then spend spare compute, then chase trends.

    1. Stalled last round, or the buffer under a quarter full: cut load. Lower fps by x0.8 while above
       `fps_min`, else drop a denoising step, else step the resolution down.
    2. Buffer at least three quarters full and no stall: spend the headroom. Streamers with a quality focus
       above 0.5 add a step (up to `steps_max`); the others raise fps by x1.2 (up to `fps_max`).
    3. Ranked in the bottom half, or trend-following above 0.7: switch the prompt to the most-watched trend
       in the streamer's own visual style (so it stays recognisable while it chases the crowd).
    """

    name = "greedy"

    def decide(self, obs: Observation, act: Act, rng: np.random.Generator) -> None:
        s, lim = obs.settings, obs.limits
        traits = obs.persona_traits
        fill = obs.buffer_level / obs.buffer_capacity if obs.buffer_capacity else 0.0
        if obs.round > 1 and (obs.stall_seconds > 0 or fill < 0.25):
            if s["fps"] > lim["fps_min"]:
                act("tune_generator", {"fps": round(s["fps"] * 0.8, 3)})
            elif s["steps"] > lim["steps_min"]:
                act("tune_generator", {"steps": s["steps"] - 1})
            else:
                smaller = [r for r in lim["resolutions"] if r < s["resolution"]]
                if smaller:
                    act("tune_generator", {"resolution": smaller[-1]})
        elif obs.round > 1 and fill >= 0.75:
            if traits.get("quality_focus", 0.5) > 0.5 and s["steps"] < lim["steps_max"]:
                act("tune_generator", {"steps": s["steps"] + 1})
            elif s["fps"] < lim["fps_max"]:
                act("tune_generator", {"fps": round(s["fps"] * 1.2, 3)})
        bottom_half = obs.rank is not None and obs.rank > max(1, len(obs.leaderboard)) / 2
        if obs.trends and (bottom_half or traits.get("trend_following", 0.5) > 0.7):
            top = max(obs.trends, key=lambda t: t.viewers)
            style = obs.persona_style or ""
            prompt = f"{top.topic}, {style}" if style else top.topic
            if prompt[:240] != s.get("prompt"):
                act("choose_prompt", {"prompt": prompt, "transition_seconds": 2.0})


BASELINES: dict[str, type[Policy]] = {"hold": HoldPolicy, "random": RandomPolicy, "greedy": GreedyPolicy}
