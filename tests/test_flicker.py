"""Flicker measures on constructed sequences: known jitter gives its value, consistent blends give 0."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fusion_core import ConfigError, InputError
from fusion_core.io import to_luminance
from fusion_core.metrics import (alpha_flicker, alpha_lag, fused_flicker, paste_hot_blob, synthetic_sequence,
                                 temporal_change)


@pytest.fixture(scope="module")
def sequence(msrs_pair):
    """12 frames from the real pair at 120x160: AGC steps every 4 frames, noise, drift."""
    th, vi = msrs_pair
    th, vi = (cv2.resize(x, (160, 120), interpolation=cv2.INTER_AREA) for x in (th, vi))
    frames = synthetic_sequence(th, vi, 12, seed=3, gain_every=4)
    return [f[0].astype(np.float64) for f in frames], [to_luminance(f[1]) for f in frames]


def test_static_inputs_static_output_is_zero(sequence):
    ir, vi = sequence
    ir, vi = [ir[0]] * 5, [vi[0]] * 5
    assert fused_flicker([(a + b) / 2 for a, b in zip(ir, vi)], ir, vi).tolist() == [0.0] * 4


def test_static_inputs_with_jittery_output_measure_the_jitter(sequence):
    ir, vi = [sequence[0][0]] * 6, [sequence[1][0]] * 6
    base = np.clip((ir[0] + vi[0]) / 2, 5, 250)
    fused = [base + (3.0 if t % 2 else 0.0) for t in range(6)]  # a 3-grey-level blink
    assert fused_flicker(fused, ir, vi) == pytest.approx([3.0] * 5)
    assert fused_flicker(fused, ir, vi, slack=1.0) == pytest.approx([2.0] * 5)
    rng = np.random.default_rng(0)
    noisy = [np.clip(base + rng.normal(0, 2, base.shape), 0, 255) for _ in range(6)]
    assert (fused_flicker(noisy, ir, vi) > 1.5).all()  # E|N(0, 2√2)| = 2.26


def test_time_constant_convex_blend_of_changing_inputs_is_zero(sequence):
    ir, vi = sequence
    assert temporal_change(ir).min() > 1.0  # the inputs really change (noise, drift, AGC steps)
    w = np.random.default_rng(1).random(ir[0].shape)  # any per-pixel weight, fixed in time
    fused = [w * a + (1 - w) * b for a, b in zip(ir, vi)]
    assert fused_flicker(fused, ir, vi).max() < 1e-9
    rounded = [np.round(f) for f in fused]  # stored as 8 bits: at most 1 grey level outside, absorbed by slack=1
    assert 0 < fused_flicker(rounded, ir, vi).max() < 0.5
    assert fused_flicker(rounded, ir, vi, slack=1.0).max() == 0.0


def test_a_weight_that_moves_in_time_flickers(sequence):
    ir, vi = sequence
    steady = [0.5 * a + 0.5 * b for a, b in zip(ir, vi)]
    wobbly = [w * a + (1 - w) * b for w, a, b in zip([0.3, 0.7] * 6, ir, vi)]
    assert fused_flicker(wobbly, ir, vi).mean() > 5 * max(fused_flicker(steady, ir, vi).mean(), 1e-3)


def test_alpha_flicker():
    ones = np.ones((4, 5))
    assert alpha_flicker([0.2 * ones] * 3).tolist() == [0.0, 0.0]
    assert alpha_flicker([0.2 * ones, 0.3 * ones, 0.2 * ones]) == pytest.approx([0.1, 0.1])


@pytest.mark.parametrize("lag", [0.0, 1.0, 2.5])
def test_alpha_lag_recovers_a_known_lag(lag):
    v = (4.0, 1.0)
    positions = [(20 + 4.0 * t, 30 + 1.0 * t) for t in range(8)]
    alphas = [paste_hot_blob(np.zeros((60, 80), np.uint8), (x - lag * v[0], y - lag * v[1]), 5.0).astype(float) / 255
              for x, y in positions]
    background = [np.zeros((60, 80))] * 8
    assert alpha_lag(alphas, background, positions, v) == pytest.approx([lag] * 8, abs=1e-6)


def test_synthetic_sequence_is_deterministic_with_agc_steps_where_asked(msrs_pair):
    th, vi = (x[:40, :50] for x in msrs_pair)
    a, b = synthetic_sequence(th, vi, 6, seed=7), synthetic_sequence(th, vi, 6, seed=7)
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not np.array_equal(synthetic_sequence(th, vi, 6, seed=8)[3][0], a[3][0])
    clean = synthetic_sequence(th, vi, 6, seed=7, noise=0.0, drift=0.0, gain_every=3)
    assert np.array_equal(clean[0][0], th) and np.array_equal(clean[2][0], th) and np.array_equal(clean[5][1], vi)
    assert not np.array_equal(clean[3][0], th) and np.array_equal(clean[3][0], clean[5][0])  # a step at frame 3
    assert a[0][0].dtype == np.uint8 and a[0][1].shape == vi.shape


G = np.zeros((4, 4))
A = np.full((4, 4), 0.5)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: fused_flicker([G], [G], [G]), InputError, "at least 2 frames"),
        (lambda: fused_flicker([G, G], [G, G, G], [G, G]), InputError, "as many frames"),
        (lambda: fused_flicker([G, np.zeros((4, 5))], [G, G], [G, G]), InputError, "same shape"),
        (lambda: fused_flicker([G, G], [G, G], [np.zeros((3, 3))] * 2), InputError, "same shape"),
        (lambda: fused_flicker([G, G + 300], [G, G], [G, G]), InputError, r"\[0, 255\]"),
        (lambda: fused_flicker([G, G], [G, G], [G, G], slack=-1.0), ConfigError, "slack"),
        (lambda: alpha_flicker([np.zeros((4, 4), np.uint8)] * 2), InputError, "divide the engine's uint8 alpha by 255"),
        (lambda: alpha_flicker([A, A + 1.0]), InputError, r"in \[0, 1\]"),
        (lambda: alpha_lag([A, A], [A, A], [(0, 0), (1, 0)], (0.0, 0.0)), ConfigError, "moving target"),
        (lambda: alpha_lag([A, A], [A, A], [(0, 0)], (1.0, 0.0)), InputError, "as many frames"),
        (lambda: synthetic_sequence(G.astype(np.uint8), G.astype(np.uint8), 0), ConfigError, "frames"),
    ],
)
def test_bad_inputs(call, error, message):
    with pytest.raises(error, match=message):
        call()
