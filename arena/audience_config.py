"""Every behavioural constant of the simulated audience, with its source or the modelling reason for it.

Split from `arena.audience` (the population and its tick) so the numbers a season depends on read in one
place; the season YAML sets them under `audience:` (see docs/facts.md for the published figures).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from media.trends import DEFAULT_TOPICS as TREND_TOPICS

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
        description="interest topics; the eye embeds them into the prototypes T (K x dim)",
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

    # --- elastic attention: what is on offer changes how many people watch -----------------------------
    # Word of mouth (modelling choice): the arrival rate is scaled by exp(w_word_of_mouth x (appeal -
    # appeal_ref)), clipped to [arrival_scale_min, arrival_scale_max], where appeal is an exponential moving
    # average (per tick, weight appeal_smoothing) of the lobby's inclusive value for the viewers choosing, the
    # logit model's expected best utility log(sum exp(u_j)). A lobby of good streams draws more viewers online.
    w_word_of_mouth: float = Field(0.6, ge=0)
    appeal_ref: float = 1.0
    appeal_smoothing: float = Field(0.05, gt=0, le=1)
    arrival_scale_min: float = Field(0.2, gt=0)
    arrival_scale_max: float = Field(4.0, gt=0)
    # Modelling choice: a browser who again picks nothing leaves the platform at this rate per second, so a
    # lobby with nothing worth watching empties instead of holding its viewers on the outside option.
    browse_leave_rate: float = Field(1 / 30, ge=0)
    # Interests follow trends (modelling choice): each round every viewer's topic mixture moves this fraction
    # toward the trend feed's popularity over the audience's topics.
    trend_pull: float = Field(0.02, ge=0, le=1)

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
    # on-topic one wins. Every content term reads what the eye and the frames show (arena.round.stream_views):
    # topic and trend are cosines of the eye's embedding of output frames, never of the prompt text.
    utility_bias: float = -3.5
    w_topic: float = Field(5.0, description="x cosine(viewer interest, eye embedding of the frames); modelling choice")
    w_trend: float = Field(1.5, description="x cosine(eye embedding of the frames, trend embedding); modelling choice")
    # Perceived picture quality (media.perception): detail at display size rewards steps and resolution with
    # diminishing returns; speckle (colour noise) costs; a dark scene is not worse for being dark (no exposure
    # term). Modelling choices, sized so 1 -> 4 steps at 64 px (detail 0.27 -> 0.47) is worth ~0.4 utils.
    w_detail: float = Field(2.0, description="x detail at display size in 0..1; modelling choice")
    w_speckle: float = Field(0.8, description="- x colour speckle in 0..1; modelling choice")
    # Smoothness from the output frame rate (1 - exp(-fps / 8)): 4 -> 12 fps is worth ~0.6 utils.
    w_smooth: float = Field(1.5, description="x smoothness in 0..1; modelling choice")
    w_stability: float = Field(0.3, description="x temporal stability in 0..1 (no flicker); modelling choice")
    w_novelty: float = Field(0.5, description="x visual novelty (eye distance to the nearest rival); modelling")
    # Being answered: viewers whose messages or requests the streamer answers (a spoken line, an approved
    # style request) stay a little longer. Modelling choice, kept modest (below novelty, equal to stability):
    # chat is a small part of why people watch. Ignoring a busy chat earns nothing (value 0), and an empty
    # chat earns nothing either, so talking to nobody does not help.
    w_chat: float = Field(0.3, ge=0, description="x share of the shown chat the streamer answered, 0..1; modelling")
    # A voice: commentary makes viewers stay a little longer, up to `commentary_full` of the round spoken (about
    # a line every 8 s of stream); more talk earns nothing more. Modelling choice, modest (half of chat): the
    # picture is why people come. Spam costs more than commentary earns: a streamer the budget had to stop
    # (talking too much, too long, or repeating itself) loses w_speech_spam at three refused lines a round.
    w_commentary: float = Field(0.15, ge=0, description="x min(1, spoken share / commentary_full); modelling")
    commentary_full: float = Field(0.3, gt=0, le=1, description="spoken share of a round worth the whole term")
    w_speech_spam: float = Field(0.4, ge=0, description="- x refused lines a round / 3 (capped at 1); modelling")
    # Boredom: a picture that stops changing loses viewers over time. Each second with motion below
    # `motion_floor` adds to the stream's staleness (recovering `boredom_recovery` x faster when it moves);
    # the penalty grows to w_boredom at `boredom_seconds` of staleness. Modelling choices.
    w_boredom: float = Field(2.0, ge=0)
    boredom_seconds: float = Field(45.0, gt=0)
    motion_floor: float = Field(0.2, ge=0, le=1)
    boredom_recovery: float = Field(2.0, ge=0)
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
