"""Which torch dtype the embedded model computes in, decided without importing torch.

Why its own module: the CLI checks `TOTOROID_LLM_DTYPE` before a season writes anything (one clear line
instead of every decision failing), and that check must not pay torch's import.
"""

from __future__ import annotations

import os
from pathlib import Path

DTYPES = ("float32", "bfloat16")


def cpu_has_bf16() -> bool:
    """True when the CPU has native bfloat16 dot products (AVX512-BF16 or AMX), read from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def choose_dtype() -> str:
    """`TOTOROID_LLM_DTYPE` (float32 | bfloat16), else bfloat16 where the CPU computes it natively.

    Decoding a 135M model on CPU reads every weight once per token, so it is bound by memory bandwidth:
    bfloat16 halves the bytes. bench/llm_speed.py on the 2-core dev machine: 43 -> 29 ms per decode step,
    500-token prefill 1.11 -> 0.38 s, float32's greedy token kept 95% of the time (mean KL 0.0015). Dynamic
    int8 was faster still but its greedy tokens diverged badly (ad-hoc check, not kept). Without native
    support bfloat16 is emulated and slower, so those CPUs stay on float32."""
    env = os.environ.get("TOTOROID_LLM_DTYPE", "").strip().lower()
    if env:
        if env not in DTYPES:
            raise ValueError(f"environment variable TOTOROID_LLM_DTYPE must be float32 or bfloat16, not {env[:20]!r}")
        return env
    return "bfloat16" if cpu_has_bf16() else "float32"
