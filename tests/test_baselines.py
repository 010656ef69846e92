"""Classical fusion baselines: pixel rules, the Laplacian pyramid, the registry and the coloured image helper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion_core.baselines import (
    BASELINES,
    average,
    fuse_baseline_image,
    get_baseline,
    ir_only,
    laplacian_pyramid,
    pixel_max,
    vi_only,
)
from fusion_core.colour import rgb_to_ycbcr
from fusion_core.errors import ConfigError, InputError

RNG = np.random.default_rng(3)
IR = np.array([[0.0, 100.0], [200.0, 50.0]])
VI = np.array([[10.0, 90.0], [0.0, 250.0]])


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (ir_only, IR),
        (vi_only, VI),
        (average, np.array([[5.0, 95.0], [100.0, 150.0]])),
        (pixel_max, np.array([[10.0, 100.0], [200.0, 250.0]])),
    ],
)
def test_pixel_rules(fn, expected: np.ndarray) -> None:
    out = fn(IR, VI)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(fn(IR / 255, VI / 255), expected / 255)  # scale-agnostic


def test_registry() -> None:
    assert list(BASELINES) == ["ir_only", "vi_only", "average", "max", "laplacian"]
    assert get_baseline("max") is pixel_max
    with pytest.raises(ConfigError, match="unknown baseline 'median'; valid: ir_only, vi_only, average, max, laplacian"):
        get_baseline("median")


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (37, 53), (480, 640)])
@pytest.mark.parametrize("levels", [0, 1, 4, 12])
def test_laplacian_reconstructs_any_size(shape: tuple[int, int], levels: int) -> None:
    a = RNG.uniform(0, 255, shape)
    out = laplacian_pyramid(a, a, levels=levels)
    assert out.shape == shape
    np.testing.assert_allclose(out, a, atol=1e-9)  # IR = VI: the pyramid reconstructs its input


def test_laplacian_levels_zero_is_average_and_scale_agnostic() -> None:
    a, b = RNG.uniform(0, 255, (33, 41)), RNG.uniform(0, 255, (33, 41))
    np.testing.assert_allclose(laplacian_pyramid(a, b, levels=0), (a + b) / 2)
    np.testing.assert_allclose(laplacian_pyramid(a / 255, b / 255), laplacian_pyramid(a, b) / 255, atol=1e-12)
    # no ties in random data: the choose-max-abs rule is symmetric
    np.testing.assert_allclose(laplacian_pyramid(a, b), laplacian_pyramid(b, a), atol=1e-9)


def test_laplacian_keeps_target_contrast_that_averaging_halves() -> None:
    ir = np.zeros((64, 64))
    ir[30:34, 30:34] = 200.0  # a small hot target on a cold background
    vi = np.full((64, 64), 100.0)  # a flat visible image: no detail of its own
    avg, lap = average(ir, vi), laplacian_pyramid(ir, vi)
    assert avg[30:34, 30:34].mean() - avg[:8, :8].mean() == pytest.approx(100.0)
    assert lap[30:34, 30:34].mean() - lap[:8, :8].mean() > 170.0  # the target's detail bands come from IR


@pytest.mark.parametrize("levels", [-1, 2.5, True, "4"])
def test_laplacian_bad_levels(levels: object) -> None:
    with pytest.raises(ConfigError, match="laplacian levels must be an integer >= 0"):
        laplacian_pyramid(IR, VI, levels=levels)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ir", "vi", "message"),
    [
        (np.zeros((4, 4)), np.zeros((4, 5)), r"same shape, got ir \(4, 4\), vi \(4, 5\)"),
        (np.zeros((4, 4, 3)), np.zeros((4, 4)), r"ir must be a non-empty \(H, W\) luminance array"),
        (np.zeros((4, 4)), np.zeros((0, 4)), "vi must be a non-empty"),
        (np.full((4, 4), np.inf), np.zeros((4, 4)), "ir contains NaN or infinite"),
    ],
)
@pytest.mark.parametrize("name", list(BASELINES))
def test_baseline_input_failures(name: str, ir: np.ndarray, vi: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        BASELINES[name](ir, vi)


# ---------------------------------------------------------------- coloured images, engine-style


def _ycbcr(rgb_u8: np.ndarray) -> np.ndarray:
    return rgb_to_ycbcr(torch.from_numpy(rgb_u8).double() / 255).numpy()


def test_fuse_baseline_image_colour_like_the_engine(msrs_pair: tuple[np.ndarray, np.ndarray]) -> None:
    thermal, visible = msrs_pair
    vi_back = fuse_baseline_image("vi_only", thermal, visible)
    assert vi_back.dtype == np.uint8 and vi_back.shape == visible.shape
    assert np.abs(vi_back.astype(int) - visible).max() <= 1  # Y and CbCr round-trip
    out = fuse_baseline_image("average", thermal, visible)
    ycc_out, ycc_vi = _ycbcr(out), _ycbcr(visible)
    target_y = (thermal / 255.0 + ycc_vi[..., 0]) / 2
    inside = (out > 0).all(-1) & (out < 255).all(-1)  # pixels where RGB clamping did not bite
    assert inside.mean() > 0.5
    np.testing.assert_allclose(ycc_out[inside, 0], target_y[inside], atol=1 / 255)  # fused Y = average of the Y planes
    np.testing.assert_allclose(ycc_out[inside, 1:], ycc_vi[inside, 1:], atol=3 / 255)  # visible chroma kept


def test_fuse_baseline_image_grey_and_options(msrs_pair: tuple[np.ndarray, np.ndarray]) -> None:
    thermal, visible = msrs_pair
    grey = visible[..., 1].copy()
    out = fuse_baseline_image("max", thermal, grey)
    assert out.shape == grey.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.maximum(thermal, grey))  # exact: 8-bit in, max, 8-bit out
    three = fuse_baseline_image("ir_only", np.dstack([thermal] * 3), grey)
    np.testing.assert_array_equal(three, thermal)
    one = fuse_baseline_image("laplacian", thermal, grey, levels=0)
    np.testing.assert_array_equal(one, fuse_baseline_image("average", thermal, grey))


def test_fuse_baseline_image_failures(msrs_pair: tuple[np.ndarray, np.ndarray]) -> None:
    thermal, visible = msrs_pair
    with pytest.raises(InputError, match=r"differ in size; baselines need registered pairs"):
        fuse_baseline_image("average", thermal[:100], visible)
    with pytest.raises(ConfigError, match="unknown baseline 'best'"):
        fuse_baseline_image("best", thermal, visible)
    with pytest.raises(InputError, match="visible must be a uint8"):
        fuse_baseline_image("average", thermal, visible.astype(np.float32))
