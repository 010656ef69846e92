"""fusion_node on a Bayer or YUV 4:2:2 visible camera (real rclpy + Fast DDS), no image_proc in between.

The node must fuse exactly what fusion_core makes of the demosaiced / unpacked frame
(``fusion_core.camera_formats.to_bgr8``, the converter bag replay uses), publish it as bgr8 under the visible
header, honour row padding, and count a frame the layout cannot have (odd-width 4:2:2) as a bad visible frame.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros_harness import wait_for
from test_camera_formats import mosaic, pack_yuv422
from test_fusion_node import MS, input_probe, latest_diagnostics, make_image, stamp_of, stepwise_node

from fusion_core.camera_formats import to_bgr8
from fusion_core.engine import EngineConfig, create_engine
from fusion_core.io import read_thermal, read_visible

pytestmark = pytest.mark.ros


def test_fusion_node_fuses_bayer_and_yuv422_cameras(graph, msrs_dir) -> None:
    from ivif_fusion.image_conversion import image_to_array

    ns = "camera_formats"
    node = stepwise_node(graph, ns, worker_queue_size=8)
    probe = input_probe(graph, ns)
    ir, rgb = read_thermal(msrs_dir / "ir" / "00055D.png"), read_visible(msrs_dir / "vi" / "00055D.png")
    visibles = [  # (what the camera sends, encoding, row padding)
        (mosaic(rgb, "rggb"), "bayer_rggb8", 32),
        (pack_yuv422(rgb, "uyvy"), "yuv422", 0),
        (pack_yuv422(rgb, "yuyv"), "yuv422_yuy2", 0),
        (rgb, "rgb8", 0),  # lets pair 2 out
        (np.ascontiguousarray(pack_yuv422(rgb, "uyvy")[:, :639]), "yuv422", 0),  # odd width: a bad frame
    ]
    base = 18000 * 1_000_000_000
    stamps = [base + k * 100 * MS for k in range(len(visibles))]
    for stamp, (array, encoding, pad) in zip(stamps, visibles):
        probe.thermal.publish(make_image(ir, "mono8", stamp, "thermal_optical"))
        probe.visible.publish(make_image(array, encoding, stamp + 2 * MS, "visible_optical", pad=pad))
        time.sleep(0.2)
    wait_for(lambda: len(probe.messages("fusion/image")) >= 3, 30, "three fused pairs")
    fused = probe.messages("fusion/image")[:3]
    assert [stamp_of(m) for m in fused] == [s + 2 * MS for s in stamps[:3]]
    reference = create_engine(EngineConfig())
    for msg, (array, encoding, _) in zip(fused, visibles[:3]):
        want = reference.fuse(ir, to_bgr8(array, encoding), "bgr").fused
        assert (msg.encoding, msg.header.frame_id) == ("bgr8", "visible_optical")
        assert np.array_equal(image_to_array(msg), want), encoding
    values = latest_diagnostics(probe, node.get_fully_qualified_name(), lambda v: int(v["received_visible"]) == 5)
    assert (int(values["bad_visible"]), int(values["bad_thermal"])) == (1, 0)
