"""Sources: synthetic scenes, looping files and folders, URLs over a local HLS server, dead and refused URLs,
re-resolving targets (fake resolver), and yt-dlp's own extraction against the local m3u8."""

from __future__ import annotations

import socket
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
import pydantic
import pytest

from media.sources import Catalog, FrameReader, SourceError, SyntheticScene, clean_title
from media.sources.base import YoutubeVideoSource
from media.sources.config import FileSourceConfig, UrlSourceConfig, YoutubeSourceConfig
from media.sources.youtube import Resolved, YtdlpTarget, expiry_of, resolve

COLOURS = [(250, 20, 20), (20, 250, 20), (20, 20, 250), (250, 250, 20)]


def write_video(
    path: Path, n: int, colour=None, size=(96, 64), fps: int = 10, fmt: str | None = None, options: dict | None = None
) -> Path:
    """A small H.264 video; frame i is a flat colour (COLOURS[i % 4] unless `colour` is given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format=fmt, options=options or {}) as out:
        st = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "g": str(fps)})
        st.width, st.height, st.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(n):
            arr = np.empty((size[1], size[0], 3), np.uint8)
            arr[:] = colour if colour is not None else COLOURS[i % len(COLOURS)]
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = i
            out.mux(st.encode(frame))
        out.mux(st.encode(None))
    return path


class _HlsHandler(SimpleHTTPRequestHandler):
    extensions_map = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", "": "application/octet-stream"}

    def do_GET(self):
        if self.path.startswith("/forbidden/"):
            self.send_error(403)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def hls_server(tmp_path_factory):
    """A VOD HLS stream written with PyAV (3 s, 10 fps, 160x90), served over http on 127.0.0.1."""
    root = tmp_path_factory.mktemp("hls")
    write_video(
        root / "live" / "index.m3u8",
        30,
        size=(160, 90),
        fmt="hls",
        options={
            "hls_time": "1",
            "hls_playlist_type": "vod",
            "hls_segment_filename": str(root / "live" / "seg_%03d.ts"),
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_HlsHandler, directory=str(root)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def tarpit():
    """Accepts TCP connections and never answers: the worst kind of dead stream."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield sock.getsockname()[1]
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    sock.close()


def dominant(frame: np.ndarray) -> int:
    return int(np.argmax(frame.reshape(-1, 3).mean(0)))


# ---------------------------------------------------------------------------------------------- synthetic
def test_synthetic_scene_is_deterministic_animated_and_any_resolution():
    a, b = SyntheticScene("ocean waves", seed=1), SyntheticScene("ocean waves", seed=1)
    assert np.array_equal(a.frame(2.5, 64), b.frame(2.5, 64))
    assert not np.array_equal(a.frame(2.5, 64), SyntheticScene("ocean waves", seed=2).frame(2.5, 64))
    assert not np.array_equal(a.frame(0.0, 64), a.frame(0.5, 64))  # it moves
    assert not np.array_equal(a.frame(0.0, 64), SyntheticScene("neon tunnel", seed=1).frame(0.0, 64))
    for r in (8, 17, 128):
        f = a.frame(1.0, r)
        assert f.shape == (r, r, 3) and f.dtype == np.uint8 and f.std() > 5
    assert a.frames(0.0, 5, 8.0, 32).shape == (5, 32, 32, 3)


def test_clean_title_strips_controls_and_caps_length():
    assert clean_title("LIVE\x1b[2J:\n ocean\u202e cam\x00") == "LIVE [2J: ocean cam"
    long = clean_title("x" * 500)
    assert len(long) == 120 and long.endswith("…")


# ---------------------------------------------------------------------------------------------- files
def test_file_source_loops(tmp_path):
    write_video(tmp_path / "clip.mp4", 10)
    cat = Catalog([FileSourceConfig(kind="file", path=str(tmp_path / "clip.mp4"), topic="colours")])
    try:
        src = cat.sources()[0]
        assert (src.id, src.kind, src.topic) == ("file:src0", "file", "colours")
        frames = src.sample_frames(25, 32)  # 2.5 times the file
        assert frames.shape == (25, 32, 32, 3) and frames.dtype == np.uint8
        assert [dominant(f) for f in frames[:4]] == [0, 1, 2, 0]  # red, green, blue, yellow(R=G -> 0)
        assert np.array_equal(frames[0], frames[10]) and np.array_equal(frames[3], frames[23])
        assert src._reader.opens >= 3
    finally:
        cat.close()


