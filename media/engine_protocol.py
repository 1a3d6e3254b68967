"""The engine as the arena sees it: the one seam between the season loop and whatever generates the frames.

Two implementations: `media.engine.StreamEngine` (every stream on this process's device, the default,
`engine.backend: local`) and `media.ray_engine.RayEngine` (`engine.backend: ray`: the streams spread over Ray
actors, each running its own StreamEngine). The loop, the roster and the finetune requests call only what is
listed here, so the batching, buffers and reports stay written once, in StreamEngine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from media.engine_streams import SettingsSource, StreamReport

FrameCallback = Callable[[str, np.ndarray], None]


class Engine(Protocol):
    now: float  # engine stream time at the end of the last round

    def add_stream(self, stream_id: str, settings_source: SettingsSource, seed: int) -> None: ...

    def remove_stream(self, stream_id: str) -> None: ...

    def set_references(self, references: dict[str, np.ndarray]) -> None: ...

    def finetune(
        self, stream_id: str, owner: str, frames: np.ndarray, prompt: str, *, steps: int, seed: int, **options: Any
    ) -> int: ...

    def set_checkpoint_root(self, root: str | Path) -> None: ...

    def cancel_finetunes(self, stream_id: str) -> None: ...

    def drain_finetune_events(self) -> list[dict[str, Any]]: ...

    def inherit_finetune(self, parent_owner: str, child_stream: str) -> str | None: ...

    def advance(
        self,
        seconds: float,
        should_stop: Callable[[], bool] | None = None,
        on_frame: FrameCallback | None = None,
    ) -> dict[str, StreamReport]: ...

    def drain_fault_events(self) -> list[dict[str, Any]]:
        """Device faults since the last drain (an actor restarted and its streams restored), for the event log."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def close(self) -> None:
        """Release the devices (actors, encoders) at the end of a season."""
        ...
