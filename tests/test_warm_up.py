"""Warm-up: one blank pair through the engine (and one blank image through the detector) before a stream,
leaving no trace in what the stream gets."""

import numpy as np
import pytest

from fusion_core.detection import Detector
from fusion_core.engine import create_engine
from fusion_core.engine.contract import EngineConfig
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
