"""Runtime LoRA finetuning of a Stable Diffusion UNet: the diffusers backend's finetune job.

Why a subclass of media.finetune.FinetuneJob: the job queue, the device share, the step cost, the checkpoint
format and folders, the batch order, the RNG order, resume (state_dict) and the trained-tensor export are the
embedded model's, unchanged; only what is Stable-Diffusion-specific lives here:

* the model space: the captured frames are VAE-encoded once into the scaled latents the UNet works in (the
  VAE's mean, as the sampler's img2img does; DiffusersGenerator.encode_frames), so a step runs the UNet only;
* the conditioning: the text encoder's last hidden states (77, D) for the stream's prompt, exactly what
  `generate` is given for it (a prompt string is encoded with the base's CLIP);
* the noise schedule: the model's own scheduler config (DDPMScheduler.from_config: add_noise, get_velocity),
  and the target per its prediction_type (epsilon: the noise, v_prediction: the velocity, sample: the latents);
  timesteps half uniform over the training range, half those the sampler visits at 1-4 steps (the embedded
  recipe: a 1-step turbo stream learns at t = 999, where it samples);
* LoRA only, on the attention projections by default (diffusers' own LoRA recipe; `target_modules` may add
  the ResNet convolutions), Adam at 1e-4 by default (diffusers' train_text_to_image_lora.py), the A/B matrices
  in float32 even on a float16 UNet; full finetuning of an SD UNet (~860M weights) is refused;
* export: the LoRA merged into a copy of the UNet, everything else shared with the base
  (DiffusersGenerator.with_unet), so a finetuned stream samples at the base's cost and holds one extra UNet.
"""

from __future__ import annotations

import copy
import threading
import warnings

import numpy as np
import torch

from common.errors import first_line
from media.diffusers_generator import DiffusersGenerator
from media.finetune import (
    LORA_TARGETS,
    FinetuneError,
    FinetuneJob,
    add_lora,
    check_frames,
    finetuned_model_id,
    lora_in_float32,
    merged_state,
    model_id,
    parse_config,
)

SD_LORA_LR = 1e-4
SAMPLER_STEPS = (1, 2, 3, 4)  # the step counts whose timesteps half of the training batch is drawn from


def _cond(cond: np.ndarray | str, base: DiffusersGenerator) -> torch.Tensor:
    """A prompt or its (L, D) text-encoder states -> float32 (L, D) on the device, checked."""
    if isinstance(cond, str):
        try:
            cond = base.encode_prompts([cond])[0]
        except RuntimeError as exc:  # built without a text encoder
            raise FinetuneError(f"a prompt was given as caption but {first_line(exc)}") from exc
    c = np.asarray(cond, dtype=np.float32)
    if c.ndim == 3 and c.shape[0] == 1:
        c = c[0]
    if c.ndim != 2 or c.shape[1] != base.cross_attention_dim or not np.all(np.isfinite(c)):
        raise FinetuneError(
            f"caption conditioning must be finite text-encoder states (L, {base.cross_attention_dim}) "
            f"or a prompt, got shape {c.shape}"
        )
    return torch.from_numpy(c.copy()).to(base.device)


def sampler_timesteps(base: DiffusersGenerator) -> torch.Tensor:
    """Every timestep the base's few-step sampler evaluates at strength 1 (999, 499, 749, 249, ...)."""
    ts = np.concatenate([base._timesteps(np.ones(1), k)[0] for k in SAMPLER_STEPS])
    return torch.from_numpy(np.unique(ts))


def sd_generator_with_weights(base: DiffusersGenerator, state: dict[str, torch.Tensor], ident: str):
    """A separate DiffusersGenerator: a copy of `base`'s UNet with `state` loaded, every other part shared."""
    unet = copy.deepcopy(base.unet)
    try:
        unet.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FinetuneError(f"finetuned weights do not fit this generator: {first_line(exc)}") from exc
    out = base.with_unet(unet)
    out.model_id = ident  # type: ignore[attr-defined]  # read by media.finetune.model_id
    return out


class SDFinetuneJob(FinetuneJob):
    """LoRA finetune of a private copy of a Stable Diffusion UNet on captured frames (see the module docstring).

    `cond` is the stream's prompt or its text-encoder states. step(), run(), trained_tensors(), state_dict(),
    from_state_dict() and current_model_id() are FinetuneJob's; loss_on draws timesteps and noise in the same
    order and calls `predict` here.
    """

    def __init__(self, base: DiffusersGenerator, frames: np.ndarray, cond: np.ndarray | str, **options) -> None:
        if not isinstance(base, DiffusersGenerator):
            raise FinetuneError(f"an SD finetune job needs a diffusers generator, got {type(base).__name__}")
        if options.get("method", "lora") != "lora":
            raise FinetuneError(f"the diffusers backend finetunes with LoRA only, got method {options.get('method')!r}")
        options = dict(options)
        if options.get("lr") is None:
            options["lr"] = SD_LORA_LR
        options.setdefault("target_modules", list(LORA_TARGETS))
        self.base = base
        self.config = cfg = parse_config(options)
        self.base_id = model_id(base)
        check_frames(frames, base.downscale)
        self.frames = base.encode_frames(frames)  # scaled latents (N, C, h, w), float32, on the device
        self._frames_uint8 = frames.copy()
        self.resolution = int(frames.shape[1])
        self.cond = _cond(cond, base)
        from diffusers import DDPMScheduler

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.scheduler = DDPMScheduler.from_config(base.scheduler_config)
        self.prediction_type = base.prediction_type
        self.train_timesteps = base.num_train_timesteps
        self.focus_timesteps = sampler_timesteps(base)
        self.rng = torch.Generator().manual_seed(cfg.seed)

        self.unet = copy.deepcopy(base.unet)
        with torch.random.fork_rng(devices=[]):  # peft initialises LoRA A from the global RNG
            torch.manual_seed(cfg.seed)
            add_lora(self.unet, cfg)
        lora_in_float32(self.unet)
        for name, p in self.unet.named_parameters():
            p.requires_grad_("lora_" in name)
        self.unet.train()
        self.params = [p for p in self.unet.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.learning_rate, weight_decay=0.0)

        self.steps_done = 0
        self.losses: list[float] = []
        self._order = torch.empty(0, dtype=torch.long)
        self._lock = threading.Lock()

    def predict(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        dt = self.base.dtype
        c = self.cond.to(dt).expand(xt.shape[0], -1, -1)
        return self.unet(xt.to(dt), t, encoder_hidden_states=c).sample.float()

    def export_generator(self) -> DiffusersGenerator:
        """A separate ready-to-sample generator with the LoRA as it is now merged into a copy of the UNet."""
        with self._lock:
            trained = self._trained_tensors()
            state = merged_state(self.unet)
        return sd_generator_with_weights(self.base, state, finetuned_model_id(self.base_id, trained))

    def metadata(self) -> dict:
        return {**super().metadata(), "backend": "diffusers", "model": self.base.config.model}
