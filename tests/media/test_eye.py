"""The audience's eye (media.eye): the committed weights see the topics, outputs are well-behaved vectors, a CLIP
loads offline, and every load failure is one clear error."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from common.errors import FieldError
from media.eye import (
    PACKAGED_EYE,
    ClipEye,
    EmbeddedEye,
    EyeConfig,
    EyeLoadError,
    build_eye,
    get_embedded_eye,
    nearest_text,
)
from media.sources.synthetic import SyntheticScene
from media.train_eye import AUDIENCE_TOPICS, HELDOUT_SEED, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Measured on the committed eye: held-out accuracy 1.0 (bench/eye.py's 320 frames and these 80; chance 0.1), and
# mean cosine to the own topic 0.25-0.46 against -0.12..-0.04 to the others (a gap of 0.33 at least).
MIN_HELDOUT_ACCURACY = 0.9
MIN_OWN_TOPIC_GAP = 0.2


@pytest.fixture(scope="module")
def eye() -> EmbeddedEye:
    return get_embedded_eye()


@pytest.fixture(scope="module")
def heldout() -> tuple[np.ndarray, np.ndarray]:
    """4 frames at each of 2 never-trained scene seeds per audience topic (80 frames, chance 1/10)."""
    frames = [SyntheticScene(t, HELDOUT_SEED + s).frames(7.0, 4, 0.31, 64) for t in AUDIENCE_TOPICS for s in (0, 1)]
    return np.concatenate(frames), np.repeat(np.arange(len(AUDIENCE_TOPICS)), 8)


def test_audience_topics_mirror_the_arena():
    from arena.audience import DEFAULT_TOPICS

    assert AUDIENCE_TOPICS == DEFAULT_TOPICS


def test_heldout_scene_frames_are_classified_well_above_chance(eye, heldout):
    frames, labels = heldout
    accuracy = float((nearest_text(eye, frames, AUDIENCE_TOPICS) == labels).mean())
    assert accuracy >= MIN_HELDOUT_ACCURACY, accuracy


def test_frames_are_closer_to_their_own_topic_than_to_others(eye, heldout):
    frames, labels = heldout
    cos = eye.embed_frames(frames) @ eye.embed_texts(AUDIENCE_TOPICS).T
    for k in range(len(AUDIENCE_TOPICS)):
        own = cos[labels == k, k].mean()
        others = np.delete(cos[labels == k], k, axis=1).mean()
        assert own > others + MIN_OWN_TOPIC_GAP, (AUDIENCE_TOPICS[k], own, others)


def test_vectors_are_unit_deterministic_and_batch_invariant(eye, heldout):
    frames = heldout[0][::7]
    z = eye.embed_frames(frames)
    assert eye.dim == 384 and z.dtype == np.float32 and z.shape == (len(frames), 384)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(z, eye.embed_frames(frames))
    one_by_one = np.concatenate([eye.embed_frames(f[None]) for f in frames])
    np.testing.assert_allclose(one_by_one, z, atol=1e-5)
    small_batches = EmbeddedEye(batch_size=3, text_embedder=eye._text).embed_frames(frames)
    np.testing.assert_allclose(small_batches, z, atol=1e-5)
    assert eye.embed_frames(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0, 384)


def test_any_frame_size_and_bad_input(eye):
    wide = SyntheticScene("fireworks", HELDOUT_SEED).frame(2.0, 96)[:48]  # 48 x 96
    assert eye.embed_frames(np.stack([wide, wide])).shape == (2, 384)
    with pytest.raises(ValueError, match="uint8"):
        eye.embed_frames(np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        eye.embed_frames(np.zeros((64, 64, 3), np.uint8))


def test_a_solid_grey_frame_is_not_confidently_any_topic(eye, heldout):
    """Softmax over the topics alone is relative (some topic always wins); what counts is the cosine, which the
    audience uses: grey must sit below nearly every real frame's cosine to its own topic, and given the choice
    it must look most like a blank screen (the trainer's null class)."""
    texts = AUDIENCE_TOPICS + ["a blank grey screen"]
    grey = eye.embed_frames(np.full((1, 64, 64, 3), 128, np.uint8)) @ eye.embed_texts(texts).T
    frames, labels = heldout
    own = (eye.embed_frames(frames) @ eye.embed_texts(AUDIENCE_TOPICS).T)[np.arange(len(labels)), labels]
    assert grey[0, :-1].max() < np.percentile(own, 5)
    assert grey[0].argmax() == len(texts) - 1


def test_build_eye_caches_the_embedded_eye_and_validates_the_config():
    assert build_eye() is build_eye({"kind": "embedded"}) is get_embedded_eye()
    with pytest.raises(ValueError):
        EyeConfig.model_validate({"kind": "telescope"})


def test_missing_or_broken_weights_are_one_clear_error(tmp_path):
    with pytest.raises(EyeLoadError, match="eye checkpoint not found") as err:
        build_eye({"checkpoint": str(tmp_path / "nope.safetensors")})
    assert isinstance(err.value, FieldError) and err.value.field == "eye.checkpoint"
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    with pytest.raises(EyeLoadError, match="cannot load eye checkpoint"):
        EmbeddedEye(bad)
    with pytest.raises(EyeLoadError, match="cannot load CLIP"):
        build_eye({"kind": "clip", "model": str(tmp_path / "no-clip-here")})
    with pytest.raises(EyeLoadError, match="needs `model`"):
        build_eye({"kind": "clip"})


def _tiny_clip(path) -> None:
    """A randomly initialised CLIP with a byte-level BPE tokenizer built offline (no merges: one token a byte)."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = ["<|startoftext|>", "<|endoftext|>"] + alphabet + [c + "</w>" for c in alphabet]
    tokenizer = CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[])
    text = dict(vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=2)
    text |= dict(num_attention_heads=2, max_position_embeddings=64, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    vision |= dict(image_size=32, patch_size=8)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=24))
    model.save_pretrained(path)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(path)


def test_clip_eye_loads_offline_from_a_folder(tmp_path):
    _tiny_clip(tmp_path / "clip")
    eye = build_eye({"kind": "clip", "model": str(tmp_path / "clip")})
    assert isinstance(eye, ClipEye) and eye.dim == 24
    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 56, 3), dtype=np.uint8)
    z = eye.embed_frames(frames)
    t = eye.embed_texts(["ocean waves", "a neon tunnel of glowing rings"])
    assert z.shape == (3, 24) and t.shape == (2, 24)
    np.testing.assert_allclose(np.linalg.norm(np.concatenate([z, t]), axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(eye.embed_frames(frames[:1]), z[:1], atol=1e-5)


def _hash_embed(texts: list[str]) -> np.ndarray:
    """Stand-in text tower for trainer tests: a fixed random unit vector per text (no MiniLM needed)."""
    out = np.stack([np.random.default_rng(zlib.crc32(t.encode())).normal(size=384) for t in texts])
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def test_trainer_writes_loadable_weights_and_resumes(tmp_path):
    out = tmp_path / "eye.safetensors"
    args = ["--batch", "16", "--gen-per-topic", "0", "--out", str(out), "--quiet", "--channels", "8,8,16,16,16"]
    note = train(["--steps", "2", *args], embed=_hash_embed)
    assert note["steps"] == 2 and out.is_file() and out.with_suffix(".json").is_file()
    note = train(["--steps", "3", "--resume", *args], embed=_hash_embed)
    assert note["steps"] == 3 and np.isfinite(note["final_loss"])
    eye = EmbeddedEye(out, text_embedder=type("E", (), {"embed": staticmethod(_hash_embed)})())
    assert eye.embed_frames(np.zeros((2, 32, 32, 3), np.uint8)).shape == (2, 384)
    assert PACKAGED_EYE.name == "eye.safetensors"
