"""Simulated chat: deterministic, varied, grounded in what each writer saw and wants, scaled by watchers and
capped; the optional LLM writer rewrites a line from the same grounding and keeps the template on failure."""

from __future__ import annotations

import json

import numpy as np

from arena.audience_values import StreamView
from arena.chat_config import ChatSection
from arena.chat_writer import write_line
from arena.sim_chat import TEMPLATES, SimLine, simulated_chat


def _view(sid: str, topic: str, stall: float = 0.0, detail: float = 0.5, motion: float = 0.5) -> StreamView:
    return StreamView(sid, np.ones(4, np.float32), [stall, 0.0], 0.0, detail=detail, motion=motion, topic=topic)


def _chat(views, watchers, interests, said=None, r=1, **cfg):
    return simulated_chat(7, r, views, watchers, interests, said or {}, ChatSection(**cfg))


def test_lines_are_grounded_in_what_the_writers_saw_and_want():
    views = {
        "s01": _view("s01", "ocean", stall=1.5),
        "s02": _view("s02", "forest", detail=0.05),
        "s03": _view("s03", "city"),
    }
    watchers = {k: np.arange(100) + 1000 * i for i, k in enumerate(views)}
    interests = {"s01": ["ocean"] * 100, "s02": ["forest"] * 100, "s03": ["space"] * 100}
    lines = _chat(views, watchers, interests, per_viewer=1.0, per_stream_max=20, style_share=0.5)
    by = {k: [x.text for x in lines if x.stream_id == k] for k in views}
    stalls = set(TEMPLATES["stall"])
    assert any(t in stalls for t in by["s01"]) and not any(t in stalls for t in by["s03"])
    assert any(t in TEMPLATES["dark"] for t in by["s02"])
    assert any(t == "!style space" for t in by["s03"])  # off-topic viewers ask for their own interest
    assert any("space" in t and not t.startswith("!") for t in by["s03"])  # or wish for it
    assert not any(t.startswith("!style") for t in by["s01"])  # viewers who got what they came for do not ask
    assert len(set(by["s03"])) > 3  # varied
    assert all(len(v) == 20 for v in by.values())  # capped per stream


def test_volume_scales_with_watchers_is_capped_and_deterministic():
    views = {"s01": _view("s01", "ocean"), "s02": _view("s02", "ocean")}
    watchers = {"s01": np.arange(2), "s02": np.arange(10, 60)}
    interests = {"s01": ["ocean"] * 2, "s02": ["ocean"] * 50}
    lines = _chat(views, watchers, interests, per_viewer=0.2, per_stream_max=50)
    n = {k: sum(x.stream_id == k for x in lines) for k in views}
    assert n["s01"] <= 2 and n["s02"] > n["s01"]
    assert _chat(views, watchers, interests, per_viewer=0.2, per_stream_max=50) == lines  # same seed and round
    assert _chat(views, watchers, interests, r=2, per_viewer=0.2, per_stream_max=50) != lines
    assert sum(x.stream_id == "s02" for x in _chat(views, watchers, interests, per_viewer=5.0, per_stream_max=3)) == 3
    assert _chat(views, watchers, interests, simulated=False) == []


def test_reactions_quote_the_streamers_last_line_as_plain_text():
    views = {"s01": _view("s01", "ocean")}
    lines = _chat(
        views,
        {"s01": np.arange(200)},
        {"s01": ["ocean"] * 200},
        said={"s01": "welcome\nto the\x00 sea"},
        per_viewer=1.0,
        per_stream_max=30,
    )
    quoted = [x.text for x in lines if "welcome to the sea" in x.text]
    assert quoted and all("\n" not in x.text and "\x00" not in x.text for x in lines)


def test_llm_writer_rewrites_from_the_grounding_and_keeps_the_template_on_failure():
    line = SimLine("s01", "quiet_otter1", "buffering again...", "You watch ocean; the video stalled.")
    seen = []

    def model(messages, response_format):
        seen.append(messages)
        return json.dumps({"text": "ugh, the stream keeps pausing"})

    assert write_line(line, line.about, model) == "ugh, the stream keeps pausing"
    assert "the video stalled" in seen[0][1]["content"] and "buffering again" in seen[0][1]["content"]
    assert write_line(line, line.about, lambda m, f: "not json") == "buffering again..."
    assert write_line(line, line.about, lambda m, f: json.dumps({"text": "!style hack"})) == "buffering again..."
    request = SimLine("s01", "a", "!style space", "")
    assert write_line(request, "", model) == "!style space" and len(seen) == 1  # requests stay parseable
