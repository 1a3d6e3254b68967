"""The arena's side of chat: what each streamer is shown of its chat, viewers' style requests and their
outcome, the simulated audience's lines, the chat's share in the audience's utility, and the rows and events
that store it.

Why one class: one round touches chat at five points in the loop's order (observe -> apply auto-approved
requests -> after the decisions: approvals, spoken lines, the answered share -> after watching: simulated
lines -> commit: drain and store), and the pending requests and recent lines it keeps between them are part
of the resume state. The board (media.broadcast.chat) is shared with the watch page and external sources;
everything on it is untrusted text and reaches a streamer only as data in its `Observation`.

Style requests: a `!style <prompt>` message becomes a `StyleRequest` of its stream. With the persona's
`style_requests: auto` the arena applies it at the next round through `choose_prompt` (topic form when the
request names a topic the tool takes, else the free prompt form; all of the tool's cleaning and clamps
apply). With `agent` the streamer sees it and approves it by calling `choose_prompt` so that its new prompt
shows the request; a request nobody took up within `request_rounds` is declined. Either way the requester
gets an outcome line in chat and the log gets `style_request` then `style_approved` or `style_declined`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from arena.audience import Audience
from arena.audience_values import StreamView
from arena.chat_config import ChatSection
from arena.chat_writer import CompleterOf, write_line
from arena.db import Chat
from arena.roster import LiveStreamer
from arena.sim_chat import simulated_chat
from common.untrusted import clean_text
from media.broadcast.chat import ChatBoard, ChatMessage
from media.broadcast.chat_sources import ExternalChat
from policies.decide import DecisionOutcome
from tools.observation import ChatLine, Observation, StyleRequest
from tools.stream_tools import call_tool, known_topics

VIEWER_SOURCES = ("web", "sim", "twitch", "youtube")
TAKEN_CHARS = 40  # a prompt "shows" a request when the request's first this-many characters appear in it
ANSWER_NEEDS = 3  # answering this many of the viewers' lines shown (or all, if fewer) counts as fully answered
SAID_CHARS = 280  # the speak tool's own limit


def _takes(request: StyleRequest, prompt: str) -> bool:
    """Whether a prompt shows the request: its topic, or the start of its free text (choose_prompt cuts a long
    prompt to the season's limit), appears in it."""
    want = (request.topic or request.prompt).lower()[:TAKEN_CHARS].strip()
    return bool(want) and want in prompt.lower()


class ChatRoom:
    def __init__(
        self, config: ChatSection, seed: int, board: ChatBoard | None = None, completer_of: CompleterOf | None = None
    ):
        self.config = config
        self.completer_of = completer_of if config.writer == "llm" else None  # the LLM policy's, when it writes
        self.seed = seed
        self.board = (
            board if board is not None else ChatBoard(config.per_client, config.per_address, config.window_seconds)
        )
        self.recent: dict[str, deque[ChatLine]] = {}
        self.pending: dict[str, list[StyleRequest]] = {}
        self.said: dict[str, str] = {}
        self.shown: dict[str, int] = {}  # viewers' lines in this round's observation, per slot
        self.answered: dict[str, float] = {}  # this round's `chat` audience value per slot (0..1)
        self.auto_answers: dict[str, int] = {}  # requests applied by `auto` this round (they answer chat too)
        self.events: list[tuple[str, dict[str, Any]]] = []  # request outcomes waiting for the commit
        self.sources = [ExternalChat(c, self.board) for c in config.sources]

    def start_sources(self) -> None:
        """External chats (Twitch, YouTube) start reading into the board, each in its own thread."""
        for s in self.sources:
            s.start()

    def stop_sources(self) -> None:
        for s in self.sources:
            s.stop()

    # ---- 1. observe ---------------------------------------------------------------------------------------
    def observe(self, observations: dict[str, Observation]) -> dict[str, Observation]:
        """Each streamer's recent chat and pending style requests (a request's topic resolved against the
        topics choose_prompt takes this round)."""
        self.board.set_streams(set(observations))
        out = {}
        for slot, obs in observations.items():
            lines = list(self.recent.get(slot, ()))[-self.config.shown :] if self.config.shown else []
            self.shown[slot] = sum(1 for m in lines if m.source in VIEWER_SOURCES)
            topics = {t.lower(): t for t in known_topics(obs)}
            requests = [
                q.model_copy(update={"topic": topics.get(q.prompt.lower())}) for q in self.pending.get(slot, [])
            ]
            self.pending[slot] = requests
            out[slot] = obs.model_copy(update={"chat": lines, "style_requests": requests})
        return out

    # ---- 2. auto-approved requests, before the decisions ----------------------------------------------------
    def apply_auto(self, live: Sequence[LiveStreamer], observations: dict[str, Observation]) -> None:
        """Streamers whose persona says `auto` take their viewers' requests through choose_prompt now (the call
        is recorded with the decision's actions)."""
        for st in live:
            if st.persona.style_requests != "auto":
                continue
            for q in self.pending.pop(st.slot, []):
                args = {"topic": q.topic} if q.topic else {"prompt": q.prompt}
                result = call_tool(st.control, observations.get(st.slot), "choose_prompt", args)
                self._resolve(st, q, result.startswith("ok"), "auto", result)
                self.auto_answers[st.slot] = self.auto_answers.get(st.slot, 0) + result.startswith("ok")

    # ---- 3. after the decisions -----------------------------------------------------------------------------
    def after_decisions(self, live: Sequence[LiveStreamer], outcomes: Iterable[DecisionOutcome]) -> None:
        """Approvals by the streamer's own choose_prompt, lapsed requests, spoken lines into chat, and how
        much of its shown chat each streamer answered (the audience's `chat` value)."""
        by_slot = {st.slot: st for st in live}
        for o in outcomes:
            st = by_slot.get(o.stream_id)
            if st is None:
                continue
            answers = self.auto_answers.pop(st.slot, 0)
            for a in o.actions:
                if a.ok and a.tool == "speak":
                    line = clean_text(a.args.get("text", ""), SAID_CHARS)
                    if line:
                        self.said[st.slot] = line
                        self.board.post(st.slot, st.name, line, source="streamer", kind="chat")
                        answers += 1
            prompt = st.control.current_settings().prompt
            chose = any(a.ok and a.tool == "choose_prompt" for a in o.actions)
            keep = []
            for q in self.pending.get(st.slot, []):
                if chose and _takes(q, prompt):
                    self._resolve(st, q, True, "agent", f"now showing: {clean_text(prompt, 80)}")
                    answers += 1
                elif q.rounds_left <= 1:
                    self._resolve(st, q, False, "agent", "not taken up")
                else:
                    keep.append(q.model_copy(update={"rounds_left": q.rounds_left - 1}))
            self.pending[st.slot] = keep
            shown = self.shown.get(st.slot, 0)
            self.answered[st.slot] = min(1.0, answers / min(shown, ANSWER_NEEDS)) if shown else 0.0

    def _resolve(self, st: LiveStreamer, q: StyleRequest, approved: bool, by: str, detail: str) -> None:
        verdict = "approved" if approved else "declined"
        text = f"@{q.name} your style request '{clean_text(q.prompt, 60)}' was {verdict}: {clean_text(detail, 120)}"
        msg = self.board.post(st.slot, st.name, text, source="arena", kind="outcome", request_id=q.id)
        self.events.append(
            (
                f"style_{verdict}",
                {
                    "request_id": q.id,
                    "streamer_id": st.streamer_id,
                    "slot": st.slot,
                    "by": by,
                    "prompt": q.prompt,
                    "detail": clean_text(detail, 200),
                    "outcome_message": msg.id,
                },
            )
        )

    # ---- 4. after watching: the simulated audience talks ------------------------------------------------------
    def simulate(self, r: int, views: dict[str, StreamView], audience: Audience) -> None:
        if not self.config.simulated:
            return
        top = np.argmax(audience.interest_weights, axis=1)
        topics = audience.config.topics
        watchers, interests = {}, {}
        for j, sid in enumerate(audience.stream_ids):
            if sid in views:
                idx = np.flatnonzero(audience.pos == j)
                watchers[sid] = idx
                interests[sid] = [str(topics[int(top[i])]) for i in idx]
        for n, line in enumerate(simulated_chat(self.seed, r, views, watchers, interests, self.said, self.config)):
            text = line.text
            if self.completer_of is not None:  # one recorded call per line, keyed by stream and line number
                text = write_line(line, line.about, self.completer_of(f"{line.stream_id}-viewer{n}", r, "chat"))
            self.board.post(line.stream_id, line.name, text, source="sim")

    # ---- 5. commit ------------------------------------------------------------------------------------------
    def drain(self, r: int, season_id: int, live: Sequence[LiveStreamer]) -> tuple[list[Chat], list[tuple[str, dict]]]:
        """Every message since the last commit as rows and events (messages to streams no longer live are
        dropped); new style requests start waiting; the request outcomes of the round follow."""
        ids = {st.slot: st for st in live}
        rows: list[Chat] = []
        events: list[tuple[str, dict[str, Any]]] = []
        for m in self.board.drain():
            st = ids.get(m.stream_id)
            if st is None:
                continue
            rows.append(_row(m, season_id, r, st.streamer_id))
            payload = {**_payload(m), "streamer_id": st.streamer_id}
            events.append(("chat", payload))
            self.recent.setdefault(m.stream_id, deque(maxlen=50)).append(
                ChatLine(id=m.id, name=m.name, text=m.text, source=m.source, kind=m.kind)
            )
            if m.kind == "style_request" and m.source in VIEWER_SOURCES:
                self.pending.setdefault(m.stream_id, []).append(
                    StyleRequest(id=m.id, name=m.name, prompt=m.text, rounds_left=self.config.request_rounds)
                )
                events.append(
                    (
                        "style_request",
                        {
                            "request_id": m.id,
                            "streamer_id": st.streamer_id,
                            "slot": m.stream_id,
                            "name": m.name,
                            "prompt": m.text,
                            "source": m.source,
                            "mode": st.persona.style_requests,
                        },
                    )
                )
        events += self.events
        self.events = []
        return rows, events

    def forget(self, slot: str) -> None:
        """A relegated stream's chat and requests go with it."""
        for d in (self.recent, self.pending, self.said, self.shown, self.answered):
            d.pop(slot, None)

    # ---- resume state -----------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "board": self.board.state(),
            "recent": {k: [m.model_dump() for m in v] for k, v in self.recent.items()},
            "pending": {k: [q.model_dump() for q in v] for k, v in self.pending.items()},
            "said": dict(self.said),
        }

    def load_state(self, state: dict[str, Any] | None) -> None:
        if not state:
            return
        self.board.load_state(state.get("board", {}))
        self.recent = {k: deque((ChatLine(**m) for m in v), maxlen=50) for k, v in state.get("recent", {}).items()}
        self.pending = {k: [StyleRequest(**q) for q in v] for k, v in state.get("pending", {}).items()}
        self.said = dict(state.get("said", {}))


def _payload(m: ChatMessage) -> dict[str, Any]:
    return {
        "message_id": m.id,
        "slot": m.stream_id,
        "name": m.name,
        "text": m.text,
        "source": m.source,
        "kind": m.kind,
        "request_id": m.request_id,
    }


def _row(m: ChatMessage, season_id: int, r: int, streamer_id: int) -> Chat:
    return Chat(
        season_id=season_id,
        round=r,
        streamer_id=streamer_id,
        message_id=m.id,
        name=m.name,
        text=m.text,
        source=m.source,
        kind=m.kind,
        request_id=m.request_id,
    )
