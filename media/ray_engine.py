"""The Ray engine (`engine.backend: ray`): the league's streams spread over Ray actors, one device each.

Why this shape: the arena process stays the driver (observe, decide, watch, score, relegate, database) and
talks to this class through the same `media.engine_protocol.Engine` seam as to the local StreamEngine. Each
actor (media.ray_actor.EngineActor) runs an unchanged StreamEngine over the streams placed on it, so each
device batches its streams exactly as the local engine batches all of them. What travels through Ray each
round: the streams' current settings out, the StreamReports back (metrics, thumbnail, frame sample for the
eye, prompt embedding); broadcast frames are encoded on the actors and never travel.

Placement (media.placement): a new stream goes to the actor with the fewest streams; a relegated stream frees
its slot; a stream's finetune jobs run on the actor that owns it (checkpoints under the shared run dir, so a
child on another actor can inherit its parent's).

Faults: every actor is created with `max_restarts`, so Ray restarts one that dies (a crash, an OOM,
`ray.kill`). The driver keeps, per actor, the engine state of the last committed round (taken when the loop
writes its resume state, `state_dict`) and a journal of every call made to that actor since (streams added or
removed, references, finetunes, the round's `advance` with the settings it was given). A call that finds the
actor dead, or restarted and not yet restored (ActorNotReady), restores it: the fresh actor loads that state
and replays the journal, then the call is made again. So the round in flight is REPLAYED on the restored actor
(the other actors' results are kept): in `model` timing the season is exactly the one without the fault; in
`wall` timing the replay costs wall time. Each restore is a fault event (`engine_actor_restarted` in the event
log, drained by the loop). An actor that cannot be restored within `max_restarts` tries raises EngineActorLost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import FieldError
from media.engine_protocol import FrameCallback
from media.engine_streams import SettingsSource, StreamReport
from media.placement import Placement
from media.ray_actor import ActorNotReady, ActorSpec, EngineActor
from media.ray_config import RayConfig
from media.settings import StreamSettings

log = logging.getLogger(__name__)

STOP_POLL_SECONDS = 0.05  # how often a running round checks the loop's stop request
RESTART_POLL_SECONDS = 0.2  # how often a restore asks an actor Ray is restarting
START_TIMEOUT_SECONDS = 300.0  # actors that cannot be placed (no free GPU, say) fail the start after this


class EngineActorLost(RuntimeError):
    """An engine actor stayed dead after every restart Ray was allowed; the season cannot go on."""


Call = tuple[str, tuple, dict]


def _writable(report: StreamReport) -> StreamReport:
    """Ray hands numpy arrays back read-only (zero-copy from its object store); the arena's readers may use
    them as their own (torch.from_numpy in the eye), as they do with the local engine's: copy those few."""
    arrays = {
        f.name: np.array(v)
        for f in fields(report)
        if isinstance(v := getattr(report, f.name), np.ndarray) and not v.flags.writeable
    }
    return replace(report, **arrays) if arrays else report


def _check_resources(cluster: dict[str, float], config: RayConfig) -> None:
    """Actors the cluster can never place would wait forever: say so at start, in one line."""
    for key, field, each in (
        ("GPU", "num_gpus_per_actor", config.num_gpus_per_actor),
        ("CPU", "num_cpus_per_actor", config.num_cpus_per_actor),
    ):
        need, have = config.actors * each, cluster.get(key, 0.0)
        if need > have + 1e-9:
            raise FieldError(
                f"engine.ray.{field}",
                f"{config.actors} actors x {each:g} {key} need {need:g} {key}s; the Ray cluster has {have:g}",
            )


