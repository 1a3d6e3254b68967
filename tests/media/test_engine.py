"""The stream engine with the real embedder and the real tiny UNet at 32 px, in deterministic "model" timing."""

from __future__ import annotations

import copy
import gc
import math
import weakref

import numpy as np
import pytest

from media.cost_model import CostModel, calibrate
from media.embedding import get_text_embedder
from media.engine import StreamEngine
from media.engine_streams import StreamReport
from media.generator import GeneratorConfig, TinyDiffusionGenerator
from media.settings import StreamSettings

# At 32 px a batch of n costs 0.1 + 0.1 n stream seconds per step: few real generate() calls per test.
COST = CostModel(seconds_per_call=0.1, seconds_per_sample=0.4)


class SpyGenerator:
    """The real generator, recording every batch (size, resolution, steps, conditioning, strengths)."""

    def __init__(self, real: TinyDiffusionGenerator) -> None:
        self.real = real
        self.calls: list[tuple[int, int, int]] = []
        self.embeddings: list[np.ndarray] = []
        self.strengths: list[np.ndarray | None] = []
        self.inits: list[np.ndarray | None] = []
        self.encoded: list[list[str]] = []

    def encode_prompts(self, prompts):
        self.encoded.append(list(prompts))
        return self.real.encode_prompts(prompts)

    def generate(self, cond, resolution, steps, generators, init=None, strength=None):
        self.calls.append((len(generators), resolution, steps))
        self.embeddings.append(np.array(cond))
        self.strengths.append(None if strength is None else np.array(strength))
        self.inits.append(None if init is None else np.array(init))
        return self.real.generate(cond, resolution, steps, generators, init=init, strength=strength)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def real_gen() -> TinyDiffusionGenerator:
    return TinyDiffusionGenerator(GeneratorConfig(), get_text_embedder())


@pytest.fixture()
def spy(real_gen) -> SpyGenerator:
    return SpyGenerator(real_gen)


def make_engine(gen, cost: CostModel = COST, **kw) -> StreamEngine:
    return StreamEngine(gen, get_text_embedder(), cost, **kw)


def fixed(**kw) -> callable:
    s = StreamSettings(resolution=32, **kw)
    return lambda: s


def add_pair(engine: StreamEngine) -> None:
    engine.add_stream("slow", fixed(prompt="a quiet forest", fps=1.0), seed=1)
    engine.add_stream("fast", fixed(prompt="a racing car", fps=20.0), seed=2)


def comparable(r: StreamReport) -> dict:
    d = dict(vars(r))
    d["thumbnail"] = d["thumbnail"].tobytes()
    d["prompt_embedding"] = d["prompt_embedding"].tobytes()
    d["frame_sample"] = (d["frame_sample"].shape, d["frame_sample"].tobytes())
    return d


def test_fast_stream_stalls_slow_stream_is_content_positive(spy) -> None:
    engine = make_engine(spy)
    add_pair(engine)
    first = engine.advance(4.0)
    second = engine.advance(4.0)
    slow, fast = second["slow"], second["fast"]
    # Both start in the first batch (one batch of two at 32 px, one step).
    assert first["slow"].startup_delay == pytest.approx(COST.batch_seconds(2, 32, 1))
    assert slow.content_positive and slow.stall_count == 0 and slow.stall_seconds == 0.0
    assert slow.ttcp == pytest.approx(slow.startup_delay)
    assert slow.buffer_capacity == 2 and slow.buffer_level == 2  # max(2, ceil(2 s * 1 fps)), kept full
    assert not fast.content_positive and fast.stall_count >= 1 and fast.stall_seconds > 0.5
    assert fast.buffer_capacity == 40 and fast.buffer_level == 0
    for r in second.values():
        assert len(r.stall_seconds_per_second) == 4
        assert sum(r.stall_seconds_per_second) == pytest.approx(r.stall_seconds)
        assert r.frames_output_total <= r.frames_generated_total
        assert r.thumbnail.shape == (32, 32, 3) and r.thumbnail.dtype == np.uint8
        assert r.prompt_embedding.shape == (384,) and r.prompt_embedding.dtype == np.float32
        assert set(r.metrics) >= {"flicker", "ssim", "colourfulness", "sharpness", "brightness", "quality", "stability"}
    assert fast.stall_count_total >= fast.stall_count
    assert second["fast"].frames_generated_total == first["fast"].frames_generated + fast.frames_generated


