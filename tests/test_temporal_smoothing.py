"""Motion-aware α smoothing in the engine: off by default, exact on static input, damps AGC steps,
does not make a moving hot target lag, resets with the engine, same for every backend."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fusion_core import ConfigError, EngineConfig, create_engine
from fusion_core.engine.temporal import CELL, MOTION_REACH, AlphaSmoother, photometric_residual
from fusion_core.metrics import alpha_lag, paste_hot_blob, synthetic_sequence

BACKENDS = ("torch", "onnxruntime")
W, H = 320, 240


@pytest.fixture(scope="module")
def pair(msrs_pair):
    th, vi = msrs_pair
    return tuple(cv2.resize(x, (W, H), interpolation=cv2.INTER_AREA) for x in (th, vi))


@pytest.fixture(scope="module")
def make(tmp_path_factory):
    """make(backend, **config) -> engine; onnxruntime exports the shipped model once into a private cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IVIF_CACHE_DIR", str(tmp_path_factory.mktemp("ivif_cache")))
        mp.setenv("IVIF_ONNX_EXPORTER", "legacy")
        yield lambda backend="torch", **kw: create_engine(EngineConfig(backend=backend, threads=1, **kw))


def _agc_step(th: np.ndarray) -> np.ndarray:
    """The same scene after a thermal AGC step: gain 0.85, offset +12 grey levels."""
    return np.clip(np.round(th * 0.85 + 12), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_static_input_is_exactly_the_per_frame_output(make, pair, backend):
    th, vi = pair
    plain, smooth = make(backend), make(backend, alpha_smoothing=0.9)
    ref = plain.fuse(th, vi)
    for _ in range(3):
        out = smooth.fuse(th, vi)
        assert np.array_equal(out.fused, ref.fused) and np.array_equal(out.alpha, ref.alpha)


@pytest.mark.parametrize("backend", BACKENDS)
def test_agc_step_is_damped_and_reset_forgets(make, pair, backend):
    th, vi = pair
    stepped = _agc_step(th)
    plain, smooth = make(backend), make(backend, alpha_smoothing=0.8)
    a0, a1 = plain.fuse(th, vi).alpha, plain.fuse(stepped, vi).alpha
    smooth.fuse(th, vi)
    s1 = smooth.fuse(stepped, vi)
    jump_plain = np.abs(a1.astype(int) - a0).mean()
    jump_smooth = np.abs(s1.alpha.astype(int) - a0).mean()
    assert jump_plain > 2.0  # grey levels of α·255: the per-frame model answers the step at once
    assert jump_smooth < 0.35 * jump_plain  # a global gain/offset is not motion: weight 0.8 on the old α
    smooth.reset()
    after_reset = smooth.fuse(stepped, vi)
    assert np.array_equal(after_reset.alpha, a1) and np.array_equal(after_reset.fused, plain.fuse(stepped, vi).fused)


@pytest.mark.gpu
def test_cuda_smoothing_matches_cpu(make, pair):
    th, vi = pair
    frames = [(th, vi), (_agc_step(th), vi), (th, vi)]
    cpu = make(alpha_smoothing=0.8)
    gpu = create_engine(EngineConfig(backend="torch", device="cuda", alpha_smoothing=0.8))
    for thermal, visible in frames:
        a, b = cpu.fuse(thermal, visible), gpu.fuse(thermal, visible)
        assert np.abs(a.alpha.astype(int) - b.alpha).max() <= 1 and np.abs(a.fused.astype(int) - b.fused).max() <= 1


def test_fused_follows_the_smoothed_alpha(make, pair):
    """Grey visible: fused_smooth − fused_plain = (α_smooth − α_plain)·(IR − VI), up to 8-bit rounding."""
    th, vi = pair
    grey = cv2.cvtColor(vi, cv2.COLOR_RGB2GRAY)
    stepped = _agc_step(th)
    plain, smooth = make(), make(alpha_smoothing=0.8)
    smooth.fuse(th, grey)
    p, s = plain.fuse(stepped, grey), smooth.fuse(stepped, grey)
    d_alpha = (s.alpha.astype(float) - p.alpha) / 255.0
    predicted = d_alpha * (stepped.astype(float) - grey)
    unclipped = (p.fused > 0) & (p.fused < 255) & (s.fused > 0) & (s.fused < 255)
    err = np.abs(s.fused.astype(float) - p.fused - predicted)
    # Both fused images are rounded (±0.5 each) and both α (±0.5/255 each, times |IR − VI|).
    bound = 1.0 + np.abs(stepped.astype(float) - grey) / 255.0
    assert np.abs(predicted).max() > 5  # the correction is real
    assert (err <= bound + 1e-9)[unclipped].all()


def test_blend_with_smoothed_alpha_is_exact_for_a_plain_blend():
    """A runner whose fused is α·IR + (1−α)·VI: the smoother's fused is α'·IR + (1−α')·VI."""
    g = torch.Generator().manual_seed(0)
    ir0, vi0, a0, a1 = (torch.rand(1, 1, 30, 40, generator=g) for _ in range(4))
    ir1 = ir0 * 1.1 + 0.02  # a global step: weight = the full 0.7 everywhere
    smoother = AlphaSmoother(0.7, 0.02)
    smoother(a0 * ir0 + (1 - a0) * vi0, a0, ir0, vi0)
    fused, alpha = smoother(a1 * ir1 + (1 - a1) * vi0, a1, ir1, vi0)
    expected_alpha = 0.7 * a0 + 0.3 * a1
    assert torch.allclose(alpha, expected_alpha, atol=1e-6)
    assert torch.allclose(fused, (expected_alpha * ir1 + (1 - expected_alpha) * vi0).clamp(0, 1), atol=1e-6)


def _lag(make, pair, **config) -> float:
    """Mean lag (frames) of α behind a hot disc (r = 10 px) crossing the real pair at 6 px/frame, frames 4..11."""
    th, vi = pair
    clean = synthetic_sequence(th, vi, 12, seed=1, drift=0.0, gain_every=1000)  # sensor noise only
    v = (6.0, 0.0)
    positions = [(60 + v[0] * t, 150.0) for t in range(12)]
    engine = make(**config)
    alphas, background = [], []
    for frames, out in ((clean, background), ([(paste_hot_blob(a, p, 10.0), b) for (a, b), p in zip(clean, positions)], alphas)):
        engine.reset()
        out.extend(engine.fuse(a, b).alpha / 255.0 for a, b in frames)
    return float(np.mean(alpha_lag(alphas, background, positions, v, reach=60.0)[4:]))


def test_moving_hot_target_does_not_lag(make, pair):
    per_frame = _lag(make, pair)
    aware = _lag(make, pair, alpha_smoothing=0.8)
    plain_ema = _lag(make, pair, alpha_smoothing=0.8, alpha_motion_threshold=1.0)
    assert abs(aware - per_frame) < 0.25  # within a quarter frame of the per-frame model
    assert plain_ema - per_frame > 1.5  # what smoothing without the motion gate would do


def test_size_change_restarts_the_smoothing(make, pair):
    th, vi = pair
    smooth, plain = make(alpha_smoothing=0.9), make()
    smooth.fuse(th, vi)
    small = tuple(cv2.resize(x, (W // 2, H // 2), interpolation=cv2.INTER_AREA) for x in (_agc_step(th), vi))
    assert np.array_equal(smooth.fuse(*small).alpha, plain.fuse(*small).alpha)


def test_photometric_residual_removes_a_global_step_only():
    prev = torch.rand(1, 1, 20, 24, generator=torch.Generator().manual_seed(1))
    assert photometric_residual(prev * 0.8 + 0.1, prev).abs().max() < 1e-5
    moved = prev * 0.8 + 0.1
    moved[..., 10, 12] += 0.5
    assert photometric_residual(moved, prev)[..., 10, 12] > 0.45


def test_a_local_change_stops_smoothing_within_its_reach():
    """One changed 4x4 patch: weight 0 within MOTION_REACH px of it (at most 6 px more), the full weight beyond."""
    frame = torch.full((1, 1, 96, 128), 0.3)
    smoother = AlphaSmoother(0.8, 0.02)
    assert smoother.weight(frame, frame) is None  # first frame
    changed = frame.clone()
    changed[..., 48:52, 64:68] = 0.9
    k = smoother.weight(changed, frame)[0, 0].numpy()
    ys, xs = np.mgrid[0:96, 0:128]
    distance = np.maximum(np.maximum(48 - ys, ys - 51), np.maximum(64 - xs, xs - 67)).clip(0)  # Chebyshev, to the patch
    assert k.shape == (96, 128)
    assert k[distance <= MOTION_REACH].max() == 0.0 and k[distance > MOTION_REACH + 2 * CELL - 2].min() == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"alpha_smoothing": -0.1}, "alpha_smoothing must lie in"), ({"alpha_smoothing": 1.0}, "alpha_smoothing must lie in"),
     ({"alpha_motion_threshold": 0.0}, "alpha_motion_threshold must lie in"),
     ({"alpha_motion_threshold": 1.5}, "alpha_motion_threshold must lie in")],
)
def test_invalid_smoothing_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        EngineConfig(**kwargs)
