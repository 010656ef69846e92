import numpy as np
import pytest
import torch

from fusion_core import ConfigError, InputError, ThermalNormConfig, ThermalNormalizer


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


@pytest.mark.parametrize("policy", ["fixed", "percentile"])
def test_invalid_pixels_are_left_out_and_filled(policy):
    """An invalid mask: the percentiles come from the other pixels only, the masked pixels come out as INVALID_FILL."""
    from fusion_core.thermal import INVALID_FILL

    values = np.arange(64, dtype=np.float32).reshape(8, 8) / 64.0  # subsample [::4, ::4] = 4 pixels
    values[0, 0] = np.nan
    values[4, 4] = 1e30  # finite but would dominate p_high if it were not masked out
    invalid = torch.zeros(8, 8, dtype=torch.bool)
    invalid[0, 0] = invalid[4, 4] = True
    n = ThermalNormalizer(ThermalNormConfig(policy=policy, p_low=0.0, p_high=100.0))
    out = n(torch.from_numpy(values), np.dtype(np.float32), invalid).numpy()
    assert out[0, 0] == out[4, 4] == INVALID_FILL and np.isfinite(out).all()
    if policy == "percentile":
        assert n.bounds == (values[0, 4], values[4, 0])  # min and max of the two valid subsample pixels
        assert out[0, 4] == 0.0 and out[4, 0] == 1.0
    else:
        assert n.bounds is None and out[0, 4] == values[0, 4]


def test_non_finite_bounds_raise_and_keep_the_state():
    """Called without a mask (as a caller outside the engine might), a NaN frame must not become the AGC state."""
    n = ThermalNormalizer(ThermalNormConfig(policy="percentile", p_low=0.0, p_high=100.0))
    n(torch.tensor([[0.0, 1.0], [2.0, 3.0]]), np.dtype(np.float32))
    state = n.bounds
    poisoned = torch.zeros(8, 8)
    poisoned[4, 4] = float("nan")
    with pytest.raises(InputError, match=r"percentile bounds \(nan, nan\) are not finite"):
        n(poisoned, np.dtype(np.float32))
    with pytest.raises(InputError, match="no finite pixel"):
        n(torch.full((4, 4), float("nan")), np.dtype(np.float32), torch.ones(4, 4, dtype=torch.bool))
    assert n.bounds == state


def test_range_warning_names_a_wasted_range_and_only_that():
    from fusion_core.thermal import range_warning

    rng = np.random.default_rng(0)
    core = rng.normal(22000, 600, (128, 160)).astype(np.uint16)  # a 16-bit core: ~3.8 % of 0-65535 at 1-99 %
    message = range_warning(core, ThermalNormConfig())
    low, high = np.percentile(core[::4, ::4].astype(float), [1, 99])
    assert message.startswith(f"uint16 thermal frames span {low:.6g} to {high:.6g} (1st-99th percentile); that is "
                              f"{(high - low) / 65535:.1%} of the range 0-65535") and message.endswith("nearly flat")
    kelvin = rng.normal(300, 5, (64, 64)).astype(np.float32)
    assert "100% of its pixels lie outside the range 0-1" in range_warning(kelvin, ThermalNormConfig())
    assert range_warning(core, ThermalNormConfig(low=20000.0, high=24000.0)) is None  # a range is set
    assert range_warning(core, ThermalNormConfig(policy="percentile")) is None  # the AGC adapts
    assert range_warning((core >> 8).astype(np.uint8), ThermalNormConfig()) is None  # 8-bit: x / 255 is the camera's own
    wide = rng.integers(0, 65535, (64, 64), dtype=np.uint16)
    assert range_warning(wide, ThermalNormConfig()) is None  # uses the range
    assert range_warning(np.full((8, 8), np.nan, np.float32), ThermalNormConfig()) is None  # nothing to measure
