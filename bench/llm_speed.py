"""Embedded LLM speed paths: prints one JSON object (the figures behind crews/llm's design choices).

- `dtype`: float32 vs bfloat16 copies of the model: ms per decode step (after a 100-token prompt), seconds to
  prefill 500 tokens, and how often bfloat16 picks float32's greedy token (teacher-forced over a decision-like
  chat) with the mean KL divergence.
- `prefix_cache`: prefill seconds of a 460-token prompt cold vs with its first 256 tokens reused.
- `thread_team`: seconds to decode one grammar-constrained tool call on the main thread, then while another
  thread that has used torch is still alive (the libgomp throttling that crews/llm/host_thread.py avoids).

Usage: .venv/bin/python bench/llm_speed.py
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crews.llm import constrained  # noqa: E402
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


def main() -> None:
    m = get_model()
    print(
        json.dumps(
            {
                "model_dtype": m.dtype,
                "thread_team": thread_team_figures(m),
                "prefix_cache": prefix_figures(m),
                "dtype": dtype_figures(m),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
