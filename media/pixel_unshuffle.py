"""The embedded generator's "latent": an exact space-to-depth (pixel-unshuffle) view of the RGB image.

Why: on a 2-core CPU the UNet's cost grows with the number of spatial positions. Folding each 2x2 block of
pixels into channels (64x64x3 -> 32x32x12) lets the UNet run on a quarter of the positions for nearly the
same parameter count, which is what makes 8 streams at 64x64 real-time (bench/base_model_choice.json).
Unlike a VAE it is exactly invertible, costs nothing, and needs no trained decoder, so img2img from the
previous frame stays meaningful: noising and denoising act on the same numbers as the pixels, just
rearranged. i.i.d. Gaussian noise stays i.i.d. Gaussian under the rearrangement, so a stream may draw its
noise in pixel space and fold it.

Both the sampler (media.generator) and the trainer (media.train_base) call these two functions, so a model
is always trained and sampled in the same space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def latent_channels(factor: int) -> int:
    """Channels the UNet sees for RGB folded by `factor`."""
    return 3 * factor * factor


def to_latent(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, 3, H, W) pixels in [-1, 1] -> (B, 3 f^2, H/f, W/f). factor 1 is the identity."""
    if factor == 1:
        return x
    if x.shape[-1] % factor or x.shape[-2] % factor:
        raise ValueError(f"image size {tuple(x.shape[-2:])} is not a multiple of space_to_depth={factor}")
    return F.pixel_unshuffle(x, factor)


def from_latent(z: torch.Tensor, factor: int) -> torch.Tensor:
    """Inverse of to_latent: (B, 3 f^2, h, w) -> (B, 3, h f, w f)."""
    return z if factor == 1 else F.pixel_shuffle(z, factor)
