"""Coarse global search: the similarity (scale, rotation, translation) that best aligns the fields.

For every (scale, rotation) on a grid fine enough that a thermal edge moves by about one working pixel
between neighbours, the thermal orientation field is warped once (its doubled angle turned by 2×the
rotation) and the normalised agreement with the visible field is computed for *every* translation at
once by FFT cross-correlation:

    S(d) = Σ Re(V(y+d) · conj(T(y))) / sqrt(Σ |T(y)|² 1_V(y+d) · Σ |V(y+d)|² m_T(y))

(``T``: warped thermal field, ``m_T``: its footprint, ``V``: visible field, ``d``: the thermal canvas'
offset in the visible grid). Scores of several pairs of one rig are averaged. Translations outside the
search window or with too little overlap are excluded. All images are at ``coarse_width``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .config import CalibrationConfig
from .features import orientation_field, resize_to_width
from .geometry import Size, corner_error, resample, similarity


@dataclass(frozen=True)
class Candidate:
    """A coarse alignment: thermal -> visible homography (full-resolution pixels) and its score."""

    homography: np.ndarray  # (3, 3) float64
    score: float
    overlap: float  # fraction of the thermal frame inside the visible one


@dataclass
class _Visible:
    spectra: tuple[np.ndarray, np.ndarray, np.ndarray]  # DFTs of V, 1_V, |V|² at the padded size


def search(pairs: list[tuple[np.ndarray, np.ndarray]], config: CalibrationConfig, nominal: float) -> list[Candidate]:
    """The best ``config.candidates`` clearly different coarse alignments, best first.

    ``pairs``: (thermal grey, visible grey) float32 0–1 images at full resolution, one rig (same sizes).
    ``nominal``: visible pixels per thermal pixel at relative scale 1."""
    (th, tw), (vh, vw) = pairs[0][0].shape, pairs[0][1].shape
    width = min(config.coarse_width, vw)
    t_width = max(int(round(tw * width / vw * nominal)), 8)
    thermal_fields = [orientation_field(resize_to_width(t, t_width)[0], config.sigma)[0] for t, _ in pairs]
    small_vis = [resize_to_width(v, width)[0] for _, v in pairs]
    ts_size: Size = (thermal_fields[0].shape[1], thermal_fields[0].shape[0])
    vs_size: Size = (small_vis[0].shape[1], small_vis[0].shape[0])
    canvas = int(np.ceil(np.hypot(*ts_size) * config.scale_range[1])) + 4  # holds any rotation and scale
    c_canvas = (canvas - 1) / 2
    window = config.max_shift * vs_size[0]
    # canvas-origin offsets d (visible small pixels) that put the thermal centre inside the window
    lo = [int(np.floor((n - 1) / 2 - c_canvas - window)) for n in vs_size]
    hi = [int(np.ceil((n - 1) / 2 - c_canvas + window)) for n in vs_size]
    # an FFT size with no wrap-around for those offsets
    shape = tuple(cv2.getOptimalDFTSize(max(vs_size[a] - lo[a], canvas + max(hi[a], 0)) + 1) for a in (1, 0))
    visibles = [_prepare_visible(v, config.sigma, shape) for v in small_vis]
    dy, dx = np.arange(lo[1], hi[1] + 1), np.arange(lo[0], hi[0] + 1)
    t_centre = ((ts_size[0] - 1) / 2, (ts_size[1] - 1) / 2)
    found: list[tuple[float, float, float, int, int, float]] = []  # score, scale, angle, dy, dx, overlap
    for scale in _scales(config, ts_size):
        for angle in _angles(config, ts_size, scale):
            m = similarity(scale, angle, t_centre, (c_canvas, c_canvas))[:2]
            score, overlap = _score_map(thermal_fields, visibles, m, angle, canvas, shape)
            score, overlap = score[np.ix_(dy % shape[0], dx % shape[1])], overlap[np.ix_(dy % shape[0], dx % shape[1])]
            masked = np.where(overlap >= config.min_overlap, score, -np.inf)
            iy, ix = np.unravel_index(int(np.argmax(masked)), masked.shape)
            if np.isfinite(masked[iy, ix]):
                found.append((float(masked[iy, ix]), scale, angle, int(dy[iy]), int(dx[ix]), float(overlap[iy, ix])))
    found.sort(key=lambda f: -f[0])
    chosen: list[Candidate] = []
    to_small_t = resample((tw, th), ts_size)
    from_small_v = np.linalg.inv(resample((vw, vh), vs_size))
    for score, scale, angle, oy, ox, overlap in found:
        h = from_small_v @ similarity(scale, angle, t_centre, (c_canvas + ox, c_canvas + oy)) @ to_small_t
        if all(_distinct(h, c.homography, (tw, th), vw / vs_size[0]) for c in chosen):
            chosen.append(Candidate(h / h[2, 2], score, overlap))
            if len(chosen) > config.candidates:
                break
    return chosen


def _scales(config: CalibrationConfig, ts_size: Size) -> np.ndarray:
    """Relative scales, log-spaced so the thermal corner moves ≤ ~2 working pixels between neighbours."""
    lo, hi = config.scale_range
    radius = np.hypot(*ts_size) / 2 * hi
    n = max(int(np.ceil(np.log(hi / lo) * radius / 2.0)), 1) + 1
    return np.exp(np.linspace(np.log(lo), np.log(hi), n))


def _angles(config: CalibrationConfig, ts_size: Size, scale: float) -> np.ndarray:
    """Rotations, spaced so the thermal corner moves ≤ ~2 working pixels between neighbours."""
    radius = np.hypot(*ts_size) / 2 * scale
    step = np.degrees(2.0 / radius)
    n = int(np.ceil(2 * config.max_rotation_deg / step)) + 1 if config.max_rotation_deg > 0 else 1
    return np.linspace(-config.max_rotation_deg, config.max_rotation_deg, n)


def _dft(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-padded 2-D DFT (OpenCV's packed complex: (H, W, 2) float32) of a real or complex array."""
    pad = np.zeros((*shape, 2), np.float32)
    pad[: a.shape[0], : a.shape[1], 0] = a.real
    if np.iscomplexobj(a):
        pad[: a.shape[0], : a.shape[1], 1] = a.imag
    return cv2.dft(pad, flags=cv2.DFT_COMPLEX_OUTPUT)


