"""Embedded LLM speed paths: prints one JSON object (the figures behind crews/llm's design choices).

- `dtype`: float32 vs bfloat16 copies of the model: ms per decode step (after a 100-token prompt), seconds to
  prefill 500 tokens, and how often bfloat16 picks float32's greedy token (teacher-forced over a decision-like
  chat) with the mean KL divergence.
- `prefix_cache`: prefill seconds of a 460-token prompt cold vs with its first 256 tokens reused.
- `prefill`: seconds to prefill 896 tokens with logits for every position vs the last one only.
- `chunks`: seconds of one forward pass of 32, 64, 128 and 256 tokens after a 448-token cached prefix (a
  streamer's first turn), and tokens/s: a pass costs a fixed ~45 ms before its tokens on the 2-core machine, the
  figure behind prefilling a round's text in one pass (`prefix_cache.TAIL_CHUNK`). Also a reading of how fast
  the machine is right now: compare decision latencies only with this figure beside them.
- `thread_team`: seconds to decode one grammar-constrained tool call on the main thread, then while another
  thread that has used torch is still alive (the libgomp throttling that crews/llm/host_thread.py avoids).
- `batch`: the decision requests of a real all-`llm` season (6 streamers, the complete built-in personas, the
  default season's llm settings; captured at the provider while the season plays), replayed round by round
  on the model, back to back in this process: served one after another (`serial`, what the host did before
  batching) vs decoded as one batch (`batched`, crews/llm/batching.py), each from a cleared prefix cache.
  A request's latency is the time from the round's start until its answer (serial: behind the requests
  before it). Also: whether the batch gives the same tokens when run again (`identical_across_runs`), how
  often a row's tokens equal its solo decode (`solo_agreement`: requests, and matching leading tokens), and
  whether every batched answer completes its grammar (`grammar_complete_rate`: tool-call validity).

Usage: .venv/bin/python bench/llm_speed.py [--only batch] [--rounds 3] [--streamers 6]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crews.llm import batching, constrained  # noqa: E402
from crews.llm.embedded_model import get_model  # noqa: E402
from crews.llm.loop_guard import LoopGuard  # noqa: E402

CHAT = [
    {
        "role": "system",
        "content": "Tools:\n- choose_prompt(prompt:str, transition_seconds:num 0..10): Change what "
        "your stream shows.\n- tune_generator(steps:int 1..4, resolution:32|48|64, fps:num "
        "0.5..8, strength:num 0..1): Set steps.\n\nYou are Mara Vex, a retired lighthouse "
        "keeper who streams storms.\nAct by calling one tool. Reply as JSON.",
    },
    {
        "role": "user",
        "content": "Round 3/10, relegation in 2.\nViewers 120, 140, share 12%, rank 4/6, stalls 0.\n"
        '<<<TRENDS\nyt-ocean: "Big waves live" (2300 viewers)\n>>>\nShow a scene with '
        "choose_prompt.",
    },
    {
        "role": "assistant",
        "content": '{"name": "choose_prompt", "arguments": {"prompt": "giant waves crashing on a '
        'lighthouse at night", "transition_seconds": 2.0}}',
    },
]


def best(fn, n: int = 3) -> float:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def dtype_figures(m) -> dict:
    tok = m.tokenizer
    long_ids = tok.encode("the storm rolls over the lighthouse and the waves rise " * 60)[:500]
    chat_ids = torch.tensor([tok.apply_chat_template(CHAT, tokenize=True, return_dict=True)["input_ids"]])
    models = {"float32": copy.deepcopy(m.model).float(), "bfloat16": copy.deepcopy(m.model).to(torch.bfloat16)}
    out: dict = {}
    with torch.inference_mode():
        logits = {k: v(input_ids=chat_ids).logits[0].float() for k, v in models.items()}
        for name, model in models.items():
            r = model(input_ids=torch.tensor([long_ids[:100]]), use_cache=True)
            past, nxt = r.past_key_values, torch.tensor([[5]])

            def steps(k=20):
                for _ in range(k):
                    model(input_ids=nxt, past_key_values=copy.copy(past), use_cache=True)

            out[name] = {
                "decode_ms_per_step": round(1000 * best(steps) / 20, 1),
                "prefill_500_s": round(best(lambda: model(input_ids=torch.tensor([long_ids]))), 3),
            }
        ref, bf = logits["float32"], logits["bfloat16"]
        lp, lq = torch.log_softmax(ref, -1), torch.log_softmax(bf, -1)
        out["bfloat16_top1_agreement"] = round(float((ref.argmax(-1) == bf.argmax(-1)).float().mean()), 3)
        out["bfloat16_mean_kl"] = round(float((lp.exp() * (lp - lq)).sum(-1).mean()), 4)
        out["tokens_compared"] = int(chat_ids.shape[1])
    return out


def prefix_figures(m) -> dict:
    ids = m.tokenizer.encode("hello world, this is a long prompt about streams " * 60)[:460]
    other = ids[:256] + [t + 1 for t in ids[256:]]
    with torch.inference_mode():

        def cold():
            m.prefix_cache.clear()
            m._prefill(ids)

        def warm():
            m.prefix_cache.clear()
            m._prefill(ids)
            t = time.perf_counter()
            _, _, reused = m._prefill(other)
            warm.seconds, warm.reused = time.perf_counter() - t, reused

        cold_s = best(cold)
        warm()
        return {
            "prompt_tokens": len(ids),
            "cold_s": round(cold_s, 3),
            "reused_tokens": warm.reused,
            "warm_s": round(warm.seconds, 3),
        }


def prefill_figures(m) -> dict:
    """Seconds to prefill 896 tokens in 128-token chunks with logits for every position (what `_forward` did)
    vs for the last one only (`logits_to_keep=1`, what it does): the output layer over a 49k vocabulary."""
    from transformers import DynamicCache

    ids = m.tokenizer.encode("the storm rolls over the lighthouse and the waves rise " * 90)[:896]

    def prefill(keep: int) -> None:
        cache = DynamicCache(config=m.model.config)
        for s in range(0, len(ids), 128):
            m.model(input_ids=torch.tensor([ids[s : s + 128]]), past_key_values=cache, logits_to_keep=keep)

    with torch.inference_mode():
        every, last = best(lambda: prefill(0)), best(lambda: prefill(1))  # 0 = every position
    return {"prompt_tokens": len(ids), "all_logits_s": round(every, 3), "last_logits_s": round(last, 3)}


def chunk_figures(m) -> dict:
    """One forward of w tokens after a 448-token prefix (copied per run), for each w: the fixed cost of a pass."""
    from transformers import DynamicCache

    ids = m.tokenizer.encode("the storm rolls over the lighthouse and the waves rise " * 90)[:704]
    out: dict = {}
    with torch.inference_mode():
        prefix = DynamicCache(config=m.model.config)
        m.model(input_ids=torch.tensor([ids[:448]]), past_key_values=prefix, logits_to_keep=1)
        for w in (32, 64, 128, 256):
            tail = torch.tensor([ids[448 : 448 + w]])

            def one(tail=tail) -> None:
                m.model(input_ids=tail, past_key_values=copy.deepcopy(prefix), logits_to_keep=1)

            seconds = best(one, 5)
            out[str(w)] = {"seconds": round(seconds, 3), "tokens_per_s": round(w / seconds)}
    return out


def thread_team_figures(m) -> dict:
    tok = m.tokenizer
    ids = tok.apply_chat_template(CHAT[:2], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    schema = constrained.tool_call_schema(
        [
            {
                "type": "function",
                "function": {
                    "name": "choose_prompt",
                    "parameters": {
                        "type": "object",
                        "properties": {"prompt": {"type": "string", "maxLength": 60}},
                        "required": ["prompt"],
                    },
                },
            }
        ]
    )
    grammar = constrained.compile_schema(schema, tok)

    def call() -> float:
        proc = constrained.JsonSchemaLogitsProcessor(grammar, tok, m.vocab_size)
        g = m._generate(ids, max_new_tokens=80, logits_processors=[proc, LoopGuard(len(ids))])
        return g.seconds - g.prefill_seconds

    call()
    alone = min(call() for _ in range(3))
    release = threading.Event()

    def other_torch_thread():
        x = torch.randn(256, 256)
        for _ in range(10):
            x @ x
        release.wait()

    th = threading.Thread(target=other_torch_thread, daemon=True)
    th.start()
    time.sleep(0.5)
    beside = min(call() for _ in range(3))
    release.set()
    th.join()
    return {
        "decode_s_main_thread_alone": round(alone, 3),
        "decode_s_with_another_torch_thread_alive": round(beside, 3),
        "torch_threads": torch.get_num_threads(),
    }


def capture_rounds(rounds: int, streamers: int, seed: int) -> list[list[dict]]:
    """The decision requests of a real all-`llm` season, grouped by round and ordered by their batch key:
    prompt ids, decode settings and the arguments of the provider's logits processors (schema, ...)."""
    from arena.config import SeasonConfig, load_season_config
    from arena.db import Database
    from arena.loop import SeasonRunner
    from bench.agents import complete_personas
    from crews.llm import provider
    from crews.llm.embedded_model import EmbeddedModel

    local = threading.local()
    captured: list[dict] = []
    orig_procs, orig_generate = provider._logits_processors, EmbeddedModel.generate

    def spy_procs(m, *args):
        local.procs_args = [list(a) if isinstance(a, tuple | list) else a for a in args]
        return orig_procs(m, *args)

    def spy_generate(self, prompt_ids, *, key=(), **kwargs):
        keep = {k: v for k, v in kwargs.items() if k != "logits_processors"}
        captured.append({"key": list(key), "prompt_ids": list(prompt_ids), "procs_args": local.procs_args, **keep})
        return orig_generate(self, prompt_ids, key=key, **kwargs)

    llm = load_season_config(None).llm.model_dump(mode="json")
    provider._logits_processors, EmbeddedModel.generate = spy_procs, spy_generate
    try:
        with tempfile.TemporaryDirectory() as tmp:
            complete_personas(Path(tmp) / "personas")
            config = SeasonConfig.model_validate(
                {
                    "name": "llm-speed-capture",
                    "seed": seed,
                    "streamers": streamers,
                    "rounds": rounds,
                    "round_seconds": 2.0,
                    "policy": "llm",
                    "relegation": {"every": 0},
                    "generator": {
                        "model": {"kind": "embedded", "block_out_channels": [16, 32, 32]},
                        "defaults": {"steps": 1, "resolution": 32, "fps": 3.0},
                        "limits": {"resolutions": [32, 48], "steps_max": 2, "fps_max": 8.0},
                    },
                    "audience": {"size": 3000},
                    "decision": {"timeout_seconds": 600, "max_parallel": streamers},
                    "llm": llm,
                    "database": f"{tmp}/arena.db",
                    "run_dir": f"{tmp}/runs",
                    "personas": f"{tmp}/personas",
                }
            )
            SeasonRunner.create(config, Database(config.database), source="bench/llm_speed.py").run()
    finally:
        provider._logits_processors, EmbeddedModel.generate = orig_procs, orig_generate
    by_round: dict[str, list[dict]] = {}
    for c in captured:
        if c["key"] and c["key"][2] == "decision":  # key: round, call index, purpose, actor (provider._batch_key)
            by_round.setdefault(c["key"][0], []).append(c)
    return [sorted(v, key=lambda c: (c["key"], c["prompt_ids"])) for _, v in sorted(by_round.items())]


