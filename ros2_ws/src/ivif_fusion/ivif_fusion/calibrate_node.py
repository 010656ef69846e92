"""calibrate_node: calibrate the thermal -> visible homography from the live cameras, then exit.

``ivif calibrate`` needs folders or a recorded bag; on a robot the cameras are simply running. This
one-shot node subscribes ``thermal/image_raw`` and ``visible/image_raw`` (the encodings and transports
fusion_node takes), pairs them by stamp (fusion_core's ApproximateTime, ``slop``), keeps ``pairs`` pairs at least
``interval`` seconds of stamp apart — different moments of a moving rig or scene give the estimator
different structure, which docs/calibration.md ("Several scenes") measured to help — and runs the same
estimator and writer as ``ivif calibrate`` (:mod:`fusion_core.calibration.auto`) on a thread, so the
node stays responsive. Then it exits:

* 0 — accepted: ``output`` (the ROS 2 parameters file fusion_node and ``ivif fuse --calibration`` read;
  ``ros2 launch ivif_fusion fusion.launch.py calibration_file:=<output>``) and, with ``overlay``, the
  before/after edge picture are written; the quality is logged.
* 3 (:data:`EXIT_REFUSED`) — refused, nothing written: the estimator's reason (too little structure,
  ambiguous, unrelated images), or ``timeout`` passed without a single pair (the log names what arrived).
* 2 — invalid parameters (as every node of the package).

After ``timeout`` (0 = wait as long as it takes) with fewer pairs than asked but at least one, it
calibrates from those and says so. Frames of another size than the first pair's (a camera reconfigured
mid-way) are left out with a warning: one homography maps one pair of frame sizes.

With ``check`` (a calibration file) it estimates nothing: it measures that calibration's edge residual on the
pairs it keeps (:mod:`fusion_core.calibration.check`, as ``ivif calibrate --check``), logs it, writes nothing
but ``overlay``, and exits 0, or 3 when ``max_residual`` (> 0) is exceeded, under half the thermal footprint's
tiles can be measured, or the frames are not the file's sizes: a start-up check that the rig was not bumped.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from fusion_core.errors import ConfigError, InputError
from fusion_core.pairing import ApproximateTimePairer, StampOffsetEstimate
from rclpy.node import Node

from .image_conversion import ENCODINGS, THERMAL_ENCODINGS, VISIBLE_ENCODINGS, stamp_ns
from .image_input import decode, input_topic, message_type
from .params import FUSION_PARAMS, ParamSpec, declare, warn_undeclared_qos_overrides
from .qos import input_qos, subscription

EXIT_REFUSED = 3
INPUTS = ("thermal", "visible")
_AS_FUSION_NODE = {spec.name: spec for spec in FUSION_PARAMS}  # inputs are declared as fusion_node declares them

CALIBRATE_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("output", "calibration.yaml", "calibration file to write (ROS 2 parameters: homography, calibration.*)"),
    ParamSpec("overlay", "", "before/after edge overlay PNG of a pair used; '' = none"),
    ParamSpec("pairs", 5, "pairs to calibrate from (different moments of the rig; docs/calibration.md)", (1, 50)),
    ParamSpec("interval", 2.0, "least stamp distance (s) between two pairs used, so they show different moments",
              (0.0, 3600.0)),
    ParamSpec("timeout", 0.0, "give up waiting after this many seconds (calibrating from the pairs kept, if any); 0 = never",
              (0.0, 86400.0)),
    ParamSpec("hfov", [0.0, 0.0], "horizontal fields of view of the lenses in degrees [thermal, visible]: centres the "
              "scale search on their ratio; [0, 0] = thermal width matched to visible width"),
    ParamSpec("check", "", "an existing calibration file to measure on the live pairs instead of calibrating "
              "(edge residual; nothing written but overlay); '' = calibrate"),
    ParamSpec("max_residual", 0.0, "with check: exit 3 when the median edge residual exceeds this many visible "
              "pixels or under half the tiles can be measured; 0 = report only", (0.0, 1000.0)),
    *(_AS_FUSION_NODE[name] for name in ("slop", "thermal_stamp_offset", "input_reliability", "thermal_transport",
                                         "visible_transport")),
)


def parse_hfov(value) -> tuple[float, float] | None:
    """[thermal, visible] degrees -> a pair, [0, 0] -> None; ConfigError naming ``hfov`` otherwise."""
    values = [float(v) for v in value]
    if len(values) != 2:
        raise ConfigError(f"parameter 'hfov' needs [thermal, visible] degrees, got {list(value)}")
    if values == [0.0, 0.0]:
        return None
    if not all(0.0 < v < 180.0 for v in values):
        raise ConfigError(f"parameter 'hfov' must be two angles in (0, 180) degrees or [0, 0], got {values}")
    return values[0], values[1]


def calibration_pair(thermal: np.ndarray, visible: np.ndarray, visible_encoding: str) -> tuple[np.ndarray, np.ndarray]:
    """Two decoded frames as the estimator takes them and as they may be kept: the thermal copied out of its
    message, the visible contiguous in RGB order (grey stays grey)."""
    from fusion_core.io import to_rgb

    return np.array(thermal, copy=True), np.ascontiguousarray(to_rgb(visible, ENCODINGS[visible_encoding].order))


class CalibrateNode(Node):
    """See the module docstring. :attr:`exit_code` is None while it runs (``_runtime.run_node`` ends the process
    with it once set)."""

    def __init__(self, node_name: str = "calibrate_node", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        values = declare(self, CALIBRATE_PARAMS)
        self.values = values
        self.hfov = parse_hfov(values["hfov"])
        if not str(values["output"]).strip():
            raise ConfigError("parameter 'output' must name the calibration file to write")
        self.checked = _load_checked(str(values["check"]).strip())
        self.exit_code: int | None = None
        self.kept: list[tuple[int, tuple[np.ndarray, np.ndarray]]] = []  # (visible stamp ns, pair)
        self.received = [0, 0]
        self._lock = threading.Lock()
        self._size: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        self._started = time.monotonic()
        self._pairer: ApproximateTimePairer[tuple[np.ndarray, str, object]] = ApproximateTimePairer(5, float(values["slop"]))
        self._stamp_offset = StampOffsetEstimate(float(values["thermal_stamp_offset"]))  # says why, when no pair forms
        self._worker: threading.Thread | None = None
        qos = input_qos(values["input_reliability"])
        transports = (values["thermal_transport"], values["visible_transport"])
        self._subs = [subscription(self, message_type(transports[i]), input_topic(f"{name}/image_raw", transports[i]),
                                   lambda msg, i=i: self._on_image(i, msg), qos)
                      for i, name in enumerate(INPUTS)]
        self._timer = self.create_timer(0.5, self._check_timeout)
        goal = f"checking {values['check']}" if self.checked is not None else f"calibration -> {values['output']}"
        self.get_logger().info(
            f"collecting {values['pairs']} pair(s) at least {values['interval']} s apart from {self._subs[0].topic_name} + "
            f"{self._subs[1].topic_name}; {goal}")
        warn_undeclared_qos_overrides(self)

    # --- executor side: convert, pair, keep --------------------------------------------------------
    def _on_image(self, index: int, msg) -> None:
        with self._lock:
            if self._worker is not None:
                return  # calibrating: enough pairs
            self.received[index] += 1
            try:
                array, encoding = decode(msg, THERMAL_ENCODINGS if index == 0 else VISIBLE_ENCODINGS, INPUTS[index])
            except InputError as exc:
                self.get_logger().warning(f"skipping a {INPUTS[index]} frame: {exc}", throttle_duration_sec=5.0)
                return
            stamp = self._stamp_offset.corrected(index, stamp_ns(msg.header.stamp))
            self._stamp_offset.add(index, stamp)
            for (thermal, _, _), (visible, encoding, vmsg) in self._pairer.add(index, stamp, (array, encoding, msg)):
                self._consider(thermal, visible, encoding, vmsg)
            if len(self.kept) >= int(self.values["pairs"]):
                self._start_calibration()

    def _consider(self, thermal: np.ndarray, visible: np.ndarray, encoding: str, vmsg) -> None:
        """Keep a pair if it is ``interval`` after the last one kept and has the first pair's frame sizes."""
        stamp = stamp_ns(vmsg.header.stamp)
        if self.kept and stamp - self.kept[-1][0] < float(self.values["interval"]) * 1e9:
            return
        size = (thermal.shape[:2], visible.shape[:2])
        if self._size is not None and size != self._size:
            self.get_logger().warning(f"leaving out a pair at {stamp} ns: thermal {thermal.shape[1]}x{thermal.shape[0]}, "
                                      f"visible {visible.shape[1]}x{visible.shape[0]} differ from the first pair's sizes")
            return
        self._size = size
        self.kept.append((stamp, calibration_pair(thermal, visible, encoding)))
        self.get_logger().info(f"pair {len(self.kept)}/{self.values['pairs']} at visible stamp {stamp} ns")

    def _check_timeout(self) -> None:
        timeout = float(self.values["timeout"])
        with self._lock:
            if self._worker is not None or not timeout or time.monotonic() - self._started < timeout:
                return
            if not self.kept:
                self.get_logger().error(
                    f"no thermal/visible pair within {timeout:.1f} s (received {self.received[0]} thermal and "
                    f"{self.received[1]} visible frame(s); pairs need stamps within slop {self.values['slop']} s): nothing written"
                    + "".join(f"; {advice}" for advice in [self._stamp_offset.advice(float(self.values["slop"]),
                                                                                      "thermal_stamp_offset")] if advice))
                self.exit_code = EXIT_REFUSED
                return
            self.get_logger().warning(f"timeout {timeout:.1f} s: calibrating from the {len(self.kept)} pair(s) kept "
                                      f"instead of {self.values['pairs']}")
            self._start_calibration()

    def _start_calibration(self) -> None:
        """Caller holds ``_lock``: no further frames are kept once the worker exists."""
        self._worker = threading.Thread(target=self._calibrate, name="calibrate", daemon=True)
        self._worker.start()

    # --- worker side: estimate, write -----------------------------------------------------------
    def _calibrate(self) -> None:
        from fusion_core.calibration.auto import auto_calibration, write_calibration

        pairs = [pair for _, pair in self.kept]
        log = self.get_logger()
        if self.checked is not None:
            self.exit_code = self._check(pairs)
            return
        log.info(f"calibrating from {len(pairs)} pair(s)")
        try:
            auto = auto_calibration(pairs, self.hfov)
        except InputError as exc:
            log.error(f"calibration refused, nothing written: {exc}")
            self.exit_code = EXIT_REFUSED
            return
        except Exception as exc:  # noqa: BLE001 - an estimator failure ends the node with a reason, not a traceback
            log.error(f"calibration failed, nothing written: {type(exc).__name__}: {exc}")
            self.exit_code = 1
            return
        for note in auto.notes:
            log.info(note)
        stamps = ", ".join(str(stamp) for stamp, _ in self.kept)
        inputs = f"topics {self._subs[0].topic_name} + {self._subs[1].topic_name}, {len(pairs)} pair(s) at visible stamps {stamps} ns"
        overlay = str(self.values["overlay"]).strip() or None
        try:
            lines = write_calibration(self.values["output"], auto.calibration, auto.quality, inputs, auto.shown, overlay,
                                      auto.residual)
        except OSError as exc:
            log.error(f"could not write the calibration: {exc}")
            self.exit_code = 1
            return
        for line in lines:
            log.info(line)
        self.exit_code = 0

    def _check(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> int:
        """The ``check`` mode's worker: the exit code after logging the report (and saving the overlay)."""
        from fusion_core.calibration.check import check_report

        log = self.get_logger()
        limit = float(self.values["max_residual"])
        try:
            report = check_report(pairs, self.checked, str(self.values["check"]), f"{len(pairs)} pair(s)",
                                  limit if limit > 0 else None, str(self.values["overlay"]).strip() or None)
        except InputError as exc:
            log.error(f"calibration check refused: {exc}")
            return EXIT_REFUSED
        except OSError as exc:
            log.error(f"could not write the overlay: {exc}")
            return 1
        for line in report.lines:
            log.info(line)
        if report.failure is not None:
            log.error(f"calibration check failed: {report.failure}")
            return EXIT_REFUSED
        return 0

    def destroy_node(self) -> None:
        """A stop request while calibrating waits for the estimate (a few seconds per pair) so no file is half written."""
        worker = self._worker
        if worker is not None:
            worker.join()
        super().destroy_node()


def _load_checked(path: str):  # noqa: ANN202 - a Calibration or None
    """The ``check`` parameter's calibration (None for ''); an unreadable file is a parameter error (exit 2)."""
    if not path:
        return None
    from fusion_core.calibration import load_calibration

    try:
        return load_calibration(path)
    except InputError as exc:
        raise ConfigError(f"parameter 'check': {exc}") from exc


def main(args: list[str] | None = None) -> int:
    from ._runtime import run_node

    return run_node(CalibrateNode, "calibrate_node", args)


if __name__ == "__main__":
    import sys

    sys.exit(main())
