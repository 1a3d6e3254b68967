"""LLM agents benchmark: prints one JSON object (a measurement to report, not a test).

- `latency`: decision seconds per `llm` streamer per round (p50/p95/max; target p50 <= 2 s, p95 <= 4 s on 2 CPU cores with
  the embedded model), and per LLM request.
- `tool_calls`: how many tool calls the model made, the share that named an offered tool with arguments that
  validate against the tool's schema (`schema_valid_rate`, target 100% with the embedded model's constrained
  decoding), and the share the tools applied (`applied_rate`: also counts semantic errors, e.g. an unknown
  trend id).
- `tokens`: prompt + completion tokens per round (all `llm` streamers) and per llm-streamer-round, and the mean
  prompt and completion tokens of one request (where a request's time goes: prefill vs decoding).
- `experiment`: which policy holds the audience, from `arena.experiment`: each policy's mean share of a
  season's total ERN with a bootstrap 95% CI, and paired differences, over rotated mixed seasons (every
  policy plays every persona slot equally often; `--seeds` blocks of P seasons, P = number of policies).

Why mixed seasons and not one season per policy (what this bench did before): the audience is (nearly) a
conserved quantity. Viewers watch *someone*, so a season where every streamer plays `llm` and one where every
streamer plays `hold` hand out about the same total ERN, and their mean ERN per streamer differ by audience
noise, not by policy. Policies can only be told apart when they compete for one audience, which is what a
share within a mixed season measures.

Seasons are tiny (P streamers by default, 2 rounds of 2 s, the complete built-in personas, no relegation) so
the whole run takes minutes; every LLM request is a real model call (no replay), so the model's speed
dominates.

`--policies llm` plays plain all-`llm` seasons instead (default 6 streamers, all deciding at once): the latency of
a full LLM round, the figure the batched decoding targets (p50 <= 2 s, p95 <= 4 s for 6 streamers).

Usage: .venv/bin/python bench/agents.py [--seeds 5] [--rounds 2] [--streamers P] [--model embedded/smollm2-135m]
       [--max-tool-calls N (default: the default season's)] [--policies llm,hold,random] [--serial-too]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import crews  # noqa: E402,F401  (network features off before litellm is imported)
from arena.config import SeasonConfig  # noqa: E402
from arena.db import Database  # noqa: E402
from arena.experiment import Tick, run_experiment  # noqa: E402
from crews.llm_config import is_embedded  # noqa: E402
from tools.options import TakeOptionsArgs  # noqa: E402
from tools.stream_tools import (  # noqa: E402
    CameraArgs,
    ChoosePromptArgs,
    NoArgs,
    RequestFinetuneArgs,
    SpeakArgs,
    TuneGeneratorArgs,
)

SCHEMAS = {
    "take_options": TakeOptionsArgs,
    "move_camera": CameraArgs,
    "choose_prompt": ChoosePromptArgs,
    "tune_generator": TuneGeneratorArgs,
    "request_finetune": RequestFinetuneArgs,
    "read_trends": NoArgs,
    "read_leaderboard": NoArgs,
    "speak": SpeakArgs,
    "keep": NoArgs,
}


def base_config(tmp: str, a: argparse.Namespace, streamers: int) -> SeasonConfig:
    """The experiment's base season (the experiment sets seed per block, the policy mix, no relegation)."""
    return SeasonConfig.model_validate(
        {
            "seed": a.seed,
            "streamers": streamers,
            "rounds": a.rounds,
            "round_seconds": a.round_seconds,
            "generator": {
                "model": {"kind": "embedded"},  # the packaged base
                "defaults": {"steps": 1, "resolution": 32, "fps": 3.0},
                "limits": {"resolutions": [32, 48], "steps_max": 2, "fps_max": 8.0},
            },
            "audience": {"size": 3000},
            "decision": {"timeout_seconds": a.decision_timeout, "max_parallel": streamers},
            "llm": {
                "model": a.model,
                "max_tool_calls": a.max_tool_calls,
                "max_tokens": a.max_tokens,
                "temperature": 0.0,
            },
            "database": f"{tmp}/arena.db",
            "run_dir": f"{tmp}/runs",
            "personas": f"{tmp}/personas",
        }
    )


