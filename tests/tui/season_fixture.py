"""A small, realistic season written straight through `arena.db`, for the TUI tests.

It writes what `arena.loop.SeasonRunner` writes, with the same payload shapes: a `Season` row, `Streamer`
rows + `streamer_spawned` events, and per round `decision` events (+ `Action` rows), `stall` events,
a `round_scored` event, `StreamStat` rows (ranks, shares and openskill ratings from `arena.scoring`),
a `Round` row, thumbnails under `<run_dir>/thumbs/<slot>/r%05d.png`, and at each relegation window a
`relegated` event + an exploit respawn with mutations. Everything is deterministic from the seed, so SVG
snapshots of the TUI are stable. A round is committed in one transaction, like the runner does.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from arena.db import Action, Database, Event, Round, Season, Streamer, StreamStat, dumps
from arena.rules import is_window_round, relegation_zone, rounds_into_window, window_ern, window_order
from arena.scoring import Rating, new_rating, score_round

PERSONAS = [
    (
        "Lighthouse Keeper",
        "a retired lighthouse keeper who streams storms",
        "grey seas, a sweeping beam, rain on glass",
    ),
    ("Neon Runner", "a courier racing through a neon city at night", "wet neon streets, motion blur, magenta and cyan"),
    ("Forest Monk", "a monk who tends a moss garden in silence", "green moss, morning mist, slow drifting light"),
    ("Glitch Kid", "a teenager who bends broken pixels into art", "datamosh, RGB split, chunky pixels"),
    ("Rain Poet", "a poet who reads to the sound of rain", "umbrellas, puddles, soft bokeh streetlights"),
    ("Star Cartographer", "a mapmaker of imaginary constellations", "deep blue night sky, gold star lines"),
    ("Desert Nomad", "a nomad crossing dunes by starlight", "dunes, heat haze, long shadows"),
    ("Pyro", "a fire dancer who loves sparks", "sparks, embers, orange trails on black"),
]

ROMAN = ("II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
TOOLS = ["choose_prompt", "tune_generator", "read_trends", "read_leaderboard", "speak"]


def persona_dict(i: int, name: str | None = None) -> dict[str, Any]:
    pname, seed, style = PERSONAS[i % len(PERSONAS)]
    return {
        "seed": seed,
        "name": name or pname,
        "character": seed[0].upper() + seed[1:] + ".",
        "backstory": f"Started streaming as {seed}.",
        "visual_style": style,
        "voice": "calm, low",
        "goals": ["hold the audience", "climb the leaderboard"],
        "survival_motive": "A streamer nobody watches is relegated and switched off; keep the eyes.",
        "traits": {
            "boldness": round(0.2 + 0.1 * (i % 7), 2),
            "trend_following": 0.5,
            "patience": 0.4,
            "quality_focus": round(0.3 + 0.05 * i, 2),
        },
    }


def settings_dict(prompt: str, seed: int) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "steps": 1,
        "strength": 0.6,
        "resolution": 64,
        "fps": 4.0,
        "interpolation": 1,
        "seed": seed,
        "transition_seconds": 0.0,
    }


class SeasonWriter:
    """Writes a season round by round. `write_round()` appends the next round (thread-safe to call from one
    writer thread while readers poll)."""

    def __init__(
        self,
        db_path: str | Path,
        run_dir: str | Path,
        name: str = "test-season",
        *,
        streamers: int = 6,
        rounds: int = 6,
        seed: int = 11,
        every: int = 3,
        fraction: float = 0.2,
        thumbnails: bool = True,
    ):
        self.db = Database(str(db_path))
        self.run_dir = Path(run_dir)
        self.rounds = rounds
        self.every = every
        self.fraction = fraction
        self.thumbnails = thumbnails
        self.rng = np.random.default_rng(seed)
        self.round = 0
        self.next_slot = 0
        self.live: dict[int, dict[str, Any]] = {}  # streamer_id -> {slot, name, quality, settings, persona_i}
        self.ratings: dict[int, Rating] = {}
        self.history: dict[int, list[float]] = {}
        self.names: set[str] = set()
        config = {
            "name": name,
            "seed": seed,
            "streamers": streamers,
            "rounds": rounds,
            "round_seconds": 8.0,
            "clock": "turn",
            "policy": "greedy",
            "relegation": {"every": every, "fraction": fraction},
        }
        self.season = Season(
            name=name, seed=seed, config_json=json.dumps(config), rounds_planned=rounds, run_dir=str(self.run_dir)
        )
        with self.db.session() as s:
            s.add(self.season)
            s.flush()
            s.add(self._ev(0, "season_created", {"name": name, "seed": seed, "config": config}))
            for i in range(streamers):
                self._spawn(s, i, None, "pool", None, [], 0)
            s.commit()
            s.refresh(self.season)

    @property
    def season_id(self) -> int:
        return int(self.season.id)

    def _ev(self, r: int, kind: str, payload: dict[str, Any]) -> Event:
        return Event(season_id=self.season.id, round=r, kind=kind, payload_json=dumps(payload), created_at=0.0)

    def _spawn(
        self,
        s,
        persona_i: int,
        parent_id: int | None,
        origin: str,
        replaces: int | None,
        mutations: list[dict[str, Any]],
        r: int,
        name: str | None = None,
    ) -> int:
        self.next_slot += 1
        slot = f"s{self.next_slot:02d}"
        persona = persona_dict(persona_i, name)
        self.names.add(persona["name"])
        settings = settings_dict(persona["visual_style"], 1000 + self.next_slot)
        row = Streamer(
            season_id=self.season.id,
            slot=slot,
            name=persona["name"],
            persona_json=json.dumps(persona),
            settings_json=json.dumps(settings),
            parent_id=parent_id,
            origin=origin,
            born_round=r,
        )
        s.add(row)
        s.flush()
        self.live[row.id] = {
            "slot": slot,
            "name": persona["name"],
            "quality": 0.3 + 0.12 * ((persona_i * 5 + self.next_slot) % 6),
            "settings": settings,
            "persona_i": persona_i,
        }
        self.ratings[row.id] = new_rating()
        s.add(
            self._ev(
                r,
                "streamer_spawned",
                {
                    "streamer_id": row.id,
                    "slot": slot,
                    "name": persona["name"],
                    "persona": persona,
                    "settings": settings,
                    "parent_id": parent_id,
                    "origin": origin,
                    "replaces": replaces,
                    "mutations": mutations,
                },
            )
        )
        return int(row.id)

    def _thumb(self, slot: str, r: int, k: int) -> str | None:
        if not self.thumbnails:
            return None
        rel = Path("thumbs") / slot / f"r{r:05d}.png"
        path = self.run_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        # a tiny "scene": a sky gradient in the slot's colour, a sun that moves with the round, a ground band
        n = int(slot[1:])
        hue = np.array([(n * 67) % 256, (n * 131 + 60) % 256, (n * 29 + 120) % 256], dtype=np.float64)
        y, x = np.mgrid[0:24, 0:24].astype(np.float64)
        sky = (hue[None, None, :] * (0.35 + 0.65 * (1 - y / 23))[..., None]).clip(0, 255)
        cx, cy = 4 + (r * 3) % 16, 7.0
        sun = ((x - cx) ** 2 + (y - cy) ** 2) <= 9
        sky[sun] = [250, 220, 90]
        sky[y >= 18] = [40 + 8 * (k % 4), 90 + 10 * (n % 5), 50]
        Image.fromarray(sky.astype(np.uint8)).save(path)
        return str(rel)

    def done(self) -> bool:
        return self.round >= self.rounds

    def write_round(self) -> int:
        """Append the next round in one transaction. Returns its number."""
        r = self.round + 1
        sid = self.season.id
        events: list[Event] = []
        rows: list[Any] = []
        ids = sorted(self.live)
        for i in ids:
            st = self.live[i]
            acts = []
            if (i + r) % 3 == 0:
                new_steps = 1 + (r + i) % 3
                st["settings"] = {**st["settings"], "steps": new_steps}
                acts.append(
                    {"tool": "tune_generator", "args": {"steps": new_steps}, "result": f"steps={new_steps}", "ok": True}
                )
            if (i + r) % 4 == 1:
                acts.append(
                    {
                        "tool": "choose_prompt",
                        "args": {"prompt": f"{st['settings']['prompt']}, round {r}"},
                        "result": "prompt set",
                        "ok": True,
                    }
                )
                st["settings"] = {
                    **st["settings"],
                    "prompt": f"{st['settings']['prompt'].split(', round')[0]}, round {r}",
                }
            if (i + r) % 5 == 2:
                acts.append(
                    {
                        "tool": "tune_generator",
                        "args": {"fps": 99},
                        "result": "error: fps 99 outside 1..24",
                        "ok": False,
                    }
                )
            ok = (i + r) % 11 != 7
            events.append(
                self._ev(
                    r,
                    "decision",
                    {
                        "streamer_id": i,
                        "slot": st["slot"],
                        "policy": "greedy",
                        "ok": ok,
                        "error": None if ok else "decision timed out after 30 s",
                        "seconds": round(0.01 * ((i * r) % 9 + 1), 4),
                        "actions": acts if ok else [],
                    },
                )
            )
            rows += [
                Action(
                    season_id=sid,
                    round=r,
                    streamer_id=i,
                    tool=a["tool"],
                    args_json=dumps(a["args"]),
                    result=a["result"],
                    ok=a["ok"],
                )
                for a in (acts if ok else [])
            ]
        ern = {
            i: round(100.0 * self.live[i]["quality"] + 7.0 * ((i * 7 + r * 3) % 5) + float(self.rng.integers(0, 20)), 2)
            for i in ids
        }
        new, table = score_round({i: self.ratings[i] for i in ids}, ern)
        self.ratings.update(new)
        scored: dict[str, Any] = {}
        for k, s_ in enumerate(table):
            i = s_.streamer_id
            st = self.live[i]
            self.history.setdefault(i, []).append(s_.ern_mean)
            stalls = 1 if (i + r) % 4 == 0 else 0
            stall_s = 0.75 * stalls
            cap = 8
            level = (i * 3 + r) % (cap + 1)
            summary = {
                "frames_generated": 30 + (i % 5),
                "frames_output": 32,
                "buffer_level": level,
                "buffer_capacity": cap,
                "stall_count": stalls,
                "stall_seconds": stall_s,
                "startup_delay": 0.5,
                "ttcp": 1.0 + 0.1 * (i % 4),
                "content_positive": stalls == 0,
                "metrics": {"quality": round(st["quality"], 3), "stability": 0.8},
            }
            peak = int(s_.ern_mean * 1.2)
            scored[str(i)] = {
                **summary,
                "ern_mean": s_.ern_mean,
                "ern_peak": peak,
                "slot": st["slot"],
                "settings": dict(st["settings"]),
            }
            rows.append(
                StreamStat(
                    season_id=sid,
                    round=r,
                    streamer_id=i,
                    rank=s_.rank,
                    ern_mean=s_.ern_mean,
                    ern_peak=peak,
                    share=s_.share,
                    rating_mu=s_.rating.mu,
                    rating_sigma=s_.rating.sigma,
                    frames_generated=summary["frames_generated"],
                    frames_output=32,
                    buffer_level=level,
                    stall_count=stalls,
                    stall_seconds=stall_s,
                    startup_delay=0.5,
                    ttcp=summary["ttcp"],
                    metrics_json=dumps(summary["metrics"]),
                    thumbnail=self._thumb(st["slot"], r, k),
                )
            )
            if stalls:
                events.append(
                    self._ev(
                        r,
                        "stall",
                        {"streamer_id": i, "slot": st["slot"], "stall_count": stalls, "stall_seconds": stall_s},
                    )
                )
        online = round(sum(ern.values()) * 1.1, 1)
        events.append(
            self._ev(r, "round_scored", {"round": r, "sim_time": 8.0 * r, "online": online, "streams": scored})
        )
        if r == 2:  # a later issue's event kind: the TUI shows unknown kinds generically
            top = table[0].streamer_id
            events.append(
                self._ev(
                    r,
                    "finetune_started",
                    {"streamer_id": top, "slot": self.live[top]["slot"], "steps": 40, "dataset": "own-frames"},
                )
            )
        with self.db.session() as s:
            for row in rows:
                s.add(row)
            for ev in events:
                s.add(ev)
            if is_window_round(r, self.every, self.rounds):  # the league's rules, as the loop relegates
                window = {i: window_ern(self.history[i], rounds_into_window(r, self.every)) for i in ids}
                ordinal = {i: new[i].ordinal for i in ids}
                zone = relegation_zone(window, ordinal, self.fraction)
                parent = window_order(ids, window, ordinal)[0]  # the window's best spawns the replacement
                for gone in zone:
                    st = self.live.pop(gone)
                    row = s.get(Streamer, gone)
                    row.status, row.relegated_round = "relegated", r
                    s.add(
                        self._ev(
                            r,
                            "relegated",
                            {"streamer_id": gone, "slot": st["slot"], "name": st["name"], "window_ern": window[gone]},
                        )
                    )
                    self.ratings.pop(gone, None)
                    pst = self.live[parent]
                    base = pst["name"].split(" ")
                    base = " ".join(base[:-1]) if base[-1] in ROMAN else pst["name"]
                    child_name = next(
                        (f"{base} {n}" for n in ROMAN if f"{base} {n}" not in self.names),
                        f"{base} #{self.next_slot + 1}",
                    )
                    self._spawn(
                        s,
                        pst["persona_i"],
                        parent,
                        "exploit",
                        gone,
                        [
                            {"field": "fps", "old": 4.0, "new": 4.8, "how": "perturb x1.2"},
                            {"field": "persona.character", "old": "…", "new": "…", "how": "rewrite"},
                        ],
                        r,
                        name=child_name,
                    )
            s.add(Round(season_id=sid, number=r, sim_time=8.0 * r, online_viewers=int(online), wall_seconds=0.1))
            season = s.get(Season, sid)
            season.rounds_done = r
            if r >= self.rounds:
                season.status = "finished"
                s.add(self._ev(r, "season_finished", {"rounds_done": r}))
            s.commit()
        self.round = r
        return r

    def write_all(self) -> None:
        while not self.done():
            self.write_round()

    def close(self) -> None:
        self.db.engine.dispose()


class WriterThread(threading.Thread):
    """Appends one round each time `step()` is called (or every `interval` seconds when started free-running)."""

    def __init__(self, writer: SeasonWriter, interval: float | None = None):
        super().__init__(daemon=True)
        self.writer = writer
        self.interval = interval
        self._go = threading.Semaphore(0)
        self._halt = threading.Event()
        self.written = threading.Condition()
        self.last = writer.round
        self.error: BaseException | None = None

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self._go.release()

    def run(self) -> None:
        try:
            while not self._halt.is_set() and not self.writer.done():
                if self.interval is None:
                    if not self._go.acquire(timeout=0.05):
                        continue
                else:
                    self._halt.wait(self.interval)
                if self._halt.is_set():
                    break
                r = self.writer.write_round()
                with self.written:
                    self.last = r
                    self.written.notify_all()
        except BaseException as exc:  # surfaced by the fixture
            self.error = exc

    def wait_for(self, r: int, timeout: float = 10.0) -> bool:
        with self.written:
            return self.written.wait_for(lambda: self.last >= r, timeout)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
