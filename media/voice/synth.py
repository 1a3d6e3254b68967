"""One door to speech: the profile's engine, falling back to espeak-ng when Piper is missing or fails.

Why fall back instead of failing: a streamer's line is worth more spoken by a plainer voice than dropped; the
first fallback is logged once per reason. A user's voice file that does not exist is not a fallback case: it
is the user's mistake, one clear line (`FieldError`), raised when the season starts (`check_profile`).
"""

from __future__ import annotations

import logging

from media.voice.espeak_voice import EspeakUnavailable, espeak_speak
from media.voice.piper_voice import PiperUnavailable, check_voice_file, piper_speak
from media.voice.profile import VoiceProfile
from media.voice.speech import Speech

log = logging.getLogger(__name__)
_WARNED: set[str] = set()


class VoiceUnavailable(RuntimeError):
    """Neither engine can speak (no piper-tts and no espeak-ng)."""


def check_profile(profile: VoiceProfile) -> None:
    """Raise the one-line FieldError for a user's voice file that is not there (at start, not mid-season)."""
    if profile.model_path:
        check_voice_file(profile.model_path)


def synthesize(profile: VoiceProfile, text: str) -> Speech:
    if profile.engine == "piper":
        try:
            return piper_speak(profile, text)
        except PiperUnavailable as exc:
            reason = str(exc)
            if reason not in _WARNED:
                _WARNED.add(reason)
                log.warning("%s; speaking with espeak-ng instead", reason)
    try:
        return espeak_speak(profile, text)
    except EspeakUnavailable as exc:
        raise VoiceUnavailable(f"no voice can speak: {exc}") from exc
