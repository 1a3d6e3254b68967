"""Widgets of the arena TUI. They take plain dataclasses from `tui.model` and never touch the database."""
