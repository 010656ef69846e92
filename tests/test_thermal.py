import numpy as np
import pytest
import torch

from fusion_core import ConfigError, ThermalNormConfig, ThermalNormalizer


def norm(arr: np.ndarray, **cfg) -> np.ndarray:
    n = ThermalNormalizer(ThermalNormConfig(**cfg))
    return n(torch.from_numpy(arr.astype(np.float32)), arr.dtype).numpy()


def test_fixed_uint8_is_divide_by_255():
    arr = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.allclose(norm(arr), arr / 255.0, atol=1e-7)


def test_fixed_uint16_full_range_and_custom_range():
    arr = np.array([[0, 32768, 65535]], dtype=np.uint16)
    assert np.allclose(norm(arr), [[0.0, 32768 / 65535, 1.0]], atol=1e-6)
    assert np.allclose(norm(arr, low=30000.0, high=34000.0), [[0.0, 2768 / 4000, 1.0]], atol=1e-6)


def test_float_input_uses_unit_range_and_clips():
    arr = np.array([[-0.5, 0.25, 2.0]], dtype=np.float32)
    assert np.allclose(norm(arr), [[0.0, 0.25, 1.0]])


def test_percentile_maps_bulk_to_unit_range_and_smooths_over_time():
    rng = np.random.default_rng(0)
    frame = rng.normal(30000, 500, (64, 64)).astype(np.uint16)
    n = ThermalNormalizer(ThermalNormConfig(policy="percentile", p_low=1, p_high=99, smoothing=0.5))
    out = n(torch.from_numpy(frame.astype(np.float32)), frame.dtype).numpy()
    assert 0.4 < np.median(out) < 0.6
    assert (out == 0).mean() < 0.05 and (out == 1).mean() < 0.05
    b0 = n._bounds
    hot = frame.astype(np.float32) + 4000.0  # the whole scene warms up by 4000 counts
    n(torch.from_numpy(hot), frame.dtype)
    lo1 = n._bounds[0]
    # Smoothing 0.5: the low bound moves halfway towards the new frame's percentile, not all the way.
    assert lo1 == pytest.approx(b0[0] + 2000.0, rel=0.01)
    n.reset()
    assert n._bounds is None


def test_flat_frame_does_not_divide_by_zero():
    flat = np.full((8, 8), 1234, dtype=np.uint16)
    out = norm(flat, policy="percentile")
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policy": "agc"}, "not one of fixed, percentile"),
        ({"low": 1.0}, "given together"),
        ({"low": 5.0, "high": 5.0}, "greater than low"),
        ({"p_low": 90.0, "p_high": 10.0}, "p_low < p_high"),
        ({"smoothing": 1.0}, "smoothing"),
    ],
)
def test_invalid_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ThermalNormConfig(**kwargs)
