"""TrainConfig: one typed tree of dataclasses for a training run, read from YAML.

``load_config(path, overrides)`` reads the YAML, applies ``section.key=value`` overrides (list
items by index: ``data.datasets.0.weight=2``), checks every key against the dataclass fields
(an unknown key is a :class:`~fusion_core.errors.ConfigError` naming it and the valid keys) and
coerces each value to its field's type. ``dump_config`` writes the resolved tree back as YAML, so
a run folder says exactly what ran (and ``ivif train --config run/config.yaml`` reruns it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fusion_core.errors import ConfigError
from fusion_core.losses import FusionLossConfig
from fusion_core.model import FusionNetConfig

from ._typed import apply_override, build
from .augment import AugmentConfig

MODES = ("target_aware", "ssvif")
SCHEDULES = ("cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DatasetSpec:
    """One folder of pairs: ``<data.base_dir>/<root>/<split>/{ir,vi}`` (``root`` may be absolute).

    ``labels``: YOLO box folder name inside the split (e.g. ``labels_det_ir``) -> ROI masks; None
    when the set has no boxes. ``exclude`` / ``include``: split files (one stem per line) whose
    stems are left out / the only ones kept. ``weight``: relative sampling weight of the whole set
    (a set of weight 2 is drawn twice as often as one of weight 1, whatever their sizes).
    """

    root: str
    split: str
    weight: float = 1.0
    labels: str | None = None
    exclude: str | None = None
    include: str | None = None

    def __post_init__(self) -> None:
        if self.weight <= 0:
            raise ConfigError(f"data.datasets weight must be > 0, got {self.weight} for {self.root}/{self.split}")
        if self.exclude and self.include:
            raise ConfigError(f"data.datasets {self.root}/{self.split}: give exclude or include, not both")


@dataclass(frozen=True)
class DataConfig:
    """Where pairs come from and how batches are cut. ``batch_size`` is per process (DDP multiplies it)."""

    base_dir: str = "../shared/data"
    datasets: tuple[DatasetSpec, ...] = (
        DatasetSpec("MSRS", "train", labels="labels_det_ir"),
        DatasetSpec("MSRS", "trainval", labels="labels_det_ir", exclude="config/splits/msrs_dev.txt"),
        DatasetSpec("RoadScene", "trainval", exclude="config/splits/roadscene_dev.txt"),
    )
    crop: int = 256
    batch_size: int = 8
    workers: int = 1
    hflip: bool = True
    vflip: bool = False
    cache: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # photometric, per crop (training/augment.py); off by default
    # Box classes that make the target-aware ROI mask; () = every class (as every model before it). Boxes of
    # other classes count as background for the ROI terms (the detection term still sees every box).
    roi_classes: tuple[int, ...] = ()
    # Box classes cut out of that mask, e.g. bicycles out of their riders' person boxes: their pixels are background
    # for the ROI terms (and held by loss.anchor) even where a target's box covers them. () = none.
    roi_exclude_classes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.datasets:
            raise ConfigError("data.datasets must list at least one data set")
        if self.crop < 16:
            raise ConfigError(f"data.crop must be >= 16 (SSIM needs 11×11 windows), got {self.crop}")
        if self.batch_size < 1 or self.workers < 0:
            raise ConfigError(f"data.batch_size must be >= 1 and data.workers >= 0, got {self.batch_size}, {self.workers}")
        if any(c < 0 for c in self.roi_classes):
            raise ConfigError(f"data.roi_classes must be class indices >= 0, got {list(self.roi_classes)}")
        if any(c < 0 for c in self.roi_exclude_classes):
            raise ConfigError(f"data.roi_exclude_classes must be class indices >= 0, got {list(self.roi_exclude_classes)}")
        if set(self.roi_classes) & set(self.roi_exclude_classes):
            raise ConfigError(f"data.roi_exclude_classes {list(self.roi_exclude_classes)} overlaps data.roi_classes {list(self.roi_classes)}")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up then cosine decay to ``min_lr_ratio``·lr (or constant)."""

    lr: float = 2e-3
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    steps: int = 3000
    warmup: int = 100
    schedule: str = "cosine"
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    # > 0: the detection term's gradient is projected off any conflict with the fusion terms' and capped at
    # this multiple of their norm before the two are added (training/gradient_balance.py); 0: plain sum.
    detection_grad_ratio: float = 0.0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"optim.schedule {self.schedule!r} is not one of {', '.join(SCHEDULES)}")
        if self.steps < 1 or self.warmup < 0 or self.lr <= 0:
            raise ConfigError(f"optim needs steps >= 1, warmup >= 0, lr > 0 (got {self.steps}, {self.warmup}, {self.lr})")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"optim.min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio}")
        if self.detection_grad_ratio < 0:
            raise ConfigError(f"optim.detection_grad_ratio must be >= 0 (0 = off), got {self.detection_grad_ratio}")


