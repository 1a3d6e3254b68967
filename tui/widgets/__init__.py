"""Widgets of the arena TUI. They take plain dataclasses from `tui.data` and never touch the database."""
