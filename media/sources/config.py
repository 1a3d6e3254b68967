"""Trend source configs, embedded in the season YAML under `trends: sources: [...]`.

sources:
  - {kind: synthetic, topic: "lava lamp", seed: 3}
  - {kind: file, path: clips/, topic: "ocean waves"}          # a video file or a folder of them, looped
  - {kind: url, url: "https://host/live/index.m3u8", topic: "city night traffic"}   # anything PyAV opens
  - {kind: youtube, query: "aquarium live cam", max_results: 2}  # yt-dlp discovery (live filter)
  - {kind: youtube, url: "https://www.youtube.com/watch?v=..."}   # or one page yt-dlp understands
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

URL_SCHEMES = ("http", "https", "rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "tcp")
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


def _check_url(url: str, schemes: tuple[str, ...]) -> str:
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in schemes or not rest or any(ord(c) < 33 for c in url):
        raise ValueError(f"expected a URL starting with one of {', '.join(s + '://' for s in schemes)}; got {url!r}")
    return url


class _SourceBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, pattern=ID_PATTERN, description="trend id; default '<kind>:src<index>'")
    title: str | None = Field(None, max_length=200, description="shown to agents; default from the source")
    topic: str | None = Field(None, min_length=1, max_length=100, description="what the source shows")
    open_timeout: float = Field(10.0, gt=0, le=120, description="seconds to open the stream")
    read_timeout: float = Field(10.0, gt=0, le=120, description="seconds to wait for a frame")


class SyntheticSourceConfig(_SourceBase):
    kind: Literal["synthetic"]
    topic: str = Field(min_length=1, max_length=100)
    seed: int = 0


class FileSourceConfig(_SourceBase):
    kind: Literal["file"]
    path: str = Field(min_length=1, description="a video file, or a folder whose video files play in turn")
    loop: bool = True


class UrlSourceConfig(_SourceBase):
    kind: Literal["url"]
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v, URL_SCHEMES)


class YoutubeSourceConfig(_SourceBase):
    """yt-dlp: `query` searches YouTube live streams; `url` is one page (YouTube or any site yt-dlp knows)."""

    kind: Literal["youtube"]
    query: str | None = Field(None, min_length=1, max_length=200)
    url: str | None = None
    max_results: int = Field(3, ge=1, le=20)
    refresh_seconds: float = Field(300.0, ge=10, description="how often titles and viewer counts are re-read")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else _check_url(v, ("http", "https"))

    @model_validator(mode="after")
    def _one_of(self) -> YoutubeSourceConfig:
        if (self.query is None) == (self.url is None):
            raise ValueError("give exactly one of query or url")
        return self


SourceConfig = Annotated[
    SyntheticSourceConfig | FileSourceConfig | UrlSourceConfig | YoutubeSourceConfig,
    Field(discriminator="kind"),
]
