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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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


class _Host:
    """One registration: a loop, its thread, how many decisions on it are inside `hosted_by`, and its own
    queue. Per registration, so a loop that stopped with a call still queued cannot stall the next host."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.thread_id = threading.get_ident()
        self.depth = 0
        self.queue: deque[_Call] = deque()
        self.serving = False  # a _serve callback is scheduled on the loop


class HostThread:
    """A registry of the loop (and its thread) that model calls are sent to, with nesting counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._host: _Host | None = None

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
        loop = host.loop
        if start:
            try:
                loop.call_soon_threadsafe(self._serve, host)
            except RuntimeError:  # the loop is closed
                with self._lock:
                    host.serving = False
        while True:
            try:
                return call.future.result(timeout=POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                if (loop.is_closed() or not loop.is_running()) and call.claim():
                    call.run()  # the host went away before running it
                    return call.future.result()

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
