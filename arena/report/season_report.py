"""One season's report: `report.html` (self-contained) with its PNGs in `plots/`, filmstrips, and a timelapse
MP4 per streamer in `timelapse/`, all under one folder.

Why sections built one by one behind a progress callback: a long season takes a while to draw (and to
encode timelapses), and a section that cannot be drawn from what is stored (a half-written season, a payload
from another version) becomes a note in the report, not a crash that loses the other sections.
"""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from arena.report import html as H
from arena.report import plots_compute, plots_ern, plots_lineage, plots_stream
from arena.report.data import SeasonData, machines
from arena.report.filmstrip import filmstrips
from arena.report.plots_common import Plot
from arena.report.summary import (
    agent_summaries,
    finetune_counts,
    headline,
    league_tables,
    streamer_summaries,
)
from arena.report.timelapse import timelapses

log = logging.getLogger("arena.report")

#: Called with a step's description as each step starts.
OnStep = Callable[[str], None]


@dataclass
class Built:
    """What building the report wrote: the page, its plots, the timelapses, and its notes."""

    html_path: Path
    plots: list[Path] = field(default_factory=list)
    timelapses: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Ctx:
    data: SeasonData
    out: Path
    plots: list[Path] = field(default_factory=list)
    timelapses: list[Path] = field(default_factory=list)

    def figure(self, plot: Plot) -> str:
        folder = self.out / "plots"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{plot.name}.png"
        path.write_bytes(plot.png)
        self.plots.append(path)
        return H.figure(plot)


Section = tuple[str, str, Callable[[_Ctx], str]]  # (id, title, body builder)


def steps(d: SeasonData) -> list[Section]:
    """The report's sections in page order."""
    return [
        ("headline", "Headline numbers", _headline),
        ("ern", "Who earns the eyes: ERN, share and the league", _ern),
        ("why", "Why: ERN attribution and decisions", _why),
        ("lineage", "Lineage: relegations, exploits and fresh spawns", _lineage),
        ("content", "Content-positivity: TTCP, buffer and stalls", _content),
        ("compute", "Compute: frontier and temporal consistency", _compute),
        ("filmstrip", "Filmstrip and timelapses", _filmstrip),
        ("agents", "Agents: decisions, LLM calls and reflections", _agents),
        ("config", "Config, seed, policy, models and machine", _config),
    ]


def build_season_report(d: SeasonData, out: Path, on_step: OnStep | None = None) -> Built:
    out.mkdir(parents=True, exist_ok=True)
    ctx = _Ctx(d, out)
    parts, notes = [], list(d.notes)
    for ident, title, fn in steps(d):
        if on_step:
            on_step(title)
        try:
            body = fn(ctx)
        except Exception as exc:  # noqa: BLE001 - one section's failure must not lose the report
            log.warning("report section %s failed", ident, exc_info=True)
            msg = f"Section '{title}' could not be drawn from what is stored: {type(exc).__name__}: {exc}"[:400]
            notes.append(msg)
            body = H.missing(msg)
        parts.append(H.section(title, body, ident))
    head = "".join(H.note(n) for n in notes)
    subtitle = (
        f"Season {d.name} (id {d.id}), seed {d.seed}, status {d.status}, "
        f"{d.rounds_done} of {d.rounds_planned} rounds stored."
    )
    page = H.page(f"Totoroid Arena season report: {d.name}", subtitle, [head, *parts])
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return Built(path, ctx.plots, ctx.timelapses, notes)


# ---- sections ----------------------------------------------------------------------------------------------------
def _no_rounds(ctx: _Ctx) -> str | None:
    return None if ctx.data.stream_rounds else H.missing("No scored round stored yet.")


