"""Warm-up: blank pairs through the engine (and blank images through the detector) before a stream, as many
as pay first-run costs, leaving no trace in what the stream gets."""

import numpy as np
import pytest

from fusion_core.detection import Detector, onnx_runner
from fusion_core.detection.config import DetectorConfig
from fusion_core.detection.detector import WARM_UP_CALLS as DETECTOR_WARM_UP_CALLS
from fusion_core.engine import create_engine
from fusion_core.engine.contract import EngineConfig
from fusion_core.engine.pipeline import WARM_UP_CALLS
from fusion_core.errors import InputError
from fusion_core.registration import RegistrationConfig
from fusion_core.thermal import ThermalNormConfig

STATEFUL = dict(thermal=ThermalNormConfig(policy="percentile", smoothing=0.9), alpha_smoothing=0.5)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_warm_up_leaves_no_temporal_state(backend, msrs_pair):
    """AGC bounds and smoothed α start over: a warmed engine's first frames equal a fresh engine's."""
    thermal, visible = msrs_pair
    fresh = create_engine(EngineConfig(backend=backend, **STATEFUL))
    warmed = create_engine(EngineConfig(backend=backend, **STATEFUL))
    assert warmed.warm_up((640, 480)) > 0.0
    for _ in range(2):  # the second frame depends on the state the first left
        a, b = fresh.fuse(thermal, visible), warmed.fuse(thermal, visible)
        assert np.array_equal(a.fused, b.fused) and np.array_equal(a.alpha, b.alpha)


def test_warm_up_at_calibrated_sizes_and_refused_at_others():
    h = (1.02, 0.0, 5.0, 0.0, 1.02, -3.0, 0.0, 0.0, 1.0)
    engine = create_engine(EngineConfig(registration=RegistrationConfig(homography=h, calibrated_sizes=((320, 256), (640, 480)))))
    assert engine.warm_up((320, 256), (640, 480)) > 0.0
    with pytest.raises(InputError):
        engine.warm_up((640, 480), (640, 480))  # the sizes the calibration does not hold are refused, as any frame


def test_detector_warm_up_changes_nothing(msrs_pair):
    _thermal, visible = msrs_pair
    cold, warmed = Detector(), Detector()
    assert warmed.warm_up() > 0.0
    assert cold.detect(visible) == warmed.detect(visible)


class CountingRunner:
    """Wraps a runner and counts its calls: what a warm-up ran is what the backend's first-run costs see."""

    def __init__(self, runner) -> None:
        self.runner, self.calls = runner, 0
        self.rectangular = getattr(runner, "rectangular", False)
        self.name, self.device = getattr(runner, "name", None), getattr(runner, "device", None)

    def __call__(self, *args):
        self.calls += 1
        return self.runner(*args)


def test_warm_up_runs_the_network_as_often_as_first_runs_cost():
    """The second ONNX Runtime call still pays part of the one-off cost (measured), so both go to the warm-up."""
    assert WARM_UP_CALLS >= 2 and DETECTOR_WARM_UP_CALLS >= 2  # one call leaves the second first-run cost to the stream
    engine = create_engine(EngineConfig(backend="onnxruntime"))
    engine.runner = CountingRunner(engine.runner)
    engine.warm_up((320, 256))
    assert engine.runner.calls == WARM_UP_CALLS
    runner = CountingRunner(onnx_runner(DetectorConfig()))
    detector = Detector(runner=runner)
    detector.warm_up((320, 256))
    assert runner.calls == DETECTOR_WARM_UP_CALLS
