"""Shared fixtures: paths to the real sample data and helpers to read a few pairs."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# IVIF_SHARED_DATA points elsewhere on machines where the data is not beside the checkout (e.g. a lent GPU box).
SHARED_DATA = Path(os.environ.get("IVIF_SHARED_DATA", REPO.parent / "shared" / "data"))
MSRS = SHARED_DATA / "MSRS" / "trainval"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip GPU tests visibly when there is no CUDA device (CI never has one)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA GPU on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def msrs_dir() -> Path:
    if not MSRS.is_dir():
        pytest.fail(f"shared data not found at {MSRS}; the tests need ../shared/data beside the checkout")
    return MSRS


@pytest.fixture(scope="session")
def msrs_pair(msrs_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """One real MSRS pair: (thermal uint8 (480, 640), visible uint8 RGB (480, 640, 3))."""
    from fusion_core.io import read_thermal, read_visible

    stem = "00004N"
    return read_thermal(msrs_dir / "ir" / f"{stem}.png"), read_visible(msrs_dir / "vi" / f"{stem}.png")


@pytest.fixture(scope="session")
def msrs_luma(msrs_pair: tuple[np.ndarray, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """The real MSRS pair as the model sees it: (IR, VI luminance) float tensors in [0, 1], (1, 1, 480, 640)."""
    from fusion_core.colour import luminance

    thermal, visible = msrs_pair
    ir = torch.from_numpy(thermal).float().div(255.0)[None, None]
    vi = luminance(torch.from_numpy(visible).float().div(255.0))[None, None].contiguous()
    return ir, vi


@pytest.fixture(scope="session")
def plain_output(msrs_luma: tuple[torch.Tensor, torch.Tensor]):
    """The shipped model's FusionOutput on that pair, every fixed stage off: what a stage's tests compare with."""
    from fusion_core import load_model

    with torch.inference_mode():
        return load_model()(*msrs_luma)


@pytest.fixture(scope="session")
def load_script():
    """``load_script("name")``: the module scripts/name.py (the scripts folder is not a package)."""
    scripts = Path(__file__).resolve().parents[1] / "scripts"

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, scripts / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def msrs_trainval() -> Path:
    """The MSRS trainval folder of the shared data (``IVIF_SHARED_DATA`` honoured), with ir/ and vi/."""
    return MSRS