def _headline(ctx: _Ctx) -> str:
    h = headline(ctx.data)
    rows = [
        ("streams_created", "Streams created", H.num(h.streams_created, "{:d}")),
        ("rounds_played", "Rounds scored", H.num(h.rounds_played, "{:d}")),
        ("relegations", "Relegations", H.num(h.relegations, "{:d}")),
        ("peak_online_viewers", "Peak online viewers (simulated, round mean)", H.num(h.peak_online_viewers, "{:d}")),
        ("peak_watching", "Peak viewers watching a stream (sum of ERN, one round)", H.num(h.peak_watching)),
        ("peak_stream_ern", "Peak ERN of one stream", H.num(h.peak_stream_ern, "{:d}")),
        ("peak_real_viewers", "Peak real viewers (one round, all streams)", H.num(h.peak_real_viewers, "{:d}")),
        (
            "distinct_real_viewers",
            "Distinct real viewers",
            H.num(h.distinct_real_viewers, "{:d}", none="not stored (nothing was broadcast)"),
        ),
        ("keyframes_generated", "Keyframes generated", H.num(h.keyframes_generated, "{:d}")),
        ("stall_seconds", "Stall seconds (all streams)", H.num(h.stall_seconds)),
        ("content_positive_rounds", "Content-positive stream-rounds", H.pct(h.content_positive_rounds)),
        ("llm_calls", "LLM calls", H.num(h.llm_calls, "{:d}")),
        ("llm_tokens", "LLM tokens", H.num(h.llm_tokens, "{:d}")),
    ]
    table = H.table(
        ["figure", "value"], [(label, v) for _, label, v in rows], id="headline", row_keys=[k for k, _, _ in rows]
    )
    leader = f"<p>Leader by mean ERN: <b>{H.esc(h.leader)}</b></p>" if h.leader else ""
    return leader + table


def _ern(ctx: _Ctx) -> str:
    if (empty := _no_rounds(ctx)) is not None:
        return empty
    d = ctx.data
    parts = [ctx.figure(plots_ern.ern_over_time(d)), ctx.figure(plots_ern.share_stacked(d))]
    for t in league_tables(d):
        what = f"window closing after round {t.round}" if t.kind == "window" else f"after round {t.round} (latest)"
        parts.append(f"<h3>League table, {what}</h3>")
        rows = [
            (
                H.num(x.rank, "{:d}"),
                x.name,
                x.slot,
                x.policy,
                H.num(x.window_ern),
                H.num(x.ern),
                H.pct(x.share),
                H.num(x.rating, "{:.2f}"),
                x.verdict,
            )
            for x in t.rows
        ]
        ident = "league-final" if t.kind == "final" else f"league-r{t.round}"
        parts.append(
            H.table(
                ["rank", "streamer", "slot", "policy", "window ERN", "ERN", "share", "rating", ""],
                rows,
                id=ident,
                cls="league",
                row_classes=["relegated" if x.verdict == "relegated" else "" for x in t.rows],
            )
        )
    parts.append("<h3>Per streamer, over its rounds</h3>")
    rows = [
        (s.label, s.policy, H.num(s.rounds, "{:d}"), H.num(s.mean_ern), H.pct(s.mean_share), H.num(s.peak_ern, "{:d}"))
        for s in streamer_summaries(d)
    ]
    parts.append(H.table(["streamer", "policy", "rounds", "mean ERN", "mean share", "peak ERN"], rows, id="streamers"))
    return "".join(parts)


def _why(ctx: _Ctx) -> str:
    if (empty := _no_rounds(ctx)) is not None:
        return empty
    d = ctx.data
    sums = streamer_summaries(d)
    terms = sorted({k for s in sums for k in s.mean_terms})
    parts = []
    if terms:
        parts.append(ctx.figure(plots_ern.term_attribution(d)))
        rows = [(s.label, *[H.num(s.mean_terms.get(t), "{:+.2f}") for t in terms]) for s in sums]
        parts.append("<h3>Mean contribution of each term over the streamer's rounds (utils per viewer)</h3>")
        parts.append(H.table(["streamer", *terms], rows, id="terms"))
    else:
        parts.append(H.missing("No ERN terms stored in the round_scored events (a season from before ERN terms)."))
    parts.append(ctx.figure(plots_ern.decisions_on_ern(d)))
    return "".join(parts)


