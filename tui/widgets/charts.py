"""The season chart (textual-plotext) and one sparkline row per streamer."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static
from textual_plotext import PlotextPlot


class SeasonChart(PlotextPlot):
    """ERN per round of every streamer of the season (live ones bright; relegated ones up to their end)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._signature: Any = None

    def show(self, series: dict[str, list[tuple[int, float]]], windows: list[int], title: str) -> None:
        """series: label -> [(round, ern)]; windows: rounds with a relegation."""
        signature = (tuple((k, tuple(v)) for k, v in series.items()), tuple(windows), title)
        if signature == self._signature:
            return
        self._signature = signature
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel("round")
        plt.ylabel("ERN")
        for label, points in series.items():
            if not points:
                continue
            xs = [r for r, _ in points]
            ys = [e for _, e in points]
            if len(xs) == 1:
                plt.scatter(xs, ys, label=label, marker="dot")
            else:
                plt.plot(xs, ys, label=label, marker="braille")
        for w in windows:
            plt.vline(w, "red")
        self.refresh()


class SparkRow(Horizontal):
    """name | sparkline | last value."""

    DEFAULT_CSS = """
    SparkRow { height: 1; }
    SparkRow > .spark-name { width: 20; }
    SparkRow > Sparkline { width: 1fr; height: 1; }
    SparkRow > .spark-value { width: 9; text-align: right; }
    """

    def __init__(self, streamer_id: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.streamer_id = streamer_id

    def compose(self) -> ComposeResult:
        yield Static("", classes="spark-name")
        yield Sparkline([], summary_function=max)
        yield Static("", classes="spark-value")

    def show(self, name: Text | str, values: list[float], value: str) -> None:
        self.query_one(".spark-name", Static).update(name)
        spark = self.query_one(Sparkline)
        if list(spark.data or []) != values:
            spark.data = values
        self.query_one(".spark-value", Static).update(value)
