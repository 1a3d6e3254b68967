"""The simulated audience: a vectorised viewer population that decides where its eyes go, from what it sees.

Why this shape: a season scores ERN (concurrent viewers), so the audience must react to what a viewer could
perceive of each stream and must scale to 1M viewers on a laptop. Every viewer is one slot in a few flat numpy
arrays (int16 position, float32 budget, float32 return weight) plus a K-topic mixture row; a tick is a handful
of whole-array operations and never a Python loop over viewers.

What a viewer perceives (`StreamView`, built by `arena.round.stream_views` from the output frames): the eye's
embedding of the picture (topic match with its interests, trend alignment, visual novelty), detail at
display size, colour speckle, smoothness from the output frame rate, stability, boredom when the picture
stops changing, stalls and start-up delay, and how many others watch. Never the prompt text.

Viewer states (`pos`): OFFLINE (-2), BROWSING (-1: online, on the outside "no click" option) or the index
of the watched stream in `stream_ids`.

One round: interests drift toward the trends (`drift_interests`), then per tick, in order:
1. departures: online viewers whose RecSim time budget is spent go offline;
2. arrivals: offline viewers come online at a rate scaled by word of mouth (the lobby's appeal) and lowered
   for viewers who sat through stalls (Krishnan & Sitaraman: 2.32% less likely to return);
3. stream abandonment: watchers leave to browsing with a hazard raised by the stream's stall ratio
   (Krishnan & Sitaraman: 1% rebuffering costs 5% of play time);
4. choice: browsers, new arrivals and a reconsidering fraction of watchers pick a stream or the outside
   option by Gumbel-max over a multinomial logit (RecSim's user choice); switching into a stream that has
   not shown its first frame yet risks start-up abandonment (Krishnan & Sitaraman's curve); a browser who
   again picks nothing leaves the platform at `browse_leave_rate`. Every utility
   term's contribution is recorded per stream (`RoundAudience.terms`: why viewers came or left);
5. accounting: budgets are charged and refunded by the perceived quality (RecSim interest evolution).

Sources are cited at each constant in `arena.audience_config.AudienceConfig`; the values crossing the seam are
in `arena.audience_values`. Why this module is over 400 lines: the five steps of a tick mutate the same viewer
arrays in place, in an order the random draws depend on; keeping them in one class keeps that order visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from arena.audience_config import DEFAULT_TOPICS, AudienceConfig
from arena.audience_values import TERMS, Attribution, RoundAudience, StreamView

__all__ = ["DEFAULT_TOPICS", "Audience", "AudienceConfig", "RoundAudience", "StreamView", "TERMS"]

OFFLINE = -2
BROWSING = -1


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


@dataclass
class _RoundFeatures:
    """Per-round stream features the ticks read: topic affinity matrix M (K x S, cosine x w_topic), the
    per-term stream utilities that do not change within the round, stall ratio per tick, first-frame time."""

    topic_m: np.ndarray
    static_terms: dict[str, np.ndarray]
    quality: np.ndarray
    motion: np.ndarray
    stall: np.ndarray
    first_frame: np.ndarray


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
        self._gram = self._topics @ self._topics.T
        self.dim = int(topics.shape[1])
        n, k = config.size, topics.shape[0]

        # Interest_i = normalize(W_i @ T): store W_i already divided by |W_i @ T| so that cosines with a
        # stream are W @ (T @ e). Sparse mixtures via a Dirichlet (gamma draws, then normalised).
        w = rng.standard_gamma(config.interest_concentration, size=(n, k), dtype=np.float32) + np.float32(1e-6)
        self.interest_weights: np.ndarray = self._normalised(w)

        self.pos = np.full(n, OFFLINE, dtype=np.int16)
        self.budget = np.zeros(n, dtype=np.float32)
        online = np.flatnonzero(rng.random(n) < config.initial_online)
        self.pos[online] = BROWSING
        # Modelling choice: the initially online are mid-session, residual budget uniform in (0, budget].
        self.budget[online] = config.time_budget * (1.0 - rng.random(online.size, dtype=np.float32))
        self.return_weight = np.ones(n, dtype=np.float32)  # relative arrival propensity after failures
        self.stream_ids: list[str] = []
        self.stream_age = np.zeros(0, dtype=np.float64)  # seconds since each stream first appeared
        self.staleness = np.zeros(0, dtype=np.float64)  # seconds each stream's picture has been (nearly) still
        self.appeal = float(config.appeal_ref)  # word of mouth: the lobby's recent inclusive value

    def _normalised(self, w: np.ndarray) -> np.ndarray:
        norm = np.sqrt(np.maximum(np.einsum("nk,nk->n", w @ self._gram, w), 1e-12)).astype(np.float32)
        return (w / norm[:, None]).astype(np.float32)

    # ----------------------------------------------------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        """Current head counts: {"offline", "browsing", "watching": {stream_id: n}}."""
        c = np.bincount(self.pos.astype(np.int64) + 2, minlength=len(self.stream_ids) + 2)
        return {
            "offline": int(c[0]),
            "browsing": int(c[1]),
            "watching": {sid: int(c[2 + j]) for j, sid in enumerate(self.stream_ids)},
        }

    def topic_of(self, embedding: np.ndarray) -> str:
        """The audience topic a stream's content embedding is nearest to: what viewers think they are
        watching, whatever the prompt said. Told to the streamer so it can see a prompt that did not land."""
        e = np.asarray(embedding, dtype=np.float32).reshape(-1)
        return str(self.config.topics[int(np.argmax(self._topics @ e))])

    def demand(self) -> dict[str, int]:
        """Topic -> how many viewers hold it as their strongest interest (online or not): what the crowd
        wants, as opposed to what the trend feed says is hot."""
        top = np.argmax(self.interest_weights, axis=1)
        counts = np.bincount(top, minlength=len(self.config.topics))
        return {str(t): int(c) for t, c in zip(self.config.topics, counts)}

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
        self.staleness = np.array([self.staleness[old[s]] if s in old else 0.0 for s in new_ids], np.float64)
        self.stream_ids = list(new_ids)

    def drift_interests(self, topic_popularity: np.ndarray) -> None:
        """Interests follow trends: every viewer's topic mixture moves `trend_pull` toward the popularity
        share of each audience topic (K values, any scale; all zero: no drift)."""
        pull = self.config.trend_pull
        p = np.asarray(topic_popularity, dtype=np.float32).reshape(-1)
        if pull <= 0 or p.shape[0] != self._topics.shape[0] or p.sum() <= 0:
            return
        p = p / p.sum()
        # the stored rows are scaled mixtures: rescale each to sum 1, mix, renormalise for the cosine
        w = self.interest_weights / self.interest_weights.sum(axis=1, keepdims=True)
        self.interest_weights = self._normalised((1.0 - pull) * w + pull * p[None, :])

    # ----------------------------------------------------------------------------------------------------
    def step_round(
        self, views: list[StreamView], ticks: int, trend_embedding: np.ndarray | None = None
    ) -> RoundAudience:
        """Advance `ticks` audience ticks. `views` is the full set of live streams this round: streams not in it
        are removed (their viewers browse), new ids start with no viewers."""
        ids = self._check_views(views, ticks, trend_embedding)
        s, dt = len(views), self.config.tick_seconds
        self._reindex(ids)
        feats = self._round_features(views, ticks, trend_embedding)

        ern = np.zeros((s, ticks), dtype=np.int64)
        online_s, outside_s, offline_s = [], [], []
        joins = np.zeros(s, dtype=np.int64)
        abandoned = np.zeros(s, dtype=np.int64)
        attribution = Attribution(s)
        for t in range(ticks):
            c, j_in, j_ab = self._tick(t, feats, attribution)
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
            terms=attribution.result(ids),
            appeal=self.appeal,
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
            if np.size(v.content_embedding) != self.dim:
                raise ValueError(f"content embeddings must have dim {self.dim}, got {np.size(v.content_embedding)}")
        if trend_embedding is not None and np.size(trend_embedding) != self.dim:
            raise ValueError(f"trend_embedding must have dim {self.dim}, got {np.size(trend_embedding)}")
        return ids

    def _round_features(
        self, views: list[StreamView], ticks: int, trend_embedding: np.ndarray | None
    ) -> _RoundFeatures:
        cfg, s, dt = self.config, len(views), self.config.tick_seconds
        emb = np.stack([_unit(v.content_embedding) for v in views]) if s else np.zeros((0, self.dim), np.float32)
        topic_m = (self._topics @ emb.T * np.float32(cfg.w_topic)).astype(np.float32)  # (K, S)
        trend = np.zeros(s) if trend_embedding is None else emb.astype(np.float64) @ _unit(trend_embedding)
        static_terms = {
            "bias": np.full(s, cfg.utility_bias),
            "trend": cfg.w_trend * trend,
            "detail": cfg.w_detail * _clip01([v.detail for v in views]),
            "speckle": -cfg.w_speckle * _clip01([v.speckle for v in views]),
            "smoothness": cfg.w_smooth * _clip01([v.smoothness for v in views]),
            "stability": cfg.w_stability * _clip01([v.stability for v in views]),
            "novelty": cfg.w_novelty * _clip01([v.novelty for v in views]),
            "chat": cfg.w_chat * _clip01([v.chat_answered for v in views]),
            "voice": cfg.w_commentary * _clip01([v.commentary / cfg.commentary_full for v in views])
            - cfg.w_speech_spam * _clip01([v.speech_spam for v in views]),
        }
        stall = np.zeros((s, ticks))
        for j, v in enumerate(views):
            row = list(v.stall_seconds_per_tick)[:ticks]
            stall[j, : len(row)] = row
        stall = np.clip(stall / dt, 0.0, 1.0)  # stall ratio per tick
        first_frame = np.array([math.inf if v.startup_delay is None else v.startup_delay for v in views], float)
        quality = _clip01([v.perceived_quality for v in views])
        motion = _clip01([v.motion for v in views])
        return _RoundFeatures(topic_m, static_terms, quality, motion, stall, first_frame)

    def _tick(
        self, t: int, feats: _RoundFeatures, attribution: Attribution
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One tick over the whole population; returns (counts over pos+2, joins, start-up abandons)."""
        cfg, rng, dt, s = self.config, self.rng, self.config.tick_seconds, len(self.stream_ids)
        pos = self.pos
        stall = feats.stall[:, t]
        # Wait of a viewer switching in at the start of this tick, from the stream's own start.
        age = self.stream_age + t * dt
        wait = np.maximum(feats.first_frame - age, 0.0)
        self._update_staleness(feats.motion, dt)
        # Counts at the start of the tick: what the lobby shows (social proof).
        before = np.bincount(pos.astype(np.intp) + 2, minlength=s + 2)

        # 1. departures: the RecSim time budget is spent.
        was_offline = pos == OFFLINE
        pos[~was_offline & (self.budget <= 0)] = OFFLINE
        browsers = np.flatnonzero(pos == BROWSING)

        # 2. arrivals (not those who just left), thinned by past failures, scaled by word of mouth.
        off = np.flatnonzero(was_offline)
        p_arrive = _per_tick(cfg.arrival_rate * self._arrival_scale(), dt) * self.return_weight[off]
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
        stream_terms = self._tick_terms(feats, before, stall, wait, age)
        joins, abandoned = self._choose(choosers, stream_terms, wait, feats.topic_m, attribution)

        # 5. accounting over pos + 2 lookup tables: budget drain and return weight after failures.
        idx = self._account(stall, wait, feats.quality)
        return np.bincount(idx, minlength=s + 2), joins, abandoned

    def _arrival_scale(self) -> float:
        cfg = self.config
        scale = math.exp(cfg.w_word_of_mouth * (self.appeal - cfg.appeal_ref))
        return float(min(cfg.arrival_scale_max, max(cfg.arrival_scale_min, scale)))

    def _update_staleness(self, motion: np.ndarray, dt: float) -> None:
        """A still picture grows stale second by second; a moving one recovers faster than it staled."""
        floor = self.config.motion_floor
        still = np.clip(1.0 - motion / floor, 0.0, 1.0) if floor > 0 else np.zeros_like(motion)
        moving = 1.0 - still
        self.staleness = np.maximum(self.staleness + dt * still - dt * self.config.boredom_recovery * moving, 0.0)

    def _tick_terms(
        self, feats: _RoundFeatures, before: np.ndarray, stall: np.ndarray, wait: np.ndarray, age: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Every stream-level utility term for this tick (the viewer-level topic and inertia come in _choose)."""
        cfg, s = self.config, len(self.stream_ids)
        terms = dict(feats.static_terms)
        terms["boredom"] = -cfg.w_boredom * np.minimum(1.0, self.staleness / cfg.boredom_seconds)
        terms["new"] = cfg.w_new * np.clip(1.0 - age / cfg.new_stream_seconds, 0.0, 1.0)
        watched = before[2:]
        share = watched / watched.sum() if watched.sum() else np.full(s, 1.0 / max(1, s))
        share = (1.0 - cfg.social_floor) * share + cfg.social_floor / max(1, s)
        terms["social"] = cfg.w_social * np.log(s * share) if s else np.zeros(0)
        terms["stall"] = -cfg.w_stall * stall
        terms["startup"] = -cfg.w_startup * startup_abandon_probability(wait, cfg)
        return terms

    def _choose(
        self,
        choosers: np.ndarray,
        terms: dict[str, np.ndarray],
        wait: np.ndarray,
        topic_m: np.ndarray,
        attribution: Attribution,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Step 4 of a tick: every chooser picks a stream or the outside option; returns (joins, abandons).
        Browsers who pick nothing again leave at `browse_leave_rate`; the lobby's appeal is updated."""
        cfg, rng, s, pos = self.config, self.rng, len(self.stream_ids), self.pos
        joins = np.zeros(s, dtype=np.int64)
        abandoned = np.zeros(s, dtype=np.int64)
        if not (s and choosers.size):
            return joins, abandoned
        stream_u = sum(terms.values())
        util = np.empty((choosers.size, s + 1), dtype=np.float32)
        util[:, 0] = math.log(cfg.no_click_mass)
        np.matmul(self.interest_weights[choosers], topic_m, out=util[:, 1:])
        topic_sums = util[:, 1:].sum(axis=0, dtype=np.float64)
        util[:, 1:] += stream_u.astype(np.float32)
        current = pos[choosers].astype(np.intp)
        rows = np.flatnonzero(current >= 0)
        util[rows, current[rows] + 1] += np.float32(cfg.switch_bonus)
        inertia = np.bincount(current[rows], minlength=s) * cfg.switch_bonus
        attribution.add(choosers.size, terms, {"topic": topic_sums, "inertia": inertia})
        lse = np.log(np.exp(util[:, 1:].astype(np.float64)).sum(axis=1))  # the lobby's inclusive value
        a = cfg.appeal_smoothing
        self.appeal = (1 - a) * self.appeal + a * float(lse.mean())
        u = rng.random(util.shape, dtype=np.float32)
        with np.errstate(divide="ignore"):
            util -= np.log(-np.log(u))  # + Gumbel(0, 1) noise; u == 0 gives -inf, never chosen
        choice = util.argmax(axis=1).astype(np.intp) - 1  # -1 == BROWSING
        switched = np.flatnonzero((choice >= 0) & (choice != current))
        target = choice[switched]
        gave_up = rng.random(switched.size) < startup_abandon_probability(wait, cfg)[target]
        choice[switched[gave_up]] = BROWSING
        joins = np.bincount(target, minlength=s)
        abandoned = np.bincount(target[gave_up], minlength=s)
        bored = (choice == BROWSING) & (current == BROWSING)
        bored &= rng.random(choosers.size) < _per_tick(cfg.browse_leave_rate, cfg.tick_seconds)
        choice[bored] = OFFLINE
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
            "staleness": self.staleness.copy(),
            "appeal": self.appeal,
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
        self.staleness = np.asarray(d.get("staleness", np.zeros(len(ids))), dtype=np.float64).copy()
        self.appeal = float(d.get("appeal", self.config.appeal_ref))
        self.rng.bit_generator.state = d["rng_state"]
