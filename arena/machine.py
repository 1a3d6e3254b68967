"""The machine a season runs on, as stored in its `season_created` and `season_resumed` events.

Why: a season's figures (keyframes per second, what resolution a stream could hold, TTCP) are only
meaningful next to the hardware that produced them, and a report is often read on another machine. Kept
small and free of identifiers: OS, CPU, core count, Python and torch versions, and the GPUs torch sees.
"""

from __future__ import annotations

import os
import platform
from typing import Any


def describe_machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - describing the machine must never stop a season
        pass
    return info
