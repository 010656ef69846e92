"""The ``main`` shared by the node executables: init, build, spin, orderly shutdown on SIGINT/SIGTERM.

Why not rclpy's own signal handling: rclpy's handler shuts the context down inside the signal, while
a worker thread may be publishing (``RCLError: publisher's context is invalid``), and then re-raises
``KeyboardInterrupt`` wherever the main thread happens to be — in the middle of the shutdown, e.g.
joining the worker — which skips the rest of the clean-up and aborts the process (``terminate
called without an active exception``). So rclpy is initialised without signal handlers and
:class:`StopRequest` takes SIGINT and SIGTERM: the handler only records the request (it never
raises), the spin loop notices it within :data:`POLL_S`, and the shutdown runs in a fixed order:

1. leave the spin loop (no callback runs any more, so nothing new reaches the worker);
2. ``node.destroy_node()`` — the nodes stop their worker first (the item in progress finishes and
   publishes), then the publishers and subscriptions go;
3. the executor, then the context.

A second (third …) signal during the shutdown is logged and otherwise ignored, so Ctrl-C pressed
twice, or ``ros2 launch`` escalating SIGINT → SIGTERM, cannot interrupt step 2. Once the clean-up
is done both signals are set to SIG_IGN: Python's finalisation resets signals that have a Python
handler to SIG_DFL, and a late Ctrl-C during the interpreter's (torch, onnxruntime) teardown would
otherwise kill the process with -2 after a clean shutdown. SIGKILL remains the way to end a node
that hangs.
"""

from __future__ import annotations

import gc
import signal
import threading
from typing import Callable

from fusion_core.allocator import keep_freed_memory
from fusion_core.errors import ConfigError

POLL_S = 0.1  # longest wait between a signal and the spin loop noticing it, s
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Signal handler that records a stop request (never raises); :attr:`requested` is polled."""

    def __init__(self, logger) -> None:
        self._logger = logger
        self._event = threading.Event()
        self.signal_name: str | None = None  # the first signal received

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def install(self) -> None:
        """Take SIGINT and SIGTERM (main thread only)."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self)

    @staticmethod
    def ignore_from_now_on() -> None:
        """After the clean-up: the process only exits now, nothing is left to stop (see the module docstring)."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)

    def __call__(self, signum: int, frame: object) -> None:
        # Python runs this in the main thread between bytecodes, not in the C signal context, so
        # logging here is safe; it must not raise (that is what aborted the old shutdown).
        name = signal.Signals(signum).name
        if self.signal_name is None:
            self.signal_name = name
            self._event.set()
        else:
            self._logger.info(f"{name} received while stopping: still finishing the shutdown")


def freeze_startup_objects() -> None:
    """Move everything built at start-up (rclpy, torch, ONNX Runtime, the model: about 190,000 objects)
    out of the garbage collector's reach. Python's full collection otherwise walks them all now and
    then and holds the GIL meanwhile: measured in fusion_node during a 60 s, 30 Hz run, one 76 ms stall
    of every thread (two frame periods), against 0.4 ms after this (gc.freeze, Python >= 3.7)."""
    gc.collect()
    gc.freeze()


def run_node(factory: Callable[[], object], name: str, args: list[str] | None = None) -> int:
    """Spin the node ``factory()`` builds until SIGINT, SIGTERM, an external shutdown, or — for a node that
    finishes by itself (calibrate_node) — until its ``exit_code`` attribute is set.

    Returns the process exit code: 0 after a requested shutdown, 2 when the configuration is invalid
    (the FATAL line names the parameter), else the node's own ``exit_code``. Installs the process's
    SIGINT/SIGTERM handlers (see the module docstring): call it from an executable's ``main``, in the
    main thread.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    logger = rclpy.logging.get_logger(name)
    stop = StopRequest(logger)
    stop.install()  # first: a Ctrl-C during the seconds of model loading also ends cleanly
    if not keep_freed_memory():  # frame buffers stay in the process (fusion_core.allocator)
        logger.info("allocator left at its defaults (no glibc mallopt): freed frame buffers go back to the kernel")
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    executor = node = None
    code = 0
    try:
        executor = SingleThreadedExecutor()
        node = factory()
        executor.add_node(node)
        freeze_startup_objects()
        while not stop.requested and getattr(node, "exit_code", None) is None:
            executor.spin_once(timeout_sec=POLL_S)
        if stop.requested:
            logger.info(f"{stop.signal_name} received: stopping")
        else:
            code = node.exit_code
    except ConfigError as exc:
        logger.fatal(f"invalid configuration, not starting: {exc}")
        code = 2
    except ExternalShutdownException:  # rclpy.shutdown() called elsewhere in the process
        pass
    finally:
        if node is not None:
            if executor is not None:
                executor.remove_node(node)
            node.destroy_node()  # stops the node's worker before its publishers go
        if executor is not None:
            executor.shutdown()
        rclpy.try_shutdown()
        stop.ignore_from_now_on()
    return code
