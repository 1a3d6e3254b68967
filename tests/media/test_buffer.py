"""The player model of StreamBuffer on small scripted time lines, computed by hand."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from media.buffer import BufferFullError, StreamBuffer


def frame(i: int) -> np.ndarray:
    return np.full((2, 2, 3), i, dtype=np.uint8)


class Recorder:
    def __init__(self) -> None:
        self.ids: list[int] = []

    def __call__(self, f: np.ndarray) -> None:
        self.ids.append(int(f[0, 0, 0]))


def scripted() -> tuple[StreamBuffer, Recorder]:
    """capacity 3, 2 fps (ticks every 0.5 s), stream starts at t=0, one 6-second round.

    1.0 A arrives: start-up delay 1.0, A shown at 1.0     | 1.2 B, 1.3 C arrive; 1.5 B out, 2.0 C out
    2.5 tick, empty: stall 1 begins                        | 3.0 D arrives: stall 1 = 0.5 s, D shown, ticks 3.5, 4.0..
    3.5 E arrives exactly at a tick: shown, no stall      | 4.0 tick, empty: stall 2 begins
    5.25 F arrives: stall 2 = 1.25 s, F shown; ticks 5.75..
    """
    b = StreamBuffer(capacity=3, fps=2.0, start_time=0.0)
    b.begin_round(0.0, 6.0)
    rec = Recorder()
    b.push(frame(1), 1.0, rec)
    b.push(frame(2), 1.2, rec)
    b.push(frame(3), 1.3, rec)
    b.advance(2.0, rec)
    return b, rec


def test_startup_and_draining() -> None:
    b, rec = scripted()
    assert b.startup_delay == pytest.approx(1.0)
    assert rec.ids == [1, 2, 3] and b.level == 0
    assert b.ttcp == pytest.approx(1.0)  # never stalled: content-positive since its first frame
    assert b.next_tick() == pytest.approx(2.5)


def test_stalls_ttcp_and_bins_by_hand() -> None:
    b, rec = scripted()
    b.advance(2.7, rec)
    assert b.stalled and b.stall_count == 1
    assert b.stall_seconds == pytest.approx(0.2)
    assert b.ttcp is None  # not content-positive while stalled
    b.push(frame(4), 3.0, rec)
    assert not b.stalled and b.stall_seconds == pytest.approx(0.5)
    assert b.ttcp == pytest.approx(3.0)
    b.push(frame(5), 3.5, rec)  # arrives at the tick's time: in the buffer before the tick is served
    b.advance(3.5, rec)
    assert b.stall_count == 1 and rec.ids == [1, 2, 3, 4, 5]
    b.advance(4.0, rec)
    assert b.stall_count == 2 and b.stalled
    b.push(frame(6), 5.25, rec)
    assert b.stall_seconds == pytest.approx(1.75)
    assert b.ttcp == pytest.approx(5.25)
    assert b.round_stall_bins == pytest.approx([0.0, 0.0, 0.5, 0.0, 1.0, 0.25])
    assert b.frames_generated == b.frames_output == 6
    assert b.next_tick() == pytest.approx(5.75)


def test_full_buffer_raises_and_round_boundaries() -> None:
    b, rec = scripted()
    b.advance(4.0, rec)  # without D and E this time: one long stall from 2.5
    b.push(frame(7), 5.3, rec)  # ends the stall, shown at once
    for i, t in ((8, 5.4), (9, 5.45), (10, 5.46)):
        b.push(frame(i), t, rec)
    assert b.full and b.level == 3
    with pytest.raises(BufferFullError):
        b.push(frame(11), 5.49, rec)
    assert b.level == 3 and b.frames_generated == 7
    b.advance(6.0, rec)  # tick 5.8 serves frame 8
    b.begin_round(6.0, 2.0)
    b.advance(8.0, rec)  # 6.3 -> 9, 6.8 -> 10, 7.3 empty: stall from 7.3
    assert rec.ids == [1, 2, 3, 7, 8, 9, 10]
    assert b.round_frames_output == 2 and b.round_frames_generated == 0
    assert b.round_stall_count == 1
    assert b.round_stall_seconds == pytest.approx(0.7)
    assert b.round_stall_bins == pytest.approx([0.0, 0.7])
    assert b.stall_seconds == pytest.approx(2.8 + 0.7)  # 2.5..5.3 and 7.3..8.0
    b.begin_round(8.0, 1.0)  # a stall that carries into a round counts there too
    b.advance(8.5, rec)
    assert b.round_stall_count == 0 and b.round_stall_seconds == pytest.approx(0.5)
    assert b.round_stall_bins == pytest.approx([0.5])


def test_fps_change_applies_after_the_scheduled_tick() -> None:
    b, rec = scripted()
    for i, t in ((4, 2.1), (5, 2.2), (6, 2.3)):
        b.push(frame(i), t, rec)
    b.set_fps(10.0)  # the 2.5 tick stays, then every 0.1 s
    b.advance(2.65, rec)
    assert rec.ids == [1, 2, 3, 4, 5]
    b.advance(2.7, rec)
    assert rec.ids[-1] == 6 and b.level == 0


def test_shrinking_capacity_drops_the_oldest() -> None:
    b, rec = scripted()
    for i, t in ((4, 2.1), (5, 2.2), (6, 2.3)):
        b.push(frame(i), t, rec)
    assert b.set_capacity(1) == 2
    assert b.frames_dropped == 2 and b.level == 1
    b.advance(2.5, rec)
    assert rec.ids[-1] == 6


def test_not_started_has_no_ttcp_and_no_stall() -> None:
    b = StreamBuffer(capacity=2, fps=4.0, start_time=10.0)
    b.begin_round(10.0, 3.0)
    b.advance(13.0)
    assert (b.started, b.startup_delay, b.ttcp, b.stall_count, b.frames_output) == (False, None, None, 0, 0)
    with pytest.raises(ValueError):
        b.push(frame(1), 12.0)  # the past


def test_state_dict_round_trip_continues_identically() -> None:
    b, rec = scripted()
    b.push(frame(4), 2.1, rec)
    b.advance(2.9, rec)  # 2.5 serves frame 4; the 3.0 tick will find the buffer empty
    state = copy.deepcopy(b.state_dict())
    c = StreamBuffer(capacity=1, fps=1.0)
    c.load_state_dict(state)
    rec_b, rec_c = Recorder(), Recorder()
    for buf, r in ((b, rec_b), (c, rec_c)):
        buf.advance(3.3, r)
        buf.push(frame(5), 3.6, r)
        buf.push(frame(6), 3.7, r)
        buf.advance(6.0, r)
    assert rec_b.ids == rec_c.ids == [5, 6]
    sb, sc = b.state_dict(), c.state_dict()
    assert [f.tolist() for f in sb.pop("frames")] == [f.tolist() for f in sc.pop("frames")]
    assert {k: v for k, v in sb.items() if not isinstance(v, np.ndarray)} == {
        k: v for k, v in sc.items() if not isinstance(v, np.ndarray)
    }
    assert b.stall_count == 2  # from 3.0 to 3.6, and from 4.6 on


def test_long_random_run_stays_bounded_and_conserves_frames() -> None:
    rng = np.random.default_rng(0)
    b = StreamBuffer(capacity=5, fps=8.0)
    t = 0.0
    for r in range(20):
        b.begin_round(float(r), 1.0)
        while t < r + 1:
            t += float(rng.exponential(0.12))
            b.advance(min(t, r + 1.0))
            if t < r + 1 and not b.full:
                b.push(frame(1), t)
            assert b.level <= b.capacity
            assert b.frames_generated == b.frames_output + b.level
        b.advance(r + 1.0)
        assert sum(b.round_stall_bins) == pytest.approx(b.round_stall_seconds)
    assert b.stall_count > 0 and b.frames_output > 100
    assert b.stall_seconds < 20.0
