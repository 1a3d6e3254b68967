"""move_camera: the whole camera in one call, clamped into the season's camera limits; bad input is one clear
error line that changes nothing; every call is recorded; a failed decision's camera is rolled back."""

import math

import pytest

from media.settings import GeneratorLimits, StreamSettings
from tools.control import StreamControl
from tools.stream_tools import TOOLS, CameraArgs, call_tool

CAMERA = ("zoom_per_second", "pan_x", "pan_y", "rotate_degrees_per_second")


@pytest.fixture
def control():
    return StreamControl("s01", StreamSettings(prompt="forest", fps=4.0), GeneratorLimits())


def camera(control: StreamControl) -> tuple[float, ...]:
    s = control.current_settings()
    return tuple(getattr(s, k) for k in CAMERA)


def test_registered_and_sets_the_camera(control):
    assert TOOLS["move_camera"] and set(CameraArgs.model_fields) == set(CAMERA)
    out = call_tool(control, None, "move_camera", {"zoom_per_second": 1.1, "pan_x": -0.1})
    assert out == "ok: camera zoom x1.1/s, pan -0.1,+0 frame/s, rotate +0 deg/s"
    assert camera(control) == (1.1, -0.1, 0.0, 0.0)
    # The camera is on the settings the engine reads and the observation shows (model_dump).
    assert {k: control.current_settings().model_dump()[k] for k in CAMERA} == dict(zip(CAMERA, camera(control)))
    rec = control.actions[-1]
    assert (rec.tool, rec.args, rec.result, rec.ok) == (
        "move_camera",
        {"zoom_per_second": 1.1, "pan_x": -0.1},
        out,
        True,
    )


def test_each_call_sets_the_whole_camera_and_zeros_stop_it(control):
    call_tool(control, None, "move_camera", {"zoom_per_second": 1.2, "rotate_degrees_per_second": 10})
    call_tool(control, None, "move_camera", {"pan_y": 0.05})  # left out = that axis does not move
    assert camera(control) == (1.0, 0.0, 0.05, 0.0)
    out = call_tool(control, None, "move_camera", dict.fromkeys(CAMERA, 0))  # zoom 0 = no zoom
    assert out == "ok: camera stopped" and not control.current_settings().camera_moving()
    call_tool(control, None, "move_camera", {"pan_x": 0.1})
    assert call_tool(control, None, "move_camera", {}) == "ok: camera stopped"
    assert camera(control) == (1.0, 0.0, 0.0, 0.0)


def test_clamps_into_the_limits(control):
    lim = control.limits
    out = call_tool(
        control,
        None,
        "move_camera",
        {"zoom_per_second": 50, "pan_x": -3, "pan_y": 1e9, "rotate_degrees_per_second": 720},
    )
    assert out.startswith("ok: camera") and out.count("clamped") == 4
    assert camera(control) == (lim.camera_zoom_max, -lim.camera_pan_max, lim.camera_pan_max, lim.camera_rotate_max)
    call_tool(control, None, "move_camera", {"zoom_per_second": 0.01, "rotate_degrees_per_second": -1000})
    assert camera(control) == (lim.camera_zoom_min, 0.0, 0.0, -lim.camera_rotate_max)
    narrow = StreamControl("s02", StreamSettings(), GeneratorLimits(camera_pan_max=0.0, camera_zoom_max=1.0))
    out = call_tool(narrow, None, "move_camera", {"pan_x": 0.2, "zoom_per_second": 1.2})
    assert out == "ok: camera stopped (zoom_per_second clamped to 1; pan_x clamped to 0)"
    assert not narrow.current_settings().camera_moving()


@pytest.mark.parametrize(
    "args",
    [
        {"zoom_per_second": -1.1},
        {"pan_x": "left"},
        {"pan_y": math.nan},
        {"rotate_degrees_per_second": math.inf},
        {"zoom_per_second": [1.1]},
        {"tilt": 3},
        "zoom in",
    ],
)
def test_bad_input_is_one_clear_error_and_changes_nothing(control, args):
    call_tool(control, None, "move_camera", {"zoom_per_second": 1.1, "pan_x": 0.1})
    before = control.current_settings()
    out = call_tool(control, None, "move_camera", args)
    assert out.startswith("error: ") and "\n" not in out and len(out) < 200
    assert control.current_settings() == before
    assert (
        control.actions[-1].tool == "move_camera" and not control.actions[-1].ok and control.actions[-1].result == out
    )


def test_a_failed_decision_rolls_the_camera_back(control):
    mark = control.mark()
    call_tool(control, None, "move_camera", {"zoom_per_second": 1.2})
    control.rollback(mark)
    assert not control.current_settings().camera_moving()
