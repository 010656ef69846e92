"""Training for ivif_fusion: a client of fusion_core (typed configs, data, target-aware and SSVIF modes).

Entry points: ``ivif train --config config/train/<name>.yaml [key=value ...]`` or, from Python,
``train(load_config(path, overrides))``. See training/trainer.py for what a run writes.
"""

from .config import DataConfig, DatasetSpec, OptimConfig, RunConfig, SSVIFConfig, TrainConfig, config_from_dict, dump_config, load_config
from .data import PairDataset, StepBatchSampler, collect_pairs, make_loader, read_split
from .trainer import TrainResult, config_for_resume, lr_factor, train
from .weighting import RatioWeighting

__all__ = [
    "DataConfig",
    "DatasetSpec",
    "OptimConfig",
    "PairDataset",
    "RatioWeighting",
    "RunConfig",
    "SSVIFConfig",
    "StepBatchSampler",
    "TrainConfig",
    "TrainResult",
    "collect_pairs",
    "config_for_resume",
    "config_from_dict",
    "dump_config",
    "load_config",
    "lr_factor",
    "make_loader",
    "read_split",
    "train",
]