def _corr(fa: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """Circular cross-correlation Σ_y a(y+d)·conj(b(y)) from two spectra: (H, W, 2) [real, imag]."""
    return cv2.idft(cv2.mulSpectrums(fa, fb, 0, conjB=True), flags=cv2.DFT_SCALE | cv2.DFT_COMPLEX_OUTPUT)


def _prepare_visible(grey: np.ndarray, sigma: float, shape: tuple[int, ...]) -> _Visible:
    field, _ = orientation_field(grey, sigma)
    ones = np.ones(field.shape, np.float32)
    spectra = (_dft(field, shape), _dft(ones, shape), _dft(np.abs(field) ** 2, shape))
    return _Visible(spectra)


def _score_map(fields: list[np.ndarray], visibles: list[_Visible], m: np.ndarray, angle: float, canvas: int,
               shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean normalised agreement and min overlap fraction over pairs, for every canvas offset (circular)."""
    total = np.zeros(shape, np.float32)
    overlap = np.full(shape, np.inf, np.float32)
    turn = np.exp(2j * np.deg2rad(angle))  # a similarity turns every doubled angle by 2·angle
    ones = np.ones(fields[0].shape, np.float32)
    foot = (cv2.warpAffine(ones, m, (canvas, canvas), flags=cv2.INTER_LINEAR, borderValue=0) > 0.999).astype(np.float32)
    area = float(foot.sum()) + 1e-9
    f_foot = _dft(foot, shape)
    for field, vis in zip(fields, visibles):
        parts = cv2.warpAffine(np.dstack([field.real, field.imag]), m, (canvas, canvas), flags=cv2.INTER_LINEAR, borderValue=0)
        t = (parts[..., 0] + 1j * parts[..., 1]) * turn * foot
        f_v, f_one, f_vv = vis.spectra
        num = _corr(f_v, _dft(t, shape))[..., 0]
        et_o = _corr(f_one, _dft(np.abs(t) ** 2 + 1j * foot, shape))  # real: Σ|T|² on V, imag: -overlap
        ev = _corr(f_vv, f_foot)[..., 0]
        total += num / np.sqrt(np.maximum(et_o[..., 0], 1e-9) * np.maximum(ev, 1e-9))
        overlap = np.minimum(overlap, -et_o[..., 1] / area)
    return total / len(fields), overlap


def _distinct(a: np.ndarray, b: np.ndarray, thermal_size: Size, px: float) -> bool:
    """Two alignments differ by more than 3 coarse pixels at some thermal corner."""
    return corner_error(a, b, thermal_size) > 3.0 * px
