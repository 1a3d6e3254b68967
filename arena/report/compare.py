"""Two seasons side by side (`python -m arena report A B`): their headline numbers in one table, the same
plots next to each other, and the terms that explain their ERN on one axis.

Why side by side and not merged: two seasons' streamers are different people with different audiences; what
compares is the shape of each season (ERN, share, content-positivity, compute), read across.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from arena.report import html as H
from arena.report import plots_compute, plots_ern, plots_stream
from arena.report.data import SeasonData
from arena.report.plots_common import Plot
from arena.report.season_report import OnStep
from arena.report.summary import Headline, headline, league_tables

_PAIRED = [
    ("ern", plots_ern.ern_over_time),
    ("share", plots_ern.share_stacked),
    ("ttcp", plots_stream.ttcp_distribution),
    ("buffer_stalls", plots_stream.buffer_and_stalls),
    ("frontier", plots_compute.frontier),
    ("temporal", plots_compute.temporal_vs_strength),
]


@dataclass
class BuiltComparison:
    html_path: Path
    plots: list[Path]


def build_comparison(a: SeasonData, b: SeasonData, out: Path, on_step: OnStep | None = None) -> BuiltComparison:
    out.mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    written: list[Path] = []

    def fig(plot: Plot, prefix: str) -> str:
        path = out / "plots" / f"{prefix}{plot.name}.png"
        path.write_bytes(plot.png)
        written.append(path)
        return H.figure(plot)

    step = on_step or (lambda _s: None)
    parts = [H.note(f"{d.name}: {n}") for d in (a, b) for n in d.notes]
    step("headline numbers")
    ha, hb = headline(a), headline(b)
    rows = []
    for f in fields(Headline):
        va, vb = getattr(ha, f.name), getattr(hb, f.name)
        rows.append((f.name.replace("_", " "), _val(va), _val(vb)))
    parts.append(H.section("Headline numbers", H.table(["figure", a.name, b.name], rows, id="headline"), "headline"))
    for ident, draw in _PAIRED:
        step(ident)
        cols, title = [], ident
        for prefix, d in (("a_", a), ("b_", b)):
            body = H.missing("No scored round stored yet.")
            if d.stream_rounds:
                plot = draw(d)
                title, body = plot.title, fig(plot, prefix)
            cols.append(f"<div><h3>{H.esc(d.name)}</h3>{body}</div>")
        parts.append(H.section(title, f'<div class="cols">{"".join(cols)}</div>', ident))
    step("ERN terms")
    if a.stream_rounds or b.stream_rounds:
        parts.append(H.section("Why: ERN terms", fig(plots_ern.terms_compared([a, b]), ""), "terms"))
    step("league tables")
    cols = []
    for d in (a, b):
        tables = league_tables(d)
        if not tables:
            cols.append(f"<div><h3>{H.esc(d.name)}</h3>{H.missing('No scored round stored yet.')}</div>")
            continue
        t = tables[-1]
        rows2 = [(H.num(x.rank, "{:d}"), x.name, x.policy, H.num(x.ern), H.pct(x.share)) for x in t.rows]
        table = H.table(["rank", "streamer", "policy", "ERN", "share"], rows2, cls="league")
        cols.append(f"<div><h3>{H.esc(d.name)}, after round {t.round}</h3>{table}</div>")
    parts.append(H.section("League tables (latest round)", f'<div class="cols">{"".join(cols)}</div>', "league"))
    subtitle = f"{a.name} ({a.status}, {a.rounds_done} rounds) against {b.name} ({b.status}, {b.rounds_done} rounds)."
    path = out / "compare.html"
    path.write_text(H.page(f"Totoroid Arena: {a.name} vs {b.name}", subtitle, parts), encoding="utf-8")
    return BuiltComparison(path, written)


def _val(v) -> object:
    if v is None:
        return H.num(None, none="not stored")
    if isinstance(v, float):
        return H.num(v, "{:.3g}")
    if isinstance(v, int):
        return H.num(v, "{:d}")
    return str(v)
