"""An experiment's report (`python -m arena report --experiment NAME`): each policy's share of ERN with its
bootstrap 95% CI, the paired comparisons, a per-persona breakdown, and every season's shares.

The shares, CIs and paired differences are `arena.experiment.experiment_result` (recomputed from the event
log, finished seasons only); this module adds only the per-persona view: in rotated seasons each persona
plays each policy, so a persona's share under each policy shows whether a policy wins everywhere or only
with some personas. A streamer's share uses the same rule as a policy's (`season_shares`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arena.db import Database
from arena.experiment import ExperimentResult, experiment_result
from arena.experiment_stats import season_shares
from arena.report import html as H
from arena.report.plots_common import Plot, new_figure, to_png
from arena.report.season_report import OnStep


@dataclass(frozen=True)
class PersonaShare:
    persona: str
    policy: str
    mean: float
    seasons: int


@dataclass
class BuiltExperiment:
    html_path: Path
    plots: list[Path]
    result: ExperimentResult


def persona_shares(db: Database, result: ExperimentResult) -> list[PersonaShare]:
    """Mean share of each (persona, policy) over the finished seasons where that persona played that policy."""
    shares: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s in result.seasons:
        if s.status != "finished":
            continue
        season = db.season(s.season)
        if season is None:
            continue
        who: dict[int, tuple[str, str]] = {}
        ern: dict[int, float] = {}
        for e in db.events(int(season.id), kinds=["streamer_spawned", "round_scored"]):
            p = e.payload
            if e.kind == "streamer_spawned":
                who[int(p["streamer_id"])] = (str(p.get("name", p["streamer_id"])), str(p.get("policy", "?")))
                ern.setdefault(int(p["streamer_id"]), 0.0)
            else:
                for k, v in (p.get("streams") or {}).items():
                    ern[int(k)] = ern.get(int(k), 0.0) + float(v["ern_mean"])
        for i, share in season_shares(ern).items():
            if i in who:
                shares[who[i]].append(share)
    return [PersonaShare(persona, policy, float(np.mean(v)), len(v)) for (persona, policy), v in sorted(shares.items())]


def share_plot(r: ExperimentResult) -> Plot:
    fig = new_figure(width=6.5, height=3.4)
    ax = fig.add_subplot()
    xs = np.arange(len(r.shares))
    means = [s.mean for s in r.shares]
    err = [[s.mean - s.low for s in r.shares], [s.high - s.mean for s in r.shares]]
    ax.bar(xs, means, color="C0", yerr=err, capsize=4)
    ax.axhline(r.fair_share, color="grey", ls="--", lw=1, label=f"fair share {r.fair_share:.1%}")
    ax.set_xticks(xs, [s.policy for s in r.shares])
    ax.set_ylabel("share of the season's ERN")
    ax.legend(fontsize=8, frameon=False)
    return Plot(
        "policy_share", "Share of ERN per policy", to_png(fig), "Mean over finished seasons; bars: 95% bootstrap CI."
    )


def paired_plot(r: ExperimentResult) -> Plot:
    fig = new_figure(width=6.5, height=max(2.0, 0.5 * len(r.pairs) + 1.2))
    ax = fig.add_subplot()
    ys = np.arange(len(r.pairs))
    ax.errorbar(
        [p.mean_diff for p in r.pairs],
        ys,
        xerr=[[p.mean_diff - p.low for p in r.pairs], [p.high - p.mean_diff for p in r.pairs]],
        fmt="o",
        capsize=4,
    )
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(ys, [f"{p.a} − {p.b}" for p in r.pairs])
    ax.set_xlabel("difference of shares, season by season")
    return Plot("paired", "Paired comparison", to_png(fig), "Mean of A's share minus B's in the same season; 95% CI.")


def persona_plot(rows: list[PersonaShare], policies: list[str]) -> Plot:
    personas = sorted({x.persona for x in rows})
    grid = np.full((len(personas), len(policies)), np.nan)
    for x in rows:
        if x.policy in policies:
            grid[personas.index(x.persona), policies.index(x.policy)] = x.mean
    fig = new_figure(width=6.5, height=max(2.0, 0.3 * len(personas) + 1.2))
    ax = fig.add_subplot()
    im = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(policies)), policies)
    ax.set_yticks(range(len(personas)), personas, fontsize=7)
    fig.colorbar(im, ax=ax, label="mean share")
    return Plot(
        "persona", "Per persona", to_png(fig), "Each persona's mean share of its season's ERN under each policy."
    )


def build_experiment_report(db: Database, name: str, out: Path, on_step: OnStep | None = None) -> BuiltExperiment:
    step = on_step or (lambda _s: None)
    step("result")
    r = experiment_result(db, name)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    written: list[Path] = []

    def fig(plot: Plot) -> str:
        path = out / "plots" / f"{plot.name}.png"
        path.write_bytes(plot.png)
        written.append(path)
        return H.figure(plot)

    parts = []
    if r.status != "finished" or r.seasons_finished < r.seasons_planned:
        parts.append(
            H.note(
                f"Experiment {r.status}: {r.seasons_finished} of {r.seasons_planned} seasons finished; only "
                "finished seasons are counted."
            )
        )
    step("shares")
    if r.shares:
        rows = [(s.policy, H.pct(s.mean), H.pct(s.low), H.pct(s.high), H.num(s.seasons, "{:d}")) for s in r.shares]
        body = fig(share_plot(r)) + H.table(["policy", "mean share", "CI low", "CI high", "seasons"], rows, id="shares")
    else:
        body = H.missing("No finished season yet.")
    parts.append(H.section("Share of ERN per policy (95% bootstrap CI)", body, "shares"))
    step("paired")
    if r.pairs:
        rows = [
            (
                f"{p.a} vs {p.b}",
                H.pct(p.mean_diff),
                H.pct(p.low),
                H.pct(p.high),
                H.pct(p.a_wins),
                H.num(p.seasons, "{:d}"),
            )
            for p in r.pairs
        ]
        body = fig(paired_plot(r)) + H.table(
            ["A vs B", "mean difference", "CI low", "CI high", "A > B in", "seasons"], rows, id="pairs"
        )
    else:
        body = H.missing("No finished season yet.")
    parts.append(H.section("Paired comparison", body, "paired"))
    step("personas")
    per = persona_shares(db, r)
    if per:
        rows = [(x.persona, x.policy, H.pct(x.mean), H.num(x.seasons, "{:d}")) for x in per]
        body = fig(persona_plot(per, r.policies)) + H.table(
            ["persona", "policy", "mean share", "seasons"], rows, id="personas"
        )
    else:
        body = H.missing("No finished season yet.")
    parts.append(H.section("Per persona", body, "personas"))
    rows = [
        (
            s.season,
            H.num(s.block, "{:d}"),
            H.num(s.rotation, "{:d}"),
            ", ".join(s.policy_mix),
            s.status,
            H.num(s.rounds_done, "{:d}"),
            ", ".join(f"{k} {v:.1%}" for k, v in s.shares.items()),
        )
        for s in r.seasons
    ]
    parts.append(
        H.section(
            "Seasons",
            H.table(["season", "block", "rotation", "policy mix", "status", "rounds", "shares"], rows, id="seasons"),
            "seasons",
        )
    )
    subtitle = (
        f"Policies {', '.join(r.policies)}; {r.seasons_finished} of {r.seasons_planned} seasons finished; "
        f"fair share {r.fair_share:.1%}."
    )
    path = out / "experiment.html"
    path.write_text(H.page(f"Totoroid Arena experiment report: {r.name}", subtitle, parts), encoding="utf-8")
    return BuiltExperiment(path, written, r)
