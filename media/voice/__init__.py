"""Streamers' voices: a persona's voice profile, speech synthesis (Piper, espeak-ng fallback), the per-round
speech budget, the spoken lines' place on the stream clock, their loudness envelope and WebVTT captions.

Media layer: nothing here knows personas, tools or the arena; a persona's voice reaches it as plain values
(`VoiceProfile`).
"""
