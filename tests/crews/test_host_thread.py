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


# ---- batches (run_batched) ------------------------------------------------------------------------------------


class Item:
    def __init__(self, name: str, fail: bool = False):
        self.name, self.fail = name, fail

    def sort_key(self):
        return (self.name,)


class Recorder:
    """A `steps` function that records each batch's item names; item i ends at step i (0-based)."""

    def __init__(self):
        self.batches: list[list[str]] = []
        self.threads: set[int] = set()

    def __call__(self, items):
        self.batches.append([it.name for it in items])
        for i, it in enumerate(items):
            self.threads.add(threading.get_ident())
            yield [(i, ValueError(f"bad {it.name}") if it.fail else f"{it.name}!")]


def _decisions(host: HostThread, plans: dict[str, list[tuple[float, Item]]]):
    """Run one hosted decision per plan (delays before each call) and return what each got."""
    steps = Recorder()

    async def decision(plan):
        def work():
            out = []
            for delay, item in plan:
                time.sleep(delay)
                try:
                    out.append(host.run_batched(item, steps))
                except ValueError as e:
                    out.append(str(e))
            return out

        with host.hosted_by(asyncio.get_running_loop()):
            return await asyncio.to_thread(work)

    async def main():
        return await asyncio.gather(*(decision(p) for p in plans.values())), threading.get_ident()

    results, loop_thread = asyncio.run(main())
    return dict(zip(plans, results, strict=True)), steps, loop_thread


def test_a_batch_waits_for_every_hosted_decision_and_orders_rows_by_key():
    host = HostThread()
    got, steps, loop_thread = _decisions(
        host,
        {
            "c": [(0.0, Item("c1"))],
            "a": [(0.2, Item("a1"))],  # late: the others wait for it
            "b": [(0.0, Item("b1")), (0.0, Item("b2"))],  # its second call waits for the next batch
        },
    )
    assert steps.batches == [["a1", "b1", "c1"], ["b2"]]
    assert got == {"c": ["c1!"], "a": ["a1!"], "b": ["b1!", "b2!"]}
    assert steps.threads == {loop_thread}
    assert host.stats() == {"batches": 2, "rows": 4, "forced": 0}


def test_a_decision_that_ends_without_calling_releases_the_barrier_and_errors_stay_per_row():
    host = HostThread()
    got, steps, _ = _decisions(
        host,
        {"a": [(0.0, Item("a1", fail=True))], "b": [(0.0, Item("b1"))], "quiet": []},
    )
    assert steps.batches == [["a1", "b1"]]
    assert got == {"a": ["bad a1"], "b": ["b1!"], "quiet": []}


def test_the_barrier_has_a_safety_valve_for_a_stuck_decision(monkeypatch):
    import crews.llm.host_thread as ht

    monkeypatch.setattr(ht, "BARRIER_SECONDS", 0.3)
    host = HostThread()
    t0 = time.perf_counter()
    got, steps, _ = _decisions(host, {"a": [(0.0, Item("a1"))], "stuck": [(1.0, Item("s1"))]})
    assert steps.batches == [["a1"], ["s1"]] and got == {"a": ["a1!"], "stuck": ["s1!"]}
    assert host.stats()["forced"] == 1 and time.perf_counter() - t0 < 5


def test_a_row_result_is_handed_back_before_its_batch_ends():
    host = HostThread()
    seen: dict[str, float] = {}

    def steps(items):
        for i, it in enumerate(items):
            if i:
                time.sleep(0.3)
            yield [(i, it.name)]

    async def decision(name):
        def work():
            host.run_batched(Item(name), steps)
            seen[name] = time.perf_counter()

        with host.hosted_by(asyncio.get_running_loop()):
            await asyncio.to_thread(work)

    async def main():
        await asyncio.gather(decision("a"), decision("b"))

    asyncio.run(main())
    assert seen["b"] - seen["a"] > 0.2


def test_batched_calls_without_a_host_run_alone_in_the_caller():
    steps = Recorder()
    assert HostThread().run_batched(Item("x"), steps) == "x!"
    assert steps.batches == [["x"]] and steps.threads == {threading.get_ident()}
    with pytest.raises(ValueError, match="bad y"):
        HostThread().run_batched(Item("y", fail=True), steps)


def test_a_row_limit_splits_by_key_and_the_rest_forms_the_next_batch():
    host = HostThread(max_rows=2)
    got, steps, _ = _decisions(host, {n: [(0.0, Item(n))] for n in ("c", "a", "d", "b", "e")})
    assert steps.batches == [["a", "b"], ["c", "d"], ["e"]]
    assert got == {n: [f"{n}!"] for n in "cadbe"}


def test_serial_mode_runs_calls_one_at_a_time_without_waiting():
    host = HostThread(batching=False)
    got, steps, _ = _decisions(host, {"a": [(0.0, Item("a"))], "b": [(0.3, Item("b"))]})
    assert steps.batches == [["a"], ["b"]] and host.stats()["forced"] == 0


def test_calls_with_equal_bound_method_steps_share_a_batch():
    """The model hands `self.decode_batch`, a new bound-method object at every access."""

    class Model:
        def __init__(self):
            self.recorder = Recorder()

        def steps(self, items):
            return self.recorder(items)

    model, host = Model(), HostThread()

    async def decision(name):
        with host.hosted_by(asyncio.get_running_loop()):
            return await asyncio.to_thread(host.run_batched, Item(name), model.steps)

    async def main():
        return await asyncio.gather(*(decision(n) for n in "cab"))

    assert asyncio.run(main()) == ["c!", "a!", "b!"]
    assert model.recorder.batches == [["a", "b", "c"]]
