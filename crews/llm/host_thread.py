"""Run the embedded model's forward passes on one host thread: the thread of the event loop that awaits the
decisions, instead of each decision's own worker thread.

Why (measured, bench notes in issue 4): torch's CPU kernels use an OpenMP team per calling thread. While a
second torch-using thread is alive, libgomp manages more threads than this 2-core machine has, switches its
workers to "throttled" spinning, and every parallel region then pays a futex wake-up: the embedded model
decoded 2x slower (0.55 -> 1.05 s for the same 31-token call) when any other thread that had used torch was
still alive. The season's decision threads are exactly that. Executing the model on the loop's thread (in
turn mode the main thread, which already owns the engine's team) keeps one team. The loop is blocked while
the model runs, which costs nothing: every decision is waiting for the model anyway, and a timeout fires at
most one generation late.

If the loop is gone (a decision abandoned after its round) the call runs in the caller's thread instead.

Batches (`run_batched`, what the embedded model uses): requests that wait on the host together are decoded as
one batch (`batching`: one forward pass per step for all of them). Which requests form a batch must not depend
on thread timing, or a turn-mode season would not replay: the host forms a batch only when *every* decision it
hosts (`depth`: the decisions inside `hosted_by`) has a request pending, or has ended; a decision between two
requests (its thread is parsing an answer, running a tool) is waited for. The rows are ordered by the
requests' stable keys and the first `max_rows` of them form the batch (the rest wait for the next one, formed
by the same rule). So a batch is "the next requests of the decisions still running, in key order", a function
of what the decisions asked, not of when. Only a stuck decision breaks this: after BARRIER_SECONDS with requests
pending the host runs them anyway (counted in `stats()["forced"]`). A running batch is not joined: a request
arriving meanwhile waits for the next batch. The batch advances one step (a row's prefill or one decode step)
per loop callback, YIELD_HOPS iterations apart, and a row's result is handed back as soon as it ends, so its
decision finishes while the others still decode, and a timeout fires at most one step late.

What stays timing-dependent: with more decisions than `decision.max_parallel`, the next decision is admitted
when one ends and enters `hosted_by` a few loop iterations later; the loop's FIFO order normally puts its
entry before the host's next barrier check, but that is loop order, not a rule. With `max_parallel` at least
the number of streamers every decision is hosted from the start and the row limit alone splits the round, so
the composition is fixed by the keys. A decision that times out leaves its pending request behind, which can
complete a barrier early; a timeout is wall-clock anyway.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how often a waiting caller checks that its host loop is still alive
# How long pending requests wait for a hosted decision that neither asks nor ends before they run without it:
# a safety valve for a stuck decision (crewai takes milliseconds between two requests), not a batching window.
BARRIER_SECONDS = 10.0
# Loop iterations between two model calls. A decision that got its answer needs about three before the loop
# has seen it end (thread settles a future -> the task wakes -> wait_for returns); without these hops each step
# waited for another whole model call, and all decisions of a round ended together.
YIELD_HOPS = 4

Steps = Callable[[list[Any]], Iterator[list[tuple[int, Any]]]]  # see HostThread.run_batched


class _Call:
    """One call handed to the host; whoever claims it first (host or, when the host died, caller) runs it.

    A batched call carries its request `item`, the `steps` function that decodes a batch of such items, and
    its sort `key`; a plain one carries `fn`."""

    def __init__(self, fn: Callable[[], Any] | None = None, item: Any = None, steps: Steps | None = None, key=()):
        self.fn, self.item, self.steps, self.key = fn, item, steps, key
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        self._claimed = threading.Lock()

    def claim(self) -> bool:
        return self._claimed.acquire(blocking=False)

    def settle(self, ok: bool, value: Any) -> None:
        """Hand the result over once (a caller that ran its call itself may have settled it already)."""
        try:
            self.future.set_result(value) if ok else self.future.set_exception(value)
        except concurrent.futures.InvalidStateError:
            pass

    def run(self) -> None:
        try:
            if self.fn is not None:
                value = self.fn()
            else:  # a batched call run alone (its host went away): a batch of one
                value = _run_alone(self.steps, self.item)
        except BaseException as exc:  # handed to the caller
            self.settle(False, exc)
        else:
            self.settle(True, value)


def _run_alone(steps: Steps, item: Any) -> Any:
    for done in steps([item]):
        for _, value in done:
            if isinstance(value, BaseException):
                raise value
            return value
    raise RuntimeError("batch ended without a result")


class _Batch:
    """A running batch: its calls in row order and the iterator of its steps."""

    def __init__(self, calls: list[_Call], steps: Iterator[list[tuple[int, Any]]]):
        self.calls, self.steps = calls, steps


class _Host:
    """One registration: a loop, its thread, how many decisions on it are inside `hosted_by`, and its own
    queues. Per registration, so a loop that stopped with a call still queued cannot stall the next host."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.thread_id = threading.get_ident()
        self.depth = 0
        self.queue: deque[_Call] = deque()
        self.serving = False  # a _serve callback is scheduled on the loop
        self.pending: list[_Call] = []  # batched calls waiting for the barrier
        self.batch: _Batch | None = None
        self.waiting_since: float | None = None  # when the oldest pending call started to wait
        self.timer: asyncio.TimerHandle | None = None


