"""Fixtures of the ROS integration tests (real rclpy + Fast DDS); helpers live in ros_harness.py."""

from __future__ import annotations

from typing import Iterator

import pytest

pytest.importorskip("rclpy", reason="rclpy (ROS 2 wheels from PyPI) is not installed")

from ros_harness import RosGraph  # noqa: E402  (after the skip: it imports the ROS package)


@pytest.fixture(scope="module")
def graph() -> Iterator[RosGraph]:
    g = RosGraph()
    try:
        yield g
    finally:
        g.close()


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads() -> Iterator[None]:
    """A FusionNode built in this process sets torch's threads process-wide (one, with ONNX Runtime on the
    CPU: see fusion_core.engine.auto.prepost_torch_threads); give the later test modules their default back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
