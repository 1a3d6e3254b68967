"""The numbers a season report shows, checked against direct SQL on the tiny season's database, and the
files it writes (plots, filmstrip, one timelapse per streamer with one frame per thumbnail)."""

from __future__ import annotations

import base64
import json
import sqlite3

import av
import pytest

from tests.arena.report.conftest import Tables, sql


@pytest.fixture(scope="module")
def page(report):
    assert report.exit_code == 0
    return Tables(report.html)


def headline(page) -> dict[str, str]:
    return {k: row[1] for k, row in zip(page.keys["headline"], page.tables["headline"])}


def test_headline_numbers_match_sql(report, page):
    db, sid = report.played.db, report.played.season_id
    h = headline(page)
    assert int(h["streams_created"]) == sql(db, "select count(*) from streamer where season_id=?", sid)[0][0] == 4
    assert int(h["rounds_played"]) == 3
    assert (
        int(h["relegations"]) == sql(db, "select count(*) from event where season_id=? and kind='relegated'", sid)[0][0]
    )
    assert (
        int(h["peak_online_viewers"]) == sql(db, "select max(online_viewers) from round where season_id=?", sid)[0][0]
    )
    assert int(h["peak_stream_ern"]) == sql(db, "select max(ern_peak) from streamstat where season_id=?", sid)[0][0]
    assert (
        int(h["keyframes_generated"])
        == sql(db, "select sum(frames_generated) from streamstat where season_id=?", sid)[0][0]
    )
    peak = sql(db, "select max(s) from (select sum(ern_mean) s from streamstat where season_id=? group by round)", sid)
    assert float(h["peak_watching"]) == pytest.approx(peak[0][0])
    stalls = sql(db, "select sum(stall_seconds) from streamstat where season_id=?", sid)[0][0]
    assert float(h["stall_seconds"]) == pytest.approx(stalls)
    assert "not stored" in h["distinct_real_viewers"]


def test_league_tables_match_the_stored_standings_and_the_relegation(report, page):
    db, sid = report.played.db, report.played.season_id
    final = page.tables["league-final"]
    stored = sql(
        db,
        "select st.rank, s.name, st.ern_mean, st.share from streamstat st join streamer s on s.id = st.streamer_id "
        "where st.season_id=? and st.round=3 order by st.rank",
        sid,
    )
    assert [(int(r[0]), r[1], float(r[5]), float(r[6])) for r in final] == [
        (rank, name, pytest.approx(ern), pytest.approx(share)) for rank, name, ern, share in stored
    ]
    window = page.tables["league-r2"]  # the window closing after round 2
    (payload,) = sql(db, "select payload_json from event where season_id=? and kind='relegated'", sid)
    gone = json.loads(payload[0])
    last = window[-1]
    assert last[1] == gone["name"] and last[-1] == "relegated"
    assert float(last[4]) == pytest.approx(gone["window_ern"])  # window ERN as the loop computed it
    assert [r[-1] for r in window[:-1]] == ["safe"] * (len(window) - 1)


def test_ern_terms_and_agent_tables_match_the_event_log(report, page):
    db, sid = report.played.db, report.played.season_id
    headers_row = report.html.split('id="terms"')[1].split("</thead>")[0]
    terms = [h.split("</th>")[0] for h in headers_row.split("<th>")[2:]]
    assert "topic" in terms and "stall" in terms
    col = terms.index("topic") + 1
    means = dict(
        sql(
            db,
            "select s.name || ' (' || s.slot || ')', avg(json_extract(j.value, '$.ern_terms.topic')) "
            "from event e, json_each(e.payload_json, '$.streams') j join streamer s on s.id = j.key "
            "where e.season_id=? and e.kind='round_scored' group by j.key",
            sid,
        )
    )
    rows = page.tables["terms"]
    assert len(rows) == len(means) == 4
    for row in rows:
        assert float(row[col]) == pytest.approx(means[row[0]])
    decisions = dict(
        sql(
            db,
            "select json_extract(payload_json,'$.slot'), count(*) from event where season_id=? "
            "and kind='decision' group by 1",
            sid,
        )
    )
    calls = dict(
        sql(
            db,
            "select s.slot, count(*) from action a join streamer s on s.id=a.streamer_id "
            "where a.season_id=? group by s.slot",
            sid,
        )
    )
    for row in page.tables["agents"]:
        slot = row[0]
        assert int(row[3]) == decisions[slot]
        shown = sum(int(part.rsplit(" ", 1)[1]) for part in row[6].split(", ") if part)
        assert shown == calls.get(slot, 0)


