"""A bounded hand-off from executor callbacks to one worker thread, so inference never blocks the executor.

``submit`` never waits: when ``capacity`` items are already waiting, the oldest is dropped and
counted (newest wins — for live video the freshest frame is the useful one). With ``capacity`` 1
the worker always processes the most recent item handed over while it was busy. An item handed to an
idle worker is not waiting, even before the worker's thread has woken up to take it: two pairs that
complete in one executor callback (the pairer emits a late pair and the next one together) are both
processed. Counting it as waiting dropped the first of them although the worker was idle (the demo's
bag lost one pair in three runs that way).

Shutdown order matters: :meth:`stop` must return before the node's publishers and the rclpy context
go away, so that the item in progress publishes into a live context. An exception raised after
``stop`` began (the process is going down; a stuck item outlived the join timeout) is expected, so it
is counted in ``errors_after_stop`` instead of being handed to ``on_error``.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class LatestWorker(Generic[T]):
    """Runs ``process(item)`` on a daemon thread; ``on_error(exc)`` sees any exception ``process`` raises
    before :meth:`stop` is called."""

    def __init__(self, process: Callable[[T], None], capacity: int, name: str,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"worker capacity must be >= 1, got {capacity}")
        self._process = process
        self._on_error = on_error
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False  # from taking an item until it has been processed
        self.submitted = 0
        self.dropped = 0
        self.processed = 0
        self.errors_after_stop = 0
        # daemon: a stuck item must not keep the process alive after stop() gave up waiting for it
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> bool:
        """Queue ``item``; returns False when it was not accepted (stopping) or an older waiting item
        had to be dropped for it."""
        with self._cond:
            if self._stopping:
                return False
            self.submitted += 1
            # an idle worker takes the first item as soon as its thread wakes: that one is not waiting
            dropped = len(self._items) >= self._capacity + (0 if self._busy else 1)
            if dropped:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()
            return not dropped

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        with self._cond:
            return self._stopping

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop after the item in progress (waiting items are discarded); True when the thread ended
        within ``timeout`` seconds. Safe to call more than once and from the worker itself."""
        with self._cond:
            self._stopping = True
            self._items.clear()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                item = self._items.popleft()
                self._busy = True
            try:
                self._process(item)
            except BaseException as exc:  # noqa: BLE001 - one bad item must not kill the worker
                with self._cond:
                    after_stop = self._stopping
                    if after_stop:
                        self.errors_after_stop += 1
                if after_stop:
                    return  # the publishers/context may already be gone: nothing to report to
                if self._on_error is None:
                    raise
                self._on_error(exc)
            finally:
                with self._cond:
                    self.processed += 1
                    self._busy = False
