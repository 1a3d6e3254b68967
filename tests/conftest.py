"""Shared fixtures: a tiny season config that runs in seconds on 2 cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def tiny_config(tmp_path: Path, **over) -> dict:
    cfg = {
        "seed": 11,
        "streamers": 3,
        "rounds": 4,
        "round_seconds": 2.0,
        "policy": "greedy",
        "relegation": {"every": 2, "fraction": 0.34, "fresh_probability": 0.0},
        "generator": {
            # random init: tests of the season machinery must not depend on the packaged base model's weights
            "model": {"kind": "embedded", "block_out_channels": [16, 32, 32], "checkpoint": None},
            "defaults": {"steps": 1, "resolution": 32, "fps": 3.0},
            "limits": {"resolutions": [32, 48], "steps_max": 2, "fps_max": 8.0},
        },
        "audience": {"size": 3000},
        "broadcast": {"port": 0},  # any free port: tests never collide with a user's arena on 8787
        "database": str(tmp_path / "arena.db"),
        "run_dir": str(tmp_path / "runs"),
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


def write_config(tmp_path: Path, **over) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "season.yaml"
    path.write_text(yaml.safe_dump(tiny_config(tmp_path, **over), sort_keys=False))
    return path


@pytest.fixture
def tiny_config_path(tmp_path) -> Path:
    return write_config(tmp_path)
