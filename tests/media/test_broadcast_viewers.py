"""Real viewers as evidence of playback (media.broadcast.viewers), on a fake clock: no server, no waiting.

Why these cases: one client looping over viewer ids once bought 1,244 "real viewers" in a round, and the arena
adds real viewers one-for-one to a stream's ERN. The HTTP side of the same rules is in test_broadcast_http.py.
"""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from media.broadcast import BroadcastConfig, Broadcaster
from media.broadcast.viewers import ViewerCounter, segment_number

WINDOW = 3.0
SEG = "seg_{:05d}.ts"


def watch(vc: ViewerCounter, segments: range, *, t0: float = 0.0, step: float = 1.0, **who: str) -> float:
    """Fetch `segments` in order, one per `step` seconds from `t0`; returns the time of the last fetch."""
    stream, address, key = who.get("stream", "s"), who.get("address", "10.0.0.1"), who.get("key", "v:page")
    t = t0
    for i, n in enumerate(segments):
        t = t0 + i * step
        vc.record(stream, SEG.format(n), address, key, now=t)
    return t


def test_segment_numbers_come_only_from_the_encoders_segment_names():
    assert segment_number("seg_00042.ts") == 42 and segment_number("seg_123456.ts") == 123456
    assert segment_number("index.m3u8") is None and segment_number("evil.ts") is None
    assert segment_number("seg_1.ts.tmp") is None


def test_one_address_looping_over_1000_ids_counts_at_most_the_bound():
    vc = ViewerCounter(WINDOW)  # one id per address per stream
    for i in range(1000):
        for n in (1, 2):
            vc.record("s", SEG.format(n), "10.0.0.1", f"v:bot-{i}", now=0.001 * i)
    assert vc.counts(["s"], now=1.0) == {"s": 1}
    assert vc.tracked() == 1 and vc.ignored == 999 * 2
    three = ViewerCounter(WINDOW, per_address=3)
    for i in range(1000):
        for n in (1, 2):
            three.record("s", SEG.format(n), "10.0.0.1", f"v:bot-{i}", now=0.001 * i)
    assert three.counts(["s"], now=1.0) == {"s": 3}


def test_playlist_polls_and_a_repeated_or_older_segment_are_no_evidence():
    vc = ViewerCounter(WINDOW)
    for t in range(10):
        vc.record("s", "index.m3u8", "10.0.0.1", "v:poller", now=t * 0.5)
    assert vc.counts(["s"], now=5.0) == {"s": 0} and vc.tracked() == 0
    for t in range(10):
        vc.record("s", SEG.format(7), "10.0.0.2", "v:stuck", now=t * 0.5)
    vc.record("s", SEG.format(6), "10.0.0.2", "v:stuck", now=5.0)
    assert vc.counts(["s"], now=5.0) == {"s": 0}


def test_a_player_counts_1_while_it_fetches_new_segments_and_drops_out_after_it_stops():
    vc = ViewerCounter(WINDOW)
    vc.record("s", SEG.format(10), "10.0.0.1", "v:page", now=0.0)
    assert vc.counts(["s"], now=0.5) == {"s": 0}  # one segment is not yet playback
    last = watch(vc, range(11, 20), t0=1.0)  # then one new segment a second (hls.js may also skip ahead)
    assert vc.counts(["s"], now=last) == {"s": 1}
    vc.record("s", SEG.format(19), "10.0.0.1", "v:page", now=last + 1.5)  # refetching a segment proves nothing
    vc.record("s", SEG.format(18), "10.0.0.1", "v:page", now=last + 1.6)
    assert vc.counts(["s"], now=last + 1.6) == {"s": 1}  # still within the window of its last two new ones
    assert vc.counts(["s"], now=last + 2.01) == {"s": 0}  # the older of its last two new fetches is > WINDOW ago
    assert vc.tracked() == 1
    assert vc.counts(["s"], now=last + WINDOW + 0.01) == {"s": 0} and vc.tracked() == 0  # expired and freed


