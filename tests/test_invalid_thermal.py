"""Non-finite thermal pixels (NaN, +inf, -inf in a float frame) are invalid, never poison a frame or the AGC.

What is exactly comparable. The engine fills invalid pixels with INVALID_FILL (normalised 0) before
the network and forces alpha = 0, fused = visible there afterwards. So a poisoned frame must give,
outside its invalid pixels, *exactly* the output of the same frame whose invalid pixels hold a
finite value that normalises to 0 (the normaliser's low bound), run through an engine with the
same bounds as fixed policy: the network then sees bit-identical inputs. Against the untouched
clean frame the network's receptive field (about 32 px: 3x3 convolutions dilated 1, 2, 4 at 1/4
resolution) lets the block's content reach its neighbours: within it a 16x24 block moved pixels by
up to 9 grey levels on this pair; beyond 32 px the difference is at most one grey level.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from fusion_core import EngineConfig, InputError, RegistrationConfig, ThermalNormConfig, create_engine
from fusion_core.engine.validity import find_invalid
from fusion_core.io import read_thermal, read_visible

H, W = 96, 128
POISONS = {"nan": math.nan, "+inf": math.inf, "-inf": -math.inf}
REGIONS = {"pixel": (slice(40, 41), slice(50, 51)), "block": (slice(30, 46), slice(60, 84))}
BACKENDS = ("torch", "onnxruntime")
POLICIES = ("fixed", "percentile")


@pytest.fixture(scope="module")
def pair(msrs_dir):
    """A real MSRS pair at 96x128: thermal float32 in [0, 1] (the fixed policy's float range), visible RGB uint8."""
    th = read_thermal(msrs_dir / "ir" / "00055D.png")
    vi = read_visible(msrs_dir / "vi" / "00055D.png")
    th = cv2.resize(th, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return th, cv2.resize(vi, (W, H), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """(backend, policy) -> engine; the onnxruntime ones export the shipped model once into a private cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IVIF_CACHE_DIR", str(tmp_path_factory.mktemp("ivif_cache")))
        mp.setenv("IVIF_ONNX_EXPORTER", "legacy")
        yield {(b, p): create_engine(EngineConfig(backend=b, threads=1, thermal=ThermalNormConfig(policy=p)))
               for b in BACKENDS for p in POLICIES}


def _fixed_engine(backend: str, low: float, high: float):
    return create_engine(EngineConfig(backend=backend, threads=1, thermal=ThermalNormConfig(policy="fixed", low=low, high=high)))


def _mask(region) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[region] = True
    return mask


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("value", POISONS.values(), ids=POISONS.keys())
@pytest.mark.parametrize("region", REGIONS.values(), ids=REGIONS.keys())
def test_invalid_pixels_fall_back_to_visible_and_leave_the_rest_exact(engines, pair, backend, policy, value, region):
    th, vi = pair
    engine = engines[(backend, policy)]
    engine.reset()
    poisoned = th.copy()
    poisoned[region] = value
    mask = _mask(region)
    out = engine.fuse(poisoned, vi)

    assert out.invalid_thermal == mask.sum()
    assert (out.alpha[mask] == 0).all()
    assert np.array_equal(out.fused[mask], vi[mask])  # the visible colour, bit for bit
    # The same frame with the invalid pixels at the low bound (-> normalised 0 = the fill), same bounds:
    low, high = (0.0, 1.0) if policy == "fixed" else engine.normalizer.bounds
    if policy == "percentile":  # first frame after reset: the percentiles of the finite subsample
        sample = torch.from_numpy(poisoned[::4, ::4]).reshape(-1)
        expect = torch.quantile(sample[torch.isfinite(sample)], torch.tensor([0.01, 0.99]))
        assert (low, high) == tuple(float(v) for v in expect)
    filled = th.copy()
    filled[region] = low
    ref = _fixed_engine(backend, low, high).fuse(filled, vi)
    assert ref.invalid_thermal == 0
    assert np.array_equal(out.fused[~mask], ref.fused[~mask])
    assert np.array_equal(out.alpha[~mask], ref.alpha[~mask])
    # Against the untouched frame: beyond the receptive field (32 px) of the invalid pixels, <= 1 grey level.
    clean = _fixed_engine(backend, low, high).fuse(th, vi)
    far = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5) > 32
    assert far.sum() > 5000
    assert np.abs(out.fused[far].astype(int) - clean.fused[far]).max() <= 1
    assert out.fused.mean() > 0.8 * clean.fused.mean()  # the old failure: one NaN turned the frame black


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("value", POISONS.values(), ids=POISONS.keys())
def test_whole_invalid_frame_raises_and_keeps_the_agc_state(engines, pair, backend, policy, value):
    th, vi = pair
    engine = engines[(backend, policy)]
    engine.reset()
    first = engine.fuse(th, vi)
    bounds = engine.normalizer.bounds
    with pytest.raises(InputError, match=r"thermal frame \(128x96, float32\) has no finite pixel"):
        engine.fuse(np.full_like(th, value), vi)
    assert engine.normalizer.bounds == bounds
    shifted = np.clip(th * 0.8 + 0.1, 0, 1).astype(np.float32)
    after = engine.fuse(shifted, vi)
    engine.reset()
    engine.fuse(th, vi)
    assert np.array_equal(engine.fuse(shifted, vi).fused, after.fused)  # as if the bad frame never came
    assert first.invalid_thermal == after.invalid_thermal == 0


@pytest.mark.parametrize("value", POISONS.values(), ids=POISONS.keys())
def test_agc_state_after_a_poisoned_frame_is_that_of_its_finite_pixels(engines, pair, value):
    """Rows 64.. invalid: the percentile subsample's finite part is exactly the subsample of rows 0..63,
    so an engine fed the crop instead must hold the same state and fuse the next clean frame identically."""
    th, vi = pair
    shifted = np.clip(th * 0.7 + 0.2, 0, 1).astype(np.float32)  # another clean frame, other percentiles
    poisoned = th.copy()
    poisoned[64:] = value
    poisoned[10:14, 20:30] = value  # and a block inside the kept rows
    a = engines[("torch", "percentile")]
    a.reset()
    a.fuse(shifted, vi)
    assert a.fuse(poisoned, vi).invalid_thermal == (H - 64) * W + 40
    bounds_a = a.normalizer.bounds
    next_a = a.fuse(shifted, vi)

    b = create_engine(EngineConfig(threads=1, thermal=ThermalNormConfig(policy="percentile")))
    b.fuse(shifted, vi)
    prev = b.normalizer.bounds
    crop = poisoned[:64].copy()
    crop[10:14, 20:30] = np.nan
    b.fuse(crop, vi[:64])
    assert b.normalizer.bounds == bounds_a and all(math.isfinite(v) for v in bounds_a)
    # and by the definition: 0.9 * previous + 0.1 * percentiles of the finite subsample
    sample = torch.from_numpy(poisoned[::4, ::4]).reshape(-1)
    q = torch.quantile(sample[torch.isfinite(sample)], torch.tensor([0.01, 0.99]))
    expect = tuple(0.9 * p + 0.1 * float(v) for p, v in zip(prev, q))
    assert bounds_a == pytest.approx(expect, abs=1e-12)
    next_b = b.fuse(shifted, vi)
    assert np.array_equal(next_a.fused, next_b.fused) and np.array_equal(next_a.alpha, next_b.alpha)
    assert next_a.fused.mean() > 20  # not the black frames a NaN state gave


@pytest.mark.parametrize("order", ["bgr", "rgba", "mono"])
def test_every_visible_layout_gets_its_own_pixels_back(engines, pair, order):
    th, vi = pair
    visible = {"bgr": vi[..., ::-1].copy(), "rgba": np.dstack([vi, np.full((H, W), 7, np.uint8)]),
               "mono": cv2.cvtColor(vi, cv2.COLOR_RGB2GRAY)}[order]
    poisoned = th.copy()
    poisoned[REGIONS["block"]] = math.nan
    out = engines[("torch", "fixed")].fuse(poisoned, visible, order)
    mask = _mask(REGIONS["block"])
    assert out.fused.shape == visible.shape
    assert np.array_equal(out.fused[mask], visible[mask]) and (out.alpha[mask] == 0).all()


@pytest.mark.parametrize("registration", [RegistrationConfig(), RegistrationConfig(homography=(2.0, 0, 3, 0, 2.0, -2, 0, 0, 1))],
                         ids=["resize", "homography"])
def test_the_mask_follows_registration(pair, registration):
    """A half-size thermal frame: one NaN pixel covers the visible pixels its interpolated value reaches."""
    th, vi = pair
    small = cv2.resize(th, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    poisoned = small.copy()
    poisoned[20, 25] = math.nan
    config = EngineConfig(threads=1, registration=registration)
    out = create_engine(config).fuse(poisoned, vi)
    filled = small.copy()
    filled[20, 25] = 0.0
    ref = create_engine(config).fuse(filled, vi)
    # Which visible pixels the thermal pixel reaches: warp an indicator with the same registration.
    indicator = np.zeros_like(small)
    indicator[20, 25] = 1.0
    from fusion_core.registration import Registrar

    reach = Registrar(registration)(torch.from_numpy(indicator), (H, W)).numpy() > 0
    assert out.invalid_thermal == 1 and 1 <= reach.sum() <= 25
    assert (out.alpha[reach] == 0).all() and np.array_equal(out.fused[reach], vi[reach])
    assert np.array_equal(out.fused[~reach], ref.fused[~reach]) and np.array_equal(out.alpha[~reach], ref.alpha[~reach])


def test_integer_thermal_skips_the_validity_pass_and_clean_float_frames_pass_it():
    raw = torch.tensor([[math.nan, 1.0]])  # never happens for integers; shows the pixels are not even looked at
    assert find_invalid(raw, np.dtype(np.uint16)) == (None, 0)
    assert find_invalid(torch.tensor([[0.5, 1.0]]), np.dtype(np.float32)) == (None, 0)
    assert find_invalid(torch.full((4, 4), 3e38), np.dtype(np.float32)) == (None, 0)  # the sum overflows, no pixel does
    mask, count = find_invalid(torch.tensor([[math.inf, 1.0]]), np.dtype(np.float64))
    assert count == 1 and mask.tolist() == [[True, False]]
