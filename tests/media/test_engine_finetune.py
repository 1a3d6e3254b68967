"""Runtime finetuning inside the stream engine: steps take device time from generation, a finished job swaps
the stream to its own model (saved as a checkpoint), batches split by model, and resume is exact."""

from __future__ import annotations

import numpy as np
import pytest

from media.cost_model import CostModel
from media.embedding import get_text_embedder
from media.engine import StreamEngine
from media.finetune import FinetuneError
from media.generator import GeneratorConfig, TinyDiffusionGenerator
from media.settings import StreamSettings
from media.sources import SyntheticScene

COST = CostModel(seconds_per_call=0.1, seconds_per_sample=0.4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def base() -> TinyDiffusionGenerator:
    return TinyDiffusionGenerator(GeneratorConfig(checkpoint=None), get_text_embedder())


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return SyntheticScene("neon tunnel").frames(0.0, 8, 8.0, 32)


def engine_with_two(base, tmp_path, **kw) -> StreamEngine:
    engine = StreamEngine(base, get_text_embedder(), COST, checkpoint_dir=str(tmp_path / "ckpt"), **kw)
    for sid, seed in (("a", 1), ("b", 2)):
        s = StreamSettings(prompt="a calm lake", resolution=32, fps=4.0)
        engine.add_stream(sid, (lambda s=s: s), seed=seed)
    return engine


def test_finetune_costs_frames_then_swaps_the_stream_to_its_own_checkpoint(base, frames, tmp_path):
    plain = engine_with_two(base, tmp_path / "plain")
    tuned = engine_with_two(base, tmp_path / "tuned")
    n = tuned.finetune("a", "streamer-a", frames, "a calm lake", steps=3, seed=3, batch_size=4)
    assert n == 1
    r_plain = plain.advance(3.0)
    r_tuned = tuned.advance(3.0)
    # The finetune steps ran on the same device time line: fewer frames for everyone, time accounted.
    assert r_tuned["a"].finetune_seconds > 0
    assert sum(r.frames_generated for r in r_tuned.values()) < sum(r.frames_generated for r in r_plain.values())
    for _ in range(5):  # the job may need more rounds of device time (a step costs ~1.5 s of it here)
        if r_tuned["a"].model != "base":
            break
        r_tuned = tuned.advance(3.0)
    assert r_tuned["a"].model == "streamer-a/ft-1.safetensors" and r_tuned["a"].finetune is None
    assert (tmp_path / "tuned" / "ckpt" / "streamer-a" / "ft-1.safetensors").is_file()
    assert r_tuned["b"].model == "base"
    events = tuned.finetunes.drain_events()
    assert [e["kind"] for e in events] == ["finetune_done"] and events[0]["steps"] == 3
    # From now on "a" and "b" are batched apart (different models), each with its own forward pass.
    calls = []
    orig = base.generate

    def spy(cond, *a, **k):
        calls.append(len(cond))
        return orig(cond, *a, **k)

    base.generate = spy
    try:
        tuned.advance(1.0)
    finally:
        del base.generate
    assert calls and all(c == 1 for c in calls)  # only "b" goes through the base generator


def test_progress_is_reported_while_the_job_runs(base, frames, tmp_path):
    engine = engine_with_two(base, tmp_path)
    engine.finetune("b", "streamer-b", frames, "a calm lake", steps=400, seed=1)
    rep = engine.advance(1.0)
    ft = rep["b"].finetune
    assert ft is not None and 0 < ft["steps_done"] < 400 and ft["steps"] == 400 and rep["a"].finetune is None


def test_resume_mid_finetune_is_exact(base, frames, tmp_path):
    def run(split: bool):
        engine = engine_with_two(base, tmp_path / f"run{split}")
        engine.finetune("a", "streamer-a", frames, "a calm lake", steps=4, seed=5, batch_size=4)
        first = engine.advance(1.5)
        if split:
            state = engine.state_dict()
            engine = engine_with_two(base, tmp_path / f"run{split}")
            engine.load_state_dict(state)
        reports = [engine.advance(3.0) for _ in range(4)]
        return first, reports

    a0, a = run(False)
    b0, b = run(True)
    for ra, rb in zip(a, b):
        for sid in ("a", "b"):
            assert ra[sid].model == rb[sid].model
            assert ra[sid].frames_generated == rb[sid].frames_generated
            assert np.array_equal(ra[sid].thumbnail, rb[sid].thumbnail)
    assert a[-1]["a"].model != "base"


def test_a_child_inherits_the_parents_checkpoint(base, frames, tmp_path):
    engine = engine_with_two(base, tmp_path)
    engine.finetune("a", "parent", frames, "a calm lake", steps=2, seed=1)
    while engine.advance(1.0)["a"].model == "base":
        pass
    name = engine.finetunes.inherit("parent", "child")
    assert name == "child/ft-1.safetensors"
    engine.set_stream_model("b", name)
    rep = engine.advance(1.0)
    assert rep["b"].model == name
    # Both streams now sample the same weights: they share one batch again.
    assert engine._streams["a"].model_key == engine._streams["b"].model_key != ""


def test_bad_requests_are_clear_errors(base, frames, tmp_path):
    engine = engine_with_two(base, tmp_path)
    with pytest.raises(FinetuneError):
        engine.finetune("a", "x", frames, "p", steps=0, seed=1)
    with pytest.raises(FinetuneError):
        engine.finetune("a", "../escape", frames, "p", steps=2, seed=1)
    with pytest.raises(KeyError):
        engine.finetune("zzz", "x", frames, "p", steps=2, seed=1)
    assert engine.finetunes.jobs == []