def test_two_addresses_count_2_and_an_address_slot_frees_after_the_window():
    vc = ViewerCounter(WINDOW)
    watch(vc, range(1, 4), address="10.0.0.1", key="v:a")
    watch(vc, range(1, 4), address="10.0.0.2", key="v:b")
    watch(vc, range(1, 4), address="10.0.0.2", key="a:ffplay")  # same address, second client: ignored
    assert vc.counts(["s"], now=2.0) == {"s": 2}
    watch(vc, range(10, 13), t0=2.0 + WINDOW + 0.1, address="10.0.0.2", key="a:ffplay")  # b left: ffplay's turn
    assert vc.counts(["s"], now=2.0 + WINDOW + 2.1) == {"s": 1}


def test_one_address_counts_on_at_most_m_streams():
    vc = ViewerCounter(WINDOW, streams_per_address=3)
    for k in range(5):
        watch(vc, range(1, 3), stream=f"s{k}")
    assert vc.counts([f"s{k}" for k in range(5)], now=1.0) == {"s0": 1, "s1": 1, "s2": 1, "s3": 0, "s4": 0}


def test_the_table_is_capped_and_expired_entries_make_room():
    vc = ViewerCounter(WINDOW, max_tracked=100)
    for i in range(10_000):  # ten thousand addresses at once
        vc.record("s", SEG.format(1), f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", "v:x", now=0.0)
    assert vc.tracked() == 100 and vc.ignored == 9_900
    vc.record("s", SEG.format(1), "192.0.2.1", "v:late", now=WINDOW + 1.0)
    assert vc.tracked() == 1


def test_ignored_ids_are_logged_once_per_address_at_debug(caplog):
    vc = ViewerCounter(WINDOW)
    with caplog.at_level(logging.DEBUG, logger="media.broadcast.viewers"):
        for i in range(50):
            vc.record("s", SEG.format(1), "10.0.0.1", f"v:bot-{i}", now=0.0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "10.0.0.1" in lines[0] and "viewer id" in lines[0]


def test_client_key_prefers_the_page_id_and_falls_back_to_the_user_agent():
    assert ViewerCounter.client_key("UA", "ok_id-1") == "v:ok_id-1"
    assert ViewerCounter.client_key("UA", None) == "a:UA"
    assert ViewerCounter.client_key("x" * 500, "<script>") == "a:" + "x" * 200


def test_config_fields_and_the_window_must_hold_three_segments(tmp_path):
    c = BroadcastConfig()
    assert (c.viewers_per_address, c.streams_per_address, c.viewer_table_size) == (1, 8, 4096)
    with pytest.raises(ValidationError, match="viewer_window_seconds"):
        BroadcastConfig(segment_seconds=4.0)  # the default 6 s window would hold only 1.5 segments
    with pytest.raises(ValidationError):
        BroadcastConfig(viewers_per_address=0)
    b = Broadcaster(BroadcastConfig(viewers_per_address=2, streams_per_address=5, viewer_table_size=64), tmp_path)
    assert (b.viewers.per_address, b.viewers.streams_per_address, b.viewers.max_tracked) == (2, 5, 64)


def test_names_go_through_the_projects_one_cleaner(tmp_path):
    b = Broadcaster(BroadcastConfig(port=0), tmp_path)
    b.update_status([{"id": "s01", "name": "Zero\u200bWidth \U000e0041tag\u202e  Name\r\nX" + "y" * 200}])
    name = b.api_streams()[0]["name"]
    assert name.startswith("ZeroWidth tag Name X") and len(name) == 80


def test_distinct_viewers_count_people_who_played_once_whatever_they_watched():
    vc = ViewerCounter(WINDOW, streams_per_address=2)
    watch(vc, range(1, 3), address="10.0.0.1", stream="a")
    watch(vc, range(1, 3), address="10.0.0.1", stream="b", t0=10.0)  # the same viewer on a second stream
    watch(vc, range(5, 8), address="10.0.0.2", stream="a", t0=20.0)
    vc.record("a", SEG.format(1), "10.0.0.3", "v:page", now=30.0)  # one segment: no evidence of playback
    for i in range(50):  # one address looping over ids buys nothing beyond its bound
        watch(vc, range(1, 3), address="10.0.0.4", stream="a", key=f"v:{i}", t0=40.0)
    assert vc.distinct() == 3
    assert vc.counts(["a", "b"], now=100.0) == {"a": 0, "b": 0}  # long gone, still counted as distinct
