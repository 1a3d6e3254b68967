"""The camera reaches the policies: a streamer's observation carries its camera motion and the season's camera
limits, as they stand after its move_camera call."""

from __future__ import annotations

from arena.round import observe, zone_after_round
from tests.arena.test_round_phases import config, streamer
from tools.stream_tools import call_tool


def test_observation_shows_the_camera_and_its_limits():
    live = [streamer(1, [10.0]), streamer(2, [5.0])]
    cfg = config()
    assert call_tool(live[0].control, None, "move_camera", {"zoom_per_second": 1.1, "pan_x": -0.2}).startswith("ok")
    zone = zone_after_round(live, cfg, 1)
    obs = {st.streamer_id: observe(st, live, 2, cfg, [], zone) for st in live}
    moving, still = obs[1].settings, obs[2].settings
    assert (moving["zoom_per_second"], moving["pan_x"], moving["pan_y"], moving["rotate_degrees_per_second"]) == (
        1.1,
        -0.2,
        0.0,
        0.0,
    )
    assert (still["zoom_per_second"], still["pan_x"]) == (1.0, 0.0)
    lim = obs[1].limits
    assert (lim["camera_zoom_min"], lim["camera_zoom_max"], lim["camera_pan_max"], lim["camera_rotate_max"]) == (
        0.8,
        1.25,
        0.25,
        30.0,
    )