def test_model_timing_is_deterministic(real_gen) -> None:
    runs = []
    for _ in range(2):
        engine = make_engine(real_gen)
        add_pair(engine)
        engine.add_stream("other", fixed(prompt="jellyfish", fps=3.0, steps=2), seed=3)
        runs.append([{k: comparable(v) for k, v in engine.advance(2.5).items()} for _ in range(2)])
    assert runs[0] == runs[1]


def test_batches_group_by_key_round_robin(spy) -> None:
    engine = make_engine(spy)
    engine.add_stream("a", fixed(prompt="a", fps=2.0), seed=1)
    engine.add_stream("b", fixed(prompt="b", fps=2.0), seed=2)
    engine.add_stream("c", fixed(prompt="c", fps=2.0, steps=2), seed=3)
    engine.advance(2.0)
    assert spy.calls[:4] == [(2, 32, 1), (1, 32, 2), (2, 32, 1), (1, 32, 2)]
    # each stream's own prompt embedding is in its row
    emb = get_text_embedder().embed(["a", "b"])
    np.testing.assert_array_equal(spy.embeddings[0], emb)


def test_knob_changes_apply_before_the_next_batch(spy) -> None:
    holder = {"s": StreamSettings(prompt="a snowy mountain", resolution=32, fps=2.0)}
    calls = []

    def source() -> StreamSettings:
        calls.append(1)
        return holder["s"]

    engine = make_engine(spy)
    engine.add_stream("s", source, seed=5)
    engine.advance(1.0)
    holder["s"] = StreamSettings(prompt="a tropical beach", resolution=16, fps=6.0)
    report = engine.advance(2.0)["s"]
    assert len(calls) >= len(spy.calls)  # read before every batch
    new = get_text_embedder().embed(["a tropical beach"])[0]
    np.testing.assert_array_equal(report.prompt_embedding, new)
    assert report.buffer_capacity == 12 and report.settings["prompt"] == "a tropical beach"
    assert report.thumbnail.shape == (16, 16, 3)
    assert spy.calls[-1][1] == 16
    np.testing.assert_array_equal(spy.embeddings[-1][0], new)


def test_remove_stream_frees_its_buffer(spy) -> None:
    engine = make_engine(spy)
    add_pair(engine)
    engine.advance(1.05)
    ref = weakref.ref(engine._streams["fast"].buffer)
    engine.remove_stream("fast")
    gc.collect()
    assert ref() is None
    assert engine.stream_ids == ["slow"]
    reports = engine.advance(1.0)  # a frame of "fast" still in flight is discarded
    assert set(reports) == {"slow"}
    with pytest.raises(KeyError):
        engine.remove_stream("fast")
    with pytest.raises(ValueError):
        engine.add_stream("slow", fixed(), seed=0)


def test_state_dict_round_trip_continues_identically(real_gen) -> None:
    def build() -> StreamEngine:
        engine = make_engine(real_gen)
        add_pair(engine)
        engine.add_stream("mid", fixed(prompt="lava lamp", fps=4.0), seed=9)
        return engine

    a = build()
    a.advance(3.05)
    state = copy.deepcopy(a.state_dict())
    assert state["pending"] is not None  # a batch crossing the round end is part of the state
    expected = [{k: comparable(v) for k, v in a.advance(2.0).items()} for _ in range(2)]
    b = build()
    b.load_state_dict(state)
    got = [{k: comparable(v) for k, v in b.advance(2.0).items()} for _ in range(2)]
    assert got == expected
    c = make_engine(real_gen)
    with pytest.raises(ValueError, match="missing"):
        c.load_state_dict(state)


