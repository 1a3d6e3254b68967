"""Live data in: synthetic scenes, video files and folders, URLs PyAV opens, and YouTube live via yt-dlp.

Public API: the config models (`SourceConfig` and its kinds), `Catalog` (sources built from config),
`Source.sample_frames`, `SyntheticScene`, `FrameReader`, `SourceError`/`SourceTimeout`, `clean_title`.
"""

from media.sources.base import Source, SyntheticSource, VideoSource, YoutubeVideoSource
from media.sources.catalog import Catalog
from media.sources.config import (
    FileSourceConfig,
    SourceConfig,
    SyntheticSourceConfig,
    UrlSourceConfig,
    YoutubeSourceConfig,
)
from media.sources.errors import SourceError, SourceTimeout
from media.sources.reader import FrameReader, StaticTarget
from media.sources.synthetic import SyntheticScene
from media.sources.text import clean_title

__all__ = [
    "Catalog",
    "FileSourceConfig",
    "FrameReader",
    "Source",
    "SourceConfig",
    "SourceError",
    "SourceTimeout",
    "StaticTarget",
    "SyntheticScene",
    "SyntheticSource",
    "SyntheticSourceConfig",
    "UrlSourceConfig",
    "VideoSource",
    "YoutubeSourceConfig",
    "YoutubeVideoSource",
    "clean_title",
]
