"""Stream thumbnails: a real image through textual-image where the terminal has graphics (sixel / kitty), and
half-block characters otherwise (▀ with the top pixel as foreground and the bottom pixel as background)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from PIL import Image as PILImage
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

UPPER_HALF = "▀"


@lru_cache(maxsize=256)
def _load(path: str, mtime: float) -> PILImage.Image | None:
    try:
        with PILImage.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError):
        return None


def load_image(path: str | None) -> PILImage.Image | None:
    if not path:
        return None
    import os

    try:
        mtime = os.path.getmtime(path)
    except OSError:
        return None
    return _load(path, mtime)


def _fit(image: PILImage.Image, cols: int, rows: int) -> PILImage.Image:
    """Resize into cols x (2*rows) pixels keeping the aspect ratio (terminal cells are about 1:2)."""
    w, h = image.size
    scale = min(cols / w, (2 * rows) / h)
    nw, nh = max(1, int(round(w * scale))), max(2, int(round(h * scale)))
    nh += nh % 2
    return image.resize((nw, nh), PILImage.Resampling.BILINEAR)


_FIT_CACHE: dict[tuple[int, int, int], tuple[PILImage.Image, PILImage.Image]] = {}


class HalfBlockImage:
    """A rich renderable: an RGB PIL image drawn with ▀, centred in the space it is given."""

    def __init__(self, image: PILImage.Image, width: int, height: int, background: Color | None = None):
        self.image = image
        self.width = max(1, width)
        self.height = max(1, height)
        self.background = background

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = min(self.width, options.max_width)
        key = (id(self.image), width, self.height)
        fitted = _FIT_CACHE.get(key)
        if fitted is None or fitted[0] is not self.image:
            if len(_FIT_CACHE) > 512:
                _FIT_CACHE.clear()
            fitted = _FIT_CACHE[key] = (self.image, _fit(self.image, width, self.height))
        fitted = fitted[1]
        w, h = fitted.size
        px = fitted.load()
        pad_left = (width - w) // 2
        pad_right = width - w - pad_left
        rows = h // 2
        top_pad = (self.height - rows) // 2
        blank = Segment(" " * width, Style(bgcolor=self.background) if self.background else Style())
        styles: dict[tuple, Style] = {}
        for _ in range(top_pad):
            yield blank
            yield Segment.line()
        for y in range(0, h, 2):
            if pad_left:
                yield Segment(" " * pad_left, Style(bgcolor=self.background) if self.background else None)
            for x in range(w):
                top, bottom = px[x, y], px[x, y + 1]
                key = (top, bottom)
                style = styles.get(key)
                if style is None:
                    style = styles[key] = Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom))
                yield Segment(UPPER_HALF, style)
            if pad_right:
                yield Segment(" " * pad_right, Style(bgcolor=self.background) if self.background else None)
            yield Segment.line()
        for _ in range(self.height - rows - top_pad):
            yield blank
            yield Segment.line()


class Thumbnail(Widget):
    """Shows the PNG at `path` (or a placeholder). Uses textual-image when the app says the terminal supports
    real graphics (`app.image_backend == "textual-image"`), else half-blocks."""

    DEFAULT_CSS = """
    Thumbnail { width: 1fr; height: 1fr; }
    Thumbnail > .thumbnail--placeholder { color: $text-muted; }
    """
    COMPONENT_CLASSES = {"thumbnail--placeholder"}

    path: reactive[str | None] = reactive(None)

    def __init__(self, path: str | None = None, placeholder: str = "no image yet", **kwargs: Any):
        super().__init__(**kwargs)
        self.placeholder = placeholder
        self._graphic: Widget | None = None
        self.set_reactive(Thumbnail.path, path)

    def on_mount(self) -> None:
        if getattr(self.app, "image_backend", "halfblock") == "textual-image":
            try:
                from textual_image.widget import Image as GraphicImage

                self._graphic = GraphicImage(self.path)
                self._graphic.styles.width = "1fr"
                self._graphic.styles.height = "1fr"
                self.mount(self._graphic)
            except Exception:  # no textual-image, or the terminal query failed: half-blocks it is
                self._graphic = None

    def watch_path(self, path: str | None) -> None:
        if self._graphic is not None:
            try:
                self._graphic.image = path  # type: ignore[attr-defined]
            except Exception:
                pass
        self.refresh()

    def render(self) -> Any:
        if self._graphic is not None:
            return ""
        image = load_image(self.path)
        if image is None:
            style = self.get_component_rich_style("thumbnail--placeholder")
            text = Text(self.placeholder, style=style, justify="center")
            return text
        bg = self.styles.background
        background = Color.from_rgb(*bg.rgb) if bg.a > 0 else None
        return HalfBlockImage(image, self.content_size.width, self.content_size.height, background)


class PreviewCard(Vertical):
    """One stream: a title line and its latest thumbnail. Click (or Enter) opens the streamer."""

    can_focus = True

    class Selected(Message):
        def __init__(self, streamer_id: int) -> None:
            super().__init__()
            self.streamer_id = streamer_id

    BINDINGS = [("enter", "select", "Open")]

    def __init__(self, streamer_id: int, title: str = "", path: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.streamer_id = streamer_id
        self._title = title
        self._path = path

    def compose(self) -> ComposeResult:
        yield Static(self._title, classes="card-title", markup=False)
        yield Thumbnail(self._path)

    def update(self, title: str | Text, path: str | None, status: str = "live") -> None:
        self.query_one(".card-title", Static).update(title)
        self.query_one(Thumbnail).path = path
        self.set_class(status == "zone", "-zone")
        self.set_class(status == "relegated", "-relegated")

    def on_click(self) -> None:
        self.post_message(self.Selected(self.streamer_id))

    def action_select(self) -> None:
        self.post_message(self.Selected(self.streamer_id))
