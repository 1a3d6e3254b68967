"""What a streamer remembers: its recent decisions and what its viewers did next.

Why: a policy that never sees the effect of its own moves repeats them (the old LLM streamers set the same
four knobs every round). Generative Agents keep a memory stream and retrieve what matters; here the stream is
short and the only thing worth retrieving is the measured effect, so each round adds one `Recollection` (the
applied tool calls in a few words, viewers before and after) and the observation carries the last few.

The arena builds memory from what it recorded itself (the decision's applied actions and the round's ERN),
never from what a model said it did, and keeps it in the resume state, so replay and resume see the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from arena.roster import LiveStreamer
from common.untrusted import clean_text
from tools.control import ActionRecord
from tools.observation import Recollection, ReflectionRequest

MEMORY_ROUNDS = 4  # kept per streamer; older rounds matter less than the prompt tokens they would cost
REFLECTION_MAX_CHARS = 240  # a reflection is model output: cleaned and cut before anyone reads it


def summarise_actions(actions: Sequence[ActionRecord]) -> str:
    """The applied calls of one decision in a few words: knobs as `name=value`, prompts quoted and cut."""
    parts: list[str] = []
    for a in actions:
        if not a.ok:
            continue
        args = a.args if isinstance(a.args, dict) else {}
        if a.tool == "choose_prompt":
            what = args.get("topic") or args.get("prompt") or ""
            parts.append(f"show '{clean_text(str(what), 30)}'")
        elif a.tool == "request_finetune":
            parts.append(f"finetune {clean_text(str(args.get('source_id', '')), 20)}")
        elif a.tool == "speak":
            parts.append("spoke")
        else:
            knobs = ", ".join(f"{k}={v}" for k, v in args.items() if v is not None and k != "raw")
            parts.append(clean_text(f"{a.tool.split('_')[0]} {knobs}".strip(), 60))
    return "; ".join(parts) or "nothing"


def remember(
    memory: list[Recollection],
    round_number: int,
    actions: Sequence[ActionRecord],
    viewers_before: float,
    viewers_after: float,
    share_after: float,
) -> list[Recollection]:
    """The memory after round `round_number`: the old one plus this round, cut to `MEMORY_ROUNDS`."""
    entry = Recollection(
        round=round_number,
        did=summarise_actions(actions),
        viewers_before=round(float(viewers_before), 1),
        viewers_after=round(float(viewers_after), 1),
        share_after=round(float(share_after), 4),
    )
    return [*memory, entry][-MEMORY_ROUNDS:]


def reflection_request(st: LiveStreamer, round_number: int, every: int, streamers: int) -> ReflectionRequest:
    """What streamer `st` reflects on after window round `round_number`: the window's mean ERN and its
    memory (the persona's character and survival motive give the reflection its voice)."""
    window = st.ern_history[-every:] if every > 0 else st.ern_history[-1:]
    return ReflectionRequest(
        stream_id=st.slot,
        name=st.name,
        round=round_number,
        character=st.persona.character or st.persona.seed,
        survival_motive=st.persona.survival_motive or "",
        window_ern=round(sum(window) / len(window), 1) if window else 0.0,
        rank=st.rank,
        streamers=streamers,
        memory=list(st.memory),
        previous=st.reflection,
        stall_seconds=st.last.stall_seconds,
        ern_terms=dict(st.last.ern_terms),
    )