@dataclass(frozen=True)
class SSVIFConfig:
    """Two-stage self-supervised training (see training/weighting.py for the weighting rule).

    The branches always learn guard_weight·guard + branch_consistency·consistency on detached
    inputs. FusionNet learns the fusion loss, plus w_c(t)·consistency in stage 2 (after
    ``stage1_steps``), w_c from the ratio rule (``target_ratio``, ``ema``, ``ramp_steps``, clipped to
    [``min_weight``, ``max_weight``]). See training/steps.py and training/weighting.py.
    """

    stage1_steps: int = 1000
    classes: int = 9
    head_hidden: int = 32
    segnet_width: int = 16
    target_ratio: float = 0.1
    ema: float = 0.9
    ramp_steps: int = 200
    min_weight: float = 0.0
    max_weight: float = 10.0
    guard_weight: float = 1.0
    confidence: float = 1.0
    branch_consistency: float = 0.1

    def __post_init__(self) -> None:
        if self.classes < 2:
            raise ConfigError(f"ssvif.classes must be >= 2, got {self.classes}")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ssvif.ema must lie in [0, 1), got {self.ema}")
        if self.target_ratio < 0 or self.min_weight < 0 or self.max_weight < self.min_weight:
            raise ConfigError("ssvif needs target_ratio >= 0 and 0 <= min_weight <= max_weight")
        if self.guard_weight < 0 or self.confidence < 0 or self.branch_consistency < 0:
            raise ConfigError("ssvif.guard_weight, ssvif.confidence and ssvif.branch_consistency must be >= 0")
        if self.stage1_steps < 0 or self.ramp_steps < 0:
            raise ConfigError("ssvif.stage1_steps and ssvif.ramp_steps must be >= 0")


@dataclass(frozen=True)
class RunConfig:
    """Run folder, seed, logging cadence (in steps; 0 = never), device and precision.

    Checkpoints go to ``<out_dir>/checkpoints/step_NNNNNNN.pt`` (the newest ``keep_checkpoints``
    kept, 0 = all) and ``last.pt``; the deployable ``model.pt`` and ``record.json`` land in
    ``out_dir`` at the end. ``amp`` (float16 autocast + gradient scaling) applies on CUDA only.

    ``init``: a model file (``model.pt``, a training checkpoint, or ``default`` for the shipped
    model) whose FusionNet weights the run starts from instead of a random initialisation: fine-
    tuning on one's own data. Only the weights are taken (optimizer, schedule and step start
    fresh); the file's model config must equal ``model``. A ``--resume`` takes its weights from the checkpoint
    instead; ``loss.anchor``'s frozen reference is this file's model in both cases.
    """

    out_dir: str = "runs/train"
    init: str | None = None
    seed: int = 0
    log_every: int = 10
    image_every: int = 250
    ckpt_every: int = 500
    keep_checkpoints: int = 3
    device: str = "auto"
    amp: bool = False
    threads: int | None = None
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ConfigError(f"run.device {self.device!r} is not one of {', '.join(DEVICES)}")
        if min(self.log_every, self.image_every, self.ckpt_every) < 0:
            raise ConfigError("run.log_every, run.image_every and run.ckpt_every must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    mode: str = "target_aware"
    data: DataConfig = field(default_factory=DataConfig)
    model: FusionNetConfig = field(default_factory=FusionNetConfig)
    loss: FusionLossConfig = field(default_factory=FusionLossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ssvif: SSVIFConfig = field(default_factory=SSVIFConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode == "ssvif" and self.ssvif.stage1_steps >= self.optim.steps:
            raise ConfigError(f"ssvif.stage1_steps ({self.ssvif.stage1_steps}) must be < optim.steps ({self.optim.steps})")
        if self.loss.anchor > 0 and not self.run.init:
            raise ConfigError("loss.anchor > 0 needs run.init: the anchor keeps the fusion near that model's output")
        if self.loss.detection_anchor > 0 and not self.run.init:
            raise ConfigError("loss.detection_anchor > 0 needs run.init: it holds the detector's view of that model's fusion")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), the form written to YAML and checkpoints."""
        return _plain(asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def config_from_dict(data: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Build a TrainConfig from a nested dict (YAML, checkpoint) plus ``key.sub=value`` overrides."""
    if not isinstance(data, dict):
        raise ConfigError(f"a training config must be a mapping at the top level, got {type(data).__name__}")
    resolved = build(TrainConfig, data, "").to_dict()  # defaults filled in, so overrides can address any key
    for item in overrides:
        apply_override(resolved, item)
    return build(TrainConfig, resolved, "")


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML training config (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"training config {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"training config {path} is not valid YAML: {exc}") from exc
    try:
        return config_from_dict(data, overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def dump_config(config: TrainConfig, path: str | Path) -> Path:
    """Write the resolved config as YAML (the run folder's ``config.yaml``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    return path
