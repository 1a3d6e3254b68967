"""`policy: llm` end to end at tiny sizes: a season played by crewai Agents on a scripted litellm model (the
model is the only stand-in; agents, tools, budgets, recording and the arena are the real ones), then the
same season replayed from its event log with `--llm replay:<name>` and no model at all."""

from __future__ import annotations

import json
import re

import pytest

import crews  # noqa: F401  (first: network features off before litellm is imported)
from arena.cli import main
from arena.config import load_season_config
from arena.db import Database
from arena.loop import SeasonRunner
from crews.llm.registration import unregister_provider
from tests.conftest import write_config
from tests.crews.scripted import PROVIDER, install, tool_call

SCHEMAS: list[dict] = []  # the response-format schema of each persona request (set by `remember_schemas`)


def remember_schemas(handler):
    """Let the script read each persona request's schema (its menus) from the provider's request log."""
    original = handler.script

    def script(messages, tools, meta):
        rf = handler.requests[-1].get("response_format") or {}
        SCHEMAS.append((rf.get("json_schema") or {}).get("schema") or {"properties": {}})
        return original(messages, tools, meta)

    handler.script = script
    return handler


def season_script(messages, tools, meta):
    """Deterministic: decisions depend on the round and the streamer, personas on the request."""
    purpose, index = meta.get("purpose"), meta.get("index", 0)
    text = " ".join(str(m.get("content") or "") for m in messages)
    if purpose in ("persona", "mutation"):  # two answers per persona, picking from the menus offered
        menu = {k: (v.get("items") or v).get("enum", []) for k, v in SCHEMAS[-1]["properties"].items()}
        if "before streaming" in messages[-1]["content"]:
            return json.dumps(
                {
                    "backstory": "Grew up online and never logged off.",
                    "voice": menu["voice"][0],
                    "goals": menu["goals"][:1],
                    "survival_motive": menu["survival_motive"][0],
                }
            )
        seed = re.search(r"(idea): (.{0,40})", text)
        word = re.sub(r"[^A-Za-z]", "", (seed.group(2) if seed else "x").split()[-1]).capitalize() or "X"
        name = f"{'Neo ' if purpose == 'mutation' else ''}{word} Star"
        pick = {"traits": menu["traits"][:2], "scene": menu["scene"][0], "palette": menu["palette"][0]}
        return json.dumps({"name": name, **pick})
    if purpose == "reflection":  # grounded in the memory it was shown
        did = re.search(r"round \d+: (tune fps=\d+)", text)
        return json.dumps({"lesson": f"{did.group(1) if did else 'nothing'} moved viewers", "plan": "keep tuning"})
    r = int(re.search(r"Round (\d+)/", text).group(1))
    if meta["actor"] == "s02" and r == 2:
        return RuntimeError("provider exploded")  # one streamer's LLM fails; the season must go on
    if index == 0:
        slot = int(meta["actor"][1:])
        return [
            tool_call("tune_generator", {"fps": 2 + r + slot}),
            tool_call("choose_prompt", {"prompt": f"scene {r}-{slot}", "transition_seconds": 1}),
        ]
    return "changed fps and scene"


def llm_config(tmp_path, **over):
    folder = tmp_path / "personas"  # one seed-only persona (the LLM completes it), one complete one
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nomad.yaml").write_text("seed: a desert nomad who streams slow sunsets over the dunes\n")
    (folder / "keeper.yaml").write_text(
        "seed: a retired lighthouse keeper who streams storms\nname: Old Beacon\ncharacter: Gruff.\n"
        "backstory: Forty years on a rock.\nvisual_style: stormy sea at night\ngoals: [keep the storm on]\n"
        "survival_motive: a dark lamp is a dead lamp\n"
    )
    base = {
        "policy": "llm",
        "personas": str(folder),
        "rounds": 3,
        "streamers": 2,
        "round_seconds": 1.0,
        "llm": {"model": "scripted/test", "max_tool_calls": 3},
    }
    base.update(over)
    return write_config(tmp_path, **base)


