"""The simulated audience v1: a vectorised viewer population that decides where its eyes go.

Why this shape: a season scores ERN (concurrent viewers), so the audience must react to what a viewer could
perceive of each stream (topic, trend, quality, stability, novelty, how many others watch, stalls, start-up
delay) and must scale to 1M viewers on a laptop. Every viewer is one slot in a few flat numpy arrays
(int16 position, float32 budget, float32 return weight) plus a K-topic mixture row; a tick is a handful of
whole-array operations and never a Python loop over viewers.

Viewer states (`pos`): OFFLINE (-2), BROWSING (-1: online, on the outside "no click" option) or the index
of the watched stream in `stream_ids` (the streams of the latest round, so positions follow stream ids when
the set of streams changes).

One tick, in order:
1. departures: online viewers whose RecSim time budget is spent go offline;
2. arrivals: offline viewers come online with a per-tick probability, lower for viewers who sat through
   stalls (Krishnan & Sitaraman: 2.32% less likely to return);
3. stream abandonment: watchers leave to browsing with a hazard raised by the stream's stall ratio
   (Krishnan & Sitaraman: 1% rebuffering costs 5% of play time);
4. choice: browsers, new arrivals and a reconsidering fraction of watchers pick a stream or the outside
   option by Gumbel-max over a multinomial logit (RecSim's user choice); switching into a stream that has
   not shown its first frame yet risks start-up abandonment (Krishnan & Sitaraman's curve);
5. accounting: budgets are charged and refunded (RecSim interest evolution), counts become ERN.

Sources are cited at each constant in `AudienceConfig`; "modelling choice" marks a number no source fixes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from media.trends import DEFAULT_TOPICS as TREND_TOPICS

OFFLINE = -2
BROWSING = -1

# The live topics of the trend feed, plus two niches no default persona streams (so some interest is unmet).
DEFAULT_TOPICS = [*TREND_TOPICS, "snowy mountains", "coral reef fish"]


class AudienceConfig(BaseModel):
    """Every behavioural constant of the audience. Part of the season YAML under `audience:`."""

    model_config = ConfigDict(extra="forbid")

    # --- population -------------------------------------------------------------------------------------
    size: int = Field(10000, ge=1, le=50_000_000, description="population, online + offline")
    initial_online: float = Field(0.3, ge=0, le=1, description="fraction online (browsing) at the start")
    tick_seconds: float = Field(1.0, gt=0, le=600, description="seconds of stream time per audience tick")
    topics: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TOPICS),
        min_length=1,
        max_length=256,
        description="interest topics; the caller embeds them with MiniLM into the prototypes T (K x 384)",
    )
    # Modelling choice: Dirichlet concentration of each viewer's topic mixture; < 1 makes mixtures sparse
    # (most of a viewer's interest on one to three topics), so niches exist for streams to win.
    interest_concentration: float = Field(0.3, gt=0, le=100)

    # --- sessions: RecSim interest evolution (docs/facts.md) ---------------------------------------------------
    # RecSim: time budget 200. Read here as seconds of attention an arriving viewer brings.
    time_budget: float = Field(200.0, gt=0)
    # RecSim: step penalty 0.5 charged when nothing is clicked; here per second spent browsing.
    step_penalty: float = Field(0.5, ge=0)
    # RecSim: watching refunds alpha * watch_time * quality (alpha 0.9 / 3.4); 0.9 so watching a perfect
    # stream still drains 0.1 s of budget per second and every session ends.
    refund_alpha: float = Field(0.9, ge=0)
    # Modelling choice: offline -> online rate per second. With sessions of ~400 s (budget 200 drained at
    # ~0.5 per second) it keeps the online fraction near 0.3: 0.7 * 0.001 * 400 / 0.3 ~ 0.93.
    arrival_rate: float = Field(0.001, ge=0, le=10)

    # --- watching dynamics --------------------------------------------------------------------------------
    # Modelling choice: a watcher with no stalls leaves its stream (back to browsing) after 300 s on average.
    mean_watch_seconds: float = Field(300.0, gt=0)
    # Modelling choice (inertia): a watcher re-evaluates the lobby about every 10 s.
    reconsider_rate: float = Field(0.1, ge=0, le=100)
    # Modelling choice: utility bonus of the stream one already watches (switching cost).
    switch_bonus: float = Field(1.5, ge=0)

    # --- choice: RecSim multinomial logit with a "no click" option ---------------------------------------
    # RecSim: no-click mass 1, i.e. the outside option has utility log(1) = 0 against exp(utility) of items.
    no_click_mass: float = Field(1.0, gt=0)
    # Modelling choice, with the weights below: a mediocre off-topic stream loses to browsing, a good
    # on-topic one wins. Measured with the packaged MiniLM: prompt vs its own topic 0.6-0.76, vs other scenery
    # topics 0.1-0.4, vs an unrelated prompt ("a cat sleeping on a sofa") ~0. So with quality 0.5 and
    # stability 0.7: on-topic -3 + 5 * 0.65 + 1.1 = +1.35, off-topic -3 + 5 * 0.25 + 1.1 = -0.65.
    utility_bias: float = -3.0
    w_topic: float = Field(5.0, description="x cosine(viewer interest, prompt embedding); modelling choice")
    w_trend: float = Field(1.0, description="x cosine(prompt embedding, trend embedding); modelling choice")
    w_quality: float = Field(1.5, description="x quality in 0..1; modelling choice")
    w_stability: float = Field(0.5, description="x temporal stability in 0..1; modelling choice")
    w_novelty: float = Field(0.5, description="x novelty in 0..1; modelling choice")
    # Modelling choice: x log(S * smoothed viewer share). Choice odds grow like share^w, so at equilibrium
    # shares grow like exp(utility / (1 - w)): w = 0.8 amplifies utility gaps 5x, the heavy Twitch-like skew
    # of docs/facts.md; w >= 1 would be winner-take-all.
    w_social: float = Field(0.8, ge=0, le=2)
    # Modelling choice: share floor (discovery). Shares are mixed (1 - floor) * share + floor / S, so a
    # stream with no viewers is at worst log(floor) ~ -3 utils behind the average one, not -infinity.
    social_floor: float = Field(0.05, gt=0, le=1)
    # Modelling choice (discovery): platforms feature new streams ("new" tags, raids, front-page slots). A
    # stream younger than `new_stream_seconds` gets up to `w_new` utils, fading linearly with age. Without it
    # social proof and switching cost lock a league's newcomers out: a respawned copy of the leader drew ~2%
    # of the leader's viewers in its first window, so relegation always took the newest streamer.
    w_new: float = Field(1.5, ge=0)
    new_stream_seconds: float = Field(30.0, gt=0)
    # Dobrian et al. (SIGCOMM 2011): buffering ratio has the largest effect on engagement, worst for live
    # content; so the stall ratio of the current tick carries the largest per-unit weight. Value: modelling.
    w_stall: float = Field(5.0, ge=0)
    # Modelling choice: x start-up abandonment probability of the stream (a "starting..." tile in the lobby).
    w_startup: float = Field(2.0, ge=0)

    # --- quality of experience: Krishnan & Sitaraman (IMC 2012), docs/facts.md --------------------------------
    # Abandonment vs start-up delay: none before 2 s, about 25% at 5 s, about 50% at 10 s (linear between);
    # beyond the last point each further second adds startup_abandon_slope (their 5.8% per second).
    startup_abandon_curve: list[tuple[float, float]] = Field(
        default_factory=lambda: [(2.0, 0.0), (5.0, 0.25), (10.0, 0.5)], min_length=1
    )
    startup_abandon_slope: float = Field(0.058, ge=0, le=1)
    # A rebuffering delay of 1% of the video length costs 5% of play time: play time x (1 - 5 r), so the leave
    # hazard is h / (1 - 5 r) for stall ratio r. Dobrian et al. found the same order for live content (+1%
    # buffering ratio: > 3 of 90 minutes, ~3.3%); we keep K&S's 5.
    rebuffer_playtime_slope: float = Field(5.0, ge=0)
    # Modelling choice: the linear law hits zero play time at r = 0.2; clamp the factor at 0.05 (hazard x20).
    rebuffer_playtime_floor: float = Field(0.05, gt=0, le=1)
    # A viewer who saw a failed stream is 2.32% less likely to come back within a week. For small per-tick
    # arrival rates P(return within a week) ~ rate x week, so a relative cut of 2.32% of the per-tick arrival
    # rate gives the same 2.32% weekly cut at any tick length. One fully stalled tick counts as one failure,
    # a partly stalled tick as its stall ratio; failures compound: weight x (1 - 0.0232) ** failures.
    failure_return_penalty: float = Field(0.0232, ge=0, lt=1)

    @model_validator(mode="after")
    def _check_curve(self) -> AudienceConfig:
        xs = [x for x, _ in self.startup_abandon_curve]
        ys = [y for _, y in self.startup_abandon_curve]
        if any(b <= a for a, b in zip(xs, xs[1:])) or any(b < a for a, b in zip(ys, ys[1:])):
            raise ValueError("startup_abandon_curve must have increasing delays and non-decreasing rates")
        if xs[0] < 0 or not all(0 <= y <= 1 for y in ys):
            raise ValueError("startup_abandon_curve delays must be >= 0 and rates within 0..1")
        return self


@dataclass
class StreamView:
    """What a viewer can perceive of one stream during a round (built by the arena from engine metrics).

    `startup_delay` is the engine's (media.buffer.StreamBuffer.startup_delay): seconds from the stream's start
    until its first frame, where the stream starts in the first round its id appears in `views`. None means
    no frame yet: a viewer who picks it waits indefinitely (and abandons, see the K&S curve).
    """

    stream_id: str
    prompt_embedding: np.ndarray  # (384,) float32, L2-normalised
    quality: float  # 0..1
    stability: float  # 0..1
    stall_seconds_per_tick: list[float]  # padded with 0 / truncated to the round's ticks
    startup_delay: float | None
    novelty: float = 0.0  # 0..1


@dataclass
class RoundAudience:
    """Result of one round. `ern[id]` = {"mean", "peak", "series"} of viewers watching per tick."""

    ern: dict[str, dict]
    online_mean: float
    outside_mean: float
    online_series: list[int] = field(default_factory=list)
    outside_series: list[int] = field(default_factory=list)  # browsing (online, watching nothing)
    offline_series: list[int] = field(default_factory=list)
    joins: dict[str, int] = field(default_factory=dict)  # viewers who switched into the stream
    abandoned: dict[str, int] = field(default_factory=dict)  # of those, gone during start-up


def startup_abandon_probability(wait: np.ndarray, config: AudienceConfig) -> np.ndarray:
    """Probability that a viewer gives up while waiting `wait` seconds for the first frame (K&S 2012)."""
    xs = np.array([x for x, _ in config.startup_abandon_curve], dtype=np.float64)
    ys = np.array([y for _, y in config.startup_abandon_curve], dtype=np.float64)
    wait = np.asarray(wait, dtype=np.float64)
    p = np.interp(wait, xs, ys, left=0.0)
    beyond = wait > xs[-1]
    with np.errstate(invalid="ignore"):
        p = np.where(beyond, ys[-1] + config.startup_abandon_slope * (wait - xs[-1]), p)
    return np.clip(np.nan_to_num(p, nan=1.0, posinf=1.0), 0.0, 1.0)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _clip01(values: list[float]) -> np.ndarray:
    return np.clip(np.array(values, dtype=np.float64), 0.0, 1.0)


def _per_tick(rate_per_second: float | np.ndarray, dt: float) -> np.ndarray:
    """Probability of at least one event in dt for a Poisson rate (keeps results independent of dt)."""
    return -np.expm1(-np.asarray(rate_per_second, dtype=np.float64) * dt)


class Audience:
    """A seeded viewer population. Pass a Generator reserved for the audience: `load_state_dict` resets it."""

    def __init__(self, config: AudienceConfig, topic_embeddings: np.ndarray, rng: np.random.Generator) -> None:
        topics = np.asarray(topic_embeddings, dtype=np.float32)
        if topics.ndim != 2 or topics.shape[0] != len(config.topics):
            raise ValueError(
                f"topic_embeddings must be (K={len(config.topics)}, dim), one row per config.topics, "
                f"got shape {topics.shape}"
            )
        norms = np.linalg.norm(topics, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError("topic_embeddings has a zero row")
        self.config = config
        self.rng = rng
        self._topics = topics / norms
        self.dim = int(topics.shape[1])
        n, k = config.size, topics.shape[0]

        # Interest_i = normalize(W_i @ T): store W_i already divided by |W_i @ T| so that cosines with a
        # stream are W @ (T @ e). Sparse mixtures via a Dirichlet (gamma draws, then normalised).
        w = rng.standard_gamma(config.interest_concentration, size=(n, k), dtype=np.float32) + np.float32(1e-6)
        gram = self._topics @ self._topics.T
        norm = np.sqrt(np.maximum(np.einsum("nk,nk->n", w @ gram, w), 1e-12)).astype(np.float32)
        w /= norm[:, None]
        self.interest_weights: np.ndarray = w

        self.pos = np.full(n, OFFLINE, dtype=np.int16)
        self.budget = np.zeros(n, dtype=np.float32)
        online = np.flatnonzero(rng.random(n) < config.initial_online)
        self.pos[online] = BROWSING
        # Modelling choice: the initially online are mid-session, residual budget uniform in (0, budget].
        self.budget[online] = config.time_budget * (1.0 - rng.random(online.size, dtype=np.float32))
        self.return_weight = np.ones(n, dtype=np.float32)  # relative arrival propensity after failures
        self.stream_ids: list[str] = []
        self.stream_age = np.zeros(0, dtype=np.float64)  # seconds since each stream first appeared

    # ----------------------------------------------------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        """Current head counts: {"offline", "browsing", "watching": {stream_id: n}}."""
        c = np.bincount(self.pos.astype(np.int64) + 2, minlength=len(self.stream_ids) + 2)
        return {
            "offline": int(c[0]),
            "browsing": int(c[1]),
            "watching": {sid: int(c[2 + j]) for j, sid in enumerate(self.stream_ids)},
        }

    def remove_stream(self, stream_id: str) -> None:
        """Drop a stream (relegation); its viewers go back to browsing. Unknown ids are ignored."""
        if stream_id in self.stream_ids:
            self._reindex([s for s in self.stream_ids if s != stream_id])

    def _reindex(self, new_ids: list[str]) -> None:
        """Map viewer positions from the old stream order to `new_ids`; viewers of vanished streams browse."""
        if new_ids == self.stream_ids:
            return
        old = {sid: j for j, sid in enumerate(self.stream_ids)}
        # lut over pos + 2: offline and browsing stay, watched streams move to their new index or browse.
        lut = np.full(len(self.stream_ids) + 2, BROWSING, dtype=np.int16)
        lut[0], lut[1] = OFFLINE, BROWSING
        new_index = {sid: j for j, sid in enumerate(new_ids)}
        for sid, j in old.items():
            if sid in new_index:
                lut[j + 2] = new_index[sid]
        self.pos = lut[self.pos.astype(np.intp) + 2]
        self.stream_age = np.array([self.stream_age[old[s]] if s in old else 0.0 for s in new_ids], np.float64)
        self.stream_ids = list(new_ids)

    # ----------------------------------------------------------------------------------------------------
    def step_round(
        self, views: list[StreamView], ticks: int, trend_embedding: np.ndarray | None = None
    ) -> RoundAudience:
        """Advance `ticks` audience ticks. `views` is the full set of live streams this round: streams not in it
        are removed (their viewers browse), new ids start with no viewers."""
        ids = self._check_views(views, ticks, trend_embedding)
        cfg, s, dt = self.config, len(views), self.config.tick_seconds
        self._reindex(ids)
        topic_m, static_u, quality, stall, first_frame = self._round_features(views, ticks, trend_embedding)

        ern = np.zeros((s, ticks), dtype=np.int64)
        online_s, outside_s, offline_s = [], [], []
        joins = np.zeros(s, dtype=np.int64)
        abandoned = np.zeros(s, dtype=np.int64)
        for t in range(ticks):
            # Wait of a viewer switching in at the start of this tick, from the stream's own start.
            wait = np.maximum(first_frame - (self.stream_age + t * dt), 0.0)
            age = self.stream_age + t * dt
            fresh = cfg.w_new * np.clip(1.0 - age / cfg.new_stream_seconds, 0.0, 1.0)
            c, j_in, j_ab = self._tick(stall[:, t], wait, static_u + fresh, quality, topic_m)
            joins += j_in
            abandoned += j_ab
            offline_s.append(int(c[0]))
            outside_s.append(int(c[1]))
            online_s.append(int(c[1:].sum()))
            ern[:, t] = c[2:]
        self.stream_age += ticks * dt

        return RoundAudience(
            ern={
                sid: {"mean": float(ern[j].mean()), "peak": int(ern[j].max()), "series": ern[j].tolist()}
                for j, sid in enumerate(ids)
            },
            online_mean=float(np.mean(online_s)),
            outside_mean=float(np.mean(outside_s)),
            online_series=online_s,
            outside_series=outside_s,
            offline_series=offline_s,
            joins={sid: int(joins[j]) for j, sid in enumerate(ids)},
            abandoned={sid: int(abandoned[j]) for j, sid in enumerate(ids)},
        )

    def _check_views(self, views: list[StreamView], ticks: int, trend_embedding: np.ndarray | None) -> list[str]:
        """One clear error for inputs the audience cannot score; returns the stream ids in order."""
        if ticks < 1:
            raise ValueError(f"ticks must be >= 1, got {ticks}")
        if len(views) > np.iinfo(np.int16).max:
            raise ValueError(f"at most {np.iinfo(np.int16).max} streams, got {len(views)}")
        ids = [v.stream_id for v in views]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate stream ids in views: {ids}")
        for v in views:
            if np.size(v.prompt_embedding) != self.dim:
                raise ValueError(f"prompt embeddings must have dim {self.dim}, got {np.size(v.prompt_embedding)}")
        if trend_embedding is not None and np.size(trend_embedding) != self.dim:
            raise ValueError(f"trend_embedding must have dim {self.dim}, got {np.size(trend_embedding)}")
        return ids

    def _round_features(
        self, views: list[StreamView], ticks: int, trend_embedding: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-round stream features: topic affinity matrix, static utility, quality, stall ratio per tick,
        first-frame time. Topic affinity for viewer i is W_i @ M (cosine times w_topic)."""
        cfg, s, dt = self.config, len(views), self.config.tick_seconds
        emb = np.stack([_unit(v.prompt_embedding) for v in views]) if s else np.zeros((0, self.dim), np.float32)
        topic_m = (self._topics @ emb.T * np.float32(cfg.w_topic)).astype(np.float32)  # (K, S)
        trend = np.zeros(s) if trend_embedding is None else emb.astype(np.float64) @ _unit(trend_embedding)
        quality = _clip01([v.quality for v in views])
        static_u = (
            cfg.utility_bias
            + cfg.w_trend * trend
            + cfg.w_quality * quality
            + cfg.w_stability * _clip01([v.stability for v in views])
            + cfg.w_novelty * _clip01([v.novelty for v in views])
        )
        stall = np.zeros((s, ticks))
        for j, v in enumerate(views):
            row = list(v.stall_seconds_per_tick)[:ticks]
            stall[j, : len(row)] = row
        stall = np.clip(stall / dt, 0.0, 1.0)  # stall ratio per tick
        first_frame = np.array([math.inf if v.startup_delay is None else v.startup_delay for v in views], float)
        return topic_m, static_u, quality, stall, first_frame

    def _tick(
        self,
        stall: np.ndarray,
        wait: np.ndarray,
        static_u: np.ndarray,
        quality: np.ndarray,
        topic_m: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One tick over the whole population; returns (counts over pos+2, joins, start-up abandons)."""
        cfg, rng, dt, s = self.config, self.rng, self.config.tick_seconds, len(self.stream_ids)
        pos = self.pos
        # Counts at the start of the tick: what the lobby shows (social proof).
        before = np.bincount(pos.astype(np.intp) + 2, minlength=s + 2)

        # 1. departures: the RecSim time budget is spent.
        was_offline = pos == OFFLINE
        pos[~was_offline & (self.budget <= 0)] = OFFLINE
        browsers = np.flatnonzero(pos == BROWSING)

        # 2. arrivals (not those who just left), thinned by past failures.
        off = np.flatnonzero(was_offline)
        p_arrive = _per_tick(cfg.arrival_rate, dt) * self.return_weight[off]
        arrivals = off[rng.random(off.size, dtype=np.float32) < p_arrive]
        pos[arrivals] = BROWSING
        self.budget[arrivals] = cfg.time_budget

        # 3. stream abandonment, hazard h / (1 - 5 r) (K&S rebuffering), to browsing; they choose next tick.
        watchers = np.flatnonzero(pos >= 0)
        playtime = np.maximum(1.0 - cfg.rebuffer_playtime_slope * stall, cfg.rebuffer_playtime_floor)
        p_leave = _per_tick(1.0 / cfg.mean_watch_seconds / playtime, dt).astype(np.float32)
        leave = rng.random(watchers.size, dtype=np.float32) < p_leave[pos[watchers]]
        pos[watchers[leave]] = BROWSING
        stay = watchers[~leave]
        reconsider = stay[rng.random(stay.size, dtype=np.float32) < np.float32(_per_tick(cfg.reconsider_rate, dt))]

        # 4. choice: multinomial logit by Gumbel-max, outside option in column 0.
        choosers = np.concatenate([browsers, arrivals, reconsider])
        joins, abandoned = self._choose(choosers, before, stall, wait, static_u, topic_m)

        # 5. accounting over pos + 2 lookup tables: budget drain and return weight after failures.
        idx = self._account(stall, wait, quality)
        return np.bincount(idx, minlength=s + 2), joins, abandoned

    def _choose(
        self,
        choosers: np.ndarray,
        before: np.ndarray,
        stall: np.ndarray,
        wait: np.ndarray,
        static_u: np.ndarray,
        topic_m: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Step 4 of a tick: every chooser picks a stream or the outside option; returns (joins, abandons)."""
        cfg, rng, s, pos = self.config, self.rng, len(self.stream_ids), self.pos
        joins = np.zeros(s, dtype=np.int64)
        abandoned = np.zeros(s, dtype=np.int64)
        if s and choosers.size:
            watched = before[2:]
            share = watched / watched.sum() if watched.sum() else np.full(s, 1.0 / s)
            share = (1.0 - cfg.social_floor) * share + cfg.social_floor / s
            p_abandon = startup_abandon_probability(wait, cfg)
            stream_u = static_u + cfg.w_social * np.log(s * share) - cfg.w_stall * stall - cfg.w_startup * p_abandon
            util = np.empty((choosers.size, s + 1), dtype=np.float32)
            util[:, 0] = math.log(cfg.no_click_mass)
            np.matmul(self.interest_weights[choosers], topic_m, out=util[:, 1:])
            util[:, 1:] += stream_u.astype(np.float32)
            current = pos[choosers].astype(np.intp)
            rows = np.flatnonzero(current >= 0)
            util[rows, current[rows] + 1] += np.float32(cfg.switch_bonus)
            u = rng.random(util.shape, dtype=np.float32)
            with np.errstate(divide="ignore"):
                util -= np.log(-np.log(u))  # + Gumbel(0, 1) noise; u == 0 gives -inf, never chosen
            choice = util.argmax(axis=1).astype(np.intp) - 1  # -1 == BROWSING
            switched = np.flatnonzero((choice >= 0) & (choice != current))
            target = choice[switched]
            gave_up = rng.random(switched.size) < p_abandon[target]
            choice[switched[gave_up]] = BROWSING
            joins = np.bincount(target, minlength=s)
            abandoned = np.bincount(target[gave_up], minlength=s)
            pos[choosers] = choice

        return joins, abandoned

    def _account(self, stall: np.ndarray, wait: np.ndarray, quality: np.ndarray) -> np.ndarray:
        """Step 5 of a tick: budgets drain (less on a good stream), failures thin the return weight.
        Returns every viewer's index into the pos + 2 count table."""
        cfg, dt, s = self.config, self.config.tick_seconds, len(self.stream_ids)
        no_content = np.clip(stall + np.clip(wait / dt, 0.0, 1.0), 0.0, 1.0)  # stalled or not started
        drain = np.empty(s + 2, dtype=np.float32)
        drain[0], drain[1] = 0.0, cfg.step_penalty * dt
        drain[2:] = dt * (1.0 - cfg.refund_alpha * quality * (1.0 - no_content))
        idx = self.pos.astype(np.intp) + 2
        self.budget -= drain[idx]
        if np.any(stall > 0):
            keep = np.ones(s + 2, dtype=np.float32)
            keep[2:] = (1.0 - cfg.failure_return_penalty) ** stall
            self.return_weight *= keep[idx]
        return idx

    # ----------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed for an exact resume: arrays (copies), stream ids and ages, the rng state."""
        return {
            "pos": self.pos.copy(),
            "budget": self.budget.copy(),
            "return_weight": self.return_weight.copy(),
            "interest_weights": self.interest_weights.copy(),
            "stream_ids": list(self.stream_ids),
            "stream_age": self.stream_age.copy(),
            "rng_state": self.rng.bit_generator.state,
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore `state_dict()` output (same config and topics); also resets this audience's Generator."""
        n, k = self.interest_weights.shape
        pos = np.asarray(d["pos"], dtype=np.int16)
        w = np.asarray(d["interest_weights"], dtype=np.float32)
        ids = [str(x) for x in d["stream_ids"]]
        if pos.shape != (n,) or w.shape != (n, k):
            raise ValueError(f"state is for {pos.shape[0]} viewers x {w.shape[-1]} topics, audience is {n} x {k}")
        if pos.size and (pos.min() < OFFLINE or pos.max() >= len(ids)):
            raise ValueError("state has viewer positions outside its stream list")
        if len(d["stream_age"]) != len(ids):
            raise ValueError("state has one stream age per stream id")
        self.pos = pos.copy()
        self.interest_weights = w.copy()
        self.budget = np.asarray(d["budget"], dtype=np.float32).copy()
        self.return_weight = np.asarray(d["return_weight"], dtype=np.float32).copy()
        self.stream_ids = ids
        self.stream_age = np.asarray(d["stream_age"], dtype=np.float64).copy()
        self.rng.bit_generator.state = d["rng_state"]
