"""The optional LLM chat writer: the season's LLM rewrites a simulated viewer's line in its own words.

Why on top of the templates: the template line and its grounding (what the viewer watched, wanted and
suffered) stay the source of truth, so an LLM line says the same thing more freely, and any failure (no
answer, bad JSON, empty text) keeps the template line. The model is reached through the LLM policy's
`completer` (crews.llm_policy), so every call is recorded as an `llm_call` event with purpose "chat" in the
round it belongs to and answered from the recording by `--llm replay:SEASON`, like decisions and personas.
Style requests keep their template form (`!style <interest>`): the arena parses them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from arena.sim_chat import SimLine
from common.untrusted import clean_text
from policies.base import Completer

log = logging.getLogger(__name__)

MAX_CHARS = 100
SYSTEM = (
    "You are one viewer in the chat of a live AI-generated video stream. Write one short, casual chat message "
    f"(at most {MAX_CHARS} characters) that says what the given line says, in your own words. "
    'Answer JSON: {"text": "..."}.'
)
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "chat_line",
        "schema": {
            "type": "object",
            "properties": {"text": {"type": "string", "maxLength": MAX_CHARS}},
            "required": ["text"],
            "additionalProperties": False,
        },
    },
}


def write_line(line: SimLine, grounding: str, completer: Completer | None) -> str:
    """The LLM's version of one simulated line, or the template line when there is no model or no good answer."""
    if completer is None or line.text.startswith("!style"):
        return line.text
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"{grounding}\nLine: {line.text}"},
    ]
    try:
        text = clean_text(json.loads(completer(messages, RESPONSE_FORMAT)).get("text", ""), MAX_CHARS)
    except Exception as exc:  # noqa: BLE001 - a model failure keeps the template line
        log.debug("chat writer kept the template line: %s", f"{type(exc).__name__}: {exc}"[:200])
        return line.text
    return text if text and not text.startswith("!") else line.text


CompleterOf = Callable[[str, int, str], Completer | None]
