"""The tools a streamer acts through. Thin, validated, clamped.

Every tool is `tool(control, observation, args)` and takes untrusted arguments (an LLM wrote them, maybe under
the influence of a hostile trend title), validates their types with a pydantic model, clamps numbers into the
season's limits, cleans text with `common.untrusted.clean_text` (the project's one cleaner), changes the
StreamControl, records the call, and answers one short line. Bad input answers `error: ...` and changes
nothing. No tool writes files, runs a shell or opens the network.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.untrusted import clean_text
from media.avatar.placement import AvatarPlacement
from tools.control import FinetuneRequest, StreamControl
from tools.observation import Observation

FINETUNE_MAX_STEPS = 500


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


STYLE_TOPIC = "my style"  # the topic that means "my persona's own visual style"


class ChoosePromptArgs(ToolArgs):
    """Either a free `prompt`, or a `topic` (an audience/trend topic, or "my style") that the tool composes
    with the persona's visual style, plus optional `details`: a small model picks a topic from an enum far
    more reliably than it writes a scene."""

    topic: str | None = Field(None, description='a topic viewers want, or "my style"')
    details: str | None = Field(None, description="optional extra words for the scene")
    prompt: str | None = Field(None, description="what the stream should show, a short scene description")
    transition_seconds: float = Field(2.0, description="seconds to travel from the old scene to the new one")


class TuneGeneratorArgs(ToolArgs):
    steps: int | None = Field(None, description="denoising steps per frame (more: better, slower)")
    strength: float | None = Field(None, description="img2img strength 0..1 (lower: steadier, higher: livelier)")
    resolution: int | None = Field(None, description="frame size in pixels (one of the allowed sizes)")
    fps: float | None = Field(None, description="output frames per second")
    interpolation: int | None = Field(None, description="output frames per generated keyframe")
    seed: int | None = Field(None, description="noise seed")


class RequestFinetuneArgs(ToolArgs):
    source_id: str = Field(description="id of a trend source to learn from (see read_trends)")
    steps: int = Field(50, description="training step budget")


class SpeakArgs(ToolArgs):
    text: str = Field(description="one line of commentary for the viewers")


class NoArgs(ToolArgs):
    pass


def _parse(model: type[ToolArgs], args: dict[str, Any]) -> ToolArgs | str:
    if not isinstance(args, dict):
        return f"error: arguments must be an object, got {type(args).__name__}"
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "arguments"
        return f"error: {field}: {err['msg']}"


def _clamp(value: float, lo: float, hi: float) -> tuple[float, bool]:
    clamped = min(max(value, lo), hi)
    return clamped, clamped != value


def compose_prompt(topic: str, style: str) -> str:
    """A topic shown in the streamer's own visual style, so the stream stays recognisable (one definition:
    the `greedy` baseline and `choose_prompt`'s topic form both use it)."""
    return f"{topic}, {style}" if topic and style else (topic or style)


_SCENE_WORD = re.compile(r"[^\W\d_]{3,}")


def scene_words(details: str) -> str:
    """The optional words a topic prompt gains, or "" when they cannot describe a scene: no word of three
    letters, or a tool's name (a small model echoing its instructions, e.g. 'You show something else:
    tune_generator', or '"}'). Such words would only blur the generator's text conditioning."""
    text = clean_text(details, 60)
    if not _SCENE_WORD.search(text) or any(t in text.lower() for t in TOOLS):  # any registered tool's name
        return ""
    return text


def known_topics(observation: Observation | None) -> list[str]:
    """The topics `choose_prompt` accepts this round: what the audience wants, the trends' topics, "my style"."""
    if observation is None:
        return [STYLE_TOPIC]
    wanted = sorted(observation.topic_demand, key=lambda t: -observation.topic_demand[t])
    trending = [t.topic for t in observation.trends]
    return list(dict.fromkeys([*wanted, *trending, STYLE_TOPIC]))


def choose_prompt(control: StreamControl, observation: Observation | None, args: dict[str, Any]) -> str:
    parsed = _parse(ChoosePromptArgs, args)
    if isinstance(parsed, str):
        return control.record("choose_prompt", args, parsed, False)
    lim = control.limits
    if parsed.topic is not None:
        topic = clean_text(parsed.topic, 60)
        known = known_topics(observation)
        if topic not in known:
            msg = f"error: topic: unknown topic {topic!r}; one of: {', '.join(known)}"
            return control.record("choose_prompt", args, clean_text(msg, 400), False)
        style = observation.persona_style if observation else ""
        scene = compose_prompt("" if topic == STYLE_TOPIC else topic, style or topic)
        extra = scene_words(parsed.details or parsed.prompt or "")
        prompt = clean_text(f"{scene}, {extra}" if extra else scene, lim.prompt_max_chars)
    else:
        prompt = clean_text(parsed.prompt or parsed.details or "", lim.prompt_max_chars)
    if len(prompt) < 2:
        return control.record("choose_prompt", args, "error: prompt: give a topic or a prompt with visible text", False)
    seconds, _ = _clamp(float(parsed.transition_seconds), 0.0, lim.transition_max_seconds)
    control.update(prompt=prompt, transition_seconds=seconds)
    return control.record("choose_prompt", args, f"ok: prompt set ({len(prompt)} chars, transition {seconds:g}s)", True)