def test_long_run_memory_bounded_and_time_exact(spy) -> None:
    cheap = CostModel(seconds_per_call=0.01, seconds_per_sample=0.04)  # 50 frames/s: buffers fill up
    engine = make_engine(spy, cost=cheap, buffer_seconds=1.0)
    engine.add_stream("s", fixed(prompt="clouds", fps=2.0), seed=1)
    engine.add_stream("t", fixed(prompt="rain", fps=1.0, steps=2), seed=2)
    seen = {"s": 0, "t": 0}

    def on_frame(sid: str, f: np.ndarray) -> None:
        seen[sid] += 1
        buf = engine._streams[sid].buffer
        assert buf.level <= buf.capacity and len(buf._frames) <= buf.capacity

    total = 0.0
    for _ in range(25):
        reports = engine.advance(1.0, on_frame=on_frame)
        total += 1.0
        assert engine.now == pytest.approx(total)
        for r in reports.values():
            assert r.buffer_level <= r.buffer_capacity == max(2, math.ceil(r.settings["fps"]))
            assert r.content_positive
    for sid, r in reports.items():
        assert seen[sid] == r.frames_output_total
        assert r.frames_generated_total == r.frames_output_total + r.buffer_level
    # a full engine waits for output ticks instead of generating: one frame per output frame, no more
    assert len(spy.calls) <= sum(r.frames_generated_total for r in reports.values())
    assert reports["s"].frames_output_total == pytest.approx(2 * 25, abs=2)


def test_should_stop_ends_the_round_early(spy) -> None:
    engine = make_engine(spy)
    add_pair(engine)
    checks = []

    def stop() -> bool:
        checks.append(1)
        return len(checks) > 3

    reports = engine.advance(10.0, should_stop=stop)
    assert len(spy.calls) == 3 and engine.now < 1.0
    assert set(reports) == {"slow", "fast"}
    engine.advance(1.0)
    assert engine.now > 1.0


def test_wall_timing_runs_live(real_gen) -> None:
    engine = make_engine(real_gen, timing="wall")
    engine.add_stream("live", fixed(prompt="a clock", fps=2.0), seed=1)
    report = engine.advance(0.6)["live"]
    assert engine.now == pytest.approx(0.6)
    assert report.frames_generated >= 1 and report.startup_delay is not None
    assert engine.profile["generate_seconds"] > 0 and engine.profile["batches"] >= 1
    assert len(report.stall_seconds_per_second) == math.ceil(0.6)


def test_removing_a_stream_from_the_frame_callback(spy) -> None:
    engine = make_engine(spy)
    add_pair(engine)

    def on_frame(sid: str, f: np.ndarray) -> None:
        if sid == "slow" and "fast" in engine.stream_ids:
            engine.remove_stream("fast")

    reports = engine.advance(2.0, on_frame=on_frame)
    assert set(reports) == {"slow"}


def test_cost_model_formula_and_calibration(real_gen) -> None:
    c = CostModel(seconds_per_call=0.02, seconds_per_sample=0.05)
    assert c.batch_seconds(4, 128, 3) == pytest.approx(3 * (0.02 + 4 * 0.05 * 4))
    assert c.batch_seconds(1, 32, 1) == pytest.approx(0.02 + 0.05 / 4)
    fitted = calibrate(real_gen, resolution=32, steps=1, batches=(1, 4), repeats=2)
    assert fitted.seconds_per_call >= 0 and fitted.seconds_per_sample > 0
    # the fit reproduces what it measured, to the order of magnitude (timings are noisy on a shared CPU)
    assert 0.001 < fitted.batch_seconds(4, 32, 1) < 10.0
    with pytest.raises(ValueError):
        calibrate(real_gen, batches=(4, 4))


def test_the_eye_gets_a_deterministic_sample_of_output_frames(real_gen) -> None:
    """A few output frames per round, spread over the round (what the audience's eye looks at)."""
    engine = make_engine(real_gen)
    engine.add_stream("a", fixed(prompt="jellyfish", fps=4.0), seed=3)
    reports = [engine.advance(4.0)["a"] for _ in range(2)]
    for rep in reports:
        assert 1 <= len(rep.frame_sample) <= 8 and rep.frame_sample.dtype == np.uint8
        assert rep.frame_sample.shape[1:] == rep.thumbnail.shape
    assert len(reports[1].frame_sample) == 2  # 4 s at 4 fps, one frame every 2 s of stream