def standings_of(db, season):
    """(round, rank, slot, name, ERN): streamer ids differ between seasons of one file, slots do not."""
    who = {st.id: (st.slot, st.name) for st in db.streamers(season.id)}
    return [(x.round, x.rank, *who[x.streamer_id], round(x.ern_mean, 9)) for x in db.stats(season.id)]


@pytest.mark.timeout(1200)  # two tiny seasons; this 2-core machine is shared
def test_llm_season_records_and_replays(tmp_path):
    handler = remember_schemas(install(season_script))
    config = load_season_config(llm_config(tmp_path), name="rec")
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    assert runner.run() == "finished"
    season = db.season("rec")
    decisions = [e.payload for e in db.events(season.id, kinds=["decision"])]
    failed = [d for d in decisions if not d["ok"]]
    assert [d["slot"] for d in failed] == ["s02"] and "provider exploded" in failed[0]["error"]
    good = [d for d in decisions if d["ok"]]
    assert len(good) == len(decisions) - 1 and all(d["policy"] == "llm" for d in decisions)
    assert all(any(a["tool"] == "tune_generator" and a["ok"] for a in d["actions"]) for d in good)
    # the failed decision left s02 as it was: its round-2 settings equal its round-1 settings
    scored = {e.round: e.payload["streams"] for e in db.events(season.id, kinds=["round_scored"])}
    s02 = {r: next(v for v in scored[r].values() if v["slot"] == "s02") for r in (1, 2)}  # relegated after 2
    assert s02[2]["settings"]["fps"] == s02[1]["settings"]["fps"] == 2 + 1 + 2
    calls = [e.payload for e in db.events(season.id, kinds=["llm_call"])]
    purposes = {c["purpose"] for c in calls}
    assert {"decision", "persona", "mutation"} <= purposes
    for c in calls:
        assert c["messages"] and c["fingerprint"] and c["cost"] == 0.0
        assert c["total_tokens"] == (0 if c["error"] else 60)
        assert c["latency_s"] >= 0 and c["actor"] and c["round"] >= 0
    assert any(c["tool_calls"] for c in calls if c["purpose"] == "decision")
    assert [c["actor"] for c in calls if c["error"]] == ["s02"] and "provider exploded" in next(
        c["error"] for c in calls if c["error"]
    )
    # seed-only personas were completed by the LLM; names unique
    spawned = [e.payload for e in db.events(season.id, kinds=["streamer_spawned"])]
    names = [p["name"] for p in spawned]
    assert len(names) == len(set(names))
    assert db.events(season.id, kinds=["persona_mutated"])
    reflections = [(e.round, e.payload["slot"], e.payload["text"]) for e in db.events(season.id, kinds=["reflection"])]
    assert reflections and all(t.startswith("tune fps=") and t.endswith("Plan: keep tuning") for *_, t in reflections)
    n_requests = len(handler.requests)

    # replay: no model at all (the scripted provider is gone), identical decisions and standings
    unregister_provider(PROVIDER)
    assert main(["run", "--llm", "replay:rec", "--db", config.database, "--name", "rep"]) == 0
    rep = db.season("rep")
    assert rep.status == "finished"
    assert len(handler.requests) == n_requests
    a1 = [(e.round, json.dumps(e.payload["actions"])) for e in db.events(season.id, kinds=["decision"])]
    a2 = [(e.round, json.dumps(e.payload["actions"])) for e in db.events(rep.id, kinds=["decision"])]
    assert a1 == a2
    assert standings_of(db, season) == standings_of(db, rep)
    again = [(e.round, e.payload["slot"], e.payload["text"]) for e in db.events(rep.id, kinds=["reflection"])]
    assert again == reflections  # reflections replay too


def test_replay_of_unknown_or_diverged_season_is_a_clear_error(tmp_path, capsys):
    path = llm_config(tmp_path)
    Database(str(tmp_path / "arena.db"))
    assert main(["run", "--config", str(path), "--llm", "replay:nope", "--name", "x"]) == 2
    assert "no season 'nope'" in capsys.readouterr().err
