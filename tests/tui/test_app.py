"""Pilot tests of the arena TUI: navigation, live updates, replay, feed filters, missing/empty data."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.db import Database
from tests.tui.conftest import FINISHED_ROUNDS, run, wait_loaded, wait_until
from tui.app import ArenaApp, run_tui
from tui.poller import SeasonSource
from tui.screens.charts import ChartsScreen
from tui.screens.feed import FeedScreen
from tui.screens.help import HelpScreen
from tui.screens.leaderboard import LeaderboardScreen
from tui.screens.previews import PreviewsScreen
from tui.screens.replay import ReplayScreen
from tui.screens.seasons import SeasonSwitcher
from tui.screens.streamer import StreamerScreen
from tui.widgets.feed import FeedTable
from tui.widgets.leaderboard import LeaderboardTable
from tui.widgets.thumbnail import PreviewCard, Thumbnail

SIZES = [(80, 24), (140, 40)]


def stored_round(db_path: str, season_id: int, r: int) -> dict[int, dict]:
    """What the season runner stored for round r (StreamStat rows), to compare with what the TUI derived from
    the event log."""
    db = Database(db_path, create=False)
    try:
        return {
            s.streamer_id: {
                "rank": s.rank,
                "ern": s.ern_mean,
                "share": s.share,
                "rating": s.rating_mu - 3 * s.rating_sigma,
                "stalls": s.stall_count,
            }
            for s in db.stats(season_id, round=r)
        }
    finally:
        db.engine.dispose()


def assert_table_shows(table: LeaderboardTable, stored: dict[int, dict]) -> None:
    """Every streamer scored in that round is shown with the stored numbers (replacements spawned after the
    round show as `new`, without numbers)."""
    scored = [i for i in table.streamer_ids if table.cell_text(i, "status") != "new"]
    assert sorted(scored) == sorted(stored)
    for sid, row in stored.items():
        assert table.cell_text(sid, "rank") == str(row["rank"])
        assert table.cell_text(sid, "ern") == f"{row['ern']:.1f}"
        assert table.cell_text(sid, "share") == f"{row['share']:.1%}"
        assert table.cell_text(sid, "rating") == f"{row['rating']:.2f}"
        assert table.cell_text(sid, "stalls") == str(row["stalls"])


# ---- navigation -----------------------------------------------------------------------------------------------


def test_navigation_between_screens(season_db):
    db_path, w = season_db

    async def go():
        app = ArenaApp(db_path, poll_interval=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_loaded(pilot, FINISHED_ROUNDS)
            assert isinstance(app.screen, LeaderboardScreen)
            assert app.sub_title == "test-season"
            # sorted by rank; after the last round no window is left, so nobody is in the relegation zone
            # (tests/tui/test_fold.py checks the zone of the rounds before); sortable by any column
            table = app.screen.query_one(LeaderboardTable)
            ranks = [int(table.cell_text(i, "rank")) for i in table.streamer_ids]
            assert ranks == sorted(ranks)
            statuses = [table.cell_text(i, "status") for i in table.streamer_ids]
            assert "zone" not in statuses and set(statuses) == {"live"}
            table.sort_by("rating")  # descending by default
            ratings = [float(table.cell_text(i, "rating")) for i in table.streamer_ids]
            assert ratings == sorted(ratings, reverse=True)
            table.sort_by("rating")  # again: reversed
            ratings = [float(table.cell_text(i, "rating")) for i in table.streamer_ids]
            assert ratings == sorted(ratings)
            await pilot.press("o")  # cycle to the next column
            assert table.sort_column == "trend"
            table.sort_by("rank", reverse=False)
            for key, cls in (
                ("2", ChartsScreen),
                ("3", PreviewsScreen),
                ("4", FeedScreen),
                ("5", ReplayScreen),
                ("1", LeaderboardScreen),
            ):
                await pilot.press(key)
                await pilot.pause()
                assert isinstance(app.screen, cls), key
            # enter on the first row opens the leader's detail; escape comes back
            table = app.screen.query_one(LeaderboardTable)
            leader = table.streamer_ids[0]
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, StreamerScreen))
            assert app.screen.streamer_id == leader
            for tab, pane in (("d", "decisions"), ("l", "lineage")):
                await pilot.press(tab)
                await pilot.pause()
                assert app.screen.query_one("#detail-tabs").active == pane
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, LeaderboardScreen)
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.press("s")
            await pilot.pause()
            assert isinstance(app.screen, SeasonSwitcher)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, LeaderboardScreen)
            # previews: one card per live streamer, each with its thumbnail file
            await pilot.press("3")
            await wait_until(pilot, lambda: len(app.screen.query(PreviewCard)) == 6, what="6 preview cards")
            await pilot.pause(0.1)
            paths = [c.query_one(Thumbnail).path for c in app.screen.query(PreviewCard)]
            assert all(p and Path(p).is_file() for p in paths)
            await pilot.click(PreviewCard)
            await wait_until(pilot, lambda: isinstance(app.screen, StreamerScreen))

    run(go())


# ---- live updates -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_live_updates_while_the_season_runs(live_season, size):
    db_path, w, writer = live_season

    async def go():
        app = ArenaApp(db_path, poll_interval=0.05)
        async with app.run_test(size=size) as pilot:
            await wait_loaded(pilot, 2)
            table = app.screen.query_one(LeaderboardTable)
            assert_table_shows(table, stored_round(db_path, w.season_id, 2))
            row_keys = {k.value: k for k in table.rows}
            rebuilt = []
            original_clear = table.clear
            table.clear = lambda *a, **k: (rebuilt.append(1), original_clear(*a, **k))[1]  # type: ignore[method-assign]
            for r in (3, 4):
                writer.step()
                assert writer.wait_for(r)
                await wait_until(pilot, lambda: app.model.last_round >= r, what=f"round {r}")
                await pilot.pause(0.1)
                assert_table_shows(table, stored_round(db_path, w.season_id, r))
                assert f"Round {r}" in str(app.screen.query_one("#board-caption").render())
                if r == 3:  # a relegation window: the relegated streamer is out, its replacement new
                    statuses = {sid: table.cell_text(sid, "status") for sid in table.streamer_ids}
                    assert list(statuses.values()).count("out") == 1
                    new_id = next(s for s, v in statuses.items() if v == "new")
                    assert app.model.streamer(new_id).origin == "exploit"
            assert not rebuilt, "the leaderboard was rebuilt instead of updated in place"
            # rows that stayed are the same DataTable rows (updated cell by cell)
            survivors = [k for k in row_keys if k in {x.value for x in table.rows}]
            assert survivors and all(row_keys[k] in table.rows for k in survivors)
            # the feed got the new rounds' events, the replay scrubber the new rounds
            await pilot.press("4")
            await pilot.pause()
            assert any(i.round == 4 for i in app.screen.query_one(FeedTable).items)
            await pilot.press("5")
            await pilot.pause()
            assert app.screen.scrubber.rounds == [1, 2, 3, 4]

    run(go())


def test_reader_never_blocks_the_writer(live_season):
    db_path, w, writer = live_season

    async def go():
        app = ArenaApp(db_path, poll_interval=0.01)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_loaded(pilot, 2)
            writer.step(6)  # back to back, while the app polls every 10 ms
            assert writer.wait_for(8, timeout=20)
            await wait_until(pilot, lambda: app.model.last_round == 8 and app.model.info.status == "finished")
            assert writer.error is None
            assert app.problem is None

    run(go())


# ---- replay -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_replay_seek_shows_that_rounds_table(season_db, size):
    db_path, w = season_db

    async def go():
        app = ArenaApp(db_path, poll_interval=0.1)
        async with app.run_test(size=size) as pilot:
            await wait_loaded(pilot, FINISHED_ROUNDS)
            await pilot.press("5")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ReplayScreen)
            table = screen.query_one("#replay-table", LeaderboardTable)
            assert screen.shown_round == FINISHED_ROUNDS
            assert_table_shows(table, stored_round(db_path, w.season_id, FINISHED_ROUNDS))
            for r in (1, 3, 5):
                screen.seek(r)
                await pilot.pause()
                assert screen.shown_round == r
                assert_table_shows(table, stored_round(db_path, w.season_id, r))
                feed = screen.query_one("#replay-feed", FeedTable)
                assert feed.items and all(i.round == r for i in feed.items)
            # round 3 is a relegation window: the relegated streamer is shown as out
            screen.seek(3)
            await pilot.pause()
            assert [table.cell_text(i, "status") for i in table.streamer_ids].count("out") == 1
            # keys: home, right, right -> round 3; end -> last
            await pilot.press("home", "right", "right")
            await pilot.pause()
            assert screen.shown_round == 3
            await pilot.press("end")
            await pilot.pause()
            assert screen.shown_round == FINISHED_ROUNDS
            # clicking the bar seeks
            scrub = screen.scrubber
            await pilot.click(scrub, offset=(scrub._bar_start + 1, 0))
            await pilot.pause()
            assert screen.shown_round == 1

    run(go())


def test_replay_play_pause_and_speed(season_db):
    db_path, w = season_db

    async def go():
        app = ArenaApp(db_path, poll_interval=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_loaded(pilot, FINISHED_ROUNDS)
            await pilot.press("5")
            await pilot.pause()
            screen = app.screen
            for _ in range(3):
                await pilot.press("plus")  # 1x -> 8x
            assert screen.scrubber.speed == 8.0
            await pilot.press("space")  # at the end: restarts from round 1
            assert screen.scrubber.playing
            await wait_until(pilot, lambda: screen.shown_round >= 3, timeout=5, what="playback")
            await pilot.press("space")
            assert not screen.scrubber.playing
            stopped_at = screen.shown_round
            await pilot.pause(0.4)
            assert screen.shown_round == stopped_at
            await pilot.press("minus")
            assert screen.scrubber.speed == 4.0
            # played to the end, it stops by itself
            await pilot.press("space")
            await wait_until(pilot, lambda: not screen.scrubber.playing, timeout=5, what="end of playback")
            assert screen.shown_round == FINISHED_ROUNDS

    run(go())


def test_replay_rebuilds_every_round_from_the_log_alone(season_db):
    """The fold of the event log gives exactly the standings the runner stored, for every round."""
    db_path, w = season_db
    src = SeasonSource(db_path, "test-season")
    model = src.poll().model
    src.close()
    assert model is not None and model.rounds() == list(range(1, FINISHED_ROUNDS + 1))
    for r in model.rounds():
        stored = stored_round(db_path, w.season_id, r)
        table = model.table(r)
        assert {row.streamer_id for row in table.rows} == set(stored)
        for row in table.rows:
            s = stored[row.streamer_id]
            assert row.rank == s["rank"]
            assert row.ern == pytest.approx(s["ern"])
            assert row.share == pytest.approx(s["share"])
            assert row.rating == pytest.approx(s["rating"], abs=1e-9)
            assert (row.thumbnail is not None) and Path(row.thumbnail).is_file()


# ---- feed filters -------------------------------------------------------------------------------------------------


def test_event_feed_filters(season_db):
    db_path, w = season_db

    async def go():
        app = ArenaApp(db_path, poll_interval=0.1)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_loaded(pilot, FINISHED_ROUNDS)
            await pilot.press("4")
            await pilot.pause()
            feed = app.screen.query_one(FeedTable)
            total = app.model.feed_len()
            assert feed.row_count == total
            kinds = {i.kind for i in feed.items}
            assert {
                "decision",
                "stall",
                "relegated",
                "streamer_spawned",
                "round_scored",
                "finetune_started",
                "season_finished",
            } <= kinds
            await pilot.press("d")  # decisions off
            assert feed.row_count and not any(i.kind == "decision" for i in feed.items)
            await pilot.press("d", "l")  # decisions on, stalls off
            assert any(i.kind == "decision" for i in feed.items)
            assert not any(i.kind == "stall" for i in feed.items)
            await pilot.press("a", "e")  # all, then errors only
            assert feed.items and all(not i.ok for i in feed.items)
            assert {i.kind for i in feed.items} >= {"stall", "relegated"}
            await pilot.press("a", "f")  # finetunes off: the unknown kind is a finetune, shown generically
            assert not any(i.kind.startswith("finetune") for i in feed.items)
            await pilot.press("a", "slash")
            await pilot.press(*"glitch")
            await pilot.pause()
            assert feed.items and all("glitch" in f"{i.name} {i.summary}".lower() for i in feed.items)
            await pilot.press("enter", "escape")
            await pilot.press("a")
            assert feed.row_count == total
            # new events keep the filter: the feed only appends matching items
            await pilot.press("r")
            assert not any(i.kind == "round_scored" for i in feed.items)

    run(go())


# ---- missing, empty, broken -------------------------------------------------------------------------------------------


def test_run_tui_missing_database_exits_2(tmp_path, capsys):
    missing = tmp_path / "nope.db"
    assert run_tui(str(missing)) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and str(missing) in err and len(err.strip().splitlines()) == 1
    assert not missing.exists()  # the TUI never creates a database


def test_run_tui_unknown_season_exits_2(season_db, capsys):
    db_path, w = season_db
    assert run_tui(db_path, "no-such-season") == 2
    assert "no season 'no-such-season'" in capsys.readouterr().err


def test_app_with_missing_database_shows_a_message_and_waits(tmp_path):
    missing = tmp_path / "later.db"

    async def go():
        app = ArenaApp(str(missing), poll_interval=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.problem is not None)
            assert "does not exist" in app.problem
            assert app.screen.query_one("#problem").display
            await pilot.press("2", "3", "4", "5", "1")  # every screen copes
            assert not missing.exists()
            # the database appears (a season starts): the app attaches by itself
            from tests.tui.season_fixture import SeasonWriter

            w = SeasonWriter(missing, tmp_path / "runs" / "late", name="late", rounds=3)
            w.write_round()
            await wait_until(pilot, lambda: app.model is not None and app.model.last_round == 1)
            await pilot.pause(0.1)
            assert app.problem is None
            assert not app.screen.query_one("#problem").display
            assert app.screen.query_one(LeaderboardTable).row_count == 6
            w.close()

    run(go())


def test_database_without_seasons(tmp_path):
    path = tmp_path / "blank.db"
    Database(str(path)).engine.dispose()  # tables, no season

    async def go():
        app = ArenaApp(str(path), poll_interval=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.problem is not None)
            assert "no seasons" in app.problem

    run(go())


def test_not_a_database(tmp_path):
    path = tmp_path / "junk.db"
    path.write_text("this is not sqlite")

    async def go():
        app = ArenaApp(str(path), poll_interval=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.problem is not None)
            assert app.problem.startswith("cannot read")

    run(go())


def test_empty_season(empty_season_db):
    db_path, w = empty_season_db

    async def go():
        app = ArenaApp(db_path, poll_interval=0.05)
        async with app.run_test(size=(140, 40)) as pilot:
            await wait_loaded(pilot)
            table = app.screen.query_one(LeaderboardTable)
            assert table.row_count == 6
            assert {table.cell_text(i, "status") for i in table.streamer_ids} == {"new"}
            assert {table.cell_text(i, "ern") for i in table.streamer_ids} == {"—"}
            for key in "2345":
                await pilot.press(key)
                await pilot.pause()
            assert "No round scored yet" in str(app.screen.query_one("#replay-empty").render())
            await pilot.press("1", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, StreamerScreen))
            # the first round arrives
            w.write_round()
            await wait_until(pilot, lambda: app.model.last_round == 1)
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert {table.cell_text(i, "status") for i in table.streamer_ids} <= {"live", "zone"}

    run(go())


def test_half_written_log_does_not_crash(tmp_path):
    """Events that reference unknown streamers or carry odd payloads are shown, not fatal."""
    from arena.db import Season

    path = tmp_path / "odd.db"
    db = Database(str(path))
    season = Season(name="odd", seed=1, config_json="{}", rounds_planned=3, run_dir=str(tmp_path / "nowhere"))
    db.add(season)
    db.add(
        Database.event(
            season.id,
            1,
            "round_scored",
            {
                "round": 1,
                "online": 10,
                "streams": {"41": {"ern_mean": 5.0, "slot": "s41"}, "42": {"ern_mean": 3.0, "slot": "s42"}},
            },
        ),
        Database.event(season.id, 1, "decision", {"streamer_id": 41}),
        Database.event(season.id, 1, "relegated", {"slot": "s42"}),  # no streamer_id: unreadable
        Database.event(season.id, 1, "something_new", {"streamer_id": 41, "detail": [1, 2, 3]}),
    )
    db.engine.dispose()

    async def go():
        app = ArenaApp(str(path), poll_interval=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_loaded(pilot, 1)
            table = app.screen.query_one(LeaderboardTable)
            assert table.row_count == 2
            await pilot.press("4")
            await pilot.pause()
            summaries = [i.summary for i in app.screen.query_one(FeedTable).items]
            assert any(s.startswith("unreadable relegated") for s in summaries)
            assert any(s.startswith("something_new") for s in summaries)
            await pilot.press("5")
            await pilot.pause()
            assert app.screen.shown_round == 1

    run(go())


# ---- seasons and the command palette ----------------------------------------------------------------------------


def test_season_switcher(two_seasons_db):
    db_path, a, b = two_seasons_db

    async def go():
        app = ArenaApp(db_path, poll_interval=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_loaded(pilot)
            assert app.model.info.name == "beta"  # the latest season by default
            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, SeasonSwitcher))
            await pilot.pause(0.2)
            await pilot.press("down", "enter")  # beta is listed first (newest), alpha second
            await wait_until(pilot, lambda: app.model is not None and app.model.info.name == "alpha")
            await wait_until(pilot, lambda: app.model.last_round == 4)
            await pilot.pause(0.1)
            table = app.screen.query_one(LeaderboardTable)
            assert_table_shows(table, stored_round(db_path, a.season_id, 4))

    run(go())


def test_explicit_season_and_command_palette(two_seasons_db):
    db_path, a, b = two_seasons_db

    async def go():
        app = ArenaApp(db_path, "alpha", poll_interval=0.05)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_loaded(pilot, 4)
            assert app.model.info.name == "alpha"
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "Show replay" in titles and "Season beta" in titles and "Replay round 2" in titles
            from textual.command import CommandList, CommandPalette

            await pilot.press("ctrl+p")
            await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press(*"Replay round 2")
            await wait_until(
                pilot, lambda: app.screen.query_one(CommandList).option_count > 0, timeout=5, what="palette hits"
            )
            await pilot.pause(0.3)
            await pilot.press("enter")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, ReplayScreen) and app.screen.shown_round == 2,
                timeout=5,
                what="palette: replay round 2",
            )
            assert_table_shows(
                app.screen.query_one("#replay-table", LeaderboardTable), stored_round(db_path, a.season_id, 2)
            )

    run(go())
