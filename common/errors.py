"""One error hierarchy for the whole project, so the CLI can tell the user's mistakes from the program's.

Every package raises these instead of its own ad-hoc exception classes. The CLI catches `UserError` at the top
level and prints its `str()` as ONE line with exit status 2; anything else is a bug and keeps its traceback.
A `UserError` must be raised before anything is written, so the user can fix the input and run again.
"""

from __future__ import annotations


class ArenaError(Exception):
    """Base of every error the project raises on purpose (so callers can catch the project's errors only)."""


class UserError(ArenaError):
    """A failure the user caused and can fix: reported as one line, exit status 2, nothing stored touched."""

    exit_code: int = 2


class ConfigError(UserError):
    """Bad input: season or persona YAML, a field's value, a CLI flag, a season or file name.
    `str()` is the one line the CLI prints, naming the file or flag (and the line, when there is one)."""


class FieldError(ConfigError):
    """A problem with one field found after validation (a model path that does not load, say); the caller
    that knows which file the field came from prefixes it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field '{field}': {problem}")
        self.field = field
        self.problem = problem


class StorageError(UserError):
    """The database file is unusable: not a SQLite database, locked by another writer beyond the timeout,
    or unreadable. The message names the file; the file itself is left as it was."""


__all__ = ["ArenaError", "ConfigError", "FieldError", "StorageError", "UserError"]


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as the one line a user reads: its message's first line (its type when it has none), cut
    at `limit` characters. Libraries (torch, safetensors, peft) raise multi-line messages of many types."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]
