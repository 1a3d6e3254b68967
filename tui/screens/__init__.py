"""Screens of the arena TUI: one per mode (leaderboard, charts, previews, feed, replay) plus the pushed
streamer detail, season switcher and help."""
