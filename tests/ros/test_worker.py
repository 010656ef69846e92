"""LatestWorker: bounded newest-wins hand-off, drop counting, errors that do not kill the thread, stop (waits
for the item in progress; errors after it are counted, not reported)."""

from __future__ import annotations

import threading

import pytest
from ros_harness import ROS_PKG, wait_for  # noqa: F401  (puts the ROS package on sys.path)

pytestmark = pytest.mark.ros

from ivif_fusion.worker import LatestWorker  # noqa: E402


@pytest.mark.parametrize("capacity,expected_done,expected_dropped", [(1, [0, 5], 4), (2, [0, 4, 5], 3), (10, [0, 1, 2, 3, 4, 5], 0)])
def test_newest_items_win(capacity: int, expected_done: list[int], expected_dropped: int) -> None:
    gate, started, done = threading.Event(), threading.Event(), []

    def process(item: int) -> None:
        started.set()
        gate.wait(5)  # item 0 blocks the worker while 1..5 are submitted
        done.append(item)

    worker: LatestWorker[int] = LatestWorker(process, capacity, "test_worker")
    worker.submit(0)
    assert started.wait(5)
    accepted = [worker.submit(i) for i in range(1, 6)]
    assert accepted.count(False) == expected_dropped
    gate.set()
    wait_for(lambda: worker.processed == len(expected_done), 5, "the worker")
    assert done == expected_done and worker.dropped == expected_dropped and worker.submitted == 6
    assert worker.stop()


def test_items_handed_to_an_idle_worker_are_not_dropped_before_it_wakes() -> None:
    """Two pairs completed in one executor callback reach an idle worker before its thread has woken up (held
    here by keeping the worker's lock): the first is its next item, not a waiting one, so neither is dropped."""
    done = []
    worker: LatestWorker[int] = LatestWorker(done.append, 1, "test_worker")
    with worker._cond:  # the worker thread cannot take an item until this block ends
        assert worker.submit(1) and worker.submit(2)
        assert worker.submit(3) is False  # now one is waiting beyond the idle worker's next: newest wins
    wait_for(lambda: worker.processed == 2, 5, "the worker")
    assert done == [2, 3] and worker.dropped == 1
    assert worker.stop()


def test_errors_are_reported_and_the_worker_goes_on() -> None:
    errors, done = [], []

    def process(item: int) -> None:
        if item == 1:
            raise ValueError("bad item")
        done.append(item)

    worker: LatestWorker[int] = LatestWorker(process, 10, "test_worker", on_error=errors.append)
    for i in range(3):
        worker.submit(i)
    wait_for(lambda: worker.processed == 3, 5, "three items")
    assert done == [0, 2] and [str(e) for e in errors] == ["bad item"]
    assert worker.stop()
    assert worker.submit(7) is False  # stopped: nothing more is accepted


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity must be >= 1, got 0"):
        LatestWorker(lambda item: None, 0, "test_worker")


def test_stop_waits_for_the_item_in_progress_and_hides_errors_after_it() -> None:
    """The node's shutdown relies on this: stop() returns only after the running item ended, and an item that
    fails because the shutdown began (its publisher is going away) is counted, not reported as an error."""
    started, release, errors, stopping_seen = threading.Event(), threading.Event(), [], []

    def process(item: int) -> None:
        started.set()
        release.wait(5)
        stopping_seen.append(worker.stopping)
        raise RuntimeError("publisher's context is invalid")

    worker: LatestWorker[int] = LatestWorker(process, 1, "test_worker", on_error=errors.append)
    worker.submit(1)
    assert started.wait(5) and not worker.stopping
    threading.Timer(0.2, release.set).start()
    assert worker.stop(timeout=5)  # joined: the item in progress has finished
    assert stopping_seen == [True] and worker.processed == 1
    assert errors == [] and worker.errors_after_stop == 1
    assert worker.stop()  # a second stop is harmless


def test_stop_gives_up_after_the_timeout() -> None:
    release = threading.Event()
    worker: LatestWorker[int] = LatestWorker(lambda item: release.wait(5), 1, "test_worker")
    worker.submit(1)
    wait_for(lambda: worker.waiting == 0, 5, "the worker to take the item")
    assert worker.stop(timeout=0.1) is False  # still busy: the caller learns it, nothing hangs
    release.set()
    wait_for(lambda: worker.processed == 1, 5, "the item to end")
