"""The program entry (`python -m arena`, the `totoroid-arena` script), not a library module.

It is the one place that wires the TUI into the arena's commands: `arena.cli` must not import `tui` (tui sits
above arena), so the entry hands `tui.app.run_tui` to `arena.cli.main` as the `watch` callable.
"""

from __future__ import annotations

import sys

from arena.cli import main as cli_main


def watch(db_path: str, season: str | None = None) -> int:
    """Show a season in the Textual TUI (imported only when asked for: it is slow to import)."""
    from tui.app import run_tui

    return run_tui(db_path, season)


def main(argv: list[str] | None = None) -> int:
    """Every command of `arena.cli`, with the TUI available."""
    return cli_main(argv, watch=watch)


if __name__ == "__main__":
    sys.exit(main())