class RayEngine:
    def __init__(self, config: RayConfig, spec: ActorSpec, *, owns_ray: bool = False) -> None:
        import ray

        self._ray = ray
        self.config = config
        self.owns_ray = owns_ray
        _check_resources(ray.cluster_resources(), config)
        remote = ray.remote(EngineActor).options(
            num_cpus=config.num_cpus_per_actor,
            num_gpus=config.num_gpus_per_actor,
            max_restarts=config.max_restarts,
            max_task_retries=0,  # a call on a dead actor fails to us; we restore the actor, then call again
            max_concurrency=2,  # one call in flight from the driver, plus request_stop during advance
        )
        self.actors = [remote.remote(spec) for _ in range(config.actors)]
        self.placement = Placement(config.actors)
        self.sources: dict[str, SettingsSource] = {}
        self.settings: dict[str, StreamSettings] = {}
        self.now = 0.0
        self.checkpoint_root: str | None = None
        self.streams_dir: str | None = None
        self._snapshots: list[dict[str, Any] | None] = [None] * config.actors
        self._journals: list[list[Call]] = [[] for _ in self.actors]
        self._faults: list[dict[str, Any]] = []
        self._closed = False
        try:
            ray.get([a.start.remote(None, None) for a in self.actors], timeout=START_TIMEOUT_SECONDS)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise FieldError(
                "engine.ray",
                f"the cluster could not place {config.actors} engine actors with {config.num_cpus_per_actor} CPU "
                f"and {config.num_gpus_per_actor} GPU each within {START_TIMEOUT_SECONDS:.0f} s "
                f"(available: {ray.available_resources()})",
            ) from None
        except ray.exceptions.RayActorError as exc:  # its __init__ raised: a model that does not load there, say
            self.close()
            cause = str(getattr(exc, "error_msg", "") or exc).strip().splitlines()
            raise FieldError("engine.ray", f"an engine actor failed to start: {cause[-1] if cause else exc}") from None

    # ---- the protocol's calls ---------------------------------------------------------------------------
    def add_stream(self, stream_id: str, settings_source: SettingsSource, seed: int) -> None:
        settings = settings_source()
        if not isinstance(settings, StreamSettings):
            raise TypeError(f"settings_source of {stream_id!r} must return StreamSettings, got {type(settings)!r}")
        index = self.placement.place(stream_id)
        try:
            self._call(index, "add_stream", stream_id, settings, int(seed))
        except BaseException:
            self.placement.free(stream_id)
            raise
        self.sources[stream_id] = settings_source
        self.settings[stream_id] = settings

    def remove_stream(self, stream_id: str) -> None:
        index = self.placement.of(stream_id)
        self._call(index, "remove_stream", stream_id)
        self.placement.free(stream_id)
        del self.sources[stream_id], self.settings[stream_id]

    def set_references(self, references: dict[str, np.ndarray]) -> None:
        self._call_all({i: ("set_references", (references,), {}) for i in range(len(self.actors))})

    def finetune(
        self, stream_id: str, owner: str, frames: np.ndarray, prompt: str, *, steps: int, seed: int, **options: Any
    ) -> int:
        return self._call(self.placement.of(stream_id), "finetune", stream_id, owner, frames, prompt,
                          steps=steps, seed=seed, **options)  # fmt: skip

    def set_checkpoint_root(self, root: str | Path) -> None:
        """Checkpoints go to `root`; broadcast segments beside it, in `<run dir>/streams/<slot>/` (the loop's
        run folder, the one the broadcast server serves)."""
        self.checkpoint_root = str(root)
        self.streams_dir = str(Path(root).parent / "streams")
        self._call_all(
            {i: ("configure", (self.checkpoint_root, self.streams_dir), {}) for i in range(len(self.actors))}
        )

    def cancel_finetunes(self, stream_id: str) -> None:
        self._call(self.placement.of(stream_id), "cancel_finetunes", stream_id)

    def drain_finetune_events(self) -> list[dict[str, Any]]:
        out = self._call_all({i: ("drain_finetune_events", (), {}) for i in range(len(self.actors))})
        return [e for i in sorted(out) for e in out[i]]

    def inherit_finetune(self, parent_owner: str, child_stream: str) -> str | None:
        return self._call(self.placement.of(child_stream), "inherit_finetune", parent_owner, child_stream)

    def advance(
        self,
        seconds: float,
        should_stop: Callable[[], bool] | None = None,
        on_frame: FrameCallback | None = None,
    ) -> dict[str, StreamReport]:
        """Every actor runs the round in parallel on its own streams; reports come back in stream order.
        `on_frame` only says whether to broadcast: the actors encode their own streams' frames."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self._refresh_settings()
        encode = on_frame is not None
        calls = {
            i: ("advance", (seconds, {s: self.settings[s] for s in self.placement.streams_on(i)}, encode), {})
            for i in range(len(self.actors))
        }
        out = self._call_all(calls, should_stop=should_stop)
        self.now = max(now for now, _ in out.values())
        reports = {sid: _writable(r) for now, rs in out.values() for sid, r in rs.items()}
        return {sid: reports[sid] for sid in self.sources if sid in reports}

    def drain_fault_events(self) -> list[dict[str, Any]]:
        out, self._faults = self._faults, []
        return out

    def state_dict(self) -> dict[str, Any]:
        """Every actor's engine state and the placement; also this driver's restore point for each actor."""
        out = self._call_all({i: ("state_dict", (), {}) for i in range(len(self.actors))}, journal=False)
        states = [out[i] for i in range(len(self.actors))]
        self._snapshots = states
        self._journals = [[] for _ in self.actors]
        return {"backend": "ray", "now": self.now, "placement": self.placement.state_dict(), "actors": states}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the streams must have been added first (as with StreamEngine); each actor is then rebuilt
        from its saved state, on the saved placement."""
        if state.get("backend") != "ray":
            raise ValueError("this resume state was written by the local engine; resume it with engine.backend: local")
        placement = Placement.from_state(state["placement"])
        if placement.actors != len(self.actors):
            raise ValueError(f"the saved season ran {placement.actors} engine actors, this one has {len(self.actors)}")
        have, want = set(self.sources), set(placement.owner)
        if have != want:
            raise ValueError(
                f"engine streams do not match the saved state: missing {sorted(want - have)}, "
                f"extra {sorted(have - want)}"
            )
        self.placement = placement
        self._snapshots = list(state["actors"])
        self._journals = [[] for _ in self.actors]
        for i in range(len(self.actors)):
            self._restore(i, reason=None)
        self.now = float(state["now"])

    def close(self) -> None:
        """End the actors' encoders, kill the actors, and stop Ray if this engine started it."""
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        try:
            ray.get([a.close.remote() for a in self.actors], timeout=30)
        except Exception as exc:  # noqa: BLE001 - a dead actor has nothing left to close
            log.debug("closing engine actors: %s", exc)
        for a in self.actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        if self.owns_ray:
            ray.shutdown()

    def actor_pids(self) -> list[int]:
        """The actors' process ids (benchmarks and fault tests)."""
        return [self._call(i, "pid", journal=False) for i in range(len(self.actors))]

    # ---- calls with restore -------------------------------------------------------------------------------
    def _refresh_settings(self) -> None:
        """Read every stream's knobs once per round; a failing source keeps the previous settings (as the
        local engine does before each batch; in turn mode the knobs do not change while a round streams)."""
        for sid, source in self.sources.items():
            try:
                new = source()
            except Exception:  # the source is user/agent code
                log.exception("settings source of stream %s failed; keeping its previous settings", sid)
                continue
            if isinstance(new, StreamSettings):
                self.settings[sid] = new
            else:
                log.error("settings source of stream %s returned %r; keeping its previous settings", sid, new)

    def _call(self, index: int, name: str, *args: Any, journal: bool = True, **kwargs: Any) -> Any:
        return self._call_all({index: (name, args, kwargs)}, journal=journal)[index]

    def _call_all(
        self, calls: dict[int, Call], *, journal: bool = True, should_stop: Callable[[], bool] | None = None
    ) -> dict[int, Any]:
        """Make one call on each of several actors at once; an actor found dead is restored and called again."""
        ray = self._ray
        refs = {i: getattr(self.actors[i], name).remote(*args, **kw) for i, (name, args, kw) in calls.items()}
        if should_stop is not None:
            self._wait_or_stop(list(refs.values()), should_stop)
        out: dict[int, Any] = {}
        for i, ref in refs.items():
            name, args, kw = calls[i]
            for attempt in range(self.config.max_restarts + 2):
                try:
                    out[i] = self._get(ref)
                    break
                except (ray.exceptions.RayActorError, ActorNotReady) as exc:
                    if attempt > self.config.max_restarts:
                        raise EngineActorLost(f"engine actor {i} could not be restored: {exc}") from None
                    self._restore(i, reason=exc)
                    ref = getattr(self.actors[i], name).remote(*args, **kw)
            if journal:
                self._journals[i].append(calls[i])
        return out

    def _get(self, ref: Any) -> Any:
        """ray.get, with an error raised inside the actor re-raised as itself (ValueError stays ValueError)."""
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            raise cause from None

    def _wait_or_stop(self, refs: list[Any], should_stop: Callable[[], bool]) -> None:
        ray, pending, stopped = self._ray, refs, False
        while pending:
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=STOP_POLL_SECONDS)
            if pending and not stopped and should_stop():
                stopped = True
                for a in self.actors:
                    a.request_stop.remote()

    def _restore(self, index: int, reason: BaseException | None) -> None:
        """Bring actor `index` back to the last committed round, then replay the calls made since."""
        journal = self._journals[index]
        errors = self._ray.exceptions
        t0 = time.perf_counter()
        deaths = 0
        while True:
            try:
                self._get(
                    self.actors[index].restore.remote(
                        self.checkpoint_root, self.streams_dir, self._snapshots[index], journal
                    )
                )
                break
            except errors.ActorUnavailableError as exc:  # Ray is restarting it: wait, within the start timeout
                if time.perf_counter() - t0 > START_TIMEOUT_SECONDS:
                    raise EngineActorLost(f"engine actor {index} did not come back: {exc}") from None
                time.sleep(RESTART_POLL_SECONDS)
            except errors.RayActorError as exc:  # died (again), or out of restarts
                deaths += 1
                if deaths > self.config.max_restarts:
                    raise EngineActorLost(f"engine actor {index} could not be restored: {exc}") from None
                time.sleep(RESTART_POLL_SECONDS)
        if reason is None:
            return  # a resume, not a fault
        event = {
            "actor": index,
            "streams": self.placement.streams_on(index),
            "error": f"{type(reason).__name__}: {reason}".splitlines()[0][:300],
            "restored_from": "last committed round",
            "calls_replayed": len(journal),
            "round": "replayed",
            "seconds": round(time.perf_counter() - t0, 3),
        }
        log.warning("engine actor %d restarted; streams %s restored and the round replayed", index, event["streams"])
        self._faults.append(event)
