"""The TUI attached to a REAL tiny season (arena.loop.SeasonRunner in another thread, same SQLite file)."""

from __future__ import annotations

import threading

from arena.config import load_season_config
from arena.db import Database
from arena.loop import SeasonRunner
from tests.conftest import write_config
from tests.tui.conftest import run, wait_until
from tests.tui.test_app import assert_table_shows, stored_round
from tui.app import ArenaApp
from tui.widgets.leaderboard import LeaderboardTable


def test_tui_follows_a_real_running_season(tmp_path):
    config = load_season_config(write_config(tmp_path, rounds=3), name="real")
    db = Database(config.database)
    runner = SeasonRunner.create(config, db)
    app = ArenaApp(config.database, "real")
    gate = threading.Event()
    worker = threading.Thread(target=lambda: (gate.wait(60), runner.run()), daemon=True)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            worker.start()
            gate.set()  # the season starts only once the app is attached: it must catch up live
            await wait_until(
                pilot,
                lambda: app.model is not None and app.model.last_round == 3 and app.model.info.status == "finished",
                what="round 3 of the real season",
                timeout=240,
            )
            await pilot.pause(0.2)
            assert_table_shows(
                app.screen.query_one(LeaderboardTable), stored_round(config.database, runner.season.id, 3)
            )

    run(go())
    worker.join(timeout=60)
    assert runner.season.status == "finished"
