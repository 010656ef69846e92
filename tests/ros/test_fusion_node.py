"""fusion_node over real rclpy + Fast DDS: exact pairing, exact pixels, headers, drops and bad frames.

Inputs are real MSRS pairs. No 16-bit or float thermal data exists in ../shared/data, so those
frames are derived from the 8-bit IR: mono16/16UC1 = 1000 + 200·v (a raw-count-like range), 32FC1 =
v / 255. Expected outputs come from fusion_core itself (``create_engine().fuse`` on the very arrays
published, and ``ivif fuse`` on the files), expected pairs from ApproximateTimePairer on the very
stamps published.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from ros_harness import REPO, Probe, diagnostic_values, wait_for, wait_matched

from fusion_core.engine import EngineConfig, create_engine
from fusion_core.io import read_thermal, read_visible
from fusion_core.pairing import DROP_REASONS, ApproximateTimePairer

pytestmark = pytest.mark.ros

MS = 1_000_000
T, V = 0, 1
STEMS = ("00004N", "00008N", "00012N", "00024N", "00028N", "00055D")


@dataclass
class Sent:
    """One published frame and the array fusion_core should see for it."""

    index: int  # 0 thermal, 1 visible
    stamp_ns: int
    msg: object
    array: np.ndarray
    order: str = "mono"


def make_image(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str, pad: int = 0, big_endian: bool = False):
    """A sensor_msgs/Image built by hand (optional row padding and byte order), independent of the node's converter."""
    from sensor_msgs.msg import Image

    dtype = array.dtype.newbyteorder(">" if big_endian else "<") if array.dtype.itemsize > 1 else array.dtype
    rows = np.ascontiguousarray(array.astype(dtype)).reshape(array.shape[0], -1).view(np.uint8)
    padded = np.zeros((rows.shape[0], rows.shape[1] + pad), np.uint8)
    padded[:, : rows.shape[1]] = rows
    msg = Image(height=array.shape[0], width=array.shape[1], encoding=encoding, is_bigendian=big_endian,
                step=padded.shape[1])
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = frame_id
    msg.data = padded.tobytes()
    return msg


def thermal_variant(k: int, ir8: np.ndarray) -> tuple[np.ndarray, str, dict]:
    """(array fusion_core sees, encoding, make_image options) for pair k: every thermal encoding appears."""
    ir16 = ir8.astype(np.uint16) * 200 + 1000
    return [
        (ir8, "mono8", {}),
        (ir16, "mono16", {}),
        (ir16, "16UC1", {"pad": 64, "big_endian": True}),
        (ir8.astype(np.float32) / 255.0, "32FC1", {}),
        (ir8, "mono8", {}),
        (ir8, "8UC1", {"pad": 3}),
    ][k]


