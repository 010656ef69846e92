"""How far apart thermal and visible edges still are, region by region, once the thermal image lies on the
visible grid: a field of local shifts, in pixels, without any ground truth.

A calibration's score says how well the two cameras' edges agree overall; a user wants to know whether the fused
pixels line up, and where they do not. The frame is cut into tiles; in each, the orientation fields of
:mod:`.features` are compared at every integer shift within ``radius`` and the best shift is refined to a
fraction of a pixel (a parabola through the peak and its neighbours, in x and in y). Several pairs of one rig add
their agreements before the peak is taken, so a tile empty in one scene is filled by another.

The same field, taken on a dataset's own *registered* pairs, measures that registration: the part of it no
single homography removes (:func:`fit_field_homography`) is a floor under any homography calibration scored
against those pairs (docs/calibration.md, "What the references allow").

Convention: a tile's shift ``d`` is where the visible structure at ``x`` lies in the thermal image, ``x + d``; a
thermal image that is the visible one moved right by 2 px gives ``d = (+2, 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError
from .features import orientation_field, resize_to_width, to_grey


@dataclass(frozen=True)
class TileAgreement:
    """Per pair, per shift, per tile: the orientation agreement (numerator) and each field's energy, before any
    pair is summed, so that subsets of pairs (a bootstrap) cost no recomputation.

    ``numerators``: (pairs, shifts, tiles); ``energy_visible`` / ``energy_thermal``: (pairs, tiles);
    ``shifts``: (shifts, 2) integer dx, dy; ``centres``: (tiles, 2) x, y of each tile's centre (visible px);
    ``grid``: (columns, rows) of tiles; ``radius``: the largest shift tried."""

    numerators: np.ndarray
    energy_visible: np.ndarray
    energy_thermal: np.ndarray
    shifts: np.ndarray
    centres: np.ndarray
    grid: tuple[int, int]
    radius: int


@dataclass(frozen=True)
class ResidualField:
    """The local shift of every tile (``shifts``, (tiles, 2), NaN where not ``valid``), the normalised agreement
    at its peak (``strength``, −1..1), the tile centres (``centres``, (tiles, 2)) and which tiles both fields
    reach at all (``measurable``: inside the thermal footprint; None = every tile)."""

    centres: np.ndarray
    shifts: np.ndarray
    strength: np.ndarray
    valid: np.ndarray
    measurable: np.ndarray | None = None

    def lengths(self) -> np.ndarray:
        """|shift| of the valid tiles (px)."""
        return np.hypot(*self.shifts[self.valid].T)

    def reached(self) -> int:
        """How many tiles both fields reach (the thermal footprint's), measured or not."""
        return int(self.valid.size if self.measurable is None else self.measurable.sum())


def tile_agreement(pairs: list[tuple[np.ndarray, np.ndarray]], grid: tuple[int, int] = (8, 6), radius: int = 6,
                   sigma: float = 1.0, valid: np.ndarray | None = None) -> TileAgreement:
    """The agreement cube of ``pairs`` of (thermal on the visible grid, visible) images of one size.

    ``valid``: (H, W) bool where the thermal image exists (a warped footprint); fields are zeroed outside it,
    eroded by 2 px so the footprint's border is no edge. ``grid``: tiles across and down (the frame is
    cropped about its centre to a whole number of tiles)."""
    if not pairs:
        raise InputError("no image pairs to measure a residual field on")
    nx, ny = grid
    if nx < 1 or ny < 1 or radius < 1:
        raise InputError(f"grid {grid} and radius {radius} must be positive")
    shape = to_grey(pairs[0][1], "visible").shape
    h, w = shape
    th, tw = h // ny, w // nx
    if th < 4 * radius or tw < 4 * radius:
        raise InputError(f"tiles of {tw}x{th} px are too small for shifts up to {radius} px; use fewer tiles")
    oy, ox = (h - ny * th) // 2, (w - nx * tw) // 2
    mask = np.ones(shape, bool) if valid is None else np.asarray(valid, bool)
    if mask.shape != shape:
        raise InputError(f"valid mask of shape {mask.shape} does not match the images' {shape}")
    mask = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    shifts = np.array([(dx, dy) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)])

    def tiles(a: np.ndarray) -> np.ndarray:
        return a[oy:oy + ny * th, ox:ox + nx * tw].reshape(ny, th, nx, tw).sum(axis=(1, 3)).ravel()

    nums, ev, et = [], [], []
    for i, (thermal, visible) in enumerate(pairs):
        t, v = to_grey(thermal, f"pair {i} thermal"), to_grey(visible, f"pair {i} visible")
        if t.shape != shape or v.shape != shape:
            raise InputError(f"pair {i}: thermal {t.shape} and visible {v.shape} must both be {shape} (one grid)")
        wt = orientation_field(t, sigma)[0] * mask
        wv = orientation_field(v, sigma)[0] * mask
        tr, ti = np.pad(wt.real, radius), np.pad(wt.imag, radius)
        per_shift = np.empty((len(shifts), nx * ny))
        for k, (dx, dy) in enumerate(shifts):
            sl = (slice(radius + dy, radius + dy + h), slice(radius + dx, radius + dx + w))
            per_shift[k] = tiles(wv.real * tr[sl] + wv.imag * ti[sl])
        nums.append(per_shift)
        ev.append(tiles(np.abs(wv) ** 2))
        et.append(tiles(np.abs(wt) ** 2))
    cy = oy + th * (np.arange(ny) + 0.5) - 0.5
    cx = ox + tw * (np.arange(nx) + 0.5) - 0.5
    centres = np.stack(np.meshgrid(cx, cy), axis=-1).reshape(-1, 2)
    return TileAgreement(np.array(nums), np.array(ev), np.array(et), shifts, centres, (nx, ny), radius)