def test_folder_source_plays_its_files_in_turn(tmp_path):
    write_video(tmp_path / "clips" / "a.mp4", 4, colour=(240, 10, 10))
    write_video(tmp_path / "clips" / "b.mkv", 4, colour=(10, 10, 240))
    (tmp_path / "clips" / "notes.txt").write_text("not a video")
    cat = Catalog([FileSourceConfig(kind="file", path=str(tmp_path / "clips"), id="mine")])
    try:
        frames = cat.get("mine").sample_frames(12, 16)
        assert [dominant(f) for f in frames] == [0] * 4 + [2] * 4 + [0] * 4
    finally:
        cat.close()


def test_missing_file_or_empty_folder_is_one_clear_error(tmp_path):
    with pytest.raises(SourceError) as err:
        Catalog([FileSourceConfig(kind="file", path=str(tmp_path / "nope.mp4"))])
    assert "trends.sources[0].path" in str(err.value) and "nope.mp4" in str(err.value)
    assert "\n" not in str(err.value) and isinstance(err.value, ValueError)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no video files"):
        Catalog([FileSourceConfig(kind="file", path=str(tmp_path / "empty"))])
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    cat = Catalog([FileSourceConfig(kind="file", path=str(bad), read_timeout=2, open_timeout=2)])
    with pytest.raises(SourceError, match="gave up"):
        cat.sources()[0].sample_frames(1, 16)
    cat.close()


@pytest.mark.parametrize("url", ["ftp://host/x", "not a url", "http://", "https://host/a b", "file:///etc/passwd"])
def test_bad_urls_are_rejected_by_the_config(url):
    with pytest.raises(pydantic.ValidationError):
        UrlSourceConfig(kind="url", url=url)


def test_youtube_config_needs_exactly_one_of_query_or_url():
    with pytest.raises(pydantic.ValidationError):
        YoutubeSourceConfig(kind="youtube")
    with pytest.raises(pydantic.ValidationError):
        YoutubeSourceConfig(kind="youtube", query="x", url="https://www.youtube.com/watch?v=abc")


# ---------------------------------------------------------------------------------------------- URLs
def test_url_source_reads_local_hls(hls_server):
    cat = Catalog([UrlSourceConfig(kind="url", url=f"{hls_server}/live/index.m3u8", topic="colours")])
    try:
        src = cat.sources()[0]
        assert src.title == "LIVE: colours"
        frames = src.sample_frames(6, 48)
        assert frames.shape == (6, 48, 48, 3)
        assert {dominant(f) for f in frames} >= {0, 1, 2}
    finally:
        cat.close()


def test_dead_url_times_out_without_hanging(tarpit):
    cat = Catalog(
        [UrlSourceConfig(kind="url", url=f"http://127.0.0.1:{tarpit}/live.m3u8", open_timeout=1.0, read_timeout=1.0)]
    )
    t0 = time.monotonic()
    with pytest.raises(SourceError) as err:
        cat.sources()[0].sample_frames(2, 16)
    assert time.monotonic() - t0 < 10
    assert "\n" not in str(err.value)
    cat.close()


def test_refused_url_gives_up_with_one_line():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    reader = FrameReader(
        _Fixed(f"http://127.0.0.1:{port}/x.m3u8"), "refused", live=True, open_timeout=1, read_timeout=1, max_failures=2
    )
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="gave up after 2 failed attempts") as err:
        reader.read(timeout=8)
    assert time.monotonic() - t0 < 8 and "\n" not in str(err.value)
    reader.close()


class _Fixed:
    def __init__(self, url):
        self._url = url

    def url(self):
        return self._url

    def should_reopen(self):
        return False

    def invalidate(self):
        pass


