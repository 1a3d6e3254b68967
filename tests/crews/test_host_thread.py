"""The model's host thread: calls from decision threads run on the loop's thread, in order, and never hang."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from crews.llm.host_thread import HostThread


def test_without_a_host_calls_run_in_the_callers_thread():
    host = HostThread()
    assert host.run(threading.get_ident) == threading.get_ident()


def test_calls_from_other_threads_run_on_the_host_loop_thread_and_errors_come_back():
    host = HostThread()

    async def main():
        loop_thread = threading.get_ident()
        with host.hosted_by(asyncio.get_running_loop()):
            ran_on = await asyncio.gather(*(asyncio.to_thread(host.run, threading.get_ident) for _ in range(4)))
            assert host.run(threading.get_ident) == loop_thread  # on the host itself: inline, no deadlock

            def boom():
                raise ValueError("bad call")

            with pytest.raises(ValueError, match="bad call"):
                await asyncio.to_thread(host.run, boom)
        return loop_thread, ran_on

    loop_thread, ran_on = asyncio.run(main())
    assert ran_on == [loop_thread] * 4
    assert host.run(threading.get_ident) == threading.get_ident()  # the host is released on exit


def test_a_finished_decision_is_seen_between_two_model_calls():
    """Queued calls run one per loop iteration: a coroutine woken meanwhile runs before the next call."""
    host = HostThread()
    order: list[str] = []

    async def main():
        with host.hosted_by(asyncio.get_running_loop()):
            woken = asyncio.Event()

            def slow(i):
                order.append(f"call{i}")
                if i == 0:
                    asyncio.get_running_loop().call_soon(woken.set)
                time.sleep(0.05)
                return i

            async def watcher():
                await woken.wait()
                order.append("woken")

            w = asyncio.create_task(watcher())
            await asyncio.gather(*(asyncio.to_thread(host.run, lambda i=i: slow(i)) for i in range(3)), w)

    asyncio.run(main())
    assert order.index("woken") < order.index("call2")


def test_a_call_whose_host_loop_is_gone_runs_in_the_caller():
    host = HostThread()
    loop = asyncio.new_event_loop()
    with host.hosted_by(loop):  # registered, but the loop never runs
        t0 = time.perf_counter()
        result: list[int] = []
        th = threading.Thread(target=lambda: result.append(host.run(threading.get_ident)))
        th.start()
        th.join(timeout=5)
        assert not th.is_alive() and result and time.perf_counter() - t0 < 5
    loop.close()

    async def next_round():  # the call left queued on the dead loop must not stall the next host
        with host.hosted_by(asyncio.get_running_loop()):
            return await asyncio.wait_for(asyncio.to_thread(host.run, threading.get_ident), 5), threading.get_ident()

    ran_on, loop_thread = asyncio.run(next_round())
    assert ran_on == loop_thread
