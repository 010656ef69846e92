"""Field of view: outside the thermal camera's footprint the fused image is the visible image and α = 0.

The footprint rule (fusion_core.registration): a visible pixel is covered when its exact source
position lies in [0, Wt-1] x [0, Ht-1] (align_corners=True, edges included). The network still sees
the warp's zeros outside, so covered pixels must come out exactly as the engine's own pipeline gives
them without the validity mask, i.e. as before the rule existed.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
import torch

from fusion_core import EngineConfig, InputError, RegistrationConfig, create_engine
from fusion_core.registration import Registrar

BACKENDS = ("torch", "onnxruntime")
# Thermal (480x640) scaled by 0.75 and shifted by (100, 60): covers x in [100, 579.25], y in [60, 419.25].
SCALE, SHIFT_X, SHIFT_Y = 0.75, 100.0, 60.0
SHRINK = RegistrationConfig(homography=(SCALE, 0.0, SHIFT_X, 0.0, SCALE, SHIFT_Y, 0.0, 0.0, 1.0))


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """backend -> engine with the shrinking homography; onnxruntime exports the shipped model into a private cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IVIF_CACHE_DIR", str(tmp_path_factory.mktemp("ivif_cache")))
        mp.setenv("IVIF_ONNX_EXPORTER", "legacy")
        yield {b: create_engine(EngineConfig(backend=b, threads=1, registration=SHRINK)) for b in BACKENDS}


def _without_mask(engine, thermal, visible):
    """The engine's own pipeline with the validity mask left out: what it produced before the FOV rule."""
    prep = dataclasses.replace(engine._prepare(thermal, visible, "rgb"), invalid=None)
    with torch.inference_mode():
        fused_y, alpha = engine.runner(prep.ir_y, prep.vi_y)
    return engine._assemble(fused_y, alpha, prep)


def _covered_box(h: int, w: int) -> np.ndarray:
    """Covered pixels of SHRINK for a 480x640 thermal, from the geometry: x in [100, 579], y in [60, 419]."""
    mask = np.zeros((h, w), bool)
    mask[60:420, 100:580] = True
    return mask


@pytest.mark.parametrize("backend", BACKENDS)
def test_outside_is_visible_inside_is_unchanged(engines, msrs_pair, backend):
    thermal, visible = msrs_pair
    engine = engines[backend]
    out = engine.fuse(thermal, visible)
    covered = _covered_box(*visible.shape[:2])
    assert np.array_equal(out.fused[~covered], visible[~covered])  # bit for bit
    assert (out.alpha[~covered] == 0).all()
    ref_fused, ref_alpha = _without_mask(engine, thermal, visible)
    assert np.array_equal(out.fused[covered], ref_fused[covered])
    assert np.array_equal(out.alpha[covered], ref_alpha[covered])
    # Before the rule the uncovered part was fused with thermal zeros (α up to 113/255 on this night
    # pair, 39 % of its pixels darker than the visible image, by up to 9 grey levels).
    assert ref_alpha[~covered].max() > 50 and (ref_fused[~covered] != visible[~covered]).any(axis=-1).mean() > 0.2
    assert out.invalid_thermal == 0
    assert out.thermal_coverage == pytest.approx(covered.mean(), abs=1e-12)


def test_coverage_is_the_analytic_area_within_a_pixel_row(engines, msrs_pair):
    thermal, visible = msrs_pair
    (th, tw), (h, w) = thermal.shape, visible.shape[:2]
    fp_w, fp_h = SCALE * (tw - 1), SCALE * (th - 1)  # footprint spans first to last thermal pixel centre
    out = engines["torch"].fuse(thermal, visible)
    # Pixel centres inside a 479.25 x 359.25 rectangle: 480 x 360 of them; the count may differ from the
    # area by up to one pixel row plus one pixel column.
    assert abs(out.thermal_coverage * h * w - fp_w * fp_h) <= fp_w + fp_h + 1
    registrar = engines["torch"].registrar
    fp = registrar.footprint((th, tw), (h, w))
    assert registrar.outside((th, tw), (h, w)) is registrar.outside((th, tw), (h, w))  # cached, not recomputed
    assert fp.coverage == out.thermal_coverage
    assert fp.bbox == (100, 60, 579, 419)
    assert np.array_equal(fp.covered, _covered_box(h, w))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_pixels_and_footprint_combine(engines, msrs_pair, backend):
    thermal, visible = msrs_pair
    engine = engines[backend]
    poisoned = thermal.astype(np.float32) / 255.0  # fixed policy, float range [0, 1]
    poisoned[200:216, 300:340] = math.nan  # lands inside the footprint at x 325..355, y 210..222
    out = engine.fuse(poisoned, visible)
    indicator = np.zeros(thermal.shape, np.float32)
    indicator[200:216, 300:340] = 1.0
    reach = Registrar(SHRINK)(torch.from_numpy(indicator), visible.shape[:2]).numpy() > 0
    invalid = reach | ~_covered_box(*visible.shape[:2])
    assert out.invalid_thermal == 16 * 40
    assert np.array_equal(out.fused[invalid], visible[invalid]) and (out.alpha[invalid] == 0).all()
    assert 0 < (out.alpha[~invalid] > 0).mean()
    assert out.thermal_coverage == pytest.approx(1.0 - invalid.mean(), abs=1e-12)
    assert out.thermal_coverage < engine.registrar.coverage(thermal.shape, visible.shape[:2])