def _requests(m, captured: list[dict]) -> tuple[list[batching.Request], list]:
    """Fresh requests (new grammar matchers) for captured ones, and their matchers."""
    from crews.llm import provider

    reqs, matchers = [], []
    for c in captured:
        matcher, procs = provider._logits_processors(m, *c["procs_args"])  # schema, prompt length, ...
        kwargs = {k: c[k] for k in ("max_new_tokens", "temperature", "top_p", "seed", "stop")}
        reqs.append(batching.Request(c["prompt_ids"], logits_processors=procs, key=tuple(c["key"]), **kwargs))
        matchers.append(matcher)
    return reqs, matchers


def _prime(m, previous: list[dict]) -> None:
    """The prefix cache as a season leaves it: cleared, then holding the previous round's prompts."""
    m.prefix_cache.clear()
    with torch.inference_mode():
        for c in previous:
            m._prefill(c["prompt_ids"])


def _serial(m, captured: list[dict], previous: list[dict]) -> tuple[list, list[float]]:
    reqs, _ = _requests(m, captured)
    _prime(m, previous)
    t0 = time.perf_counter()
    gens, ends = [], []
    for r in reqs:
        gens.append(m._generate(r.prompt_ids, **r.solo_kwargs()))
        ends.append(time.perf_counter() - t0)
    return gens, ends