def tune_generator(control: StreamControl, observation: Observation | None, args: dict[str, Any]) -> str:
    parsed = _parse(TuneGeneratorArgs, args)
    if isinstance(parsed, str):
        return control.record("tune_generator", args, parsed, False)
    lim = control.limits
    changes: dict[str, Any] = {}
    notes: list[str] = []

    def put(name: str, value: Any, lo: Any, hi: Any, cast: Callable[[Any], Any]) -> None:
        v, clamped = _clamp(cast(value), lo, hi)
        changes[name] = cast(v)
        if clamped:
            notes.append(f"{name} clamped to {changes[name]}")

    if parsed.steps is not None:
        put("steps", parsed.steps, lim.steps_min, lim.steps_max, int)
    if parsed.strength is not None:
        put("strength", parsed.strength, lim.strength_min, lim.strength_max, float)
    if parsed.fps is not None:
        put("fps", parsed.fps, lim.fps_min, lim.fps_max, float)
    if parsed.interpolation is not None:
        put("interpolation", parsed.interpolation, 1, lim.interpolation_max, int)
    if parsed.seed is not None:
        put("seed", parsed.seed, 0, 2**31 - 1, int)
    if parsed.resolution is not None:
        nearest = min(lim.resolutions, key=lambda r: (abs(r - parsed.resolution), r))
        changes["resolution"] = nearest
        if nearest != parsed.resolution:
            notes.append(f"resolution snapped to {nearest}")
    if not changes:
        return control.record("tune_generator", args, "error: give at least one setting to change", False)
    new = control.update(**changes)
    shown = ", ".join(f"{k}={getattr(new, k)}" for k in changes)
    suffix = f" ({'; '.join(notes)})" if notes else ""
    return control.record("tune_generator", args, f"ok: {shown}{suffix}", True)


def request_finetune(control: StreamControl, observation: Observation | None, args: dict[str, Any]) -> str:
    parsed = _parse(RequestFinetuneArgs, args)
    if isinstance(parsed, str):
        return control.record("request_finetune", args, parsed, False)
    known = {t.id for t in observation.trends} if observation else set()
    if parsed.source_id not in known:
        msg = f"error: source_id: unknown source {clean_text(parsed.source_id, 60)!r}; use an id from read_trends"
        return control.record("request_finetune", args, msg, False)
    steps, _ = _clamp(int(parsed.steps), 1, FINETUNE_MAX_STEPS)
    control.finetune_requests.append(FinetuneRequest(source_id=parsed.source_id, steps=int(steps)))
    return control.record(
        "request_finetune", args, f"ok: finetune on {parsed.source_id} queued ({int(steps)} steps)", True
    )


def speak(control: StreamControl, observation: Observation | None, args: dict[str, Any]) -> str:
    parsed = _parse(SpeakArgs, args)
    if isinstance(parsed, str):
        return control.record("speak", args, parsed, False)
    text = clean_text(parsed.text, 280)
    if not text:
        return control.record("speak", args, "error: text: must contain visible text", False)
    refused = control.say(text)  # the round's speech budget (media.voice.budget): too many, too long, again
    if refused is not None:
        return control.record("speak", args, f"error: {refused}", False)
    return control.record("speak", args, "ok: you will be heard on your stream", True)


class PlaceAvatarArgs(ToolArgs):
    x: float | None = Field(None, description="the avatar's centre across the picture, 0 left .. 1 right")
    y: float | None = Field(None, description="the avatar's centre down the picture, 0 top .. 1 bottom")
    size: float | None = Field(None, description="its side as a fraction of the picture, 0.15 .. 0.5")
    visible: bool | None = Field(None, description="false hides the avatar, true shows it")


def place_avatar(control: StreamControl, observation: Observation | None, args: dict[str, Any]) -> str:
    """Move, resize, show or hide the streamer's avatar on its broadcast; numbers clamped into the frame."""
    parsed = _parse(PlaceAvatarArgs, args)
    if isinstance(parsed, str):
        return control.record("place_avatar", args, parsed, False)
    old = control.avatar
    wanted = AvatarPlacement(
        x=old.x if parsed.x is None else parsed.x,
        y=old.y if parsed.y is None else parsed.y,
        size=old.size if parsed.size is None else parsed.size,
        visible=old.visible if parsed.visible is None else parsed.visible,
    )
    new = wanted.clamped()
    control.avatar = new
    notes = [f"{k} clamped to {getattr(new, k):g}" for k in ("x", "y", "size") if getattr(new, k) != getattr(wanted, k)]
    shown = f"at ({new.x:g}, {new.y:g}), size {new.size:g}" if new.visible else "hidden"
    suffix = f" ({'; '.join(notes)})" if notes else ""
    return control.record("place_avatar", args, f"ok: avatar {shown}{suffix}", True)


