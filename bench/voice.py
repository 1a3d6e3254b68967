"""Voices and avatars benchmark: prints one JSON object.

- `tts`: per stream (the built-in personas' voices), Piper's and espeak-ng's real-time factor (synthesis CPU
  seconds of the synthesising thread / seconds of speech) over a few lines, after Piper's one-time load; and
  the share of one CPU a stream's voice costs when it speaks the whole speech budget every round
  (`budget_cpu_share`: budget seconds x RTF / round seconds). Target: RTF <= 0.1 per stream on 2 cores.
- `avatar`: embedded animator compositing, ms per frame (wall, and CPU of the compositing thread, which a
  loaded machine does not inflate), a 128 px avatar (target <= 1 ms) and the default 0.3-size avatar on a
  64 px stream.
- `season`: the default season (its config, fewer rounds) broadcast, with every streamer speaking one line a
  round through `speak` (greedy decisions, so it runs in minutes; `--policy llm` for the configured LLM), the
  voices synthesised and the avatars composited while the streams generate: the share of stream-rounds
  that stayed content-positive (target: all), and the lines heard.

Usage: nice -n 10 .venv/bin/python bench/voice.py [--rounds N] [--lines N] [--policy greedy|llm] [--skip-season]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.loading import builtin_persona_dir, load_persona_pool  # noqa: E402
from media.avatar.animator import Animator  # noqa: E402
from media.avatar.placement import AvatarPlacement  # noqa: E402
from media.voice.budget import SpeechBudget  # noqa: E402
from media.voice.espeak_voice import espeak_speak  # noqa: E402
from media.voice.piper_voice import piper_speak  # noqa: E402
from media.voice.profile import voice_profile  # noqa: E402

LINES = (
    "The storm is rolling in over the harbour.",
    "Stay with me, the best part is coming.",
    "I have never seen the sky like this.",
    "Tell a friend about this stream.",
)


def _cpu() -> float:
    """CPU seconds of this process (all threads: onnxruntime's pool included) and its children (espeak-ng)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bench_tts(lines: int, round_seconds: float) -> dict:
    personas = load_persona_pool(builtin_persona_dir())
    t0 = time.perf_counter()
    piper_speak(voice_profile("warmup"), "Loading.")  # the one-time load of the packaged voice
    load = time.perf_counter() - t0
    budget = SpeechBudget()
    streams = {}
    for p in personas:
        row = {"voice": p.voice}
        for engine, speak in (("piper", piper_speak), ("espeak", espeak_speak)):
            prof = voice_profile(p.complete_offline().display_name, p.voice, engine=engine)
            cpu = audio = wall = 0.0
            for i in range(lines):
                c0, w0 = _cpu(), time.perf_counter()
                s = speak(prof, LINES[i % len(LINES)])
                cpu += _cpu() - c0
                wall += time.perf_counter() - w0
                audio += s.seconds
            rtf = cpu / audio
            row[engine] = {
                "rtf_cpu": round(rtf, 4),
                "rtf_wall": round(wall / audio, 4),
                "budget_cpu_share": round(budget.seconds_per_round * rtf / round_seconds, 4),
            }
        streams[p.complete_offline().display_name] = row
    piper = [r["piper"]["rtf_cpu"] for r in streams.values()]
    return {
        "piper_load_seconds": round(load, 2),
        "lines_per_stream": lines,
        "streams": streams,
        "piper_rtf_cpu_max": max(piper),
        "piper_rtf_target_0_1_met": max(piper) <= 0.1,
        "note": "rtf_cpu: CPU seconds of the process and its children (all onnxruntime threads, espeak-ng) per "
        "second of speech; rtf_wall: wall seconds per second of speech on the machine as loaded when measured",
    }


def bench_avatar(frames: int = 2000) -> dict:
    rng = np.random.default_rng(0)
    anim = Animator(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    out = {}
    for name, size, frac in (("avatar_128px_on_256", 256, 0.5), ("default_on_64px_stream", 64, 0.3)):
        frame = np.zeros((size, size, 3), np.uint8)
        place = AvatarPlacement(size=frac)
        anim.composite(frame, 0.0, 0.5, place)  # renders this size's variants once
        t0, c0 = time.perf_counter(), time.thread_time()
        for i in range(frames):
            anim.composite(frame, i / 8, (i % 7) / 6, place)
        out[name] = {
            "ms_per_frame": round((time.perf_counter() - t0) / frames * 1000, 4),
            "cpu_ms_per_frame": round((time.thread_time() - c0) / frames * 1000, 4),
        }
    out["target_1ms_at_128px_met"] = out["avatar_128px_on_256"]["cpu_ms_per_frame"] <= 1.0
    return out


def bench_season(rounds: int, policy: str) -> dict:
    from arena.config import load_season_config
    from arena.db import Database
    from arena.loop import SeasonRunner
    from policies.base import Policy
    from policies.baselines import GreedyPolicy

    def speaking(policy: Policy) -> Policy:
        """The season's policy, plus one line a round (the commentary a voice is for)."""
        decide = policy.adecide

        async def adecide(obs, act, rng) -> None:
            await decide(obs, act, rng)
            act("speak", {"text": f"Round {obs.round}: {LINES[obs.round % len(LINES)]}"})

        policy.adecide = adecide
        return policy

    with tempfile.TemporaryDirectory() as tmp:
        over = {"database": f"{tmp}/arena.db", "run_dir": f"{tmp}/runs", "name": "voices", "rounds": rounds}
        over["broadcast"] = {"enabled": True, "port": 0}
        config = load_season_config(None, **over)
        db = Database(config.database)
        runner = SeasonRunner.create(config, db)
        runner.policy = speaking(GreedyPolicy() if policy == "greedy" else runner.policy)
        t0 = time.perf_counter()
        runner.run()
        wall = time.perf_counter() - t0
        scored = [e for e in db.events(runner.season.id) if e.kind == "round_scored"]
        positive = [s["content_positive"] for e in scored for s in e.payload["streams"].values()]
        spoke = [e for e in db.events(runner.season.id) if e.kind == "spoke"]
        b = runner.broadcaster
        desk = b.voices.stats() if b is not None and b.voices is not None else {}
        heard = sum(w["lines_spoken"] for w in b.stats()["streams"].values()) if b is not None else 0
        return {
            "policy": policy,
            "streamers": config.streamers,
            "rounds": rounds,
            "round_seconds": config.round_seconds,
            "season_wall_seconds": round(wall, 1),
            "stream_rounds": len(positive),
            "content_positive_share": round(float(np.mean(positive)), 3),
            "every_stream_round_content_positive": all(positive),
            "lines_scheduled": sum(len(e.payload["lines"]) for e in spoke),
            "lines_heard_on_broadcast": heard,
            "voice_desk": desk,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lines", type=int, default=2, help="lines per stream and engine in the TTS part")
    ap.add_argument("--policy", choices=("greedy", "llm"), default="greedy")
    ap.add_argument("--skip-season", action="store_true")
    args = ap.parse_args()
    out = {"tts": bench_tts(args.lines, 6.0), "avatar": bench_avatar()}
    if not args.skip_season:
        out["season"] = bench_season(args.rounds, args.policy)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