def visible_variant(k: int, rgb: np.ndarray) -> tuple[np.ndarray, str, str, dict]:
    """(array, order, encoding, options) for pair k: every visible encoding appears."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    alpha = np.full(rgb.shape[:2] + (1,), 200, np.uint8)
    return [
        (bgr, "bgr", "bgr8", {}),
        (rgb, "rgb", "rgb8", {}),
        (np.concatenate([rgb, alpha], axis=2), "rgba", "rgba8", {}),
        (np.concatenate([bgr, alpha], axis=2), "bgra", "bgra8", {"pad": 8}),
        (bgr, "bgr", "bgr8", {}),
        (cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), "mono", "mono8", {}),
    ][k]


def build_stream(msrs_dir, base_s: int, seed: int = 3) -> list[Sent]:
    """Visible at 10 Hz, thermal at 20 Hz (every other thermal frame has no partner), ±3 ms jitter on
    every stamp; the thermal frame of pair 4 is missing, so visible 4 stays unpaired. A last visible frame
    without a thermal partner ends the stream: the pairing policy hands a pair out once the next frame of
    the other camera proves no nearer partner can come, and this frame proves the last pair."""
    rng = random.Random(seed)
    jitter = lambda: rng.randint(-3000, 3000) * 1000  # noqa: E731  (ns, ±3 ms)
    sent: list[Sent] = []
    for k, stem in enumerate(STEMS):
        ir8, rgb = read_thermal(msrs_dir / "ir" / f"{stem}.png"), read_visible(msrs_dir / "vi" / f"{stem}.png")
        t0 = base_s * 1_000_000_000 + k * 100 * MS
        th, th_enc, th_opt = thermal_variant(k, ir8)
        vi, order, vi_enc, vi_opt = visible_variant(k, rgb)
        if k != 4:
            s = t0 + jitter()
            sent.append(Sent(T, s, make_image(th, th_enc, s, "thermal_optical", **th_opt), th))
        s = t0 + 50 * MS + jitter()  # the 20 Hz thermal frame between two visible frames
        sent.append(Sent(T, s, make_image(ir8, "mono8", s, "thermal_optical"), ir8))
        s = t0 + jitter()
        sent.append(Sent(V, s, make_image(vi, vi_enc, s, "visible_optical", **vi_opt), vi, order))
    s = base_s * 1_000_000_000 + len(STEMS) * 100 * MS  # the closing visible frame, 50 ms from any thermal frame
    sent.append(Sent(V, s, make_image(vi, vi_enc, s, "visible_optical", **vi_opt), vi, order))
    sent.sort(key=lambda e: (e.stamp_ns, e.index))
    return sent


def stamp_of(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


@pytest.fixture(scope="module")
def engine():
    return create_engine(EngineConfig())


@pytest.fixture(scope="module")
def pairs_node(graph):
    """fusion_node in /pairs with the shipped config/fusion.yaml (+ a deep worker queue so no pair is dropped)."""
    from ivif_fusion.fusion_node import FusionNode
    from rclpy.parameter import Parameter

    node = graph.add(FusionNode(
        namespace="pairs", context=graph.context,
        cli_args=["--ros-args", "--params-file", str(REPO / "config" / "fusion.yaml")],
        parameter_overrides=[Parameter("worker_queue_size", value=16), Parameter("diagnostics_period", value=0.25)]))
    return node


def stepwise_node(graph, namespace: str, **params):
    """fusion_node in ``namespace`` whose pairs go out exactly when the next frames arrive (no learnt inter-message
    bounds), /diagnostics every 0.25 s, plus ``params``: tests can then publish pair by pair and know which is out."""
    from ivif_fusion.fusion_node import FusionNode
    from rclpy.parameter import Parameter

    values = {"inter_message_lower_bound_thermal": 0.0, "inter_message_lower_bound_visible": 0.0,
              "diagnostics_period": 0.25, **params}
    return graph.add(FusionNode(namespace=namespace, context=graph.context,
                                parameter_overrides=[Parameter(name, value=value) for name, value in values.items()]))


def input_probe(graph, namespace: str) -> Probe:
    """A probe publishing both inputs and recording fused, alpha and /diagnostics of the node in ``namespace``."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    p = Probe(graph, namespace)
    p.thermal, p.visible = p.publisher(Image, "thermal/image_raw"), p.publisher(Image, "visible/image_raw")
    for topic in ("fusion/image", "fusion/alpha"):
        p.record(Image, topic, 50)
    p.record(DiagnosticArray, "/diagnostics", 50)
    wait_matched(p.thermal), wait_matched(p.visible)
    return p


@pytest.fixture(scope="module")
def probe(graph, pairs_node):
    return input_probe(graph, "pairs")


def latest_diagnostics(probe: Probe, node_fqn: str, condition=lambda v: True, timeout: float = 10.0) -> dict[str, str]:
    """Values of the newest /diagnostics status of ``node_fqn`` published after this call that meets ``condition``."""
    start = len(probe.messages("/diagnostics"))
    found: dict[str, str] = {}

    def ready() -> bool:
        nonlocal found
        for msg in probe.messages("/diagnostics")[start:]:
            values = diagnostic_values(msg, f"{node_fqn}: fusion")
            if values and condition(values):
                found = values
        return bool(found)

    wait_for(ready, timeout, f"/diagnostics from {node_fqn}")
    return found


def publish(probe: Probe, sent: list[Sent], pause: float = 0.02) -> None:
    for event in sent:
        (probe.thermal if event.index == T else probe.visible).publish(event.msg)
        time.sleep(pause)


