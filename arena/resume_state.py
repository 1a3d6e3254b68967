"""Resume points: the in-memory state of a season after each committed round.

The database holds everything a reader needs, but not the simulation's private state (random generators,
where every viewer's eyes are, what is in every frame buffer). After each round that state is written to
`runs/<season>/state/round-NNNNN.pkl` (atomic rename) *before* the round's transaction commits, and older
files are pruned after it. So for the last committed round N a state file always exists, and `resume`
continues exactly at round N+1: no round lost, none doubled, also after `kill -9`.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any


def state_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "state"


def state_path(run_dir: str | Path, round_number: int) -> Path:
    return state_dir(run_dir) / f"round-{round_number:05d}.pkl"


def write_state(run_dir: str | Path, round_number: int, state: dict[str, Any]) -> Path:
    path = state_path(run_dir, round_number)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def read_state(run_dir: str | Path, round_number: int) -> dict[str, Any]:
    path = state_path(run_dir, round_number)
    if not path.exists():
        raise FileNotFoundError(f"{path}: resume state for round {round_number} is missing")
    with open(path, "rb") as fh:
        return pickle.load(fh)


def prune_states(run_dir: str | Path, keep_round: int) -> None:
    """Delete state files of other rounds once `keep_round` is committed (memory/disk stay bounded)."""
    folder = state_dir(run_dir)
    if not folder.is_dir():
        return
    for p in folder.glob("round-*.pkl"):
        if p != state_path(run_dir, keep_round):
            p.unlink(missing_ok=True)
    for p in folder.glob("*.tmp"):
        p.unlink(missing_ok=True)
