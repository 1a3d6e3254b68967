"""The TUI's read side without the app: the fold of the event log, helpers, the half-block renderer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console

from tui.format import sparkline
from tui.model import FeedItem, category_of
from tui.poller import SeasonSource
from tui.store import ArenaData, DatabaseMissing, resolve_run_dir
from tui.widgets.feed import FeedFilter
from tui.widgets.thumbnail import HalfBlockImage


def test_sparkline():
    assert sparkline([]) == ""
    assert sparkline([1, 1, 1]) == "▄▄▄"
    assert sparkline([0, 7]) == "▁█"
    assert len(sparkline(range(20), 8)) == 8


def test_categories():
    assert category_of("decision") == "decision"
    assert category_of("finetune_started") == "finetune"
    assert category_of("streamer_spawned") == "spawn"
    assert category_of("season_finished") == "season"
    assert category_of("brand_new_kind") == "other"


def test_feed_filter():
    item = FeedItem(1, 2, "stall", "stall", 3, "s03", "Forest Monk", "stalled 1×", ok=False)
    assert FeedFilter().matches(item)
    assert not FeedFilter(categories=["decision"]).matches(item)
    assert FeedFilter(text="forest").matches(item) and not FeedFilter(text="glitch").matches(item)
    assert FeedFilter(errors_only=True).matches(item)


def test_missing_database_is_never_created(tmp_path):
    path = tmp_path / "none.db"
    with pytest.raises(DatabaseMissing):
        ArenaData(str(path))
    res = SeasonSource(str(path), None).poll()
    assert res.model is None and "does not exist" in res.problem
    assert not path.exists()


def test_run_dir_relative_to_the_database(tmp_path, monkeypatch):
    (tmp_path / "runs" / "s").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert resolve_run_dir("runs/s", str(tmp_path / "arena.db")) == str(tmp_path / "runs" / "s")
    assert resolve_run_dir("/abs/dir", "x.db") == "/abs/dir"


def test_fold_tracks_lineage_settings_and_decisions(season_db):
    db_path, w = season_db
    src = SeasonSource(db_path, None)
    model = src.poll().model
    src.close()
    assert model.info.name == "test-season" and model.info.status == "finished"
    kids = [s for s in model.streamers() if s.parent_id is not None]
    assert kids and all(k.origin == "exploit" and k.mutations for k in kids)
    for k in kids:
        assert k.id in model.streamer(k.parent_id).children
    gone = [s for s in model.streamers() if s.status == "relegated"]
    assert [s.relegated_round for s in gone] == [3, 6]
    sid = model.live_ids()[0]
    hist = model.settings_history(sid)
    assert hist[0].round == model.streamer(sid).born_round
    assert all(h.changed for h in hist)
    decisions = model.decisions(sid)
    assert decisions and all(d.round >= 1 for d in decisions)
    assert any(a.ok is False for s in model.streamers() for d in model.decisions(s.id) for a in d.actions)


def test_polling_is_incremental(live_season):
    db_path, w, writer = live_season
    src = SeasonSource(db_path, "live")
    model = src.poll().model
    before, version = model.event_count, model.version
    assert not src.poll().changed  # nothing new: nothing to redraw
    writer.step()
    assert writer.wait_for(3)
    res = src.poll()
    assert res.changed and model.last_round == 3 and model.event_count > before and model.version > version
    src.close()


def test_half_block_renderer():
    img = Image.new("RGB", (2, 2))
    img.putpixel((0, 0), (255, 0, 0))
    img.putpixel((0, 1), (0, 0, 255))
    img.putpixel((1, 0), (0, 255, 0))
    img.putpixel((1, 1), (255, 255, 255))
    console = Console(width=2, color_system="truecolor", file=open(os.devnull, "w"))  # noqa: SIM115  (lives as long as the console)
    lines = console.render_lines(HalfBlockImage(img, 2, 1), console.options.update_width(2))
    segs = [s for s in lines[0] if s.text.strip()]
    assert "".join(s.text for s in segs) == "▀▀"
    assert segs[0].style.color.triplet == (255, 0, 0) and segs[0].style.bgcolor.triplet == (0, 0, 255)
    assert segs[1].style.color.triplet == (0, 255, 0) and segs[1].style.bgcolor.triplet == (255, 255, 255)


def test_detect_image_backend_without_a_terminal(monkeypatch):
    from tui.app import detect_image_backend

    assert detect_image_backend() == "halfblock"  # pytest's stdout is not a terminal
    monkeypatch.setenv("ARENA_TUI_IMAGES", "halfblock")
    assert detect_image_backend() == "halfblock"


def test_fixture_thumbnails_exist(season_db):
    db_path, w = season_db
    assert len(list(Path(w.run_dir, "thumbs").rglob("*.png"))) == 6 * 7