# ---------------------------------------------------------------------------------------------- re-resolve
def test_reader_re_resolves_after_a_403(hls_server):
    answers = [f"{hls_server}/forbidden/index.m3u8", f"{hls_server}/live/index.m3u8"]
    calls = []

    def fake_resolver(page_url, timeout):
        calls.append(page_url)
        url = answers[min(len(calls) - 1, 1)]
        return Resolved(page_url, url, "t", "vid", 5, True, None)

    target = YtdlpTarget("https://example.invalid/watch", resolver=fake_resolver)
    reader = FrameReader(target, "yt", live=True, open_timeout=3, read_timeout=3).start()
    try:
        frame = reader.read(timeout=10)
        assert frame.shape == (90, 160, 3)
        assert len(calls) == 2 and target.resolutions == 2  # the 403 invalidated the first manifest
    finally:
        reader.close()


def test_reader_reopens_before_the_manifest_expires(hls_server):
    clock = [1_700_000_000.0]

    def fake_resolver(page_url, timeout):
        # Signed URLs carry their expiry (here 90 s after the resolution).
        expires = int(clock[0]) + 90
        return Resolved(
            page_url,
            f"{hls_server}/live/index.m3u8?expire={expires}",
            "t",
            "vid",
            None,
            True,
            expiry_of(f"/x?expire={expires}"),
        )

    target = YtdlpTarget("https://example.invalid/watch", resolver=fake_resolver, clock=lambda: clock[0])
    reader = FrameReader(target, "yt", live=True, open_timeout=3, read_timeout=3).start()
    try:
        reader.read(timeout=10)
        assert target.resolutions == 1
        clock[0] += 45  # now 45 s before expiry: inside the 60 s margin
        deadline = time.monotonic() + 10
        while target.resolutions < 2:
            reader.read(timeout=10)
            assert time.monotonic() < deadline
        assert reader.reopens_for_expiry >= 1
    finally:
        reader.close()


def test_expiry_is_parsed_from_signed_urls():
    assert expiry_of("https://manifest.googlevideo.com/api/manifest/hls_playlist/expire/1712345678/ei/x") == 1712345678
    assert expiry_of("https://h/x.m3u8?a=1&expire=1712345678&b=2") == 1712345678
    assert expiry_of("https://h/x.m3u8") is None


def test_youtube_search_lists_discovered_streams_with_clean_titles_and_real_viewers(hls_server):
    def fake_discover(query, n, timeout):
        assert query == "aquarium"
        return ["https://www.youtube.com/watch?v=AAA", "https://www.youtube.com/watch?v=BBB"][:n]

    def fake_resolver(page_url, timeout):
        vid = page_url[-3:]
        return Resolved(
            page_url,
            f"{hls_server}/live/index.m3u8",
            clean_title(f"Fish\x07 {vid}\n" + "!" * 300),
            vid,
            1234,
            True,
            None,
        )

    cat = Catalog(
        [YoutubeSourceConfig(kind="youtube", query="aquarium", max_results=2)],
        discoverer=fake_discover,
        resolver=fake_resolver,
    )
    assert cat.sources() == []  # nothing known before the first refresh
    assert cat.refresh(force=True) == []
    srcs = cat.sources()
    assert [s.id for s in srcs] == ["youtube:src0:AAA", "youtube:src0:BBB"]
    assert srcs[0].title.startswith("Fish AAA !!") and len(srcs[0].title) <= 120 and "\x07" not in srcs[0].title
    assert srcs[0].viewers() == 1234
    assert srcs[1].sample_frames(2, 24).shape == (2, 24, 24, 3)
    cat.close()


# ---------------------------------------------------------------------------------------------- yt-dlp itself
def test_ytdlp_generic_extractor_resolves_the_local_m3u8(hls_server):
    url = f"{hls_server}/live/index.m3u8"
    r = resolve(url, timeout=5)
    assert r.stream_url.startswith(hls_server) and ".m3u8" in r.stream_url
    assert r.title and "\n" not in r.title
    src = YoutubeVideoSource("youtube:local", url, "colours", None, open_timeout=3, read_timeout=3)
    src.refresh()
    assert src.ready and src.sample_frames(3, 32).shape == (3, 32, 32, 3)
    src.close()


def test_ytdlp_failure_is_one_clear_error(tarpit):
    with pytest.raises(SourceError) as err:
        resolve(f"http://127.0.0.1:{tarpit}/nothing", timeout=1)
    assert "\n" not in str(err.value) and "cannot resolve" in str(err.value)