class HostThread:
    """A registry of the loop (and its thread) that model calls are sent to, with nesting counts."""

    def __init__(self, batching: bool = True, max_rows: int | None = None) -> None:
        self._lock = threading.Lock()
        self._host: _Host | None = None
        # False: batched calls run one at a time in arrival order, without the barrier (the serial behaviour
        # before batching; for A/B benches, `TOTOROID_LLM_BATCH=0`).
        self.batching = batching
        # At most this many rows per batch: the first ones by key; the rest wait for the next batch, which
        # forms under the same barrier (so the split is a function of the requests, not of timing).
        self.max_rows = max_rows
        self._stats = {"batches": 0, "rows": 0, "forced": 0}

    def stats(self) -> dict[str, int]:
        """Batches run on a host, their rows, and batches the barrier's safety valve forced."""
        with self._lock:
            return dict(self._stats)

    @contextmanager
    def hosted_by(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        """While inside, calls from other threads run on `loop`'s thread (which must be the current one).
        Concurrent decisions of one round nest on the same loop; another loop keeps the first host."""
        with self._lock:
            if self._host is None:
                self._host = _Host(loop)
            host = self._host if self._host.loop is loop else None
            if host is not None:
                host.depth += 1
        try:
            yield
        finally:
            if host is not None:
                with self._lock:
                    host.depth -= 1
                    if host.depth == 0 and self._host is host:
                        self._host = None
                self._poke(host)  # one decision fewer to wait for

    def run(self, fn: Callable[[], Any]) -> Any:
        """fn() on the host thread when there is one and we are not on it; else right here.

        Calls queue on the host and run one at a time, YIELD_HOPS loop iterations apart (`_serve`
        re-schedules itself at the back of the loop's ready queue), so a decision that finished is seen by the
        loop between two model calls instead of after every queued one."""
        with self._lock:
            host = self._host
            if host is None or host.thread_id == threading.get_ident():
                host = None
            else:
                call = _Call(fn)
                host.queue.append(call)
                start, host.serving = not host.serving, True
        if host is None:
            return fn()
        if start:
            try:
                host.loop.call_soon_threadsafe(self._serve, host)
            except RuntimeError:  # the loop is closed
                with self._lock:
                    host.serving = False
        return self._wait(host, call)

    def run_batched(self, item: Any, steps: Steps) -> Any:
        """The result for `item`, decoded on the host in a batch with the other items pending there.

        `steps(items)` returns an iterator; each `next` does one unit of work and returns `(index, result)`
        for the items that ended in it (a result that is an exception is raised to that item's caller).
        `item.sort_key()` orders a batch. Without a host (or on its thread) `item` runs alone, right here."""
        with self._lock:
            host = self._host
            if host is None or host.thread_id == threading.get_ident():
                host = None
            else:
                call = _Call(item=item, steps=steps, key=item.sort_key())
                host.pending.append(call)
        if host is None:
            return _run_alone(steps, item)
        self._poke(host)
        return self._wait(host, call)

    def _wait(self, host: _Host, call: _Call) -> Any:
        loop = host.loop
        while True:
            try:
                return call.future.result(timeout=POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                if (loop.is_closed() or not loop.is_running()) and call.claim():
                    call.run()  # the host went away before running it
                    return call.future.result()
                if loop.is_closed() and call.fn is None:
                    # Its batch stopped with the loop. Only an abandoned decision's request can be left in a
                    # batch when the round's loop ends; running it again here would share its grammar matcher
                    # with the stopped batch, so it fails instead.
                    raise RuntimeError("the model's host loop ended in the middle of this request's batch") from None

    def _poke(self, host: _Host) -> None:
        """Have the host check its barrier soon (from any thread)."""
        try:
            if threading.get_ident() == host.thread_id:
                host.loop.call_soon(self._check, host)
            else:
                host.loop.call_soon_threadsafe(self._check, host)
        except RuntimeError:  # the loop is closed: waiting callers run their calls themselves
            pass

    def _check(self, host: _Host) -> None:
        """On the loop: start a batch when none runs and every hosted decision has a call pending (or the
        barrier's safety valve has run out). Rows in key order; one `steps` function per batch."""
        now = time.monotonic()
        with self._lock:
            if host.batch is not None or not host.pending:
                return
            if host.waiting_since is None:
                host.waiting_since = now
            forced = self.batching and len(host.pending) < host.depth
            log.debug("barrier check: %d pending, %d hosted", len(host.pending), host.depth)
            if forced and now - host.waiting_since < BARRIER_SECONDS:
                if host.timer is None:
                    host.timer = host.loop.call_later(BARRIER_SECONDS, self._expire, host)
                return
            if self.batching:
                host.pending.sort(key=lambda c: c.key)
            steps = host.pending[0].steps
            if self.batching:
                # == not `is`: `model.decode_batch` is a new bound-method object at every access
                calls = [c for c in host.pending if c.steps == steps][: self.max_rows or None]
            else:
                calls = host.pending[:1]
            host.pending = [c for c in host.pending if c not in calls]
            host.waiting_since = now if host.pending else None
            calls = [c for c in calls if c.claim()]
            if not calls:
                return
            self._stats["batches"] += 1
            self._stats["rows"] += len(calls)
            self._stats["forced"] += int(forced)
            host.batch = _Batch(calls, iter(()))
        try:
            host.batch.steps = iter(steps([c.item for c in calls]))
        except BaseException as exc:  # noqa: BLE001  (handed to every caller of the batch)
            for c in calls:
                c.settle(False, exc)
            self._end_batch(host)
            return
        self._step(host)

    def _expire(self, host: _Host) -> None:
        with self._lock:
            host.timer = None
        self._check(host)

    def _step(self, host: _Host, hops: int = 0) -> None:
        """One unit of the running batch's work, then the next one YIELD_HOPS loop iterations later."""
        if hops:
            host.loop.call_soon(self._step, host, hops - 1)
            return
        batch = host.batch
        if batch is None:
            return
        try:
            done = next(batch.steps)
        except StopIteration:
            for c in batch.calls:
                c.settle(False, RuntimeError("batch ended without a result for this request"))
            self._end_batch(host)
            return
        except BaseException as exc:  # noqa: BLE001  (the batch failed as a whole: every caller gets it)
            for c in batch.calls:
                c.settle(False, exc)
            self._end_batch(host)
            return
        for i, value in done:
            batch.calls[i].settle(not isinstance(value, BaseException), value)
        host.loop.call_soon(self._step, host, YIELD_HOPS)

    def _end_batch(self, host: _Host) -> None:
        with self._lock:
            host.batch = None
        self._check(host)

    def _serve(self, host: _Host, hops: int = 0) -> None:
        if hops:  # let a finished decision's completion chain run before the next model call
            host.loop.call_soon(self._serve, host, hops - 1)
            return
        with self._lock:
            call = host.queue.popleft() if host.queue else None
            more = bool(host.queue)
            if not more:
                host.serving = False
        if call is not None and call.claim():
            call.run()
        if more:
            host.loop.call_soon(self._serve, host, YIELD_HOPS)