def test_fuses_exactly_the_expected_pairs_with_exact_pixels(msrs_dir, pairs_node, probe, engine) -> None:
    sent = build_stream(msrs_dir, base_s=1000)
    pairer: ApproximateTimePairer[Sent] = ApproximateTimePairer(  # config/fusion.yaml: bounds learnt from the stamps
        queue_size=5, slop=0.02, inter_message_lower_bound=(None, None))
    expected = [pair for e in sent for pair in pairer.add(e.index, e.stamp_ns, e)]
    assert len(expected) == 5  # 7 visible frames: one without its thermal frame, the closing one

    publish(probe, sent)
    wait_for(lambda: len(probe.messages("fusion/image")) >= len(expected) and len(probe.messages("fusion/alpha")) >= len(expected),
             15 + 4 * len(expected), f"{len(expected)} fused images and alphas")
    time.sleep(0.5)  # nothing else may arrive
    fused, alphas = probe.messages("fusion/image"), probe.messages("fusion/alpha")
    assert [stamp_of(m) for m in fused] == [v.stamp_ns for _, v in expected]
    assert [stamp_of(m) for m in alphas] == [v.stamp_ns for _, v in expected]

    from ivif_fusion.image_conversion import image_to_array

    for (th, vi), out, alpha in zip(expected, fused, alphas):
        want = engine.fuse(th.array, vi.array, vi.order)
        assert out.header.frame_id == alpha.header.frame_id == "visible_optical"
        assert out.encoding == vi.msg.encoding.replace("8UC1", "mono8") and alpha.encoding == "mono8"
        assert np.array_equal(image_to_array(out), want.fused), f"pixels of the pair at {vi.stamp_ns} ({vi.msg.encoding})"
        assert np.array_equal(image_to_array(alpha), want.alpha)

    values = latest_diagnostics(probe, pairs_node.get_fully_qualified_name(),
                                lambda v: int(v["fused"]) == len(expected))
    assert int(values["received_thermal"]) == sum(e.index == T for e in sent)
    assert int(values["received_visible"]) == sum(e.index == V for e in sent)
    assert int(values["pairs"]) == len(expected) and int(values["dropped_worker"]) == 0
    for i, name in enumerate(("thermal", "visible")):
        for reason in DROP_REASONS:
            assert int(values[f"unpaired_{name}_{reason}"]) == pairer.stats.dropped[i][reason], (name, reason)
        assert int(values[f"pending_{name}"]) == len(pairer.pending(i))
    assert int(values["unpaired_thermal_no_partner"]) >= 5  # the in-between 20 Hz thermal frames
    assert values["backend"] == "onnxruntime" and values["device"] == "cpu"  # backend auto on a CPU with onnxruntime
    assert int(values["torch_threads"]) == 1  # torch only pre/post-processes beside ONNX Runtime: one thread
    assert float(values["fuse_p50_ms"]) > 0 and float(values["latency_p50_ms"]) >= float(values["fuse_p50_ms"])


def test_bad_frames_are_counted_and_skipped(msrs_dir, pairs_node, probe) -> None:
    ir8, rgb = read_thermal(msrs_dir / "ir" / "00004N.png"), read_visible(msrs_dir / "vi" / "00004N.png")
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    fqn = pairs_node.get_fully_qualified_name()
    before = latest_diagnostics(probe, fqn)
    base = 2000 * 1_000_000_000
    unknown = make_image(ir8, "mono8", base, "thermal_optical")
    unknown.encoding = "yuv422"
    short = make_image(bgr, "bgr8", base + 100 * MS, "visible_optical")
    short.data = short.data[:-10]
    narrow = make_image(ir8, "mono8", base + 200 * MS, "thermal_optical")
    narrow.step = 100  # smaller than the width
    wrong_kind = make_image(ir8.astype(np.uint16), "16UC1", base + 300 * MS, "visible_optical")  # not a visible encoding
    odd_visible = cv2.resize(bgr, (300, 500))  # aspect ratio 0.6 vs 1.33: cannot be registered
    sequence = [(T, unknown), (V, short), (T, narrow), (V, wrong_kind),
                (T, make_image(ir8, "mono8", base + 400 * MS, "thermal_optical")),
                (V, make_image(odd_visible, "bgr8", base + 400 * MS, "visible_optical")),
                (T, make_image(ir8, "mono8", base + 500 * MS, "thermal_optical")),
                (V, make_image(bgr, "bgr8", base + 501 * MS, "visible_optical")),
                (T, make_image(ir8, "mono8", base + 600 * MS, "thermal_optical"))]  # proves the pair at 500/501 ms
    n_before = len(probe.messages("fusion/image"))
    for index, msg in sequence:
        (probe.thermal if index == T else probe.visible).publish(msg)
        time.sleep(0.02)
    wait_for(lambda: len(probe.messages("fusion/image")) > n_before, 20, "the good pair after the bad frames")
    time.sleep(0.3)
    new = probe.messages("fusion/image")[n_before:]
    assert [stamp_of(m) for m in new] == [base + 501 * MS]  # the node survived and fused the good pair only

    after = latest_diagnostics(probe, fqn, lambda v: int(v["fused"]) > int(before["fused"]))
    delta = {k: int(after[k]) - int(before[k]) for k in ("bad_thermal", "bad_visible", "bad_pairs", "pairs", "fused", "errors")}
    assert delta == {"bad_thermal": 2, "bad_visible": 2, "bad_pairs": 1, "pairs": 2, "fused": 1, "errors": 0}
    # 5 bad frames/pairs, plus the frames still waiting from earlier streams: the first pair here supersedes them
    pending = int(before["pending_thermal"]) + int(before["pending_visible"])
    assert int(after["dropped_total"]) - int(before["dropped_total"]) == 5 + pending
    assert int(after["pending_thermal"]) == 1 and int(after["pending_visible"]) == 0  # the closing thermal frame


