"""Errors a user can cause with a trend source (missing file, bad or dead URL): ValueError, one line."""

from __future__ import annotations


class SourceError(ValueError):
    """A source cannot be used. The message is one line that names the source and what went wrong."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class SourceTimeout(SourceError):
    """No frame arrived in time (a stalled or dead stream never hangs the caller)."""