def _batched(m, captured: list[dict], previous: list[dict], rows: int) -> tuple[list, list[float], list]:
    """Batches of at most `rows` requests, one after another (a request's latency includes the batches
    before its own)."""
    reqs, matchers = _requests(m, captured)
    _prime(m, previous)
    gens, lat, offset = [], [], 0.0
    for i in range(0, len(reqs), rows):
        part = m.generate_batch(reqs[i : i + rows])
        gens += part
        lat += [offset + g.seconds for g in part]
        offset = max(lat)
    return gens, lat, matchers


def _leading_match(a: list[int], b: list[int]) -> float:
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return n / max(len(a), len(b), 1)


def batch_figures(m, rounds: int, streamers: int, seed: int, rows: list[int], saved: str | None = None) -> dict:
    path = Path(saved) if saved else None
    if path is not None and path.is_file():
        captured = json.loads(path.read_text())
    else:
        captured = capture_rounds(rounds, streamers, seed)
        if path is not None:
            path.write_text(json.dumps(captured))
    lat: dict[str, list[float]] = {"serial": [], **{f"batched_rows{r}": [] for r in rows}}
    walls: dict[str, list[float]] = {k: [] for k in lat}
    same_runs = same_solo = complete = n = 0
    leading = []
    for i, reqs in enumerate(captured):
        previous = captured[i - 1] if i else []
        solo, ends = _serial(m, reqs, previous)
        lat["serial"] += ends
        walls["serial"].append(ends[-1])
        for r in rows:  # back to back with the serial run, same prefix-cache state
            b, got, matchers = _batched(m, reqs, previous, r)
            lat[f"batched_rows{r}"] += got
            walls[f"batched_rows{r}"].append(max(got))
            if r == rows[0]:
                b1, m1 = b, matchers
        b2, _, _ = _batched(m, reqs, previous, rows[0])
        for s_gen, g1, g2, matcher in zip(solo, b1, b2, m1, strict=True):
            n += 1
            same_runs += g1.token_ids == g2.token_ids
            same_solo += g1.token_ids == s_gen.token_ids
            leading.append(_leading_match(s_gen.token_ids, g1.token_ids))
            complete += matcher is None or matcher.accepted()

    def pct(xs, q):
        return round(float(np.percentile(xs, q)), 3)

    out = {
        "rounds": len(captured),
        "requests": n,
        "prompt_tokens_mean": round(float(np.mean([len(c["prompt_ids"]) for r in captured for c in r])), 1),
        "completion_tokens_mean": round(float(np.mean([len(g.token_ids) for g in b1])), 1),
    }
    for k in lat:
        out[k] = {
            "p50_s": pct(lat[k], 50),
            "p95_s": pct(lat[k], 95),
            "round_s_mean": round(float(np.mean(walls[k])), 3),
        }
    out.update(
        {
            "identical_across_runs": same_runs / n,
            "solo_agreement": {
                "requests": round(same_solo / n, 3),
                "leading_tokens": round(float(np.mean(leading)), 3),
            },
            "grammar_complete_rate": complete / n,
            "batch_stats": batching.STATS.as_dict(),
        }
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--only", choices=["thread_team", "prefix_cache", "prefill", "chunks", "dtype", "batch"], default=None
    )
    p.add_argument("--rounds", type=int, default=3, help="batch: rounds of the captured season")
    p.add_argument("--streamers", type=int, default=6, help="batch: streamers of the captured season")
    p.add_argument("--seed", type=int, default=0, help="batch: seed of the captured season")
    p.add_argument("--rows", type=int, nargs="+", default=[6, 4], help="batch: largest batches to compare")
    p.add_argument("--captured", default=None, help="batch: JSON file of captured requests (written if missing)")
    a = p.parse_args()
    m = get_model()
    sections = {
        "thread_team": lambda: thread_team_figures(m),
        "prefix_cache": lambda: prefix_figures(m),
        "prefill": lambda: prefill_figures(m),
        "chunks": lambda: chunk_figures(m),
        "dtype": lambda: dtype_figures(m),
        "batch": lambda: batch_figures(m, a.rounds, a.streamers, a.seed, a.rows, a.captured),
    }
    out = {"model_dtype": m.dtype, "torch_threads": torch.get_num_threads()}
    for name, fn in sections.items():
        if a.only in (None, name):
            out[name] = fn()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