def complete_personas(folder: Path) -> None:
    """The built-in personas that need no LLM completion: persona generation is not what this measures."""
    import shutil

    from agents.loading import builtin_persona_dir, load_persona

    folder.mkdir(parents=True, exist_ok=True)
    for f in sorted(builtin_persona_dir().glob("*.yaml")):
        if load_persona(f).is_complete():
            shutil.copy(f, folder / f.name)


def default_max_tool_calls() -> int:
    """What `python -m arena run --policy llm` uses: the default season's `llm.max_tool_calls`."""
    from arena.config import load_season_config

    return load_season_config(None).llm.max_tool_calls


def embedded_stats(model: str) -> dict | None:
    """Where the embedded model's time went: dtype, prefix-cache reuse, grammar mask cost."""
    if not is_embedded(model):
        return None
    from crews.llm import constrained
    from crews.llm.embedded_model import get_model

    m = get_model()
    return {
        "dtype": m.dtype,
        "prefix_cache": m.prefix_cache.stats(),
        "grammar": constrained.stats(),
        "host": m.host.stats(),
    }


def schema_valid(name: str, arguments: str) -> bool:
    model = SCHEMAS.get(name)
    if model is None:
        return False
    try:
        model.model_validate(json.loads(arguments))
        return True
    except Exception:
        return False


def pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 3) if xs else None


