"""The IVIF metric suite: hand-computed values, straightforward reference implementations of the
windowed metrics, identities, failure cases, and a regression on one real MSRS pair."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from fusion_core.errors import InputError
from fusion_core.metrics import (
    HIGHER_IS_BETTER,
    METRICS,
    ag,
    compute_all,
    en,
    mi,
    mse,
    mutual_information,
    psnr,
    qabf,
    roi_ssim,
    scd,
    sd,
    sf,
    ssim,
    ssim_map,
    ssim_maps,
    summarize,
    vif,
    vifp,
)

RNG = np.random.default_rng(7)


def _random(shape: tuple[int, int], lo: float = 0.0, hi: float = 255.0) -> np.ndarray:
    return RNG.uniform(lo, hi, size=shape)


# ---------------------------------------------------------------- hand-computed values


@pytest.mark.parametrize(
    ("image", "bits"),
    [
        (np.full((4, 4), 77.0), 0.0),
        (np.array([[0.0, 255.0], [0.0, 255.0]]), 1.0),
        (np.array([[0.0, 1.0], [2.0, 3.0]]), 2.0),
        (np.array([[10.0, 10.0, 10.0, 200.0]]), -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))),
        # halves round up like MATLAB's uint8(): 2.5 and 3.0 share grey level 3 (np.rint would split them)
        (np.array([[2.5, 3.0], [2.5, 3.0]]), 0.0),
        (np.array([[3.49, 3.5], [3.49, 3.5]]), 1.0),
    ],
)
def test_en_hand_values(image: np.ndarray, bits: float) -> None:
    assert en(image) == pytest.approx(bits, abs=1e-12)


def test_en_accepts_uint8_like_float() -> None:
    img = _random((20, 30)).round()
    assert en(img.astype(np.uint8)) == pytest.approx(en(img), abs=1e-12)


def test_sd_population_form() -> None:
    assert sd(np.array([[0.0, 2.0], [0.0, 2.0]])) == pytest.approx(1.0)
    assert sd(np.full((3, 5), 42.0)) == 0.0


@pytest.mark.parametrize(("a", "b", "h", "w"), [(3.0, 4.0, 5, 6), (1.0, 0.0, 9, 4), (0.0, 2.0, 2, 2)])
def test_sf_and_ag_of_a_ramp(a: float, b: float, h: int, w: int) -> None:
    rows, cols = np.mgrid[0:h, 0:w]
    ramp = 10.0 + a * cols + b * rows  # rises by a per column, b per row
    assert sf(ramp) == pytest.approx(math.hypot(a, b))
    # MATLAB avg_gradient: the gradient is exact everywhere on a ramp, summed over H*W, divided by (H-1)(W-1)
    assert ag(ramp) == pytest.approx(math.sqrt((a * a + b * b) / 2) * h * w / ((h - 1) * (w - 1)))


def test_sf_ag_hand_values_on_a_step() -> None:
    img = np.array([[0.0, 0.0, 8.0], [0.0, 0.0, 8.0]])
    # RF: vertical differences all 0; CF: horizontal differences 0, 8 in each row -> mean 32
    assert sf(img) == pytest.approx(math.sqrt(32.0))
    # gradient along columns: [0, 4, 8] per row (one-sided, central, one-sided); along rows 0
    expected = 2 * (0.0 + math.sqrt(16 / 2) + math.sqrt(64 / 2)) / (1 * 2)
    assert ag(img) == pytest.approx(expected)


def test_mi_identities() -> None:
    img = _random((32, 32)).round()
    assert mutual_information(img, img) == pytest.approx(en(img))
    assert mi(img, img, img) == pytest.approx(2 * en(img))
    assert mutual_information(img, 255.0 - img) == pytest.approx(en(img))  # a bijection keeps all information
    rows = np.array([[0.0, 0.0], [255.0, 255.0]])
    cols = np.array([[0.0, 255.0], [0.0, 255.0]])
    assert mutual_information(rows, cols) == pytest.approx(0.0, abs=1e-12)  # independent: joint uniform over 4
    a, b = _random((16, 16)), _random((16, 16))
    assert mutual_information(a, b) == pytest.approx(mutual_information(b, a))


def test_scd_values() -> None:
    ir, vi = _random((24, 24), 0, 100), _random((24, 24), 0, 100)
    assert scd(ir + vi, ir, vi) == pytest.approx(2.0)  # F - VI = IR and F - IR = VI
    assert math.isnan(scd(vi, ir, vi))  # F - VI is constant: correlation undefined


def test_mse_psnr_hand_values() -> None:
    ir = _random((10, 12), 0, 250)
    fused, vi = ir + 1.0, ir + 3.0  # |F-IR| = 1, |F-VI| = 2 everywhere
    assert mse(fused, ir, vi) == pytest.approx(2.5)
    assert psnr(fused, ir, vi) == pytest.approx(10 * math.log10(255**2 / 2.5))
    assert mse(ir, ir, ir) == 0.0 and psnr(ir, ir, ir) == math.inf


def test_ssim_identities_and_constants() -> None:
    a, b = _random((40, 40)), _random((40, 40))
    np.testing.assert_allclose(ssim_map(a, a), 1.0, atol=1e-12)
    np.testing.assert_allclose(ssim_map(a, b), ssim_map(b, a), atol=1e-12)
    # F = IR: SSIM(F, IR) = 1, so the mean over the two sources is (1 + SSIM(F, VI)) / 2
    assert ssim(a, a, b) == pytest.approx((1.0 + float(ssim_map(a, b).mean())) / 2)
    assert ssim(a, a, a) == pytest.approx(1.0)
    # two flat images: mean term only, (2 c1 c2 + C1) / (c1^2 + c2^2 + C1) with C1 = (0.01 * 255)^2
    c1 = (0.01 * 255) ** 2
    flat = ssim_map(np.full((16, 16), 100.0), np.full((16, 16), 110.0))
    np.testing.assert_allclose(flat, (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1), rtol=1e-12)


def test_vif_identities() -> None:
    ref = _random((64, 64))
    assert vifp(ref, ref) == pytest.approx(1.0, abs=1e-9)
    assert vif(ref, ref, ref) == pytest.approx(2.0, abs=1e-9)  # summed over both sources
    assert vifp(ref, np.full_like(ref, 128.0)) == 0.0  # a flat fused image carries no information
    assert math.isnan(vifp(np.full_like(ref, 50.0), ref))  # flat reference: 0 / 0


def test_qabf_of_a_perfect_copy() -> None:
    img = _random((30, 30))
    perfect = 0.9994 / (1 + math.exp(-15 * (1 - 0.5))) * 0.9879 / (1 + math.exp(-22 * (1 - 0.8)))
    assert qabf(img, img, img) == pytest.approx(perfect, rel=1e-12)
    flat = np.full((30, 30), 9.0)
    assert qabf(flat, flat, flat) == pytest.approx(perfect)  # zero padding: a flat image has border edges
    zero = np.zeros((30, 30))
    assert math.isnan(qabf(img, zero, zero))  # all-zero sources: no edges to preserve at all


# ---------------------------------------------------------------- straightforward reference implementations


def _gauss2d(n: int, sigma: float) -> np.ndarray:
    x = np.arange(n) - (n - 1) / 2
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid_ref(img: np.ndarray, win: np.ndarray) -> np.ndarray:
    return np.einsum("ijkl,kl->ij", sliding_window_view(img, win.shape), win)


def _vifp_ref(ref: np.ndarray, dist: np.ndarray) -> float:
    """vifp_mscale written out literally (masks applied in the reference code's order)."""
    num = den = 0.0
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        win = _gauss2d(n, n / 5)
        if scale > 1:
            ref = _filter_valid_ref(ref, win)[::2, ::2]
            dist = _filter_valid_ref(dist, win)[::2, ::2]
        mu1, mu2 = _filter_valid_ref(ref, win), _filter_valid_ref(dist, win)
        s1 = _filter_valid_ref(ref * ref, win) - mu1 * mu1
        s2 = _filter_valid_ref(dist * dist, win) - mu2 * mu2
        s12 = _filter_valid_ref(ref * dist, win) - mu1 * mu2
        s1[s1 < 0] = 0
        s2[s2 < 0] = 0
        g = s12 / (s1 + 1e-10)
        sv = s2 - g * s12
        g[s1 < 1e-10] = 0
        sv[s1 < 1e-10] = s2[s1 < 1e-10]
        s1[s1 < 1e-10] = 0
        g[s2 < 1e-10] = 0
        sv[s2 < 1e-10] = 0
        sv[g < 0] = s2[g < 0]
        g[g < 0] = 0
        sv[sv <= 1e-10] = 1e-10
        num += np.sum(np.log10(1 + g**2 * s1 / (sv + 2)))
        den += np.sum(np.log10(1 + s1 / 2))
    return num / den


def test_vif_matches_reference_loop() -> None:
    ref = _random((53, 47))
    dist = np.clip(0.6 * ref + _random((53, 47), 0, 80), 0, 255)
    dist[:10, :10] = 30.0  # a flat patch exercises the guards
    assert vifp(ref, dist) == pytest.approx(_vifp_ref(ref, dist), rel=1e-9)


def _ssim_map_ref(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM with an explicit 11x11 Gaussian window over replicate-padded images."""
    win = _gauss2d(11, 1.5)
    pa, pb = np.pad(a, 5, mode="edge"), np.pad(b, 5, mode="edge")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            x, y = pa[i:i + 11, j:j + 11], pb[i:i + 11, j:j + 11]
            mx, my = (win * x).sum(), (win * y).sum()
            vx, vy = (win * x * x).sum() - mx * mx, (win * y * y).sum() - my * my
            cxy = (win * x * y).sum() - mx * my
            out[i, j] = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return out


def test_ssim_map_matches_reference_loop() -> None:
    a = _random((14, 17))
    b = np.clip(a + _random((14, 17), -40, 40), 0, 255)
    np.testing.assert_allclose(ssim_map(a, b), _ssim_map_ref(a, b), rtol=1e-9, atol=1e-9)


def _qabf_ref(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """The MATLAB Qabf.m loops: conv2 'same' Sobel, per-pixel if/else rules."""
    h1 = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], float)
    h3 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)

    def conv_same(img: np.ndarray, k: np.ndarray) -> np.ndarray:
        p = np.pad(img, 1)
        kf = k[::-1, ::-1]
        return np.array([[(p[i:i + 3, j:j + 3] * kf).sum() for j in range(img.shape[1])] for i in range(img.shape[0])])

    def edges(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sx, sy = conv_same(img, h3), conv_same(img, h1)
        g = np.sqrt(sx**2 + sy**2)
        ang = np.empty_like(g)
        for i in range(g.shape[0]):
            for j in range(g.shape[1]):
                ang[i, j] = math.pi / 2 if sx[i, j] == 0 else math.atan(sy[i, j] / sx[i, j])
        return g, ang

    def q(gs: np.ndarray, as_: np.ndarray, gf: np.ndarray, af: np.ndarray) -> np.ndarray:
        out = np.empty_like(gs)
        for i in range(gs.shape[0]):
            for j in range(gs.shape[1]):
                if gs[i, j] == 0 or gf[i, j] == 0:
                    gr = 0.0
                elif gs[i, j] > gf[i, j]:
                    gr = gf[i, j] / gs[i, j]
                else:
                    gr = gs[i, j] / gf[i, j]
                ar = 1 - abs(as_[i, j] - af[i, j]) / (math.pi / 2)
                out[i, j] = 0.9994 / (1 + math.exp(-15 * (gr - 0.5))) * 0.9879 / (1 + math.exp(-22 * (ar - 0.8)))
        return out

    (ga, aa), (gb, ab), (gf, af) = edges(a), edges(b), edges(f)
    return float((q(ga, aa, gf, af) * ga + q(gb, ab, gf, af) * gb).sum() / (ga + gb).sum())


def test_qabf_matches_reference_loop() -> None:
    a, b = _random((11, 13)).round(), _random((11, 13)).round()
    a[4:8, 4:8] = 60.0  # flat patches: zero gradients and gx = 0 orientations
    f = np.clip((a + b) / 2 + _random((11, 13), -5, 5), 0, 255)
    assert qabf(f, a, b) == pytest.approx(_qabf_ref(a, b, f), rel=1e-12)


# ---------------------------------------------------------------- ROI-SSIM


def test_roi_ssim_definition() -> None:
    f, a, b = _random((48, 48)), _random((48, 48)), _random((48, 48))
    m_ir, m_vi = ssim_maps(f, a, b)
    mask = np.zeros((48, 48), dtype=bool)
    mask[10:20, 5:30] = True
    assert roi_ssim(f, a, b, mask) == pytest.approx((m_ir[mask].mean() + m_vi[mask].mean()) / 2)
    assert roi_ssim(f, a, b, np.ones((48, 48), dtype=bool)) == pytest.approx(ssim(f, a, b))
    assert roi_ssim(f, a, b, mask.astype(np.uint8)) == pytest.approx(roi_ssim(f, a, b, mask))
    assert math.isnan(roi_ssim(f, a, b, None))
    assert math.isnan(roi_ssim(f, a, b, np.zeros((48, 48), dtype=bool)))


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.ones((10, 48), dtype=bool), "does not match the images' shape"),
        (np.full((48, 48), 2, dtype=np.uint8), "must be boolean"),
        (np.ones((48, 48)) * 0.5, "must be boolean"),
        ([[True]], "must be a numpy array"),
    ],
)
def test_roi_mask_failures(mask: object, message: str) -> None:
    img = _random((48, 48))
    with pytest.raises(InputError, match=message):
        roi_ssim(img, img, img, mask)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the suite


def test_table_order_and_direction() -> None:
    assert METRICS == ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "MSE", "PSNR", "ROI-SSIM")
    assert set(HIGHER_IS_BETTER) == set(METRICS)
    assert [name for name, up in HIGHER_IS_BETTER.items() if not up] == ["MSE"]


def test_compute_all_is_symmetric_in_the_sources_and_pure() -> None:
    f, a, b = _random((60, 70)), _random((60, 70)), _random((60, 70))
    mask = np.zeros((60, 70), dtype=bool)
    mask[5:25, 10:40] = True
    copies = (f.copy(), a.copy(), b.copy(), mask.copy())
    one, two = compute_all(f, a, b, mask), compute_all(f, b, a, mask)
    assert list(one) == list(METRICS)
    for name in METRICS:
        assert one[name] == pytest.approx(two[name], rel=1e-12), name
    for before, after in zip(copies, (f, a, b, mask)):
        np.testing.assert_array_equal(before, after)
    assert one["SSIM"] == pytest.approx(ssim(f, a, b)) and one["VIF"] == pytest.approx(vif(f, a, b))
    assert one["PSNR"] == pytest.approx(psnr(f, a, b)) and one["Qabf"] == pytest.approx(qabf(f, a, b))


def test_compute_all_constant_images() -> None:
    flat = np.full((48, 48), 100.0)
    got = compute_all(flat, flat, flat)
    perfect_qabf = 0.9994 / (1 + math.exp(-7.5)) * 0.9879 / (1 + math.exp(-4.4))  # border edges, copied exactly
    expected = {"EN": 0.0, "SD": 0.0, "SF": 0.0, "AG": 0.0, "MI": 0.0, "Qabf": perfect_qabf, "SSIM": 1.0,
                "MSE": 0.0, "PSNR": math.inf}
    for name, value in expected.items():
        assert got[name] == pytest.approx(value), name
    for name in ("SCD", "VIF", "ROI-SSIM"):  # undefined: constant correlations, no variance, no mask
        assert math.isnan(got[name]), name


@pytest.mark.parametrize(
    ("fused", "ir", "vi", "message"),
    [
        (np.zeros((48, 48)), np.zeros((48, 49)), np.zeros((48, 48)), r"same shape, got fused \(48, 48\), ir \(48, 49\)"),
        (np.zeros((48, 48, 3)), np.zeros((48, 48)), np.zeros((48, 48)), r"fused must be a 2-D \(H, W\) luminance array"),
        (np.zeros((48, 48)), np.zeros(48), np.zeros((48, 48)), r"ir must be a 2-D"),
        (np.zeros((0, 48)), np.zeros((0, 48)), np.zeros((0, 48)), "fused is empty"),
        (np.full((48, 48), np.nan), np.zeros((48, 48)), np.zeros((48, 48)), "fused contains NaN"),
        (np.zeros((48, 48)), np.full((48, 48), 300.0), np.zeros((48, 48)), r"ir values must lie in \[0, 255\]"),
        (np.zeros((48, 48)), np.zeros((48, 48)), np.full((48, 48), -1.0), r"vi values must lie in \[0, 255\]"),
        ([[0.0]], np.zeros((48, 48)), np.zeros((48, 48)), "fused must be a numpy array, got list"),
        (np.zeros((48, 48), dtype=bool), np.zeros((48, 48)), np.zeros((48, 48)), "must hold real numbers"),
        (np.zeros((48, 48), dtype=complex), np.zeros((48, 48)), np.zeros((48, 48)), "must hold real numbers"),
        (np.zeros((30, 30)), np.zeros((30, 30)), np.zeros((30, 30)), "VIF needs images of at least 41x41"),
    ],
)
def test_compute_all_failures(fused: object, ir: object, vi: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        compute_all(fused, ir, vi)  # type: ignore[arg-type]


def test_single_pixel_wide_images_fail_for_gradients() -> None:
    with pytest.raises(InputError, match="SF needs an image of at least 2x2"):
        sf(np.zeros((1, 10)))
    with pytest.raises(InputError, match="AG needs an image of at least 2x2"):
        ag(np.zeros((10, 1)))


def test_summarize_skips_nan_and_counts() -> None:
    rows = [{"A": 1.0, "B": math.nan}, {"A": 3.0, "B": 4.0}, {"A": math.nan}]
    summary = summarize(rows, ("A", "B", "C"))
    assert summary.pairs == 3
    assert summary.mean["A"] == 2.0 and summary.count["A"] == 2
    assert summary.mean["B"] == 4.0 and summary.count["B"] == 1
    assert math.isnan(summary.mean["C"]) and summary.count["C"] == 0
    assert summarize([{"P": math.inf}, {"P": 20.0}], ("P",)).mean["P"] == math.inf


# ---------------------------------------------------------------- regression on real data


def test_real_msrs_pair_fused_by_average(msrs_pair: tuple[np.ndarray, np.ndarray], msrs_dir) -> None:
    from fusion_core.boxes import roi_mask_for
    from fusion_core.io import to_luminance

    thermal, visible = msrs_pair
    ir, vi = to_luminance(thermal), to_luminance(visible)
    fused = (ir + vi) / 2
    mask = roi_mask_for(msrs_dir / "labels_det_ir", "00004N", ir.shape)
    got = compute_all(fused, ir, vi, mask)
    bounds = {
        "EN": (5, 8), "SD": (10, 80), "SF": (1, 30), "AG": (0.5, 10), "MI": (1, 8), "SCD": (0.5, 2),
        "VIF": (0.3, 2), "Qabf": (0.1, 0.9), "SSIM": (0.5, 1), "MSE": (10, 3000), "PSNR": (12, 40), "ROI-SSIM": (0.3, 1),
    }
    for name, (lo, hi) in bounds.items():
        assert lo < got[name] < hi, (name, got[name])
    # Values of this implementation on 00004N (pinned to catch silent convention changes).
    pinned = {
        "EN": 5.539788, "SD": 17.299371, "SF": 3.580087, "AG": 1.114327, "MI": 2.460944, "SCD": 1.152362,
        "VIF": 0.624298, "Qabf": 0.334248, "SSIM": 0.830960, "MSE": 328.972918, "PSNR": 22.959202,
    }
    for name, value in pinned.items():
        assert got[name] == pytest.approx(value, rel=2e-6), name
    # Averaging never loses to a single source on MSE, and sits between the sources on SD.
    assert got["MSE"] < mse(ir, ir, vi) and got["MSE"] < mse(vi, ir, vi)