@pytest.mark.parametrize(
    ("config", "thermal_hw"),
    [(RegistrationConfig(), (480, 640)), (RegistrationConfig(), (240, 320)),
     (RegistrationConfig(homography=(2.01, 0, -1, 0, 2.01, -1, 0, 0, 1)), (240, 320))],
    ids=["identity", "resize", "homography-covering-all"],
)
def test_full_footprint_has_no_mask(config, thermal_hw, msrs_pair):
    registrar = Registrar(config)
    assert registrar.outside(thermal_hw, (480, 640)) is None  # nothing to apply on the hot path
    fp = registrar.footprint(thermal_hw, (480, 640))
    assert fp.coverage == 1.0 and fp.bbox == (0, 0, 639, 479) and fp.covered.all()
    thermal, visible = msrs_pair
    out = create_engine(EngineConfig(backend="torch", threads=1, registration=config)).fuse(
        cv2.resize(thermal, thermal_hw[::-1], interpolation=cv2.INTER_AREA), visible)
    assert out.thermal_coverage == 1.0


@pytest.mark.parametrize("scale", [3.0, 1.5, 1.0 / 3.0])
def test_edges_exactly_on_a_thermal_pixel_centre_are_covered(scale):
    """Thermal 10x12 scaled by ``scale`` and shifted by 5 px: columns 5 .. 5 + 11*scale are covered, edges included."""
    h = (scale, 0.0, 5.0, 0.0, scale, 5.0, 0.0, 0.0, 1.0)
    registrar = Registrar(RegistrationConfig(homography=h))
    fp = registrar.footprint((10, 12), (40, 45))
    last_x, last_y = math.floor(5 + 11 * scale + 1e-9), math.floor(5 + 9 * scale + 1e-9)
    assert fp.bbox == (5, 5, last_x, last_y)
    ones = registrar(torch.ones(10, 12), (40, 45)).numpy()  # = total weight taken from inside the image
    assert (ones[fp.covered] == pytest.approx(1.0, abs=1e-6))
    assert (ones[~fp.covered] < 1.0 - 1e-6).all()


@pytest.mark.parametrize("seed", range(4))
def test_covered_means_no_weight_from_the_padding(seed):
    """Random homographies (rotation, scale, perspective): covered pixels sample weight 1 from inside."""
    rng = np.random.default_rng(seed)
    angle, scale = rng.uniform(-0.3, 0.3), rng.uniform(0.6, 1.6)
    h = np.array([[scale * math.cos(angle), -scale * math.sin(angle), rng.uniform(-20, 40)],
                  [scale * math.sin(angle), scale * math.cos(angle), rng.uniform(-20, 40)],
                  [rng.uniform(-1e-3, 1e-3), rng.uniform(-1e-3, 1e-3), 1.0]])
    registrar = Registrar(RegistrationConfig(homography=tuple(h.ravel())))
    fp = registrar.footprint((60, 80), (90, 120))
    ones = registrar(torch.ones(60, 80), (90, 120)).numpy()
    assert 0.05 < fp.coverage < 1.0
    assert np.abs(ones[fp.covered] - 1.0).max() <= 1e-6
    assert ones[~fp.covered].max() < 1.0 - 1e-6


def test_points_behind_the_camera_are_outside():
    """A perspective row whose rays never meet the thermal plane in front: outside, and the warp stays finite."""
    h = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.02, 1.0)  # the inverse has w = 1 - 0.02*y: <= 0 from visible row 50 on
    registrar = Registrar(RegistrationConfig(homography=h))
    fp = registrar.footprint((40, 40), (120, 40))
    warped = registrar(torch.ones(40, 40), (120, 40))
    assert torch.isfinite(warped).all()
    assert fp.coverage < 1.0 and not fp.covered[-1].any()


@pytest.mark.parametrize(
    ("config", "thermal_hw", "message"),
    [(RegistrationConfig(allow_resize=False), (240, 320), "resizing is disabled"),
     (RegistrationConfig(), (480, 480), "aspect ratios differ")],
)
def test_footprint_of_unregistrable_sizes_raises_like_fusing(config, thermal_hw, message):
    with pytest.raises(InputError, match=message):
        Registrar(config).footprint(thermal_hw, (480, 640))


def test_nothing_covered_gives_the_visible_image(msrs_pair):
    thermal, visible = msrs_pair
    far = RegistrationConfig(homography=(1.0, 0, 5000.0, 0, 1.0, 0, 0, 0, 1))
    engine = create_engine(EngineConfig(backend="torch", threads=1, registration=far))
    out = engine.fuse(thermal, visible)
    assert out.thermal_coverage == 0.0 and engine.registrar.footprint(thermal.shape, visible.shape[:2]).bbox is None
    assert np.array_equal(out.fused, visible) and not out.alpha.any()


@pytest.mark.gpu
def test_cuda_engine_applies_the_same_footprint(engines, msrs_pair):
    thermal, visible = msrs_pair
    cpu = engines["torch"].fuse(thermal, visible)
    gpu = create_engine(EngineConfig(backend="torch", device="cuda", registration=SHRINK)).fuse(thermal, visible)
    covered = _covered_box(*visible.shape[:2])
    assert np.array_equal(gpu.fused[~covered], visible[~covered]) and (gpu.alpha[~covered] == 0).all()
    assert gpu.thermal_coverage == cpu.thermal_coverage
    assert np.abs(gpu.fused.astype(int) - cpu.fused).max() <= 1
