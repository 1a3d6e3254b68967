"""Viewers judge what they see, never the prompt text (the audience's eye on real frames, the packaged eye).

- The prompt-label trick gives nothing: two streams showing the same frames are seen identically, whatever
  their prompts say (one a bare audience topic label, one a descriptive caption).
- A stream whose frames show a topic beats one whose prompt names the topic but whose frames do not (a
  generator that ignores its prompt)."""

from __future__ import annotations

import numpy as np

from arena.audience import Audience, AudienceConfig
from arena.round import stream_views
from media.engine_streams import StreamReport
from media.eye import get_embedded_eye
from media.sources.captions import caption_for
from media.sources.synthetic import SyntheticScene
from tests.arena.stream_reports import make_report

TICKS = 6


def report(slot: str, frames: np.ndarray, prompt: str) -> StreamReport:
    """A stream that showed `frames` (what the eye sees) while its prompt said `prompt`."""
    return make_report(slot, sample=frames, prompt=prompt, metrics={"flicker": 0.98, "stability": 0.8})


def scene(topic: str, seed: int = 5) -> np.ndarray:
    return SyntheticScene(topic, seed).frames(0.0, 3, 0.5, 64)


def watch(reports: dict[str, StreamReport], rounds: int = 3, seed: int = 0):
    eye = get_embedded_eye()
    cfg = AudienceConfig(size=20000, w_social=0.0)
    aud = Audience(cfg, eye.embed_texts(list(cfg.topics)), np.random.default_rng(seed))
    views = stream_views(list(reports), reports, eye, 6.0, 1.0, TICKS)
    return views, [aud.step_round(views, TICKS) for _ in range(rounds)][-1]


def test_the_prompt_label_trick_gives_no_advantage():
    frames = scene("desert sunset")
    reports = {
        "label": report("label", frames, "desert sunset"),  # the bare audience topic label
        "caption": report("caption", frames.copy(), caption_for("desert sunset")),
    }
    views, ra = watch(reports)
    np.testing.assert_allclose(views[0].content_embedding, views[1].content_embedding, atol=1e-6)
    assert views[0].detail == views[1].detail and views[0].speckle == views[1].speckle
    a, b = ra.ern["label"]["mean"], ra.ern["caption"]["mean"]
    assert abs(a - b) <= 0.1 * max(a, b)  # within noise: same picture, same eyes


def test_frames_that_show_a_topic_beat_a_prompt_that_only_names_it():
    ocean = scene("ocean waves")
    tunnel = scene("neon tunnel")
    reports = {
        "shows": report("shows", ocean, "a quiet evening"),  # frames show ocean waves, prompt says nothing
        "names": report("names", tunnel, "ocean waves"),  # prompt names it, the generator drew something else
    }
    views, _ = watch(reports)
    eye = get_embedded_eye()
    ocean_text = eye.embed_texts(["ocean waves"])[0]
    assert float(views[0].content_embedding @ ocean_text) > float(views[1].content_embedding @ ocean_text) + 0.1
    # viewers interested in ocean waves find the stream that shows them
    ocean_fans = watch_fans(reports, "ocean waves")
    assert ocean_fans["shows"] > 2 * ocean_fans["names"]


def watch_fans(reports: dict[str, StreamReport], topic: str) -> dict[str, float]:
    """ERN among an audience whose only interest is `topic`."""
    eye = get_embedded_eye()
    cfg = AudienceConfig(size=20000, w_social=0.0, topics=[topic])
    aud = Audience(cfg, eye.embed_texts([topic]), np.random.default_rng(1))
    views = stream_views(list(reports), reports, eye, 6.0, 1.0, TICKS)
    ra = [aud.step_round(views, TICKS) for _ in range(3)][-1]
    return {k: v["mean"] for k, v in ra.ern.items()}


def test_streams_of_different_resolutions_are_watched_together():
    small = report("small", SyntheticScene("forest wind", 1).frames(0.0, 2, 0.5, 32), "forest")
    large = report("large", scene("forest wind"), "forest")
    views = stream_views(["small", "large"], {"small": small, "large": large}, get_embedded_eye(), 6.0, 1.0, TICKS)
    assert float(views[0].content_embedding @ views[1].content_embedding) > 0.5  # the same scene, seen as such
    assert views[1].detail > views[0].detail  # the larger picture shows more at display size
