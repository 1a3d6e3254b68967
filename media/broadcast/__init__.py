"""Live output of the arena's streams: rolling HLS per stream, a watch page, optional RTMP, real viewers.

Public API: `BroadcastConfig`, `Broadcaster`, `BroadcastError` (see media.broadcast.broadcaster).
"""

from media.broadcast.broadcaster import Broadcaster
from media.broadcast.config import BroadcastConfig, BroadcastError

__all__ = ["BroadcastConfig", "Broadcaster", "BroadcastError"]
