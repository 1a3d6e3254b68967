"""What the simulated audience says in chat: cheap, deterministic, template-based lines grounded in each
writer's own state.

Why templates: a season runs thousands of viewers for many rounds on two cores; a model writing every line
would cost more than the streams. Each writer is a viewer who watched the stream this round (its slot in
`arena.audience.Audience`), and what it says comes from what it saw and wants: why it came (the stream shows
its strongest interest), a stall it sat through, a dark or frozen picture, an off-topic stream (a wish for
its own interest, sometimes as a `!style` request), or a reaction to the streamer's last spoken line.
Volume: Poisson with mean `per_viewer` x watchers, capped per stream (`ChatSection`). The draws come from
their own generator seeded by (season seed, round), so chat never moves the audience's or anyone's RNG.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.audience_values import StreamView
from arena.chat_config import ChatSection
from common.untrusted import clean_text

DARK_DETAIL = 0.12  # below this detail (media.perception, 0..1) the picture reads as dark/empty: modelling choice
FROZEN_MOTION = 0.05  # below this motion the picture reads as frozen: modelling choice
CHAT_STREAM = 0x17C4A7  # the chat generator's stream key, so its draws are its own

ADJECTIVES = ("sleepy", "pixel", "cosmic", "quiet", "lucky", "neon", "mossy", "rapid", "gentle", "foggy")
ANIMALS = ("otter", "fox", "heron", "moth", "lynx", "gecko", "owl", "crab", "finch", "yak")

TEMPLATES: dict[str, tuple[str, ...]] = {
    "came": (
        "came here for the {topic} and it delivers",
        "finally some {topic}",
        "this {topic} is so calming",
        "best {topic} stream right now",
    ),
    "stall": (
        "buffering again...",
        "it keeps freezing for me",
        "stream stutters, lower the load?",
        "lagging hard",
    ),
    "dark": ("so dark I can't see anything", "is the screen black for anyone else?", "needs more light"),
    "frozen": ("is the picture frozen?", "nothing is moving", "did it get stuck?"),
    "wish": ("any {interest} today?", "could we get some {interest}?", "I'd stay for {interest}", "{interest} pls"),
    "said": ('"{line}" haha', 'agree with "{line}"', 'did you just say "{line}"?'),
    "idle": ("hi chat", "what are we watching", "just got here", "nice"),
}


GROUNDS = {
    "came": "it shows what you came for",
    "stall": "the video stalled while you watched",
    "dark": "the picture is dark or empty",
    "frozen": "the picture does not move",
    "wish": "it does not show what you like",
    "!style": "you ask the streamer to show what you like",
    "said": "the streamer just said something",
    "idle": "nothing in particular",
}


@dataclass(frozen=True)
class SimLine:
    stream_id: str
    name: str
    text: str  # "!style <interest>" for a style request
    about: str = ""  # the writer's state behind the line (for the optional LLM writer, arena.chat_writer)


def viewer_name(index: int) -> str:
    """A stable display name for simulated viewer `index`."""
    a, b = ADJECTIVES[index % len(ADJECTIVES)], ANIMALS[(index // len(ADJECTIVES)) % len(ANIMALS)]
    return f"{a}_{b}{index % 997}"


def _reasons(view: StreamView, interest: str, said: str, style_roll: float, cfg: ChatSection) -> list[str]:
    """What this viewer could talk about, most pressing first, as template keys ("!style" for a request)."""
    out: list[str] = []
    if sum(view.stall_seconds_per_tick) > 0:
        out.append("stall")
    if view.detail < DARK_DETAIL:
        out.append("dark")
    elif view.motion < FROZEN_MOTION:
        out.append("frozen")
    if interest and view.topic and interest != view.topic:
        out.append("!style" if style_roll < cfg.style_share else "wish")
    elif interest and interest == view.topic:
        out.append("came")
    if said:
        out.append("said")
    return out or ["idle"]


def simulated_chat(
    seed: int,
    r: int,
    views: dict[str, StreamView],
    watchers: dict[str, np.ndarray],
    interests: dict[str, list[str]],
    said: dict[str, str],
    cfg: ChatSection,
) -> list[SimLine]:
    """The round's simulated chat. `watchers[slot]`: indices of viewers watching the stream at the round's end;
    `interests[slot]`: each watcher's strongest interest (same order); `said[slot]`: its last spoken line."""
    if not cfg.simulated or cfg.per_stream_max == 0:
        return []
    rng = np.random.default_rng([seed, r, CHAT_STREAM])
    out: list[SimLine] = []
    for slot in sorted(views):
        who = watchers.get(slot, np.zeros(0, np.int64))
        n = min(cfg.per_stream_max, int(rng.poisson(cfg.per_viewer * len(who))), len(who))
        if n == 0:
            continue
        picks = rng.choice(len(who), size=n, replace=False)
        for k in sorted(int(p) for p in picks):
            interest = interests[slot][k]
            line = clean_text(said.get(slot, ""), 40)
            reasons = _reasons(views[slot], interest, line, float(rng.random()), cfg)
            key = reasons[int(rng.integers(len(reasons)))] if len(reasons) > 1 and rng.random() < 0.4 else reasons[0]
            if key == "!style":
                text = f"!style {interest}"
            else:
                choices = TEMPLATES[key]
                text = choices[int(rng.integers(len(choices)))].format(
                    topic=views[slot].topic, interest=interest, line=line
                )
            about = (
                f"You watch a stream that shows {views[slot].topic or 'something unclear'}; you like {interest}; "
                f"what you react to: {GROUNDS[key]}."
            )
            out.append(SimLine(slot, viewer_name(int(who[k])), text, about))
    return out