def residual_field(agreement: TileAgreement, pairs: np.ndarray | list[int] | None = None,
                   min_strength: float = 0.1, max_rival: float = 0.9) -> ResidualField:
    """The shift of each tile from the agreement summed over ``pairs`` (indices, repeats allowed; default all).

    A tile is valid when its peak is inside the search window (not on its edge), its normalised agreement
    there is at least ``min_strength`` (edges that do agree, not noise) and nothing more than 2 px from the
    peak reaches ``max_rival`` of it (one clear answer, not a ridge along an edge or a repeated pattern)."""
    idx = np.arange(len(agreement.numerators)) if pairs is None else np.asarray(pairs)
    num = agreement.numerators[idx].sum(axis=0)  # (shifts, tiles)
    energy = np.sqrt(agreement.energy_visible[idx].sum(axis=0) * agreement.energy_thermal[idx].sum(axis=0))
    score = num / np.maximum(energy, 1e-12)
    side = 2 * agreement.radius + 1
    cube = score.reshape(side, side, -1)  # (dy, dx, tiles)
    n = cube.shape[2]
    shifts = np.full((n, 2), np.nan)
    strength = np.full(n, np.nan)
    valid = np.zeros(n, bool)
    for j in range(n):
        c = cube[:, :, j]
        iy, ix = np.unravel_index(int(np.argmax(c)), c.shape)
        strength[j] = c[iy, ix]
        if not (0 < iy < side - 1 and 0 < ix < side - 1) or c[iy, ix] < min_strength:
            continue
        rivals = c.copy()
        rivals[max(iy - 2, 0):iy + 3, max(ix - 2, 0):ix + 3] = -np.inf
        if rivals.max() >= max_rival * c[iy, ix]:
            continue
        fx = _parabola_peak(c[iy, ix - 1], c[iy, ix], c[iy, ix + 1])
        fy = _parabola_peak(c[iy - 1, ix], c[iy, ix], c[iy + 1, ix])
        shifts[j] = (ix - agreement.radius + fx, iy - agreement.radius + fy)
        valid[j] = True
    reached = (agreement.energy_visible[idx].sum(axis=0) > 0) & (agreement.energy_thermal[idx].sum(axis=0) > 0)
    return ResidualField(agreement.centres, shifts, strength, valid, reached)


def fit_field_homography(field: ResidualField) -> tuple[np.ndarray, np.ndarray]:
    """The homography (least squares over the valid tiles) taking tile centres to centres + shift, and what it
    leaves per valid tile (px): the part of the field no single homography removes."""
    src = field.centres[field.valid]
    if len(src) < 6:
        raise InputError(f"only {len(src)} tiles have a measurable shift; a homography needs at least 6 "
                         "(use more pairs or scenes with edges in both cameras)")
    dst = src + field.shifts[field.valid]
    h, _ = cv2.findHomography(src.astype(np.float64), dst.astype(np.float64), 0)
    if h is None:
        raise InputError("the tile shifts do not determine a homography")
    mapped = cv2.perspectiveTransform(src.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)
    return h / h[2, 2], np.hypot(*(dst - mapped).T)


def _parabola_peak(left: float, centre: float, right: float) -> float:
    """Offset (−0.5..0.5) of the vertex of the parabola through three equally spaced samples around a maximum."""
    curvature = left - 2.0 * centre + right
    if curvature >= 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def field_after_calibration(pairs: list[tuple[np.ndarray, np.ndarray]], homography: np.ndarray,
                            grid: tuple[int, int] = (8, 6), width: int = 640, radius: int = 6) -> ResidualField:
    """The residual field of a calibration on its own pairs, in visible pixels: each thermal image put on the
    visible grid by ``homography`` (thermal px -> visible px), both taken to at most ``width`` pixels across
    (edges of an upsampled or very large frame are too wide for a sharp peak), tiles outside the thermal
    footprint left out. Shifts up to ``radius`` pixels of that width are measured (12 visible px at 1280); a
    tile whose edges are further apart is not valid, so a calibration off by more shows as few valid tiles."""
    warped = []
    footprint = None
    for thermal, visible in pairs:
        v = to_grey(visible, "visible")
        v, k = resize_to_width(v, width) if v.shape[1] > width else (v, 1.0)
        scaled = np.diag([k, k, 1.0]) @ homography
        size = (v.shape[1], v.shape[0])
        t = to_grey(thermal, "thermal")
        warped.append((cv2.warpPerspective(t, scaled, size, flags=cv2.INTER_LINEAR), v))  # warps have no area filter
        if footprint is None:
            footprint = cv2.warpPerspective(np.ones_like(t), scaled, size, flags=cv2.INTER_NEAREST) > 0
    field = residual_field(tile_agreement(warped, grid, radius, valid=footprint))
    back = pairs[0][1].shape[1] / warped[0][1].shape[1]
    return ResidualField(field.centres * back, field.shifts * back, field.strength, field.valid, field.measurable)


def describe(field: ResidualField) -> str:
    """One line for a calibration report: how far apart the edges still are, in the tiles that could be measured."""
    n, reached = int(field.valid.sum()), field.reached()
    if n == 0:
        return f"edge residual: none of the {reached} tiles in the thermal footprint could be measured"
    length = field.lengths()
    text = (f"edge residual after calibration: median {np.median(length):.1f} px, 90th percentile "
            f"{np.percentile(length, 90):.1f} px, largest {length.max():.1f} px in {n} of the {reached} tiles of the "
            "thermal footprint (visible px; thermal against visible edges, tile by tile)")
    if n < reached / 2:
        text += "; under half the tiles measured (few shared edges, or edges further apart than the search)"
    return text
