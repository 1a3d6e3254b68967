"""Small text renderings shared by the fold (feed summaries) and the widgets (sparklines, tool-call arguments).

Pure functions of plain values, so a summary written into the feed and the same value drawn in a widget look
alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

SPARK_CHARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 8) -> str:
    """Unicode block sparkline of the last `width` values, scaled to their own min..max (a trend, not a level:
    the number next to it gives the level)."""
    vals = [float(v) for v in values][-width:]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    if hi - lo < 1e-12:
        return SPARK_CHARS[3] * len(vals)
    top = len(SPARK_CHARS) - 1
    return "".join(SPARK_CHARS[int(round((v - lo) / (hi - lo) * top))] for v in vals)


def short_value(value: Any, limit: int = 40) -> str:
    """One value on one line of at most `limit` characters: a feed line must never wrap or grow unbounded."""
    if isinstance(value, float):
        text = f"{value:.3g}"
    elif isinstance(value, str):
        text = repr(value)
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_args(args: dict[str, Any], limit: int = 40) -> str:
    """`k=v, ...` with every value shortened (tool-call arguments and unknown event payloads)."""
    return ", ".join(f"{k}={short_value(v, limit)}" for k, v in args.items())
