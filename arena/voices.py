"""The season's voices: each round's spoken lines on the stream clock, heard on the broadcast, recorded, and
weighed by the audience; a face for every streamer that is broadcast.

Why here: the arena knows personas (their voice words and voice file) and the stream clock; media knows
only plain values (`VoiceProfile`, `SpokenLine`). After the decisions, `after_decisions` drains each
streamer's accepted lines (`StreamControl.drain_speech`, the budget already applied by the `speak` tool),
queues them from the round's start on the stream clock behind anything still playing, hands them to the
broadcast's voice desk (synthesis on its own thread), and returns one `spoke` event per streamer that spoke.
The audience's `voice` term reads `commentary` (share of the round heard) and `spam` (lines the budget
refused). In turn mode the stream clock is the cost model's, so the schedule replays exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from media.avatar.portrait import load_portrait, make_portrait, save_portrait
from media.broadcast import Broadcaster
from media.voice.config import VoiceSection
from media.voice.profile import VoiceProfile, voice_profile
from media.voice.synth import check_profile
from media.voice.timeline import place_lines, spoken_seconds
from policies.decide import DecisionOutcome

log = logging.getLogger(__name__)

REFUSALS = ("speech budget", "too long", "said already")  # the budget's answers (media.voice.budget.refusal)
SPAM_FULL = 3.0  # refused lines a round at which the spam value is 1


class SeasonVoices:
    def __init__(self, config: VoiceSection, run_dir: Path, round_seconds: float):
        self.config = config
        self.run_dir = Path(run_dir)
        self.round_seconds = round_seconds
        self.busy_until: dict[str, float] = {}  # slot -> stream second its last line ends
        self.commentary: dict[str, float] = {}  # this round's values for the audience
        self.spam: dict[str, float] = {}
        self.broadcaster: Broadcaster | None = None
        self.generator = None  # the stream generator that draws portraits (the engine's)
        self.portrait_resolution = 64
        self.portrait_steps = 2

    # ---- who speaks how ---------------------------------------------------------------------------------------
    def profile(self, st) -> VoiceProfile:
        return voice_profile(st.name, st.persona.voice, st.persona.voice_file, self.config.engine)

    def check_personas(self, personas: Iterable) -> None:
        """Every persona's voice file exists (one FieldError line naming it), before anything is stored."""
        for p in personas:
            if p.voice_file:
                try:
                    check_profile(voice_profile(p.display_name, p.voice, p.voice_file))
                except Exception as exc:
                    raise type(exc)("voice_file", f"persona {p.display_name!r}: {exc.problem}") from None

    # ---- a face for every broadcast stream ----------------------------------------------------------------------
    def attach(self, st) -> None:
        """At spawn (and resume): the portrait from the stream's own generator, stored under the run folder."""
        b = self.broadcaster
        if b is None or self.config.avatar == "none":
            return
        path = self.run_dir / "avatars" / f"{st.slot}.png"
        try:
            if path.is_file():
                image = load_portrait(path)
            else:
                image = self._portrait(st)
                save_portrait(image, self.run_dir, st.slot)
        except Exception as exc:  # noqa: BLE001 - a face is decoration: the stream goes on without one
            log.warning("no portrait for %s: %s", st.slot, f"{type(exc).__name__}: {exc}"[:200])
            return
        b.set_face(st.slot, image, seed=st.streamer_id)
        b.place_avatar(st.slot, st.control.avatar)

    def _portrait(self, st) -> np.ndarray:
        style = st.persona.visual_style or st.persona.seed
        if self.generator is None:  # an engine without a local generator (Ray): a plain face on its colour
            rgb = np.frombuffer(style.encode()[:3].ljust(3, b"\x80"), np.uint8)
            return np.broadcast_to(rgb, (64, 64, 3)).copy()
        seed = st.control.current_settings().seed
        return make_portrait(self.generator, style, self.portrait_resolution, self.portrait_steps, seed)

    # ---- a round's lines -----------------------------------------------------------------------------------------
    def after_decisions(
        self, r: int, live: Iterable, outcomes: Iterable[DecisionOutcome], round_start: float
    ) -> list[tuple[str, dict[str, Any]]]:
        refused = {o.stream_id: sum(_is_refusal(a) for a in o.actions) for o in outcomes}
        events = []
        self.commentary, self.spam = {}, {}
        end = round_start + self.round_seconds
        for st in live:
            texts = st.control.drain_speech()
            profile = self.profile(st)
            lines = place_lines(texts, round_start, self.busy_until.get(st.slot, 0.0), profile.length_scale)
            if lines:
                self.busy_until[st.slot] = lines[-1].end
            earlier = self.busy_until.get(st.slot, 0.0) if not lines else 0.0
            heard = spoken_seconds(lines, round_start, end) + max(0.0, min(earlier, end) - round_start)
            self.commentary[st.slot] = min(1.0, heard / self.round_seconds)
            self.spam[st.slot] = min(1.0, refused.get(st.slot, 0) / SPAM_FULL)
            if st.control.avatar is not None and self.broadcaster is not None:
                self.broadcaster.place_avatar(st.slot, st.control.avatar)
            if not lines and not refused.get(st.slot):
                continue
            events.append(
                (
                    "spoke",
                    {
                        "streamer_id": st.streamer_id,
                        "slot": st.slot,
                        "lines": [line.to_json() for line in lines],
                        "refused": refused.get(st.slot, 0),
                    },
                )
            )
            if self.broadcaster is not None and self.config.enabled:
                for line in lines:
                    self.broadcaster.say(st.slot, profile, line.text)
        return events

    def forget(self, slot: str) -> None:
        self.busy_until.pop(slot, None)

    def state_dict(self) -> dict[str, Any]:
        return {"busy_until": dict(self.busy_until)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.busy_until = dict(state.get("busy_until", {}))


def _is_refusal(action) -> bool:
    return action.tool == "speak" and not action.ok and any(k in action.result for k in REFUSALS)
