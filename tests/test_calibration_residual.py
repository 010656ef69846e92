"""fusion_core.calibration.residual: tile-by-tile shifts between thermal and visible edges, on a real MSRS day pair
moved by known translations, a known lens-like distortion and a contrast inversion; what a homography leaves of the
field; and scripts/registration_field.py's perfect-estimator floor on constructed fields."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fusion_core.calibration.residual import ResidualField, fit_field_homography, residual_field, tile_agreement
from fusion_core.errors import InputError
from fusion_core.io import read_visible

STEM = "00055D"  # a day pair: edges across the frame


@pytest.fixture(scope="module")
def visible(msrs_dir) -> np.ndarray:
    return cv2.cvtColor(read_visible(msrs_dir / "vi" / f"{STEM}.png"), cv2.COLOR_RGB2GRAY)


def moved(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` moved right by ``dx`` and down by ``dy`` px: out(x + d) = image(x)."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, image.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def distortion(shape: tuple[int, int], corner_px: float) -> np.ndarray:
    """(H, W, 2) radial displacement d(x) = k·r²·(x − c), ``corner_px`` long at the frame's corners."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    r2 = (xs - cx) ** 2 + (ys - cy) ** 2
    k = corner_px / (cx**2 + cy**2) ** 1.5
    return np.stack([k * r2 * (xs - cx), k * r2 * (ys - cy)], axis=-1)


@pytest.mark.parametrize("shift", [(2.0, 0.0), (0.5, -1.25), (-3.0, 2.5)])
def test_a_translation_is_found_in_every_tile_to_a_third_of_a_pixel(visible, shift) -> None:
    field = residual_field(tile_agreement([(moved(visible, *shift), visible)], grid=(8, 6), radius=6))
    assert field.valid.sum() >= 46  # of 48
    err = np.abs(field.shifts[field.valid] - np.array(shift))
    assert np.median(err) < 0.12 and np.percentile(err, 95) < 0.35
    assert np.median(fit_field_homography(field)[1]) < 0.2


def test_contrast_inversion_does_not_change_the_shifts(visible) -> None:
    """Thermal contrast can be the visible one's reversed (a warm object on a cold one): the field ignores polarity."""
    field = residual_field(tile_agreement([(255 - moved(visible, 1.5, -1.0), visible)], grid=(8, 6)))
    assert field.valid.sum() >= 46
    assert np.median(np.abs(field.shifts[field.valid] - (1.5, -1.0))) < 0.12


def test_a_lens_distortion_is_measured_and_is_what_a_homography_leaves(visible) -> None:
    d = distortion(visible.shape, corner_px=4.0)
    ys, xs = np.mgrid[0:visible.shape[0], 0:visible.shape[1]].astype(np.float32)
    # thermal(x + d(x)) = visible(x): sample the visible image at y - d(y) (d varies slowly, so this inverts it)
    thermal = cv2.remap(visible, xs - d[..., 0].astype(np.float32), ys - d[..., 1].astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT)
    field = residual_field(tile_agreement([(thermal, visible)], grid=(12, 9), radius=6))
    assert field.valid.sum() >= 100  # of 108
    expected = d[np.rint(field.centres[:, 1]).astype(int), np.rint(field.centres[:, 0]).astype(int)]
    err = np.hypot(*(field.shifts - expected)[field.valid].T)
    assert np.median(err) < 0.2 and np.percentile(err, 90) < 0.4
    left = fit_field_homography(field)[1]
    assert left.max() > 0.5  # a radial distortion is not a homography
    shifted = residual_field(tile_agreement([(moved(visible, 2.0, 1.0), visible)], grid=(12, 9), radius=6))
    assert np.median(fit_field_homography(shifted)[1]) < 0.2 < np.median(left)


