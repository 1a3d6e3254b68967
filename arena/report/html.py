"""HTML assembly: one self-contained page (inline CSS, plots as base64 PNG data URIs, no script, no network),
so the file opens from disk anywhere. Every numeric table cell carries its exact value in `data-v` next to
the rounded text, so a reader (or a test) can check the number without parsing the rounding."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from arena.report.plots_common import Plot

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; } h3 { margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.relegated td { background: #fde2e2; }
figure { margin: 0.5em 0 1.5em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 12px; }
.note { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.5em 1em; margin: 0.5em 0; }
.missing { color: #8a5a00; font-style: italic; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5em; }
.strip img { image-rendering: pixelated; display: block; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 12px; max-height: 40em; }
"""


@dataclass(frozen=True)
class Num:
    """A number shown rounded (`text`) with its exact value kept for `data-v`."""

    value: float | int | None
    text: str


def num(value: float | int | None, fmt: str = "{:.1f}", none: str = "–") -> Num:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Num(None, none)
    return Num(value, fmt.format(value))


def pct(value: float | None) -> Num:
    return num(value, "{:.1%}")


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def cell(v: object) -> str:
    if isinstance(v, Num):
        data = "" if v.value is None else f' data-v="{esc(repr(v.value))}"'
        return f'<td class="n"{data}>{esc(v.text)}</td>'
    if isinstance(v, bool):
        return f"<td>{'yes' if v else 'no'}</td>"
    if isinstance(v, int | float):
        return cell(num(v, "{:d}" if isinstance(v, int) else "{:.3g}"))
    if isinstance(v, Raw):
        return f"<td>{v.html}</td>"
    return f"<td>{esc(v)}</td>"


@dataclass(frozen=True)
class Raw:
    """Already-escaped HTML for a cell."""

    html: str


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    id: str | None = None,
    cls: str = "",
    row_classes: Sequence[str] | None = None,
    row_keys: Sequence[str] | None = None,
) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for k, r in enumerate(rows):
        attrs = ""
        if row_classes is not None and row_classes[k]:
            attrs += f' class="{esc(row_classes[k])}"'
        if row_keys is not None:
            attrs += f' data-key="{esc(row_keys[k])}"'
        body.append(f"<tr{attrs}>" + "".join(cell(v) for v in r) + "</tr>")
    ident = f' id="{esc(id)}"' if id else ""
    klass = f' class="{esc(cls)}"' if cls else ""
    return f"<table{ident}{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure(plot: Plot) -> str:
    return (
        f'<figure id="fig-{esc(plot.name)}"><img alt="{esc(plot.title)}" src="{data_uri(plot.png)}">'
        f"<figcaption>{esc(plot.caption)}</figcaption></figure>"
    )


def note(text: str) -> str:
    return f'<div class="note">{esc(text)}</div>'


def missing(text: str) -> str:
    return f'<p class="missing">{esc(text)}</p>'


def section(title: str, body: str, id: str) -> str:
    return f'<section id="{esc(id)}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, parts: Iterable[str]) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>{esc(subtitle)}</p>{''.join(parts)}</body></html>\n"
    )
