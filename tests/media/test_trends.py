"""The trend feed v2: v1 behaviour unchanged without sources, sources listed with simulated or real viewers,
the frame sampler, YAML embedding and untrusted titles."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

from media.sources import Catalog, SourceError
from media.sources.youtube import Resolved
from media.trends import DEFAULT_TOPICS, SyntheticTrendFeed, Trend, TrendConfig, TrendFeed


def test_without_sources_the_feed_draws_exactly_what_v1_drew():
    cfg = TrendConfig()
    rng = np.random.default_rng(7)
    feed = SyntheticTrendFeed(cfg, rng)
    for _ in range(5):
        feed.step()
    # v1: one normal draw per topic at start and per step, nothing else.
    ref = np.random.default_rng(7)
    log_pop = ref.normal(0.0, cfg.volatility, size=len(DEFAULT_TOPICS))
    for _ in range(5):
        log_pop = (1 - cfg.reversion) * log_pop + ref.normal(0.0, cfg.volatility, size=len(DEFAULT_TOPICS))
    assert np.allclose(feed.log_pop, log_pop)
    assert rng.bit_generator.state == ref.bit_generator.state
    cur = feed.current()
    assert len(cur) == cfg.shown and all(isinstance(t, Trend) for t in cur)
    assert all(t.id.startswith("synthetic:") and t.title == f"LIVE: {t.topic}" for t in cur)
    assert [t.viewers for t in cur] == sorted((t.viewers for t in cur), reverse=True)
    assert feed.weights().shape == (len(DEFAULT_TOPICS),) and abs(feed.weights().sum() - 1) < 1e-9


def test_state_round_trip_and_v1_state_still_loads():
    feed = TrendFeed(TrendConfig(sources=[{"kind": "synthetic", "topic": "lava lamp"}]), np.random.default_rng(1))
    feed.sample_frames("synthetic:0", 3, 16)
    for _ in range(3):
        feed.step()
    other = TrendFeed(TrendConfig(sources=[{"kind": "synthetic", "topic": "lava lamp"}]), np.random.default_rng(9))
    other.load_state_dict(feed.state_dict())
    assert [t.model_dump() for t in other.all_trends()] == [t.model_dump() for t in feed.all_trends()]
    assert np.array_equal(other.sample_frames("synthetic:0", 2, 16), feed.sample_frames("synthetic:0", 2, 16))
    other.load_state_dict({"log_pop": [0.0] * len(DEFAULT_TOPICS)})  # a v1 checkpoint


def test_sources_are_listed_with_drifting_simulated_viewers():
    cfg = TrendConfig(
        shown=64,
        sources=[
            {"kind": "synthetic", "topic": "lava lamp", "id": "lava"},
            {"kind": "synthetic", "topic": "snow", "title": "Snow\x1b[0m cam\n"},
        ],
    )
    feed = TrendFeed(cfg, np.random.default_rng(3))
    ids = {t.id: t for t in feed.current()}
    assert set(ids) == {f"synthetic:{i}" for i in range(8)} | {"lava", "synthetic:src1"}
    assert ids["lava"].title == "LIVE: lava lamp" and ids["lava"].topic == "lava lamp"
    assert ids["synthetic:src1"].title == "Snow [0m cam" and ids["synthetic:src1"].topic == "snow"
    before = {t.id: t.viewers for t in feed.all_trends()}
    for _ in range(4):
        feed.step()
    after = {t.id: t.viewers for t in feed.all_trends()}
    assert after["lava"] != before["lava"]
    shares = feed.topic_weights()
    assert abs(sum(w for _, w in shares) - 1) < 1e-9 and {"lava lamp", "snow", "fireworks"} <= {t for t, _ in shares}


def test_source_ids_must_be_unique_and_not_a_topic_id():
    with pytest.raises(SourceError, match="duplicate source id"):
        TrendFeed(
            TrendConfig(
                sources=[{"kind": "synthetic", "topic": "a", "id": "x"}, {"kind": "synthetic", "topic": "b", "id": "x"}]
            ),
            np.random.default_rng(0),
        )
    with pytest.raises(SourceError, match="reserved"):
        TrendFeed(
            TrendConfig(sources=[{"kind": "synthetic", "topic": "a", "id": "synthetic:3"}]), np.random.default_rng(0)
        )


def test_sample_frames_shapes_determinism_and_errors():
    cfg = TrendConfig(sources=[{"kind": "synthetic", "topic": "lava lamp", "id": "lava"}])
    a, b = TrendFeed(cfg, np.random.default_rng(0)), TrendFeed(cfg, np.random.default_rng(99))
    for sid in ("synthetic:0", "synthetic:7", "lava"):
        for r in (16, 64):
            x = a.sample_frames(sid, 4, r)
            assert x.shape == (4, r, r, 3) and x.dtype == np.uint8
    first, second = a.sample_frames("lava", 2, 32), a.sample_frames("lava", 2, 32)
    assert not np.array_equal(first, second)  # successive samples continue the scene
    b.sample_frames("lava", 4, 16), b.sample_frames("lava", 4, 64)
    assert np.array_equal(b.sample_frames("lava", 2, 32), first)  # same config, same frames (rng-independent)
    assert a.sample_frames("synthetic:0", 0, 16).shape == (0, 16, 16, 3)
    for bad in (
        ("nope", 1, 16),
        ("synthetic:99", 1, 16),
        ("synthetic:0", -1, 16),
        ("synthetic:0", 1, 4),
        ("synthetic:0", 1, 5000),
    ):
        with pytest.raises(SourceError):
            a.sample_frames(*bad)


def test_trends_yaml_shape_is_validated():
    cfg = TrendConfig.model_validate(
        {
            "topics": ["a"],
            "sources": [
                {"kind": "synthetic", "topic": "x", "seed": 2},
                {"kind": "url", "url": "https://example.com/live/index.m3u8", "topic": "city"},
                {"kind": "file", "path": "clips/"},
                {"kind": "youtube", "query": "aquarium live", "max_results": 2},
            ],
        }
    )
    assert [s.kind for s in cfg.sources] == ["synthetic", "url", "file", "youtube"]
    for bad in (
        {"kind": "synthetic", "topic": "x", "colour": 1},
        {"kind": "rtsp", "url": "rtsp://x/y"},
        {"kind": "url", "url": "javascript:alert(1)"},
        {"kind": "synthetic"},
    ):
        with pytest.raises(pydantic.ValidationError):
            TrendConfig.model_validate({"sources": [bad]})
    with pytest.raises(pydantic.ValidationError):
        TrendConfig.model_validate({"sorces": []})


def test_real_viewer_counts_and_untrusted_titles_from_ytdlp_sources():
    def resolver(page_url, timeout):
        return Resolved(
            page_url,
            "http://127.0.0.1:9/x.m3u8",
            "Reef\u202e \x1b]0;pwn\x07 cam " + "~" * 400,
            "AAA",
            424242,
            True,
            None,
        )

    cfg = TrendConfig(shown=64, sources=[{"kind": "youtube", "url": "https://www.youtube.com/watch?v=AAA"}])
    catalog = Catalog(cfg.sources, resolver=resolver)
    feed = TrendFeed(cfg, np.random.default_rng(0), catalog=catalog)
    assert all(not t.id.startswith("youtube") for t in feed.all_trends())  # not resolved yet: not listed
    catalog.refresh(force=True)
    yt = next(t for t in feed.all_trends() if t.id == "youtube:src0")
    assert yt.viewers == 424242 and feed.all_trends()[0].id == "youtube:src0"
    assert yt.title.startswith("Reef") and len(yt.title) <= 120
    assert not any(ord(c) < 32 or c in "\u202e\x7f" for c in yt.title)
    feed.step()
    assert next(t for t in feed.all_trends() if t.id == "youtube:src0").viewers == 424242  # real, not simulated
    feed.close()
