"""The Textual TUI of Totoroid Arena: `tui.app.ArenaApp` / `tui.app.run_tui` (read-only; see tui/app.py)."""
