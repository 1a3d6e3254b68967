"""StreamControl: the only handle an agent has on its stream.

The tools change a StreamControl; the engine reads `current_settings()` before every batch. A lock makes the two safe
across threads (live mode: agents decide while the stream runs). Every call is recorded as an `ActionRecord`
so the arena can store it; the control itself never touches the database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from media.avatar.placement import AvatarPlacement
from media.settings import GeneratorLimits, StreamSettings
from media.voice.budget import SpeechBudget, refusal

SPOKEN_KEPT = 20  # earlier lines remembered for the repeat check (the budget looks at its repeat_window of them)


@dataclass
class ActionRecord:
    tool: str
    args: dict[str, Any]
    result: str
    ok: bool


@dataclass
class FinetuneRequest:
    source_id: str
    steps: int


@dataclass(frozen=True)
class ControlMark:
    """Where a stream's control stood before a decision: what `StreamControl.rollback` restores."""

    settings: StreamSettings
    finetune_requests: int
    speech: int
    avatar: AvatarPlacement = AvatarPlacement()


class StreamControl:
    def __init__(
        self,
        stream_id: str,
        settings: StreamSettings,
        limits: GeneratorLimits,
        run_dir: str | None = None,
        speech_budget: SpeechBudget | None = None,
    ):
        self.stream_id = stream_id
        self.limits = limits
        self.run_dir = run_dir  # the only folder a tool may write into (later: voice lines, checkpoints)
        self._settings = settings.model_copy()
        self._lock = threading.Lock()
        self.actions: list[ActionRecord] = []
        self.finetune_requests: list[FinetuneRequest] = []
        self.speech: list[str] = []  # lines accepted this round (drained by the arena after the decisions)
        self.spoken: list[str] = []  # lines of earlier rounds, oldest first (the repeat check)
        self.speech_budget = speech_budget or SpeechBudget()
        self.avatar = AvatarPlacement()  # where the streamer's avatar sits on its broadcast (place_avatar)

    def current_settings(self) -> StreamSettings:
        with self._lock:
            return self._settings.model_copy()

    def update(self, **changes: Any) -> StreamSettings:
        """Apply already-validated changes atomically; returns the new settings."""
        with self._lock:
            self._settings = self._settings.model_copy(update=changes)
            return self._settings.model_copy()

    def mark(self) -> ControlMark:
        """Remember the current settings and queues, so a failed decision can be undone completely."""
        with self._lock:
            return ControlMark(self._settings.model_copy(), len(self.finetune_requests), len(self.speech), self.avatar)

    def rollback(self, mark: ControlMark) -> None:
        """Undo everything since `mark`: settings, queued finetune requests and spoken lines (the actions
        stay recorded, so the log shows what a failed decision tried)."""
        with self._lock:
            self._settings = mark.settings.model_copy()
            del self.finetune_requests[mark.finetune_requests :]
            del self.speech[mark.speech :]
            self.avatar = mark.avatar

    def say(self, text: str) -> str | None:
        """Queue a spoken line within the round's speech budget; the reason it is refused, or None."""
        with self._lock:
            why = refusal(text, self.speech, self.spoken, self.speech_budget)
            if why is None:
                self.speech.append(text)
            return why

    def drain_speech(self) -> list[str]:
        """The round's accepted lines, handed to the arena once per round (they become earlier lines)."""
        with self._lock:
            out, self.speech = self.speech, []
            self.spoken = (self.spoken + out)[-SPOKEN_KEPT:]
            return out

    def record(self, tool: str, args: dict[str, Any], result: str, ok: bool) -> str:
        with self._lock:
            self.actions.append(ActionRecord(tool=tool, args=args, result=result, ok=ok))
        return result

    def drain_actions(self) -> list[ActionRecord]:
        """Hand the recorded actions to the arena (called once per round)."""
        with self._lock:
            out, self.actions = self.actions, []
            return out
