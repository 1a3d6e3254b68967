"""One event's payload read into model values, and the line the feed shows for it.

Payloads come from another process (and, for decisions, from an LLM), so every field is read defensively: a
missing or odd field gives a default, never an exception the fold would have to report. Pure functions; the
stateful fold (`tui.fold`) decides what to keep.
"""

from __future__ import annotations

from typing import Any

from tui.format import format_args
from tui.model import DecisionRecord, EventRecord, Mutation, StreamerInfo, ToolCall


def as_int(v: Any) -> int | None:
    """An optional integer field: None when absent or not a number."""
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


def parse_spawn(ev: EventRecord, p: dict[str, Any]) -> StreamerInfo:
    """A `streamer_spawned` payload; raises KeyError without a streamer id (the fold reports it)."""
    sid = int(p["streamer_id"])
    persona = p.get("persona") or {}
    muts = tuple(
        Mutation(str(m.get("field", "")), m.get("old"), m.get("new"), str(m.get("how", "")))
        for m in p.get("mutations") or []
        if isinstance(m, dict)
    )
    return StreamerInfo(
        id=sid,
        slot=str(p.get("slot", f"#{sid}")),
        name=str(p.get("name") or persona.get("name") or f"#{sid}"),
        persona=persona,
        settings=p.get("settings") or {},
        parent_id=as_int(p.get("parent_id")),
        origin=str(p.get("origin", "pool")),
        born_round=ev.round,
        replaces=as_int(p.get("replaces")),
        mutations=muts,
        reflection=str(p.get("inherited_reflection") or ""),
    )


def spawn_summary(info: StreamerInfo, parent_name: str | None, replaced_name: str | None) -> str:
    """`spawned (exploit of X, 2 mutations, replaces Y)`."""
    how = info.origin
    if parent_name is not None:
        how += f" of {parent_name}"
    n = len(info.mutations)
    if n:
        how += f", {n} mutation{'s' if n != 1 else ''}"
    replaced = f", replaces {replaced_name}" if replaced_name is not None else ""
    return f"spawned ({how}{replaced})"


def parse_decision(ev: EventRecord, p: dict[str, Any]) -> DecisionRecord:
    """A `decision` payload with its tool calls (entries that are not objects are skipped)."""
    acts = tuple(
        ToolCall(str(a.get("tool", "?")), a.get("args") or {}, str(a.get("result", "")), bool(a.get("ok", True)))
        for a in p.get("actions") or []
        if isinstance(a, dict)
    )
    return DecisionRecord(
        ev.id,
        ev.round,
        str(p.get("policy", "")),
        bool(p.get("ok", True)),
        p.get("error"),
        float(p.get("seconds") or 0.0),
        acts,
    )


def decision_summary(rec: DecisionRecord) -> str:
    """The failure, `no change`, or the tool calls with their arguments (failed calls marked ✗)."""
    if not rec.ok:
        return f"decision failed: {rec.error or 'unknown error'}"
    if not rec.actions:
        return "decided: no change"
    return "; ".join(f"{'' if a.ok else '✗ '}{a.tool}({format_args(a.args, 24)})" for a in rec.actions)


def stall_summary(p: dict[str, Any]) -> str:
    return f"stalled {p.get('stall_count', '?')}× ({float(p.get('stall_seconds') or 0):.1f} s)"


def status_summary(kind: str, p: dict[str, Any]) -> str:
    """season_stopped / _resumed / _finished, with the round it happened after when the payload says."""
    word = kind.removeprefix("season_")
    extra = p.get("rounds_done", p.get("after_round"))
    return f"season {word}" + (f" after round {extra}" if extra is not None else "")


CHAT_KINDS = ("chat", "style_request", "style_approved", "style_declined")


def chat_summary(kind: str, p: dict[str, Any]) -> tuple[str, bool]:
    """Chat lines and style requests (arena.chat_room): who said what, as text; `name` here is the writer's."""
    if kind == "chat":
        text = str(p.get("text", ""))[:120]
        who = str(p.get("name", "?"))[:32]
        return (f"chat ({p.get('source', '?')}) {who}: {text}", True)
    if kind == "style_request":
        return (
            f"style request #{p.get('request_id')} from {str(p.get('name', '?'))[:32]}: {str(p.get('prompt'))[:80]}",
            True,
        )
    verdict = kind.removeprefix("style_")
    return (
        f"style request #{p.get('request_id')} {verdict} ({p.get('by', '?')}): {str(p.get('prompt'))[:80]}",
        verdict == "approved",
    )


def other_summary(kind: str, p: dict[str, Any]) -> tuple[str, bool]:
    """Any other kind (finetunes, kinds newer than this TUI): its payload as `k=v`, and whether it went well."""
    rest = {k: v for k, v in p.items() if k not in ("streamer_id", "slot", "name")}
    summary = f"{kind}: {format_args(rest, 24)}" if rest else kind
    return summary, "error" not in kind and p.get("ok", True) is not False
