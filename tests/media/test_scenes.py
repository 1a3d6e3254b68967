"""The built-in live scenes: one distinct, animated, deterministic scene per default topic, at any resolution."""

from __future__ import annotations

import numpy as np
import pytest

from media.sources.captions import caption_for, caption_variants, sample_caption, scene_kind
from media.sources.synthetic import SyntheticScene
from media.topic_features import NearestCentroid
from media.trends import DEFAULT_TOPICS


def test_every_default_topic_has_its_own_scene_kind_and_caption():
    kinds = [SyntheticScene(t).kind for t in DEFAULT_TOPICS]
    assert len(DEFAULT_TOPICS) >= 8 and len(set(kinds)) == len(DEFAULT_TOPICS) and "generic" not in kinds
    for t in DEFAULT_TOPICS:
        scene = SyntheticScene(t)
        assert scene.topic == t and scene.caption == caption_for(t) and len(scene.caption) > len(t) / 2


def test_deterministic_in_any_order_and_seed_dependent():
    for t in DEFAULT_TOPICS:
        a, b = SyntheticScene(t, seed=3), SyntheticScene(t, seed=3)
        later = a.frame(7.25, 32)
        assert np.array_equal(a.frame(1.5, 32), b.frame(1.5, 32))
        assert np.array_equal(later, b.frame(7.25, 32))  # no hidden state: order does not matter
        assert not np.array_equal(a.frame(1.5, 32), SyntheticScene(t, seed=4).frame(1.5, 32)), t


@pytest.mark.parametrize("resolution", [8, 17, 64, 100])
def test_any_resolution(resolution):
    for t in DEFAULT_TOPICS + ["lava lamp"]:
        f = SyntheticScene(t, 1).frame(2.0, resolution)
        assert f.shape == (resolution, resolution, 3) and f.dtype == np.uint8
        assert f.std() > 3, (t, resolution)  # not a flat colour at any size


def test_frames_change_over_time_and_stay_alive_after_an_hour():
    for t in DEFAULT_TOPICS:
        s = SyntheticScene(t, 0)
        for t0 in (5.0, 3600.0):
            a, b = s.frame(t0, 64).astype(np.float32), s.frame(t0 + 2.0, 64).astype(np.float32)
            assert np.abs(a - b).mean() > 0.2, (t, t0)
            assert b.std() > 5, (t, t0)


def test_scenes_are_separable_by_colour_and_structure_on_held_out_times():
    train = {t: SyntheticScene(t, 0).frames(0.0, 16, 1.0, 64) for t in DEFAULT_TOPICS}
    clf = NearestCentroid.fit(train)
    frames = np.concatenate([SyntheticScene(t, 0).frames(500.0, 8, 0.7, 64) for t in DEFAULT_TOPICS])
    labels = [t for t in DEFAULT_TOPICS for _ in range(8)]
    assert clf.accuracy(frames, labels) >= 0.9


def test_unknown_topic_gets_a_deterministic_generic_scene():
    a, b = SyntheticScene("lava lamp", 2), SyntheticScene("lava lamp", 2)
    assert a.kind == "generic" and scene_kind("lava lamp") == "generic"
    assert np.array_equal(a.frame(3.0, 24), b.frame(3.0, 24))
    assert not np.array_equal(a.frame(3.0, 24), a.frame(4.0, 24))
    assert not np.array_equal(a.frame(3.0, 24), SyntheticScene("snow globe", 2).frame(3.0, 24))
    assert caption_variants("lava lamp")[0] == "lava lamp"


def test_free_text_topics_find_their_scene():
    assert scene_kind("Stormy SEA at night") == "ocean"  # the first matching kind wins, case-insensitive
    assert scene_kind("new year fireworks over the city") == "fireworks"
    assert scene_kind("cyberpunk tunnel") == "neon"


def test_caption_variants_are_many_distinct_and_seedable():
    for t in DEFAULT_TOPICS:
        v = caption_variants(t)
        assert t in v and len(v) >= 30 and len(set(v)) == len(v)
        assert v == caption_variants(t)
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    assert [sample_caption("fireworks", r1) for _ in range(5)] == [sample_caption("fireworks", r2) for _ in range(5)]


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="topic"):
        SyntheticScene("   ")
    with pytest.raises(ValueError, match="resolution"):
        SyntheticScene("ocean waves").frame(0.0, 1)
    with pytest.raises(ValueError, match="fps"):
        SyntheticScene("ocean waves").frames(0.0, 3, 0.0, 16)
