"""The leaderboard: a DataTable that is updated cell by cell (never rebuilt), sortable, with the relegation zone
highlighted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from tui.format import sparkline
from tui.model import LeaderRow


class Cell(Text):
    """A table cell: rich Text plus the value the column sorts by."""

    def __init__(self, text: str, style: str | Style = "", justify: Any = "left", sort_key: Any = None):
        super().__init__(text, style=style, justify=justify, no_wrap=True, overflow="ellipsis", end="")
        self.sort_key = sort_key

    @property
    def signature(self) -> tuple[str, str]:
        return self.plain, str(self.style)


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


TREND = {"up": ("▲", "green"), "down": ("▼", "red"), "same": ("•", "dim"), "new": ("✦", "cyan")}
STATUS = {
    "live": ("live", "green"),
    "zone": ("zone", "bold yellow"),
    "relegated": ("out", "dim red"),
    "new": ("new", "cyan"),
}

# (key, label, default descending?)
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("rank", "#", False),
    ("name", "Streamer", False),
    ("ern", "ERN", True),
    ("share", "Share", True),
    ("rating", "Rating", True),
    ("trend", "±", False),
    ("history", "History", True),
    ("stalls", "Stall", True),
    ("buffer", "Buf", False),
    ("status", "Stat", False),
)
COLUMN_KEYS = tuple(c[0] for c in COLUMNS)


def row_cells(row: LeaderRow, name_width: int = 14, spark_width: int = 8) -> dict[str, Cell]:
    status_text, status_style = STATUS.get(row.status, (row.status, ""))
    arrow, arrow_style = TREND[row.trend]
    delta = 0 if row.rank is None or row.prev_rank is None else row.prev_rank - row.rank
    name = row.name if len(row.name) <= name_width else row.name[: name_width - 1] + "…"
    name_style = {"zone": "bold", "relegated": "dim strike", "new": "italic"}.get(row.status, "")
    fill = row.buffer_fill
    buf_style = "" if fill is None else ("red" if fill < 0.25 else "yellow" if fill < 0.5 else "")
    status_order = {"zone": 0, "relegated": 1, "new": 2, "live": 3}.get(row.status, 4)
    return {
        "rank": Cell(_num(row.rank, "d"), "bold", "right", row.rank),
        "name": Cell(name, name_style, "left", row.name.lower()),
        "ern": Cell(_num(row.ern, ".1f"), "bold", "right", row.ern),
        "share": Cell("—" if row.share is None else f"{row.share:.1%}", "", "right", row.share),
        "rating": Cell(_num(row.rating, ".2f"), "", "right", row.rating),
        "trend": Cell(arrow, arrow_style, "center", delta if row.trend != "new" else None),
        "history": Cell(
            sparkline(row.history, spark_width), "cyan", "left", (row.history[-1] if row.history else None)
        ),
        "stalls": Cell(
            str(row.stall_count) if row.rank is not None else "—",
            "yellow" if row.stall_count else "dim",
            "right",
            row.stall_count,
        ),
        "buffer": Cell("—" if fill is None else f"{fill:.0%}", buf_style, "right", fill),
        "status": Cell(status_text, status_style, "left", status_order),
    }


class LeaderboardTable(DataTable):
    """Rows are keyed by streamer id. `update_rows` adds, removes and updates only what changed."""

    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {"leaderboard--zone", "leaderboard--relegated"}

    DEFAULT_CSS = """
    LeaderboardTable > .leaderboard--zone { background: $error 20%; }
    LeaderboardTable > .leaderboard--relegated { color: $text-muted; }
    """

    class StreamerSelected(Message):
        def __init__(self, table: LeaderboardTable, streamer_id: int) -> None:
            super().__init__()
            self.table = table
            self.streamer_id = streamer_id

        @property
        def control(self) -> LeaderboardTable:
            return self.table

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.sort_column = "rank"
        self.sort_reverse = False
        self._signatures: dict[tuple[str, str], tuple[str, str]] = {}
        self._status: dict[str, str] = {}
        self._rows: dict[str, LeaderRow] = {}
        self.name_width = 14
        self.spark_width = 8

    def on_mount(self) -> None:
        for key, label, _ in COLUMNS:
            self.add_column(label, key=key)

    # ---- data ------------------------------------------------------------------------------------------------
    @property
    def streamer_ids(self) -> list[int]:
        """Streamer ids in display order."""
        return [int(r.key.value) for r in self.ordered_rows if r.key.value is not None]

    def cell_text(self, streamer_id: int, column: str) -> str:
        return self.get_cell(str(streamer_id), column).plain

    def update_rows(self, rows: Sequence[LeaderRow]) -> None:
        cursor_key = self._cursor_key()
        wanted = {str(r.streamer_id): r for r in rows}
        for key in [k for k in self._rows if k not in wanted]:
            self.remove_row(key)
            del self._rows[key]
            self._status.pop(key, None)
            for col in COLUMN_KEYS:
                self._signatures.pop((key, col), None)
        for key, row in wanted.items():
            cells = row_cells(row, self.name_width, self.spark_width)
            if key in self._rows:
                for col in COLUMN_KEYS:
                    sig = cells[col].signature
                    if self._signatures.get((key, col)) != sig:
                        self.update_cell(key, col, cells[col], update_width=True)
                        self._signatures[(key, col)] = sig
            else:
                self.add_row(*(cells[c] for c in COLUMN_KEYS), key=key)
                for col in COLUMN_KEYS:
                    self._signatures[(key, col)] = cells[col].signature
            self._rows[key] = row
            self._status[key] = row.status
        self._apply_sort(cursor_key)

    def on_resize(self) -> None:
        # the streamer column takes what the other columns (about 62 cells with padding) leave
        if self.size.width:
            self.set_name_width(max(12, min(28, self.size.width - 64)))

    def set_name_width(self, width: int) -> None:
        if width == self.name_width:
            return
        self.name_width = width
        rows = list(self._rows.values())
        self._signatures.clear()
        self.clear()
        self._rows.clear()
        self.update_rows(rows)

    # ---- sorting -----------------------------------------------------------------------------------------------
    def _cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None

    def _apply_sort(self, keep: str | None = None) -> None:
        if not self.row_count:
            return
        rev = self.sort_reverse

        def key(cell: Any) -> tuple:
            v = getattr(cell, "sort_key", None)
            missing = v is None
            return ((not missing) if rev else missing, v if not missing else 0)

        self.sort(self.sort_column, key=key, reverse=rev)
        if keep is not None and keep in self._rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        if column not in COLUMN_KEYS:
            return
        default_desc = {k: d for k, _, d in COLUMNS}[column]
        if reverse is None:
            reverse = (not self.sort_reverse) if column == self.sort_column else default_desc
        self.sort_column, self.sort_reverse = column, reverse
        self._apply_sort(self._cursor_key())

    def action_cycle_sort(self) -> None:
        i = COLUMN_KEYS.index(self.sort_column)
        self.sort_by(COLUMN_KEYS[(i + 1) % len(COLUMN_KEYS)])
        labels = {k: label for k, label, _ in COLUMNS}
        self.notify(f"sorted by {labels[self.sort_column]}", timeout=1.5)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort_column, not self.sort_reverse)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.StreamerSelected(self, int(event.row_key.value)))

    # ---- styling: the relegation zone as a row background ------------------------------------------------------
    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        style = super()._get_row_style(row_index, base_style)
        if row_index < 0:
            return style
        try:
            key: RowKey = self._row_locations.get_key(row_index)
        except Exception:
            return style
        status = self._status.get(key.value) if key is not None else None
        if status == "zone":
            return style + self.get_component_rich_style("leaderboard--zone", partial=True)
        if status == "relegated":
            return style + self.get_component_rich_style("leaderboard--relegated", partial=True)
        return style
