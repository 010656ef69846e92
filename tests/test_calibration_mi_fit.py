"""The benchmark's estimator-independent check of a dataset's registration (scripts/calibration_benchmark.py,
``fit_misregistration``): it must find a known misregistration, or its corrected truth means nothing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("calibration_benchmark")


def test_a_known_misregistration_is_found_to_a_fraction_of_a_pixel(bench, msrs_trainval) -> None:
    """Three real MSRS day IR images against themselves moved by a known similarity with shift (scale 1.012,
    rotation -0.3 deg, shift (1.5, -1.0) px, off every grid and step of the search): the fit is the inverse."""
    root = msrs_trainval / "ir"
    stems = [s for s in sorted(p.stem for p in root.glob("*D.png"))][:3]
    known = np.array([1.012, -0.3, 1.5, -1.0])
    pairs = []
    for stem in stems:
        ir = cv2.imread(str(root / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
        size = (ir.shape[1], ir.shape[0])
        pairs.append((cv2.warpAffine(ir, bench._fit_warp(known, size)[:2], size, flags=cv2.INTER_LINEAR), ir))
    params, best, at_identity = bench.fit_misregistration(pairs)
    assert best > at_identity
    size = (pairs[0][1].shape[1], pairs[0][1].shape[0])
    both = bench._fit_warp(params, size) @ bench._fit_warp(known, size)  # ~ identity
    corners = np.array([[0, 0, 1], [size[0] - 1, 0, 1], [0, size[1] - 1, 1], [size[0] - 1, size[1] - 1, 1]], float).T
    moved = both @ corners
    error = np.hypot(*(moved[:2] / moved[2] - corners[:2]))
    assert error.max() < 0.5, (params, error)