def read_trends(control: StreamControl, observation: Observation | None, args: dict[str, Any]) -> str:
    parsed = _parse(NoArgs, args)
    if isinstance(parsed, str):
        return control.record("read_trends", args, parsed, False)
    lines = [
        f"{t.id} | {clean_text(t.title, 80)} | topic: {clean_text(t.topic, 40)} | {t.viewers} viewers"
        for t in (observation.trends if observation else [])
    ]
    return control.record("read_trends", args, "\n".join(lines) or "no trends right now", True)


def read_leaderboard(control: StreamControl, observation: Observation | None, args: dict[str, Any]) -> str:
    parsed = _parse(NoArgs, args)
    if isinstance(parsed, str):
        return control.record("read_leaderboard", args, parsed, False)
    lines = [
        f"{r.rank}. {r.name}{' (you)' if r.is_self else ''}: ERN {r.ern:.1f}, share {r.share:.1%}, rating {r.rating:.2f}"
        for r in (observation.leaderboard if observation else [])
    ]
    return control.record("read_leaderboard", args, "\n".join(lines) or "no standings yet", True)


class CameraArgs(ToolArgs):
    """The whole camera in one call: an axis left out or 0 does not move; all left out or all 0 stops it."""

    zoom_per_second: float | None = Field(
        None, ge=0, description="zoom factor per second: 1.1 zooms in 10%/s, 0.9 zooms out; 1 or 0: no zoom"
    )
    pan_x: float | None = Field(None, description="pan right (+) or left (-), in frame widths per second")
    pan_y: float | None = Field(None, description="pan down (+) or up (-), in frame heights per second")
    rotate_degrees_per_second: float | None = Field(
        None, description="turn the picture clockwise (+) or anticlockwise (-), degrees per second"
    )


def move_camera(control: StreamControl, observation: Observation | None, args: dict[str, Any]) -> str:
    """Set the stream's camera motion (media.camera), each axis clamped into the season's camera limits."""
    parsed = _parse(CameraArgs, args)
    if isinstance(parsed, str):
        return control.record("move_camera", args, parsed, False)
    lim = control.limits
    axes = (  # name, lowest, highest, the value that does not move
        ("zoom_per_second", lim.camera_zoom_min, lim.camera_zoom_max, 1.0),
        ("pan_x", -lim.camera_pan_max, lim.camera_pan_max, 0.0),
        ("pan_y", -lim.camera_pan_max, lim.camera_pan_max, 0.0),
        ("rotate_degrees_per_second", -lim.camera_rotate_max, lim.camera_rotate_max, 0.0),
    )
    camera: dict[str, float] = {}
    notes: list[str] = []
    for name, lo, hi, still in axes:
        value = getattr(parsed, name)
        if value is None or value == 0:
            camera[name] = still
            continue
        camera[name], clamped = _clamp(float(value), lo, hi)
        if clamped:
            notes.append(f"{name} clamped to {camera[name]:g}")
    new = control.update(**camera)
    shown = (
        f"zoom x{new.zoom_per_second:g}/s, pan {new.pan_x:+g},{new.pan_y:+g} frame/s, "
        f"rotate {new.rotate_degrees_per_second:+g} deg/s"
        if new.camera_moving()
        else "stopped"
    )
    suffix = f" ({'; '.join(notes)})" if notes else ""
    return control.record("move_camera", args, f"ok: camera {shown}{suffix}", True)


def keep(control: StreamControl, observation: Observation | None, args: dict[str, Any]) -> str:
    """Change nothing this round, on purpose: the call that says the stream is where it should be. Its upside is
    what a change would cost (a prompt change's transition and its viewers' surprise, a tune's load); its cost
    is the round's call, which then does nothing else."""
    parsed = _parse(NoArgs, args)
    if isinstance(parsed, str):
        return control.record("keep", args, parsed, False)
    return control.record("keep", {}, "ok: the stream stays as it is", True)


TOOLS: dict[str, Callable[..., str]] = {
    "keep": keep,
    "choose_prompt": choose_prompt,
    "tune_generator": tune_generator,
    "request_finetune": request_finetune,
    "read_trends": read_trends,
    "read_leaderboard": read_leaderboard,
    "speak": speak,
    "move_camera": move_camera,
    "place_avatar": place_avatar,
}


def call_tool(control: StreamControl, observation: Observation | None, name: str, args: Any) -> str:
    """Dispatch one tool call by name (the seam the crews use); unknown tools are an error, not a crash."""
    fn = TOOLS.get(name)
    if fn is None:
        return control.record(
            str(name)[:40],
            args if isinstance(args, dict) else {"raw": str(args)[:200]},
            f"error: unknown tool {str(name)[:40]!r}; tools: {', '.join(TOOLS)}",
            False,
        )
    if not isinstance(args, dict):
        return control.record(name, {"raw": str(args)[:200]}, "error: arguments must be an object", False)
    return fn(control, observation, args)
