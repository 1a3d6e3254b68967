"""espeak-ng (the Debian package the Makefile installs) as the fallback voice, one process per line.

Why a subprocess and WAV on stdout: no Python binding to pin, and the Debian binary is what `make run`
installs; a line is short, so a process per line costs little next to the stream.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np

from media.voice.profile import VoiceProfile
from media.voice.speech import Speech, pitched

TIMEOUT_SECONDS = 20.0


class EspeakUnavailable(RuntimeError):
    pass


def espeak_path() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise EspeakUnavailable("espeak-ng is not installed (Debian package espeak-ng; `make run` installs it)")
    return path


def espeak_speak(profile: VoiceProfile, text: str) -> Speech:
    pitch = int(min(max(50 * profile.pitch, 0), 99))
    cmd = [espeak_path(), "--stdout", "-v", f"en-us+{profile.espeak_variant}", "-s", str(profile.espeak_speed)]
    cmd += ["-p", str(pitch), "--", text]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_SECONDS, check=True).stdout
        with wave.open(io.BytesIO(out)) as w:
            rate, width, frames = w.getframerate(), w.getsampwidth(), w.readframes(w.getnframes())
    except (subprocess.SubprocessError, OSError, wave.Error, EOFError) as exc:
        raise EspeakUnavailable(f"espeak-ng failed: {exc}") from exc
    if width != 2:
        raise EspeakUnavailable(f"espeak-ng wrote {8 * width}-bit audio; expected 16-bit")
    audio = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return Speech(text, pitched(audio, rate, 1.0), "espeak")
