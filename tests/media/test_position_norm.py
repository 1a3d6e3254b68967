"""media.position_norm: a spike at one pixel cannot rescale the rest of the image (GroupNorm's droplet lever)."""

from __future__ import annotations

import torch
from torch import nn

from media.generator import GeneratorConfig, build_unet
from media.position_norm import PositionNorm, use_position_norm


def test_a_spike_changes_only_its_own_pixel():
    x = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    spiked = x.clone()
    spiked[0, :, 2, 5] += 500.0
    pn, gn = PositionNorm(16), nn.GroupNorm(4, 16)
    other = torch.ones(8, 8, dtype=torch.bool)
    other[2, 5] = False
    assert torch.allclose(pn(x)[0][:, other], pn(spiked)[0][:, other])
    assert not torch.allclose(gn(x)[0][:, other], gn(spiked)[0][:, other], atol=1e-2)  # what it removes


def test_matches_layer_norm_over_channels_and_keeps_group_norm_parameters():
    x = torch.randn(2, 8, 4, 4)
    gn = nn.GroupNorm(4, 8)
    with torch.no_grad():
        gn.weight.uniform_(0.5, 1.5)
        gn.bias.uniform_(-0.5, 0.5)
    holder = nn.Sequential(gn)
    assert use_position_norm(holder) == 1 and isinstance(holder[0], PositionNorm)
    ln = nn.LayerNorm(8)
    with torch.no_grad():
        ln.weight.copy_(gn.weight)
        ln.bias.copy_(gn.bias)
    want = ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    assert torch.allclose(holder(x), want, atol=1e-5)


def test_a_position_norm_unet_has_no_group_norm_and_takes_group_norm_weights():
    pos = build_unet(GeneratorConfig(checkpoint=None, norm="position"))
    grp = build_unet(GeneratorConfig(checkpoint=None, norm="group"))
    assert not any(isinstance(m, nn.GroupNorm) for m in pos.modules())
    assert pos.state_dict().keys() == grp.state_dict().keys()
    pos.load_state_dict(grp.state_dict(), strict=True)
