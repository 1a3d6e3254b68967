"""A filmstrip per streamer: its round thumbnails, sampled evenly across its rounds, side by side.

Why from the run folder: the database stores each round's thumbnail path (`StreamStat.thumbnail`), the
images themselves are written to `<run_dir>/thumbs/<slot>/rNNNNN.png`. Thumbnails are at the stream's own
resolution (32-512 px), so every tile is scaled (nearest neighbour: the pixels the audience saw) to one size.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from arena.report.data import SeasonData, StreamerInfo

TILE = 96  # px per filmstrip tile
FRAMES = 10  # tiles per streamer at most


@dataclass(frozen=True)
class Strip:
    streamer: StreamerInfo
    png: bytes
    rounds: list[int]  # the round of each tile


def thumbnail_paths(d: SeasonData, streamer_id: int) -> list[tuple[int, Path]]:
    """(round, file) for each of the streamer's rounds whose thumbnail is on disk, in round order."""
    if d.run_dir is None:
        return []
    out = []
    for x in d.rounds_of(streamer_id):
        if x.thumbnail:
            p = d.run_dir / x.thumbnail
            if p.is_file():
                out.append((x.round, p))
    return out


def sample_evenly(items: list, n: int) -> list:
    if len(items) <= n:
        return list(items)
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def load_tile(path: Path, size: int = TILE) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB").resize((size, size), Image.Resampling.NEAREST)


def filmstrips(d: SeasonData) -> tuple[list[Strip], int]:
    """One strip per scored streamer with thumbnails, and how many of the rows' thumbnails are missing."""
    strips, missing = [], 0
    for s in d.scored_streamers():
        expected = sum(1 for x in d.rounds_of(s.id) if x.thumbnail)
        found = thumbnail_paths(d, s.id)
        missing += expected - len(found)
        picked = sample_evenly(found, FRAMES)
        if not picked:
            continue
        sheet = Image.new("RGB", (TILE * len(picked) + 2 * (len(picked) - 1), TILE), "white")
        for k, (_, path) in enumerate(picked):
            sheet.paste(load_tile(path), (k * (TILE + 2), 0))
        buf = io.BytesIO()
        sheet.save(buf, format="PNG")
        strips.append(Strip(s, buf.getvalue(), [r for r, _ in picked]))
    return strips, missing
