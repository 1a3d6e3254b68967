"""Silence crewai's and litellm's own console output for failed calls; the arena reports failures itself.

Why: every failed LLM call used to print a boxed "LLM Error" panel (crewai's `EventListener` singleton renders
`LLMCallFailedEvent` through its `ConsoleFormatter`, whose verbosity the last `Crew` set, so a persona call
after a crew printed it), a log line "Error executing listener call_llm_and_parse: ..." (crewai's flow
runtime logs every failure at ERROR before it re-raises), and litellm's "Give Feedback / Get Help" banner.
The failure itself is not lost: it reaches the decision's outcome (its error, stored in the `decision` event),
the call's `llm_call` record, and the round's one-line summary (`policies.decide.summarise_failures`).

Only crewai's own formatter and that one log message are muted: the arena's consoles are other objects, and
every other log record passes.
"""

from __future__ import annotations

import io
import logging
import threading

_LOCK = threading.Lock()
_done = False

# crewai's flow runtime logs "Error executing listener <name>: <error>" for every exception it re-raises.
_NOISY_LOGGER = "crewai.flow.runtime"
_NOISY_PREFIX = "Error executing listener"


class _NullWriter(io.TextIOBase):
    """A text sink: crewai's formatter writes here instead of the terminal."""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        return len(s)


class _DropReraisedErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_NOISY_PREFIX)


def silence_crewai() -> None:
    """Idempotent; call before any crewai Agent or LLM runs (`crews.llm_config.build_llm` does)."""
    global _done
    with _LOCK:
        if _done:
            return
        # Deferred, not a cycle: crewai and litellm take seconds to import; callers already pay for them.
        import litellm
        from crewai.events.event_listener import EventListener
        from rich.console import Console

        litellm.suppress_debug_info = True  # the "Give Feedback / Get Help" banner on every exception
        formatter = EventListener().formatter  # the singleton every crewai event renders through
        formatter.console = Console(file=_NullWriter(), force_terminal=False)
        formatter.verbose = False
        logging.getLogger(_NOISY_LOGGER).addFilter(_DropReraisedErrors())
        _done = True