def _lineage(ctx: _Ctx) -> str:
    d = ctx.data
    if not d.streamers:
        return H.missing("No streamer stored yet.")
    names = {s.id: s.name for s in d.streamers}
    rows = [
        (
            s.label,
            s.origin,
            names.get(s.parent_id, "") if s.parent_id else "",
            s.policy,
            H.num(s.born_round, "{:d}"),
            H.num(s.relegated_round, "{:d}"),
            plots_lineage.mutation_text(s),
        )
        for s, _ in plots_lineage.tree_order(d.streamers)
    ]
    table = H.table(["streamer", "origin", "parent", "policy", "born", "relegated", "mutated"], rows, id="lineage")
    return ctx.figure(plots_lineage.lineage(d)) + table


def _content(ctx: _Ctx) -> str:
    if (empty := _no_rounds(ctx)) is not None:
        return empty
    d = ctx.data
    rows = [
        (s.label, H.num(s.ttcp, "{:.2f}", none="never"), H.pct(s.content_positive), H.num(s.stall_seconds))
        for s in streamer_summaries(d)
    ]
    table = H.table(["streamer", "TTCP (s)", "content-positive rounds", "stall seconds"], rows, id="content")
    return ctx.figure(plots_stream.ttcp_distribution(d)) + ctx.figure(plots_stream.buffer_and_stalls(d)) + table


def _compute(ctx: _Ctx) -> str:
    if (empty := _no_rounds(ctx)) is not None:
        return empty
    d = ctx.data
    ft = finetune_counts(d)
    rows = [(k.replace("_", " "), H.num(v, "{:d}")) for k, v in ft.items()]
    return (
        ctx.figure(plots_compute.frontier(d))
        + ctx.figure(plots_compute.temporal_vs_strength(d))
        + "<h3>Finetuning</h3>"
        + H.table(["finetune jobs", "count"], rows, id="finetunes")
        + _finetune_share(ctx)
    )


def _finetune_share(ctx: _Ctx) -> str:
    d = ctx.data
    if not d.finetune_seconds:
        return H.missing(
            "Device share spent on finetuning: not stored for this season (round_scored events record "
            "finetune_seconds since issue 15; this season is older)."
        )
    secs = plots_compute.round_seconds(d) or 1.0
    total = sum(d.finetune_seconds.values()) / (secs * len(d.finetune_seconds))
    return ctx.figure(plots_compute.finetune_share(d)) + (
        f'<p id="finetune-share" data-v="{total!r}">Over the season: {total:.1%} of the device time went to '
        "finetuning.</p>"
    )


def _filmstrip(ctx: _Ctx) -> str:
    d = ctx.data
    if d.run_dir is None:
        return H.missing(f"Run folder {d.run_dir_stored!r} not found from here: no thumbnails to show.")
    strips, missing = filmstrips(d)
    if not strips:
        return H.missing("No thumbnails on disk for this season.")
    lapses = timelapses(d, ctx.out / "timelapse")
    ctx.timelapses.extend(lapses.values())
    parts = []
    if missing:
        parts.append(H.missing(f"{missing} thumbnails named in the database are missing from the run folder."))
    for s in strips:
        link = ""
        if s.streamer.id in lapses:
            rel = lapses[s.streamer.id].relative_to(ctx.out).as_posix()
            link = f' — <a href="{H.esc(rel)}">timelapse (MP4, one frame per round)</a>'
        rounds = ", ".join(str(r) for r in s.rounds)
        parts.append(
            f'<div class="strip"><h3>{H.esc(s.streamer.label)}{link}</h3>'
            f'<img alt="filmstrip of {H.esc(s.streamer.label)}" src="{H.data_uri(s.png)}">'
            f"<small>rounds {H.esc(rounds)}</small></div>"
        )
    return "".join(parts)


