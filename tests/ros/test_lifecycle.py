"""Life cycle of the node executables: Ctrl-C (SIGINT to the whole process group, as a terminal sends
it), SIGTERM and a second signal during the shutdown, while frames flow and the workers are busy;
and the life cycle of the input timeline: stamps that jump back (a bag looped) start pairing and the
engine's temporal state over.

fusion_node and detector_node run as real subprocesses in one new process group on this session's
private ROS domain; the test publishes real MSRS image pairs at ~15 Hz (a CPU fusion of 640x480 takes
longer than the frame period, so the fusion worker is mid-fusion nearly all the time) until fused
images and detections arrive, then signals the group and keeps publishing. Both processes must
exit 0 with no traceback, no ERROR line and no C++ abort. Each variant runs ``IVIF_LIFECYCLE_REPEATS``
times (default 2) with a random delay before the signal to land at different points of a fusion.
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time

import numpy as np
import pytest
from ros_harness import FORBIDDEN, NodeProcess, Probe, diagnostic_values, wait_for, wait_matched

from fusion_core.engine import create_engine
from fusion_core.io import read_thermal, read_visible

pytestmark = pytest.mark.ros

REPEATS = int(os.environ.get("IVIF_LIFECYCLE_REPEATS", "2"))
NAMESPACE = "lifecycle"


class PairStream:
    """Publishes one real pair, re-stamped, on both inputs at ``rate_hz`` from a thread until stopped."""

    def __init__(self, probe: Probe, msrs_dir, rate_hz: float = 15.0) -> None:
        from ivif_fusion.image_conversion import array_to_image
        from std_msgs.msg import Header

        stem = "00081D"
        thermal, rgb = read_thermal(msrs_dir / "ir" / f"{stem}.png"), read_visible(msrs_dir / "vi" / f"{stem}.png")
        self._messages = (array_to_image(thermal, "mono8", Header(frame_id="ir")),
                          array_to_image(rgb, "rgb8", Header(frame_id="cam")))
        self._probe, self._period = probe, 1.0 / rate_hz
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            stamp = time.time_ns()
            for pub, msg in zip((self._probe.thermal, self._probe.visible), self._messages):
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
                pub.publish(msg)
            self._stop.wait(self._period)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(scope="module")
def probe(graph) -> Probe:
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    p = Probe(graph, NAMESPACE)
    p.thermal, p.visible = p.publisher(Image, "thermal/image_raw"), p.publisher(Image, "visible/image_raw")
    p.record(Image, "fusion/image", 50)
    p.record(String, "detections/json", 50)
    return p


def run_and_signal(probe: Probe, msrs_dir, signals: list[signal.Signals], seed: int) -> None:
    """Start both nodes in one process group, stream pairs until both produce output, send ``signals``
    to the group (a random 0-300 ms apart), check exit codes and output."""
    rng = random.Random(seed)
    fusion = NodeProcess("fusion_node", NAMESPACE)
    pgid = fusion.proc.pid  # the group is led by fusion_node; the detector joins it, as in one terminal
    detector = NodeProcess("detector_node", NAMESPACE, process_group=pgid)
    nodes = (fusion, detector)
    n_fused, n_detected = len(probe.messages("fusion/image")), len(probe.messages("detections/json"))
    stream = None
    try:
        wait_matched(probe.thermal), wait_matched(probe.visible)
        stream = PairStream(probe, msrs_dir)
        wait_for(lambda: len(probe.messages("fusion/image")) >= n_fused + 3
                 and len(probe.messages("detections/json")) >= n_detected + 1
                 or any(n.proc.poll() is not None for n in nodes), 120, "fused images and detections")
        assert all(n.proc.poll() is None for n in nodes), "\n".join(n.output() for n in nodes)
        for sig in signals:
            time.sleep(rng.uniform(0.0, 0.3))  # somewhere inside a fusion (>= 100 ms each on this CPU)
            os.killpg(pgid, sig)
        results = {n.name: n.finish(timeout=60) for n in nodes}
    finally:
        if stream is not None:
            stream.stop()
        for n in nodes:
            if n.proc.poll() is None:
                n.proc.kill()
                n.proc.wait()
    for name, (code, output) in results.items():
        assert code == 0, f"{name} exit code {code} after {[s.name for s in signals]}:\n{output}"
        found = [word for word in FORBIDDEN if word in output]
        assert not found, f"{name} printed {found} after {[s.name for s in signals]}:\n{output}"
        assert f"{signals[0].name} received: stopping" in output, output


VARIANTS = {"sigint": [signal.SIGINT], "sigterm": [signal.SIGTERM], "double_sigint": [signal.SIGINT, signal.SIGINT],
            "sigint_then_sigterm": [signal.SIGINT, signal.SIGTERM]}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_signals_stop_both_nodes_cleanly_while_frames_flow(graph, probe, msrs_dir, variant: str) -> None:
    for repeat in range(REPEATS):
        run_and_signal(probe, msrs_dir, VARIANTS[variant], seed=100 * list(VARIANTS).index(variant) + repeat)


# --- clock jump back ---------------------------------------------------------------------------------------

MS = 1_000_000


def stamped(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
    from ivif_fusion.image_conversion import array_to_image
    from std_msgs.msg import Header

    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return array_to_image(array, encoding, header)


def stamp_of(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def percentile_engine():
    """The engine fusion_node builds from its declared defaults with thermal_policy 'percentile' (stateful AGC)."""
    from ivif_fusion.params import FUSION_PARAMS, FusionParams

    values = {spec.name: spec.default for spec in FUSION_PARAMS} | {"thermal_policy": "percentile"}
    return create_engine(FusionParams.from_values(values, cuda_available=False).engine_config())


def test_clock_jump_back_restarts_pairing_and_the_agc(graph, msrs_dir) -> None:
    """Pairs at t = 1000 s.., then the bag loops to t = 990 s..: the post-jump pairs fuse at once (none dropped as
    'late'), with the thermal AGC started afresh; one WARN, stamp_resets 1."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    from ivif_fusion.image_conversion import image_to_array

    with NodeProcess("fusion_node", "jump", ("thermal_policy:=percentile", "worker_queue_size:=16",
                                             "diagnostics_period:=0.25")) as node:
        probe = Probe(graph, "jump", name="jump_probe")
        thermal_pub, visible_pub = probe.publisher(Image, "thermal/image_raw"), probe.publisher(Image, "visible/image_raw")
        probe.record(Image, "fusion/image", 50)
        probe.record(DiagnosticArray, "/diagnostics", 200)
        node.wait_output("fusing /jump/thermal/image_raw")
        wait_matched(thermal_pub), wait_matched(visible_pub)

        night = read_thermal(msrs_dir / "ir" / "00004N.png"), read_visible(msrs_dir / "vi" / "00004N.png")
        day = read_thermal(msrs_dir / "ir" / "00081D.png"), read_visible(msrs_dir / "vi" / "00081D.png")
        before = [(1000_000 * MS + k * 100 * MS, night) for k in range(4)]
        after = [(990_000 * MS + k * 100 * MS, day) for k in range(5)]  # 10 s back: a looped bag
        status = "/jump/fusion_node: fusion"

        def received(n: int) -> bool:
            return any(v and min(int(v["received_thermal"]), int(v["received_visible"])) >= n
                       for v in (diagnostic_values(m, status) for m in probe.messages("/diagnostics")[-8:]))

        for n, (stamp, (ir, rgb)) in enumerate(before + after, start=1):
            thermal_pub.publish(stamped(ir, "mono8", stamp, "ir"))
            visible_pub.publish(stamped(rgb, "rgb8", stamp, "cam"))
            # one pair at a time: DDS may deliver the two topics out of step (a repaired UDP fragment), and the
            # test is about the node's reaction to the jump, not about a thermal frame of 1000.3 s overtaking one of 990 s
            wait_for(lambda: received(n), 30, f"the node to receive pair {n}")
        # every pair is confirmed by the next one at the latest, so all but possibly the last come out
        want = [stamp for stamp, _ in after[:4]]
        wait_for(lambda: set(want) <= {stamp_of(m) for m in probe.messages("fusion/image")} or node.proc.poll() is not None,
                 60, "the pairs after the jump")
        assert set(want) <= {stamp_of(m) for m in probe.messages("fusion/image")}, (
            [stamp_of(m) for m in probe.messages("fusion/image")], node.output())
        fused = {stamp_of(m): m for m in probe.messages("fusion/image")}
        assert [s for s in fused if s < 1000_000 * MS] == [s for s, _ in after if s in fused]  # in order, from the first

        fresh, stale = percentile_engine(), percentile_engine()
        for _, (ir, rgb) in before:
            stale.fuse(ir, rgb, "rgb")
        for k, (stamp, (ir, rgb)) in enumerate(after[:4]):
            expected = fresh.fuse(ir, rgb, "rgb").fused  # a new timeline: the AGC starts from this frame
            got = image_to_array(fused[stamp]).astype(np.int16)
            assert np.abs(got - expected).max() <= 1, f"pair {k} after the jump differs from a freshly reset engine"
            if k == 0:  # and the state before the jump would have made a visible difference
                assert np.abs(got - stale.fuse(ir, rgb, "rgb").fused).max() >= 10

        def jump_counted(values: dict[str, str]) -> bool:
            return bool(values) and int(values["fused"]) >= 4 + len(want) - 1

        wait_for(lambda: any(jump_counted(diagnostic_values(m, status)) for m in probe.messages("/diagnostics")), 20,
                 "diagnostics after the jump")
        values = [diagnostic_values(m, status) for m in probe.messages("/diagnostics")]
        values = [v for v in values if jump_counted(v)][-1]
        assert int(values["stamp_resets"]) == 1
        assert int(values["unpaired_thermal_late"]) == int(values["unpaired_visible_late"]) == 0
        assert int(values["fused"]) == int(values["pairs"])  # nothing dropped by the worker either
        warnings = [line for line in node.output().splitlines() if "stamp jumped back" in line]
        assert len(warnings) == 1 and "[WARN]" in warnings[0], node.output()
        assert re.search(r"(thermal|visible) stamp jumped back 10\.300 s \(more than stamp_jump_back_threshold 1\.0 s\)",
                         warnings[0]), warnings[0]  # whichever input's frame of 990.0 s arrived first
        node.stop_cleanly()
