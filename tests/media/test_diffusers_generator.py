"""The diffusers (Stable Diffusion) backend, offline: a tiny random SD pipeline is built from configs here,
saved with save_pretrained and loaded back through DiffusersGeneratorConfig exactly as a season would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydantic
import pytest
import torch

from media.diffusers_generator import DiffusersGenerator, DiffusersGeneratorConfig
from media.generator import GeneratorLoadError

R = 32  # pixels; the tiny VAEs downsample by 4, so latents are 8x8
PROMPTS = ["a red fox in snow", "a neon city at night", "ocean waves at dawn", "a bowl of fruit"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_tokenizer(folder: Path) -> None:
    """A character-level CLIP BPE tokenizer (no merges) written from scratch: nothing to download."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = [chr(c) for c in range(33, 127)]
    vocab = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"model_max_length": 77, "tokenizer_class": "CLIPTokenizer"})
    )


def build_tiny_pipeline(root: Path) -> tuple[Path, Path]:
    """Random tiny SD components (v-prediction, so untrained outputs stay in range) -> (pipeline, taesd) folders."""
    from diffusers import (
        AutoencoderKL,
        AutoencoderTiny,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    write_tokenizer(root / "tok")
    tokenizer = CLIPTokenizer.from_pretrained(root / "tok")
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(8, 16, 16),
        norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        prediction_type="v_prediction",
        steps_offset=1,
    )
    taesd = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8),
        decoder_block_out_channels=(8, 8, 8),
        num_encoder_blocks=(1, 1, 1),
        num_decoder_blocks=(1, 1, 1),
        latent_channels=4,
    )
    # Like SD's 0.18215, a scaling factor that gives the latents unit variance (here measured on noise images).
    images = torch.rand(4, 3, R, R) * 2 - 1
    with torch.no_grad():
        # A random TAESD decoder's images are nearly constant and below -1 (all clamped to black): recentre
        # and widen its last conv so that different latents give visibly different frames, as a trained one does.
        last = taesd.decoder.layers[-1]
        y = (taesd.decode(torch.randn(8, 4, R // 4, R // 4)).sample + 1) / 2
        last.weight.mul_(0.25 / float(y.std()))
        last.bias.add_(0.5 - float(y.mean()) * 0.25 / float(y.std()))
        vae.register_to_config(scaling_factor=float(1 / vae.encode(images).latent_dist.mode().std()))
        taesd.register_to_config(scaling_factor=float(1 / taesd.encode(images).latents.std()))
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(root / "sd")
    taesd.save_pretrained(root / "taesd")
    return root / "sd", root / "taesd"


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny_sd"))


def make(model: Path | str, **kw) -> DiffusersGenerator:
    return DiffusersGenerator(DiffusersGeneratorConfig(kind="diffusers", model=str(model), **kw))


@pytest.fixture(scope="module")
def gen(folders) -> DiffusersGenerator:
    return make(folders[0])


@pytest.fixture(scope="module")
def cond(gen) -> np.ndarray:
    return gen.encode_prompts(PROMPTS)


def gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to float rounding of a differently sized batched call."""
    d = np.abs(a.astype(int) - b.astype(int))
    return bool(d.max() <= 2 and (d > 0).mean() < 0.01)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def test_config_is_strict_and_needs_a_model() -> None:
    c = DiffusersGeneratorConfig(kind="diffusers", model="stabilityai/sd-turbo")
    assert (c.guidance_scale, c.dtype, c.scheduler, c.lora, c.tiny_vae) == (0.0, "auto", "lcm", None, None)
    with pytest.raises(pydantic.ValidationError):
        DiffusersGeneratorConfig(kind="diffusers", model="x", checkpoint="y")
    with pytest.raises(pydantic.ValidationError):
        DiffusersGeneratorConfig(kind="diffusers")


def test_encode_prompts_clip_hidden_states_cached(gen: DiffusersGenerator, cond: np.ndarray) -> None:
    assert cond.shape == (4, 77, 32) and cond.dtype == np.float32
    again = gen.encode_prompts([PROMPTS[2], PROMPTS[0]])
    np.testing.assert_array_equal(again, cond[[2, 0]])
    assert not np.allclose(cond[0], cond[1])
    assert gen.downscale == 4


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_shapes_dtype_and_seed_determinism(gen: DiffusersGenerator, cond: np.ndarray, steps: int) -> None:
    a = gen.generate(cond[:3], R, steps, gens(0, 1, 2))
    assert a.shape == (3, R, R, 3) and a.dtype == np.uint8
    b = gen.generate(cond[:3], R, steps, gens(0, 1, 2))
    np.testing.assert_array_equal(a, b)
    c = gen.generate(cond[:3], R, steps, gens(5, 1, 2))
    assert mad(a[0], c[0]) > 1.0 and close(a[1], c[1])  # another seed changes only its own item
    assert a.std() > 1.0  # not a constant image


def test_item_independent_of_the_rest_of_the_batch(gen: DiffusersGenerator, cond: np.ndarray) -> None:
    batch = gen.generate(cond, R, 2, gens(10, 11, 12, 13))
    for i in range(4):
        alone = gen.generate(cond[i : i + 1], R, 2, gens(10 + i))
        assert close(batch[i], alone[0]), i
    same_seed = gen.generate(cond[:2], R, 1, gens(3, 3))
    assert mad(same_seed[0], same_seed[1]) > 1.0  # the prompt matters per item


def test_img2img_strength_zero_low_and_one(gen: DiffusersGenerator, cond: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    init = rng.integers(0, 256, (2, R, R, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (2, R, R, 3), dtype=np.uint8)
    zero = gen.generate(cond[:2], R, 2, gens(1, 2), init=init, strength=np.array([0.0, 0.0]))
    np.testing.assert_array_equal(zero, init)
    txt = gen.generate(cond[:2], R, 2, gens(1, 2))
    one = gen.generate(cond[:2], R, 2, gens(1, 2), init=init, strength=np.array([1.0, 1.0]))
    one_other = gen.generate(cond[:2], R, 2, gens(1, 2), init=other, strength=np.array([1.0, 1.0]))
    assert close(one, txt) and close(one, one_other)
    # Low strength stays near the init's VAE round trip, and the distance grows with strength; mixed strengths
    # share one batch without affecting each other.
    with torch.inference_mode():
        trip = gen._decode(gen._encode(init))
    dist = []
    for s in (0.002, 0.1, 0.3):
        mixed = gen.generate(cond[:2], R, 2, gens(1, 2), init=init, strength=np.array([s, 1.0]))
        assert close(mixed[1], txt[1])
        dist.append(mad(mixed[0], trip[0]))
    assert dist[0] < 0.15 * mad(txt[0], trip[0]) and dist[0] < dist[1] < dist[2], dist
    with pytest.raises(ValueError, match="strength"):
        gen.generate(cond[:2], R, 1, gens(1, 2), init=init, strength=np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="without strength"):
        gen.generate(cond[:2], R, 1, gens(1, 2), init=init)


def test_bad_arguments_are_clear(gen: DiffusersGenerator, cond: np.ndarray) -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        gen.generate(cond[:1], 30, 1, gens(0))
    with pytest.raises(ValueError, match="one torch.Generator per item"):
        gen.generate(cond[:2], R, 1, gens(0))
    with pytest.raises(ValueError, match="shape"):
        gen.generate(np.zeros((1, 384), np.float32), R, 1, gens(0))
    assert gen.generate(cond[:0], R, 1, []).shape == (0, R, R, 3)


def test_tiny_vae_and_guidance(folders, cond: np.ndarray) -> None:
    tiny = make(folders[0], tiny_vae=str(folders[1]), guidance_scale=3.0, scheduler="euler-ancestral")
    assert tiny.tiny_vae and tiny.downscale == 4
    a = tiny.generate(
        cond[:2], R, 2, gens(0, 1), init=np.full((2, R, R, 3), 128, np.uint8), strength=np.array([0.5, 1.0])
    )
    b = tiny.generate(
        cond[:2], R, 2, gens(0, 1), init=np.full((2, R, R, 3), 128, np.uint8), strength=np.array([0.5, 1.0])
    )
    assert a.shape == (2, R, R, 3) and a.dtype == np.uint8 and a.std() > 5
    np.testing.assert_array_equal(a, b)
    alone = tiny.generate(cond[1:2], R, 2, gens(1))
    assert close(a[1], alone[0])
    assert mad(a[0], a[1]) > 1.0


def test_lora_is_fused_into_the_unet(folders, tmp_path: Path, cond: np.ndarray, gen: DiffusersGenerator) -> None:
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig, get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(folders[0] / "unet")
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():  # a fresh LoRA's B matrices are zero (no effect): make it a random, trained-like one
        for name, p in unet.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    StableDiffusionPipeline.save_lora_weights(tmp_path / "lora", unet_lora_layers=get_peft_model_state_dict(unet))
    lora = make(folders[0], lora=str(tmp_path / "lora"))
    a = lora.generate(cond[:1], R, 1, gens(0))
    assert mad(a[0], gen.generate(cond[:1], R, 1, gens(0))[0]) > 0.5
    (weights,) = (tmp_path / "lora").glob("*.safetensors")  # a single LoRA file works too
    np.testing.assert_array_equal(make(folders[0], lora=str(weights)).generate(cond[:1], R, 1, gens(0)), a)


def test_unloadable_models_fail_with_one_line(folders, tmp_path: Path) -> None:
    cases = {
        str(tmp_path / "nope"): "no such folder",
        "./not/there/at/all": "no such folder",
        "nobody-owns-this/bogus-model-id-1234": "not in the Hugging Face cache",
        str(tmp_path): "cannot load diffusers model from",
    }
    for model, words in cases.items():
        with pytest.raises(GeneratorLoadError) as info:
            make(model, local_files_only=True)
        msg = str(info.value)
        assert words in msg and "\n" not in msg, msg
    with pytest.raises(GeneratorLoadError, match="tiny VAE"):
        make(folders[0], tiny_vae=str(tmp_path / "missing_taesd"))


def test_season_config_and_build_world(folders, tmp_path: Path) -> None:
    from arena.config import SeasonConfig, load_season_config
    from arena.world import build_world
    from common.errors import ConfigError, FieldError
    from media.generator import GeneratorConfig

    assert isinstance(SeasonConfig().generator.model, GeneratorConfig)
    assert isinstance(
        SeasonConfig.model_validate({"generator": {"model": {"checkpoint": None}}}).generator.model, GeneratorConfig
    )  # no kind = embedded, as before
    yaml_path = tmp_path / "season.yaml"
    yaml_path.write_text(
        "streamers: 2\nrounds: 1\nround_seconds: 1\n"
        f"generator:\n  model: {{kind: diffusers, model: '{folders[0]}', tiny_vae: '{folders[1]}'}}\n"
        "  device: cpu\n  defaults: {resolution: 32, steps: 1}\n  limits: {resolutions: [32]}\n"
    )
    cfg = load_season_config(yaml_path)
    assert isinstance(cfg.generator.model, DiffusersGeneratorConfig)
    world = build_world(cfg)
    assert isinstance(world.generator, DiffusersGenerator) and world.generator.tiny_vae
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "generator:\n  model: {kind: diffusers, model: 'nobody-owns-this/bogus-1234', local_files_only: true}\n"
    )
    with pytest.raises(FieldError) as info:
        build_world(load_season_config(bad))
    assert str(info.value).startswith("field 'generator.model': ") and "\n" not in str(info.value)
    typo = tmp_path / "typo.yaml"
    typo.write_text("generator:\n  model: {kind: difusers, model: x}\n")
    with pytest.raises(ConfigError, match="generator.model"):
        load_season_config(typo)


def test_tiny_season_runs_on_the_diffusers_backend(folders, tmp_path: Path) -> None:
    import yaml

    from arena.config import load_season_config
    from arena.db import Database
    from arena.loop import SeasonRunner
    from tests.conftest import tiny_config

    cfg = tiny_config(
        tmp_path,
        rounds=2,
        streamers=2,
        generator={
            "model": {"kind": "diffusers", "model": str(folders[0]), "tiny_vae": str(folders[1])},
            "device": "cpu",
        },
    )
    (tmp_path / "season.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    config = load_season_config(tmp_path / "season.yaml", name="sd")
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    assert isinstance(runner.world.generator, DiffusersGenerator)
    runner.run()
    assert runner.season.status == "finished"
    stats = db.stats(runner.season.id)
    assert sum(s.frames_generated for s in stats) > 0


def test_cli_unloadable_model_is_one_line_exit_2(tmp_path: Path) -> None:
    """What a user sees: one stderr line naming the file, the field and the model, exit 2, no season stored."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    bad = tmp_path / "sd.yaml"
    bad.write_text(
        f"database: {tmp_path / 'arena.db'}\n"
        "generator:\n  model: {kind: diffusers, model: nobody-owns-this/bogus-sd-1234}\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "arena", "run", "--config", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"},
    )
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert str(bad) in lines[0] and "field 'generator.model'" in lines[0] and "bogus-sd-1234" in lines[0]
