"""`python -m arena run --live --port N --host H` serves the watch page where the flags say; a viewer's chat
message posted while the live season runs is stored in its Chat table; a bad port is one line, exit 2."""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.request

from arena.cli import main
from tests.conftest import write_config
from tests.e2e.test_cli import spawn


def test_bad_port_is_one_line_naming_the_flag(tmp_path, capsys):
    cfg = write_config(tmp_path, rounds=1)
    assert main(["run", "--config", str(cfg), "--port", "70000"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "--port" in err[0] and "65535" in err[0]
    assert not (tmp_path / "arena.db").exists()  # refused before anything was written


def test_live_flags_serve_the_page_and_web_chat_is_stored(tmp_path):
    cfg = write_config(
        tmp_path, streamers=2, rounds=2, round_seconds=1.0, relegation={"every": 0}, chat={"simulated": False}
    )
    proc = spawn(
        "run", "--config", str(cfg), "--name", "lv", "--live", "--port", "0", "--host", "127.0.0.1", cwd=tmp_path
    )
    try:
        url = None
        for line in proc.stdout:  # the page's address is printed before the first round
            if found := re.search(r"live page: (http://127\.0\.0\.1:\d+/)", line):
                url = found.group(1)
                break
        assert url, proc.stderr.read() if proc.poll() is not None else "no live page line"
        streams = json.loads(urllib.request.urlopen(url + "api/streams", timeout=10).read())
        assert len(streams) == 2 and all(s["persona"] for s in streams)
        req = urllib.request.Request(
            url + f"api/chat/{streams[0]['id']}",
            data=json.dumps({"name": "Ann", "text": "hello from the page"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert urllib.request.urlopen(req, timeout=10).status == 200
        proc.stdout.read()
        assert proc.wait(180) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    with sqlite3.connect(tmp_path / "arena.db") as con:
        rows = con.execute("select name, text, source from chat").fetchall()
    assert ("Ann", "hello from the page", "web") in rows