def run(a: argparse.Namespace) -> dict:
    policies = a.policies.split(",")
    if policies == ["llm"]:
        return run_llm_only(a)
    streamers = a.streamers or len(policies)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        complete_personas(Path(tmp) / "personas")
        base = base_config(tmp, a, streamers)
        db = Database(base.database)
        result = run_experiment(base, policies, a.seeds * len(policies), db, "agents", progress=_progress)
        llm = llm_measurements(db, [s.season for s in result.seasons], streamers // len(policies))
    return {
        "model": a.model,
        "seeds": a.seeds,
        "rounds": a.rounds,
        "streamers": streamers,
        "max_tool_calls": a.max_tool_calls,
        "wall_seconds": round(time.perf_counter() - t_all, 1),
        **(llm if "llm" in policies else {}),
        "embedded": embedded_stats(a.model) if "llm" in policies else None,
        "experiment": {
            "fair_share": result.fair_share,
            "seasons": result.seasons_finished,
            "shares": [s.model_dump() for s in result.shares],
            "pairs": [c.model_dump() for c in result.pairs],
        },
    }


def run_llm_only(a: argparse.Namespace) -> dict:
    """`--policies llm`: plain seasons where every streamer plays `llm` (seeds seed..seed+seeds-1), for the
    latency of a full LLM round (every streamer's decision on the model at once); no shares to compare.
    `--serial-too`: each season is played again right after, with the model's host serving requests one at a
    time (`HostThread.batching` off: the behaviour before batched decoding), for an A/B in one process."""
    from arena.loop import SeasonRunner  # the season machinery (torch, the generator) only when playing

    streamers = a.streamers or 6
    modes = ["batched", "serial"] if a.serial_too else ["batched"]
    host = None
    if is_embedded(a.model):
        from crews.llm.embedded_model import get_model

        host = get_model().host
    t_all = time.perf_counter()
    names: dict[str, list[str]] = {m: [] for m in modes}
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        complete_personas(Path(tmp) / "personas")
        base = base_config(tmp, a, streamers)
        db = Database(base.database)
        for i in range(a.seeds):
            for mode in modes:
                if host is not None:
                    host.batching = mode == "batched"
                data = base.model_dump(mode="json")
                data.update(name=f"agents-llm-{mode}-{i}", seed=a.seed + i, policy="llm")
                data["relegation"] = {**data["relegation"], "every": 0}
                runner = SeasonRunner.create(SeasonConfig.model_validate(data), db, source="bench/agents.py")
                runner.run(on_round=lambda res, n=data["name"]: print(f"{n}: round {res.round}", file=sys.stderr))
                names[mode].append(data["name"])
        for mode in modes:
            out[mode] = llm_measurements(db, names[mode], streamers)
    if host is not None:
        host.batching = True
    return {
        "model": a.model,
        "seeds": a.seeds,
        "rounds": a.rounds,
        "streamers": streamers,
        "max_parallel": streamers,
        "max_tool_calls": a.max_tool_calls,
        "wall_seconds": round(time.perf_counter() - t_all, 1),
        **(out["batched"] if len(modes) == 1 else out),
        "embedded": embedded_stats(a.model),
    }


def _progress(t: Tick) -> None:
    print(f"{t.season}: {t.done}/{t.total} rounds", file=sys.stderr)


def llm_measurements(db: Database, season_names: list[str], llm_streamers: int) -> dict:
    """Decision latency, tool-call validity and tokens of the `llm` streamers, from every season's events."""
    lat, req_lat, tokens_round, req_prompt, req_completion, load_seconds = [], [], [], [], [], []
    calls = valid = applied = actions = failed = 0
    for name in season_names:
        season = db.season(name)
        load_seconds += [e.payload.get("seconds") for e in db.events(season.id, kinds=["policy_ready"])]
        for e in db.events(season.id, kinds=["decision"]):
            d = e.payload
            if d["policy"] != "llm":
                continue
            lat.append(d["seconds"])
            failed += 0 if d["ok"] else 1
            actions += len(d["actions"])
            applied += sum(1 for x in d["actions"] if x["ok"])
        per_round: dict[int, int] = {}
        for e in db.events(season.id, kinds=["llm_call"]):
            c = e.payload
            if c["purpose"] != "decision":
                continue
            req_lat.append(c["latency_s"])
            req_prompt.append(c.get("prompt_tokens") or 0)
            req_completion.append(c.get("completion_tokens") or 0)
            per_round[e.round] = per_round.get(e.round, 0) + c["total_tokens"]
            for tc in c["tool_calls"]:
                calls += 1
                valid += schema_valid(tc["name"], tc["arguments"])
        tokens_round += list(per_round.values())
    return {
        "latency": {
            "decision_p50_s": pct(lat, 50),
            "decision_p95_s": pct(lat, 95),
            "decision_max_s": pct(lat, 100),
            "decisions": len(lat),
            "failed_decisions": failed,
            "request_p50_s": pct(req_lat, 50),
            "request_p95_s": pct(req_lat, 95),
            "requests": len(req_lat),
            "target_p50_s": 2.0,
            "target_p95_s": 4.0,
        },
        "tool_calls": {
            "calls": calls,
            "schema_valid_rate": round(valid / calls, 4) if calls else None,
            "actions": actions,
            "applied_rate": round(applied / actions, 4) if actions else None,
        },
        "tokens": {
            "per_round_mean": _mean(tokens_round),
            "per_streamer_round_mean": _mean([v / max(llm_streamers, 1) for v in tokens_round]),
            "prompt_per_request_mean": _mean(req_prompt),
            "completion_per_request_mean": _mean(req_completion),
        },
        "model_load_seconds": load_seconds,
    }


def _mean(xs: list) -> float | None:
    return round(float(np.mean(xs)), 1) if xs else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5, help="blocks of P rotated seasons (P = number of policies)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first block")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--streamers", type=int, default=None, help="a multiple of P (default: P)")
    p.add_argument("--round-seconds", type=float, default=2.0)
    p.add_argument("--model", default="embedded/smollm2-135m", help="any litellm model string")
    p.add_argument(
        "--max-tool-calls",
        type=int,
        default=default_max_tool_calls(),
        help="default: the default season's llm.max_tool_calls",
    )
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--decision-timeout", type=float, default=600.0)
    p.add_argument("--policies", default="llm,hold,random")
    p.add_argument(
        "--serial-too", action="store_true", help="with --policies llm: also play each season served serially"
    )
    print(json.dumps(run(p.parse_args()), indent=2))


if __name__ == "__main__":
    main()