def _agents(ctx: _Ctx) -> str:
    d = ctx.data
    agents = agent_summaries(d)
    if not agents:
        return H.missing("No decision or LLM call stored yet.")
    rows = [
        (
            a.actor,
            a.name,
            a.policy,
            H.num(a.decisions, "{:d}"),
            H.num(a.failed_decisions, "{:d}"),
            H.num(a.decision_seconds, "{:.3f}"),
            ", ".join(f"{t} {n}" for t, n in a.tool_calls.items()),
            H.num(a.failed_tool_calls, "{:d}"),
            H.num(a.llm_calls, "{:d}"),
            ", ".join(f"{t} {n}" for t, n in a.llm_tool_calls.items()),
            H.num(a.prompt_tokens, "{:d}"),
            H.num(a.completion_tokens, "{:d}"),
            H.num(a.cost, "{:.4f}"),
            H.num(a.latency_mean, "{:.2f}"),
            H.num(a.latency_p95, "{:.2f}"),
            H.num(a.llm_errors, "{:d}"),
        )
        for a in agents
    ]
    headers = [
        "actor",
        "streamer",
        "policy",
        "decisions",
        "failed",
        "mean decision s",
        "tool calls",
        "failed calls",
        "LLM calls",
        "LLM tool calls",
        "prompt tokens",
        "completion tokens",
        "cost (USD)",
        "mean latency s",
        "p95 latency s",
        "LLM errors",
    ]
    parts = [H.table(headers, rows, id="agents")]
    if not d.llm_calls:
        parts.append(H.missing("No LLM calls in this season (its policies are not LLM-driven)."))
    parts.append("<h3>Reflections</h3>")
    if d.reflections:
        names = {s.id: s.label for s in d.streamers}
        parts.append(
            H.table(
                ["round", "streamer", "reflection"],
                [(H.num(r.round, "{:d}"), names.get(r.streamer_id, r.slot), r.text) for r in d.reflections],
                id="reflections",
            )
        )
    else:
        parts.append(H.missing("No reflections stored (they are written by LLM streamers at relegation windows)."))
    return "".join(parts)


def _config(ctx: _Ctx) -> str:
    d = ctx.data
    c = d.config
    gen = (c.get("generator") or {}).get("model")
    rows = [
        ("seed", d.seed),
        ("policy", c.get("policy", "?")),
        ("policy mix", ", ".join(c.get("policy_mix") or []) or "none (every streamer plays the policy)"),
        ("streamers", c.get("streamers", "?")),
        ("round seconds", c.get("round_seconds", "?")),
        ("clock / engine timing", f"{c.get('clock', '?')} / {(c.get('engine') or {}).get('timing', '?')}"),
        ("generator model", json.dumps(gen, sort_keys=True) if gen is not None else "?"),
        ("generator device (configured)", (c.get("generator") or {}).get("device", "?")),
        ("eye", json.dumps(c.get("eye"), sort_keys=True) if c.get("eye") is not None else "?"),
        ("LLM model", (c.get("llm") or {}).get("model", "?")),
    ]
    for e in d.events_of("policy_ready"):
        rows.append(("policy model loaded", json.dumps(e.payload, sort_keys=True)))
    models = sorted({x.model for x in d.llm_calls if x.model})
    if models:
        rows.append(("LLM models called", ", ".join(models)))
    ran_on = machines(d)
    for r, m in ran_on:
        what = "machine it ran on" if r == 0 else f"machine it resumed on after round {r}"
        rows.append((what, ", ".join(f"{k} {v}" for k, v in m.items())))
    if not ran_on:
        rows.append(("machine it ran on", "not stored in this season (older than the machine record)"))
    rows.append(("report made on", f"{platform.node()} ({platform.platform()}, Python {platform.python_version()})"))
    rows.append(("event kinds", ", ".join(f"{k} {n}" for k, n in sorted(d.event_counts.items()))))
    cfg = json.dumps(c, indent=2, sort_keys=True)
    return (
        H.table(["setting", "value"], [(k, str(v)) for k, v in rows], id="config")
        + f"<details><summary>Full stored config</summary><pre>{H.esc(cfg)}</pre></details>"
    )