def test_lineage_lists_every_streamer_and_the_exploit_parent(report, page):
    db, sid = report.played.db, report.played.season_id
    rows = page.tables["lineage"]
    child = sql(
        db, "select c.name, p.name from streamer c join streamer p on p.id=c.parent_id where c.season_id=?", sid
    )
    assert len(rows) == 4 and len(child) == 1
    row = next(r for r in rows if r[0].startswith(child[0][0] + " ("))
    assert row[1] == "exploit" and row[2] == child[0][1] and "copy of" in row[6]


def test_files_plots_filmstrip_and_timelapses(report):
    out, db, sid = report.out, report.played.db, report.played.season_id
    page = Tables(report.html)
    pngs = [base64.b64decode(src.split(",", 1)[1]) for src in page.images]
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert all(p.startswith(b"\x89PNG") for p in pngs)
    names = {p.stem for p in (out / "plots").glob("*.png")}
    assert {
        "ern",
        "share",
        "ern_terms",
        "decisions",
        "lineage",
        "ttcp",
        "buffer_stalls",
        "frontier",
        "temporal",
    } <= names
    assert "could not be drawn" not in report.html and "http://" not in report.html and "https://" not in report.html
    for slot, thumbs in sql(
        db,
        "select s.slot, count(st.thumbnail) from streamstat st join streamer s "
        "on s.id=st.streamer_id where st.season_id=? group by s.slot",
        sid,
    ):
        mp4 = out / "timelapse" / f"{slot}.mp4"
        assert f'href="timelapse/{slot}.mp4"' in report.html
        with av.open(str(mp4)) as c:
            assert sum(1 for _ in c.decode(video=0)) == thumbs


def test_two_seasons_side_by_side(played, tmp_path):
    """`report A B` with the season against itself (by name and by id): both columns hold its numbers."""
    from arena.cli import main

    out = tmp_path / "compare"
    assert main(["report", "rep", str(played.season_id), "--db", str(played.db), "--out", str(out)]) == 0
    page = Tables((out / "compare.html").read_text())
    rows = {row[0]: row[1:] for row in page.tables["headline"]}
    frames = sql(played.db, "select sum(frames_generated) from streamstat where season_id=?", played.season_id)
    assert rows["keyframes generated"] == [str(frames[0][0])] * 2
    assert rows["streams created"] == ["4", "4"]
    assert len(page.images) == 13 and len(list((out / "plots").glob("*.png"))) == 13


def test_machine_and_finetune_share_come_from_the_event_log(report, page):
    db, sid = report.played.db, report.played.season_id
    config = {row[0]: row[1] for row in page.tables["config"]}
    (created,) = sql(
        db, "select json_extract(payload_json, '$.machine') from event where season_id=? and kind='season_created'", sid
    )
    machine = json.loads(created[0])
    assert config["machine it ran on"] == ", ".join(f"{k} {v}" for k, v in machine.items())
    assert machine["cpus"] >= 1 and machine["python"]
    seconds = sql(
        db,
        "select sum(json_extract(payload_json, '$.finetune_seconds')), count(*) from event "
        "where season_id=? and kind='round_scored'",
        sid,
    )[0]
    share = float(report.html.split('id="finetune-share" data-v="')[1].split('"')[0])
    assert share == pytest.approx(seconds[0] / (1.0 * seconds[1]))  # round_seconds 1.0


def test_distinct_real_viewers_come_from_the_broadcasts_count(played, page, tmp_path):
    """A season that broadcast nothing says so; one whose rounds recorded the broadcast's count shows the
    largest (the count is cumulative in one process)."""
    from arena.cli import main

    assert "not stored" in headline(page)["distinct_real_viewers"]
    db = tmp_path / "copy.db"
    with sqlite3.connect(played.db) as src, sqlite3.connect(db) as dst:  # the backup API: WAL content included
        src.backup(dst)
    with sqlite3.connect(db) as con:
        for r, n in ((1, 2), (2, 5), (3, 4)):
            con.execute(
                "update event set payload_json = json_set(payload_json, '$.distinct_real_viewers', ?) "
                "where kind = 'round_scored' and round = ?",
                (n, r),
            )
    out = tmp_path / "out"
    assert main(["report", "rep", "--db", str(db), "--out", str(out)]) == 0
    assert headline(Tables((out / "report.html").read_text()))["distinct_real_viewers"] == "5"
