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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Iterator

POLL_SECONDS = 0.5  # how often a waiting caller checks that its host loop is still alive
# Loop iterations between two model calls. A decision that got its answer needs about three before the loop
# has seen it end (thread settles a future -> the task wakes -> wait_for returns); without these hops each step
# waited for another whole model call, and all decisions of a round ended together.
YIELD_HOPS = 4


class _Call:
    """One call handed to the host; whoever claims it first (host or, when the host died, caller) runs it."""

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        self._claimed = threading.Lock()

    def claim(self) -> bool:
        return self._claimed.acquire(blocking=False)

    def run(self) -> None:
        try:
            self.future.set_result(self.fn())
        except BaseException as exc:  # handed to the caller
            self.future.set_exception(exc)


class HostThread:
    """A registry of the loop (and its thread) that model calls are sent to, with nesting counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id: int | None = None
        self._depth = 0
        self._queue: deque[_Call] = deque()
        self._serving = False  # a _serve callback is scheduled on the host loop

    @contextmanager
    def hosted_by(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        """While inside, calls from other threads run on `loop`'s thread (which must be the current one).
        Concurrent decisions of one round nest on the same loop; another loop keeps the first host."""
        with self._lock:
            if self._loop is None:
                self._loop, self._thread_id = loop, threading.get_ident()
            mine = self._loop is loop
            if mine:
                self._depth += 1
        try:
            yield
        finally:
            if mine:
                with self._lock:
                    self._depth -= 1
                    if self._depth == 0:
                        self._loop = self._thread_id = None

    def run(self, fn: Callable[[], Any]) -> Any:
        """fn() on the host thread when there is one and we are not on it; else right here.

        Calls queue on the host and run one at a time, YIELD_HOPS loop iterations apart (`_serve`
        re-schedules itself at the back of the loop's ready queue), so a decision that finished is seen by the
        loop between two model calls instead of after every queued one."""
        with self._lock:
            loop, tid = self._loop, self._thread_id
        if loop is None or tid == threading.get_ident():
            return fn()
        call = _Call(fn)
        with self._lock:
            self._queue.append(call)
            start = not self._serving
            self._serving = True
        if start:
            try:
                loop.call_soon_threadsafe(self._serve, loop)
            except RuntimeError:  # the loop is closed
                with self._lock:
                    self._serving = False
        while True:
            try:
                return call.future.result(timeout=POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                if (loop.is_closed() or not loop.is_running()) and call.claim():
                    call.run()  # the host went away before running it
                    return call.future.result()

    def _serve(self, loop: asyncio.AbstractEventLoop, hops: int = 0) -> None:
        if hops:  # let a finished decision's completion chain run before the next model call
            loop.call_soon(self._serve, loop, hops - 1)
            return
        with self._lock:
            call = self._queue.popleft() if self._queue else None
            more = bool(self._queue)
            if not more:
                self._serving = False
        if call is not None and call.claim():
            call.run()
        if more:
            loop.call_soon(self._serve, loop, YIELD_HOPS)