@pytest.fixture(scope="module")
def default_node(graph):
    """fusion_node in /defaults with no parameters given at all (every declared default)."""
    from ivif_fusion.fusion_node import FusionNode

    return graph.add(FusionNode(namespace="defaults", context=graph.context))


@pytest.fixture(scope="module")
def default_probe(graph, default_node):
    return input_probe(graph, "defaults")


def test_default_node_matches_ivif_fuse_files(msrs_dir, tmp_path, default_node, default_probe) -> None:
    """mono8 thermal + bgr8 visible, default parameters: the published image is what `ivif fuse` writes."""
    from fusion_core.cli.main import main as ivif
    from ivif_fusion.image_conversion import image_to_array

    stem = "00008N"
    for side in ("ir", "vi"):
        (tmp_path / side).mkdir()
        shutil.copy(msrs_dir / side / f"{stem}.png", tmp_path / side / f"{stem}.png")
    assert ivif(["fuse", "--ir", str(tmp_path / "ir"), "--vi", str(tmp_path / "vi"), "--out", str(tmp_path / "out")]) == 0
    want_bgr = cv2.imread(str(tmp_path / "out" / "fused" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
    want_alpha = cv2.imread(str(tmp_path / "out" / "alpha" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)

    thermal = cv2.imread(str(msrs_dir / "ir" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)  # (H, W) uint8, an 8-bit camera
    visible = cv2.imread(str(msrs_dir / "vi" / f"{stem}.png"), cv2.IMREAD_COLOR)  # (H, W, 3) BGR, as bgr8 cameras send
    assert thermal.ndim == 2 and thermal.dtype == np.uint8
    stamp = 5000 * 1_000_000_000 + 123
    default_probe.thermal.publish(make_image(thermal, "mono8", stamp, "ir"))
    default_probe.visible.publish(make_image(visible, "bgr8", stamp + 4 * MS, "cam"))
    default_probe.thermal.publish(make_image(thermal, "mono8", stamp + 100 * MS, "ir"))  # the next frame proves the pair
    wait_for(lambda: default_probe.messages("fusion/image") and default_probe.messages("fusion/alpha"), 30, "the fused pair")
    out, alpha = default_probe.messages("fusion/image")[0], default_probe.messages("fusion/alpha")[0]
    assert out.encoding == "bgr8" and stamp_of(out) == stamp + 4 * MS and out.header.frame_id == "cam"
    assert np.array_equal(image_to_array(out), want_bgr)
    assert np.array_equal(image_to_array(alpha), want_alpha)


def test_newest_pair_wins_when_the_worker_is_busy(msrs_dir, default_node, default_probe) -> None:
    """worker_queue_size 1 (default): pairs arriving while one is fused replace each other; drops are counted."""
    ir8, rgb = read_thermal(msrs_dir / "ir" / "00012N.png"), read_visible(msrs_dir / "vi" / "00012N.png")
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    n_before = len(default_probe.messages("fusion/image"))
    before = latest_diagnostics(default_probe, default_node.get_fully_qualified_name())
    stamps = [6000 * 1_000_000_000 + k * 40 * MS for k in range(4)]  # 40 ms apart: > 2 * slop, no cross-pairing
    thermal = [make_image(ir8, "mono8", s, "ir") for s in stamps]
    visible = [make_image(bgr, "bgr8", s, "cam") for s in stamps]
    default_probe.thermal.publish(thermal[0])
    default_probe.visible.publish(visible[0])
    time.sleep(0.05)  # the worker takes pair 0 (a CPU fusion takes >= 100 ms here) ...
    for msg in thermal[1:]:
        default_probe.thermal.publish(msg)
    for msg in visible[1:]:  # ... and pairs 1..3 complete within a few ms of each other while it is busy
        default_probe.visible.publish(msg)
    after = latest_diagnostics(default_probe, default_node.get_fully_qualified_name(),
                               lambda v: int(v["pairs"]) == int(before["pairs"]) + 4 and int(v["dropped_worker"])
                               + int(v["fused"]) == int(before["dropped_worker"]) + int(before["fused"]) + 4, timeout=30)
    dropped = int(after["dropped_worker"]) - int(before["dropped_worker"])
    wait_for(lambda: len(default_probe.messages("fusion/image")) - n_before >= 4 - dropped, 10, "the fused images")
    fused = [stamp_of(m) for m in default_probe.messages("fusion/image")[n_before:]]
    assert fused[0] == stamps[0] and fused[-1] == stamps[3] and fused == sorted(fused)  # the newest pair always wins
    assert dropped >= 1 and len(fused) + dropped == 4