def test_pairs_add_up_and_a_subset_can_be_taken(visible) -> None:
    """A flat thermal frame has no edges: alone it measures nothing; with a good pair the good pair decides."""
    flat = np.full_like(visible, 128)
    agreement = tile_agreement([(flat, visible), (moved(visible, 1.0, 0.0), visible)], grid=(8, 6))
    assert agreement.numerators.shape == (2, 13 * 13, 48)
    assert not residual_field(agreement, [0]).valid.any()
    both = residual_field(agreement)
    assert np.median(np.abs(both.shifts[both.valid] - (1.0, 0.0))) < 0.12
    again = residual_field(agreement, [1, 1])  # a bootstrap draw repeats pairs
    assert np.allclose(again.shifts[again.valid], residual_field(agreement, [1]).shifts[again.valid])


def test_the_thermal_footprint_limits_the_tiles(visible) -> None:
    valid = np.zeros(visible.shape, bool)
    valid[:, : visible.shape[1] // 2] = True  # the thermal image covers the left half only
    field = residual_field(tile_agreement([(moved(visible, 1.0, 1.0), visible)], grid=(8, 6), valid=valid))
    left = field.centres[:, 0] < visible.shape[1] / 2
    assert field.valid[left].sum() >= 22 and not field.valid[~left].any()


def test_refusals(visible) -> None:
    with pytest.raises(InputError, match="one grid"):
        tile_agreement([(visible[:-2], visible)])
    with pytest.raises(InputError, match="too small"):
        tile_agreement([(visible, visible)], grid=(40, 30))
    with pytest.raises(InputError, match="no image pairs"):
        tile_agreement([])
    with pytest.raises(InputError, match="does not match"):
        tile_agreement([(visible, visible)], valid=np.ones((10, 10), bool))
    empty = ResidualField(np.zeros((4, 2)), np.full((4, 2), np.nan), np.zeros(4), np.zeros(4, bool))
    with pytest.raises(InputError, match="at least 6"):
        fit_field_homography(empty)


def test_perfect_estimator_floor_of_constructed_fields(load_script) -> None:
    """A registration without error leaves no floor; a uniform one of d dataset px leaves s·|d| at every corner."""
    script = load_script("registration_field")
    xs, ys = np.meshgrid(np.linspace(20, 620, 12), np.linspace(20, 460, 9))
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
    crop = np.array([[2.0, 0, -0.5], [0, 2.0, -120.5], [0, 0, 1]])  # MSRS 640x480 -> a 1280x720 crop
    h_true = np.array([[1.2, 0.05, 250.0], [-0.04, 1.2, 60.0], [0, 0, 1]])
    n = len(centres)
    zero = ResidualField(centres, np.zeros((n, 2)), np.ones(n), np.ones(n, bool))
    floor = script.perfect_estimator_floor(zero, crop, h_true, (640, 512), (1280, 720), h_est=h_true)
    assert floor["tiles_seen"] >= 6
    assert floor["affine_px"] == pytest.approx(0.0, abs=1e-6) and floor["homography_px"] == pytest.approx(0.0, abs=1e-4)
    assert floor["ours_vs_edge_consistent_px"] == pytest.approx(0.0, abs=1e-6)
    uniform = ResidualField(centres, np.tile([1.5, -2.0], (n, 1)), np.ones(n), np.ones(n, bool))
    floor = script.perfect_estimator_floor(uniform, crop, h_true, (640, 512), (1280, 720))
    assert floor["affine_px"] == pytest.approx(2.0 * 2.5, abs=1e-6)


@pytest.fixture(scope="module")
def same_modality_rig(msrs_dir):
    """A benchmark-sized rig (1280x720 visible, 640x512 thermal) whose 'thermal' camera sees the visible image."""
    from fusion_core.calibration.synthetic import SyntheticRig

    rig = SyntheticRig()
    vi = read_visible(msrs_dir / "vi" / f"{STEM}.png")
    rng = np.random.default_rng(3)
    h = rig.draw(rng)
    thermal, visible = rig.render(cv2.cvtColor(vi, cv2.COLOR_RGB2GRAY), vi, h, rng)
    return thermal, visible, h


def test_residual_after_calibration_is_small_for_the_truth_and_shows_a_shift(same_modality_rig) -> None:
    from fusion_core.calibration.geometry import translation
    from fusion_core.calibration.residual import describe, field_after_calibration

    thermal, visible, h = same_modality_rig
    truth = field_after_calibration([(thermal, visible)], h)
    assert truth.measurable.sum() >= 30 and truth.valid.sum() >= 0.8 * truth.measurable.sum()
    assert not truth.valid[~truth.measurable].any()  # nothing is measured outside the thermal footprint
    assert np.median(truth.lengths()) < 1.0
    off = field_after_calibration([(thermal, visible)], translation(-4.0, 0.0) @ h)  # thermal drawn 4 px too far left:
    assert np.median(off.shifts[off.valid, 0]) == pytest.approx(-4.0, abs=0.6)  # its edges lie 4 px left of the visible ones
    assert abs(np.median(off.shifts[off.valid, 1])) < 0.6
    assert "under half" not in describe(off)
    far = field_after_calibration([(thermal, visible)], translation(-40.0, 0.0) @ h)  # beyond the 12 px searched
    assert far.valid.sum() < far.measurable.sum() / 2
    assert "under half the tiles measured" in describe(far)


def test_overlay_draws_the_residual_arrows_on_the_calibrated_panel(same_modality_rig) -> None:
    from fusion_core.calibration.overlay import ARROW_GAIN, before_after

    thermal, visible, h = same_modality_rig
    one = ResidualField(np.array([[640.0, 360.0], [100.0, 100.0]]), np.array([[4.0, 0.0], [np.nan, np.nan]]),
                        np.array([0.5, 0.0]), np.array([True, False]))
    plain = before_after(thermal, visible, h)
    drawn = before_after(thermal, visible, h, residual=one)
    assert drawn.shape == plain.shape == (360, 1280, 3)

    def green(img: np.ndarray) -> np.ndarray:
        return (img[..., 1] > 200) & (img[..., 0] < 80) & (img[..., 2] < 80)

    assert not green(plain).any()
    ys, xs = np.nonzero(green(drawn))
    # panel scale 0.5: the arrow runs from (320, 180) to (320 + 0.5 * 5 * 4, 180) on the right panel (x + 640)
    assert xs.min() >= 640 + 320 - 1 and xs.max() <= 640 + 320 + 0.5 * ARROW_GAIN * 4 + 1
    assert np.all(np.abs(ys - 180) <= 3)
    assert np.array_equal(drawn[:, :640], plain[:, :640])  # the "before" panel is untouched


def test_split_half_and_bootstrap_see_a_distortion_that_repeats(load_script, visible) -> None:
    """Four noisy pairs of one distorted rig: what a homography leaves repeats between the even and the odd pairs,
    and the bootstrap interval of its median brackets the all-pairs value."""
    script = load_script("registration_field")
    d = distortion(visible.shape, corner_px=4.0)
    ys, xs = np.mgrid[0:visible.shape[0], 0:visible.shape[1]].astype(np.float32)
    thermal = cv2.remap(visible, xs - d[..., 0].astype(np.float32), ys - d[..., 1].astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT)
    rng = np.random.default_rng(0)
    noisy = [(np.clip(thermal + rng.normal(0, 4, thermal.shape), 0, 255).astype(np.uint8), visible) for _ in range(4)]
    agreement = tile_agreement(noisy, grid=(12, 9), radius=6)
    halves = script.split_half(agreement)
    assert halves["tiles_in_both"] >= 90 and halves["correlation"] > 0.8
    assert halves["median_difference_px"] < 0.3
    low, high = script.bootstrap_leftover(agreement, reps=20)
    middle = float(np.median(fit_field_homography(residual_field(agreement))[1]))
    assert low <= middle <= high and high - low < 0.3
    assert script.split_half(agreement, unit=2.0)["median_leftover_px"][0] == pytest.approx(
        2.0 * halves["median_leftover_px"][0])
