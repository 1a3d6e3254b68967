"""Persona generation benchmark: prints one JSON object (a measurement to report, not a test).

With the real model (default: the embedded SmolLM2-135M, through the same recorded completer the arena uses),
for each of `--seeds` persona seed lines (the built-in pool's, then made-up ones):
- `spawn`: the share completed by the LLM without the offline fallback (target >= 0.95), the share whose
  fields are coherent (no field repeats another, the name is not the character: `agents.persona_checks`),
  attempts per persona, seconds per persona (p50/p95).
- `mutation`: each LLM-written persona mutated once: the share that succeeded, how often each field changed,
  how many children changed only their name (must be 0), seconds per mutation (p50/p95).

Why seeds are seed lines: generation is deterministic for a given request (the embedded model samples from a
seeded generator), so different spawns differ by their seed line and by the names already taken.
Seconds depend on the machine and on whatever else runs on it; on a shared 2-core machine they are noisy.

Usage: .venv/bin/python bench/personas.py [--seeds 50] [--model embedded/smollm2-135m] [--time-limit SECONDS]
       [--request-timeout SECONDS]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import crews  # noqa: E402,F401  (network features off before litellm is imported)
from agents.llm_persona import TEXT_FIELDS, complete_with_llm, mutate_with_llm  # noqa: E402
from agents.loading import builtin_persona_dir, load_persona_pool  # noqa: E402
from agents.persona import Persona  # noqa: E402
from agents.persona_checks import repeated_fields  # noqa: E402
from crews.llm_config import LLMSection  # noqa: E402
from crews.llm_policy import LLMPolicy  # noqa: E402

ROLES = (
    "retired baker",
    "night nurse",
    "young geologist",
    "street drummer",
    "lonely sailor",
    "old gardener",
    "clockmaker",
)
SUBJECTS = (
    "snow falling on mountain peaks",
    "fish drifting over a coral reef",
    "city lights in the rain",
    "waves breaking on black rocks",
    "candles flickering in a cathedral",
    "clouds racing over hills",
)
CHECKED = ("name", "character", "backstory", "visual_style", "survival_motive", "goals")


def seed_lines(n: int) -> list[str]:
    pool = [p.seed for p in load_persona_pool(builtin_persona_dir())]
    made = [f"a {r} who streams {s}" for s in SUBJECTS for r in ROLES]
    return (pool + made)[:n]


def coherent(p: Persona) -> bool:
    return not repeated_fields({k: getattr(p, k) for k in CHECKED})


def pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 2) if xs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--model", default=None, help="a litellm model string (default: the season's default)")
    ap.add_argument("--time-limit", type=float, default=None, help="start no new seed after this many seconds")
    ap.add_argument(
        "--request-timeout",
        type=float,
        default=None,
        help="seconds one LLM request may take (default: the season's); raise it on a loaded machine, where a slow "
        "answer would otherwise count as a failed spawn",
    )
    a = ap.parse_args()
    given = {"model": a.model, "timeout_seconds": a.request_timeout}
    section = LLMSection(**{k: v for k, v in given.items() if v is not None})
    policy = LLMPolicy(section)
    prep = policy.prepare()
    start = time.perf_counter()
    taken: set[str] = set()
    spawns, mutations = [], []
    for i, seed in enumerate(seed_lines(a.seeds)):
        if a.time_limit and time.perf_counter() - start > a.time_limit:
            break
        t = time.perf_counter()
        res = complete_with_llm(
            Persona(seed=seed), policy.completer(f"b{i}", 0, "persona"), taken, section.persona_retries
        )
        p = res.persona
        spawns.append({"ok": res.ok, "attempts": res.attempts, "s": time.perf_counter() - t, "coherent": coherent(p)})
        spawns[-1] |= {"name_not_character": p.name != p.character, "errors": res.errors}
        taken.add(p.display_name)
        print(json.dumps({"seed": seed, **spawns[-1], "persona": p.model_dump(exclude={"traits"})}), file=sys.stderr)
        if not res.ok:
            continue
        t = time.perf_counter()
        m = mutate_with_llm(p, policy.completer(f"b{i}", 1, "mutation"), taken, section.persona_retries)
        changed = sorted({c["field"] for c in m.changes} & {*TEXT_FIELDS, "goals"}) if m.ok else []
        mutations.append(
            {"ok": m.ok, "s": time.perf_counter() - t, "changed": changed, "coherent": coherent(m.persona)}
        )
        taken.add(m.persona.display_name)
        print(json.dumps({"mutation": mutations[-1], "errors": m.errors}), file=sys.stderr)
    n, k = len(spawns), len(mutations)
    secs = [s["s"] for s in spawns]
    msecs = [m["s"] for m in mutations]
    fields = (*TEXT_FIELDS, "goals")
    out = {
        "model": section.model,
        "prepare": prep,
        "seeds_asked": a.seeds,
        "seeds_done": n,
        "retries": section.persona_retries,
        "spawn": {
            "success_rate_without_fallback": round(sum(s["ok"] for s in spawns) / n, 3) if n else None,
            "distinct_field_rate": round(sum(s["coherent"] for s in spawns) / n, 3) if n else None,
            "name_not_character_rate": round(sum(s["name_not_character"] for s in spawns) / n, 3) if n else None,
            "attempts_mean": round(sum(s["attempts"] for s in spawns) / n, 2) if n else None,
            "seconds_p50": pct(secs, 50),
            "seconds_p95": pct(secs, 95),
        },
        "mutation": {
            "n": k,
            "success_rate": round(sum(m["ok"] for m in mutations) / k, 3) if k else None,
            "distinct_field_rate": round(sum(m["coherent"] for m in mutations if m["ok"]) / max(1, k), 3),
            "changed": {f: sum(f in m["changed"] for m in mutations) for f in fields},
            "rename_only": sum(m["ok"] and m["changed"] == ["name"] for m in mutations),
            "seconds_p50": pct(msecs, 50),
            "seconds_p95": pct(msecs, 95),
        },
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
