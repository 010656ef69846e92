"""Training pairs: folders -> (IR, visible Y, ROI mask) crops, deterministic by construction.

Layout per data set: ``<base_dir>/<root>/<split>/{ir,vi}`` paired by file stem, optional YOLO box
folder ``<split>/<labels>`` (see :mod:`fusion_core.boxes`). Images may have any size (each pair's
two images must match: the sets here are registered), IR may be stored with 1 or 3 channels, 8 or
16 bits (normalised by its dtype's full range, as the engine's default ``fixed`` policy does).

Determinism: the batch of step ``s`` is a pure function of ``(seed, s)``. :class:`StepBatchSampler`
draws, for every step, which pairs to use and one 64-bit seed per sample; the dataset cuts and flips
each sample with a generator seeded by that number. So batches do not depend on the number of
loader workers or on which worker handles a sample, a resumed run sees exactly the batches the
uninterrupted run would have seen, and under DDP each rank takes its own slice of one global batch
(the DistributedSampler idea, without a per-epoch shuffle to keep in sync).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from fusion_core.boxes import box_file, boxes_to_mask, read_yolo_boxes, to_pixel_boxes
from fusion_core.colour import rgb_to_ycbcr
from fusion_core.errors import ConfigError
from fusion_core.io import pair_folders, read_thermal, read_visible
from fusion_core.thermal import dtype_range

from .augment import augment
from .config import DataConfig, DatasetSpec


@dataclass(frozen=True)
class PairRecord:
    """One training pair on disk. ``labels``: the box folder, None when the set has no boxes."""

    stem: str
    ir: Path
    vi: Path
    labels: Path | None
    set_index: int


_REPO = Path(__file__).resolve().parents[1]


def resolve_path(path: str | Path) -> Path:
    """A config path: absolute as given; relative to the working directory, else to the repository root.

    The fallback lets the committed configs (``config/splits/…``, ``../shared/data``) work from any
    working directory of a source checkout.
    """
    path = Path(path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    in_repo = _REPO / path
    return in_repo if in_repo.exists() else path


def read_split(path: str | Path) -> list[str]:
    """Stems listed in a split file: one per line, ``#`` comments and blank lines ignored."""
    path = resolve_path(path)
    if not path.is_file():
        raise ConfigError(f"split file {path} does not exist")
    stems = [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [s for s in stems if s]


def read_split_excluding(path: str | Path, exclude: str | Path) -> list[str]:
    """The stems of split file ``path`` that split file ``exclude`` does not list, in ``path``'s order (e.g. the
    MSRS selection pairs: config/splits/msrs_dev_and_selection.txt less config/splits/msrs_dev.txt)."""
    held = set(read_split(exclude))
    return [s for s in read_split(path) if s not in held]


def dataset_dir(spec: DatasetSpec, base_dir: str | Path) -> Path:
    root = Path(spec.root).expanduser()
    return (root if root.is_absolute() else resolve_path(base_dir) / root) / spec.split


def collect_pairs(spec: DatasetSpec, base_dir: str | Path, set_index: int = 0) -> list[PairRecord]:
    """The pairs of one data set after its include/exclude split file, sorted by stem."""
    folder = dataset_dir(spec, base_dir)
    if not folder.is_dir():
        raise ConfigError(f"data set folder {folder} does not exist (data.base_dir={base_dir!s}, root={spec.root}, split={spec.split})")
    labels = folder / spec.labels if spec.labels else None
    if labels is not None and not labels.is_dir():
        raise ConfigError(f"label folder {labels} does not exist (data.datasets labels={spec.labels!r})")
    pairs = pair_folders(folder / "ir", folder / "vi")
    stems = {p.stem for p in pairs}
    split_file = spec.include or spec.exclude
    if split_file:
        listed = read_split(split_file)
        missing = sorted(set(listed) - stems)
        if missing:
            raise ConfigError(f"split file {split_file} lists {len(missing)} stem(s) not in {folder}, e.g. {missing[0]!r}")
        keep = set(listed)
        pairs = [p for p in pairs if (p.stem in keep) == bool(spec.include)]
    if not pairs:
        raise ConfigError(f"no training pairs left in {folder} after the split file {split_file}")
    return [PairRecord(p.stem, p.ir, p.vi, labels, set_index) for p in pairs]


@dataclass
class _Decoded:
    ir: np.ndarray  # (H, W) uint8/uint16
    vi: np.ndarray  # (H, W, 3) uint8 RGB or (H, W) uint8
    mask: np.ndarray  # (H, W) bool ROI
    has_boxes: bool  # the set carries box annotations (an empty mask then means "no targets")
    boxes: np.ndarray  # (N, 5) float64 rows (class, x0, y0, x1, y1) in pixels; (0, 5) without labels


MAX_BOXES = 48  # boxes per crop in a batch (padded with class -1); MSRS label files hold at most 14


def decode(record: PairRecord, roi_classes: Sequence[int] = (), roi_exclude_classes: Sequence[int] = ()) -> _Decoded:
    """The pair's images, its ROI mask (boxes of ``roi_classes`` only, () = every box, less the pixels of
    ``roi_exclude_classes`` boxes) and all its boxes."""
    ir, vi = read_thermal(record.ir), read_visible(record.vi)
    if ir.shape[:2] != vi.shape[:2]:
        raise ConfigError(f"pair {record.stem!r}: IR {ir.shape[:2]} and visible {vi.shape[:2]} differ; training needs registered pairs")
    if record.labels is None:
        return _Decoded(ir, vi, np.zeros(ir.shape, dtype=bool), False, np.zeros((0, 5)))
    path = box_file(record.labels, record.stem)
    yolo = read_yolo_boxes(path)  # [] when the image has no label file
    if len(yolo) > MAX_BOXES:  # a batch holds MAX_BOXES per crop; refuse rather than drop targets unseen
        raise ConfigError(f"{path} has {len(yolo)} boxes; training batches hold at most {MAX_BOXES} per image")
    boxes = np.concatenate([np.array([[b.cls] for b in yolo], dtype=np.float64).reshape(-1, 1),
                            to_pixel_boxes(yolo, ir.shape)], axis=1)
    mask = boxes_to_mask(yolo, ir.shape, tuple(roi_classes) or None)
    if roi_exclude_classes:
        mask &= ~boxes_to_mask(yolo, ir.shape, tuple(roi_exclude_classes))
    return _Decoded(ir, vi, mask, True, boxes)  # the file read once for both


def crop_boxes(boxes: np.ndarray, offset: tuple[float, float], size: int, flips: tuple[bool, bool],
               min_visible: float = 0.4) -> np.ndarray:
    """(N, 5) image boxes -> (MAX_BOXES, 5) boxes of a ``size`` crop whose top-left corner is ``offset``
    (x, y) in image pixels, flipped as the crop was; a box keeps its clipped part when at least
    ``min_visible`` of its area is inside. Padding rows have class −1.
    """
    out = np.full((MAX_BOXES, 5), -1.0, dtype=np.float32)
    if len(boxes) == 0:
        return out
    xy = boxes[:, 1:5] - np.array([offset[0], offset[1], offset[0], offset[1]])
    clipped = np.clip(xy, 0.0, size)
    area = np.prod(np.clip(xy[:, 2:] - xy[:, :2], 0, None), axis=1)
    kept_area = np.prod(np.clip(clipped[:, 2:] - clipped[:, :2], 0, None), axis=1)
    keep = (area > 0) & (kept_area >= min_visible * area)
    rows = np.concatenate([boxes[keep, :1], clipped[keep]], axis=1)[:MAX_BOXES]
    if flips[0]:
        rows[:, [1, 3]] = size - rows[:, [3, 1]]
    if flips[1]:
        rows[:, [2, 4]] = size - rows[:, [4, 2]]
    out[:len(rows)] = rows
    return out


def _pad_to(img: np.ndarray, size: int) -> np.ndarray:
    """Reflect-pad the first two axes up to ``size`` (centred); masks pad with False."""
    ph, pw = max(size - img.shape[0], 0), max(size - img.shape[1], 0)
    if ph == 0 and pw == 0:
        return img
    pad = [(ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)] + [(0, 0)] * (img.ndim - 2)
    return np.pad(img, pad, mode="constant") if img.dtype == bool else np.pad(img, pad, mode="reflect")


class PairDataset(Dataset):
    """Random crops of the configured data sets. Items are addressed by ``(pair index, sample seed)``."""

    def __init__(self, config: DataConfig) -> None:
        self.config = config
        self.sets = [collect_pairs(spec, config.base_dir, i) for i, spec in enumerate(config.datasets)]
        self.records = [r for s in self.sets for r in s]
        self._cache: dict[int, _Decoded] = {}
        if config.cache:  # decoded once in the parent; forked workers share the pages
            for i, record in enumerate(self.records):
                self._cache[i] = self._decode_record(record)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def set_sizes(self) -> list[int]:
        return [len(s) for s in self.sets]

    def _decode_record(self, record: PairRecord) -> _Decoded:
        """One pair decoded with this config's ROI classes (the cache and uncached reads share it)."""
        return decode(record, self.config.roi_classes, self.config.roi_exclude_classes)

    def _decoded(self, index: int) -> _Decoded:
        return self._cache[index] if index in self._cache else self._decode_record(self.records[index])

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, sample_seed = key
        d = self._decoded(index)
        rng = np.random.default_rng(sample_seed)
        size = self.config.crop
        pad_y, pad_x = max(size - d.ir.shape[0], 0) // 2, max(size - d.ir.shape[1], 0) // 2  # as _pad_to centres
        ir, vi, mask = _pad_to(d.ir, size), _pad_to(d.vi, size), _pad_to(d.mask, size)
        y0 = int(rng.integers(0, ir.shape[0] - size + 1))
        x0 = int(rng.integers(0, ir.shape[1] - size + 1))
        win = (slice(y0, y0 + size), slice(x0, x0 + size))
        ir, vi, mask = ir[win], vi[win], mask[win]
        flips = (rng.random() < 0.5 and self.config.hflip, rng.random() < 0.5 and self.config.vflip)
        low, high = dtype_range(ir.dtype)
        ir_t = (torch.from_numpy(ir.astype(np.float32)) - low) / (high - low)  # (S, S) [0, 1]
        vi_t = torch.from_numpy(vi.astype(np.float32)) / 255.0
        # Visible chroma rides along (neutral for a grey camera) so a loss can rebuild the colour image.
        vi_ycc = rgb_to_ycbcr(vi_t) if vi_t.ndim == 3 else torch.stack((vi_t, torch.full_like(vi_t, 0.5),
                                                                         torch.full_like(vi_t, 0.5)), dim=-1)
        ir_t, vi_ycc = augment(ir_t, vi_ycc, self.config.augment, rng)  # after every crop/flip draw: off = as before
        out = torch.cat((torch.stack((ir_t, torch.from_numpy(mask.astype(np.float32)))), vi_ycc.permute(2, 0, 1)))
        if flips[0]:
            out = out.flip(-1)
        if flips[1]:
            out = out.flip(-2)
        boxes = crop_boxes(d.boxes, (x0 - pad_x, y0 - pad_y), size, flips)
        return {"ir": out[0:1].contiguous(), "vi": out[2:3].contiguous(), "mask": out[1:2].contiguous(),
                "vi_cbcr": out[3:5].contiguous(), "boxes": torch.from_numpy(boxes),
                "roi_valid": torch.tensor(float(d.has_boxes)), "index": torch.tensor(index)}


class StepBatchSampler:
    """Infinite stream of batches ``[(pair index, sample seed), ...]``, one per step from ``start_step``.

    Per step a generator seeded by ``(seed, step)`` draws a global batch of ``batch_size ×
    world_size`` samples: data set by weight, pair uniformly within it, and a sample seed. Rank ``r``
    takes the ``r``-th slice.
    """

    def __init__(self, set_sizes: Sequence[int], weights: Sequence[float], batch_size: int, seed: int,
                 start_step: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.offsets = np.cumsum([0, *set_sizes])[:-1]
        self.sizes = np.asarray(set_sizes)
        w = np.asarray(weights, dtype=np.float64)
        self.probs = w / w.sum()
        self.batch_size, self.seed, self.start_step = batch_size, seed, start_step
        self.rank, self.world_size = rank, world_size

    def batch(self, step: int) -> list[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, step])
        n = self.batch_size * self.world_size
        sets = rng.choice(len(self.sizes), size=n, p=self.probs)
        items = self.offsets[sets] + (rng.random(n) * self.sizes[sets]).astype(np.int64)
        seeds = rng.integers(0, 2**63 - 1, size=n)
        lo = self.rank * self.batch_size
        return [(int(i), int(s)) for i, s in zip(items[lo:lo + self.batch_size], seeds[lo:lo + self.batch_size])]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            yield self.batch(step)
            step += 1


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)  # samples are small; workers must not fight the training threads


def make_loader(dataset: PairDataset, seed: int, start_step: int = 0, rank: int = 0, world_size: int = 1,
                pin_memory: bool = False) -> DataLoader:
    """A DataLoader yielding the batches of steps ``start_step, start_step + 1, ...`` forever."""
    cfg = dataset.config
    sampler = StepBatchSampler(dataset.set_sizes, [s.weight for s in cfg.datasets], cfg.batch_size, seed, start_step, rank, world_size)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.workers, pin_memory=pin_memory,
                      worker_init_fn=_worker_init, persistent_workers=False, prefetch_factor=2 if cfg.workers else None)
