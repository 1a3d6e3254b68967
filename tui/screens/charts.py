"""The season chart and ERN sparklines per streamer."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.fold import SeasonModel
from tui.screens.base import ArenaScreen
from tui.widgets.charts import SeasonChart, SparkRow


class ChartsScreen(ArenaScreen):
    TAB = "charts"
    MAX_LINES = 10  # plotext gets unreadable beyond this; the sparklines list everyone

    def compose_body(self) -> ComposeResult:
        yield SeasonChart(id="season-chart")
        yield Static("ERN per round — live streamers, best first", classes="panel-title")
        yield VerticalScroll(id="sparks")

    def reset(self) -> None:
        self._shown: list[int] = []
        self.query_one("#sparks", VerticalScroll).remove_children()

    def show_empty(self, problem: str | None) -> None:
        self.query_one(SeasonChart).show({}, [], problem or "no season")

    def update_view(self, model: SeasonModel) -> None:
        info = model.info
        table = model.live_table()
        series = model.ern_series()
        rows = [r for r in table.rows if r.status != "relegated"]
        plotted = {}
        for row in rows[: self.MAX_LINES]:
            plotted[f"{row.slot} {row.name[:12]}"] = series.get(row.streamer_id, [])
        every = max(1, info.relegation_every)
        windows = [r for r in range(every, model.last_round + 1, every) if r < info.rounds_planned]
        title = f"{info.name}: ERN per round" if model.last_round else f"{info.name}: no round scored yet"
        self.query_one(SeasonChart).show(plotted, windows, title)
        self.sync_streamer_widgets(
            self.query_one("#sparks", VerticalScroll), [r.streamer_id for r in rows], SparkRow, model
        )

    def fill_streamer_widgets(self, model: SeasonModel) -> None:
        series = model.ern_series()
        table = model.live_table()
        box = self.query_one("#sparks", VerticalScroll)
        for w in box.query(SparkRow):
            row = table.row(w.streamer_id)
            if row is None:
                continue
            name = Text(no_wrap=True, overflow="ellipsis")
            name.append(f"{row.rank or '-':>2} ", style="bold")
            name.append(f"{row.slot} {row.name}", style="bold red" if row.status == "zone" else "")
            values = [e for _, e in series.get(w.streamer_id, [])]
            w.show(name, values, "—" if row.ern is None else f"{row.ern:.1f}")
