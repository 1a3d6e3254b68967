"""Per-position channel normalisation for the embedded UNet: GroupNorm's parameters, no statistic over space.

Why: diffusers' ResNet blocks normalise with GroupNorm, whose mean and variance span the whole image. A
generator can then smuggle a global signal past the normalisation by writing one huge activation at a fixed
place, which dominates the statistics: StyleGAN2's "droplet" artifact (Karras et al. 2020, section 2). The
project's former base did exactly that (a ~500x spike at one cell of the up path, a blob at row 9, column 24
of every 64 px frame; docs/facts.md). Normalising each pixel's channels on their own (a LayerNorm over the
channel axis, as ConvNeXt does) leaves nothing to gain from such a spike. The module keeps GroupNorm's
`weight`/`bias` names and shapes, so a state dict moves between the two.
"""

from __future__ import annotations

import torch
from torch import nn


class PositionNorm(nn.Module):
    """Normalise (B, C, H, W) over C at every (b, h, w), then a per-channel affine (GroupNorm's parameters)."""

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.num_channels, self.eps = num_channels, eps
        self.weight = nn.Parameter(torch.ones(num_channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_channels)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, keepdim=True, unbiased=False)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y


def use_position_norm(model: nn.Module) -> int:
    """Replace every nn.GroupNorm in `model` by a PositionNorm with the same parameters; returns how many."""
    swaps = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.GroupNorm)]
    for name, gn in swaps:
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        pn = PositionNorm(gn.num_channels, gn.eps, gn.affine)
        if gn.affine:
            with torch.no_grad():
                pn.weight.copy_(gn.weight)
                pn.bias.copy_(gn.bias)
        setattr(parent, name.rsplit(".", 1)[-1], pn)
    return len(swaps)
