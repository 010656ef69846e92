"""The fixed stages after the blend (Laplacian detail transfer, tone, hot targets) inside the exported ONNX graph:
ONNX Runtime reproduces PyTorch's fused image and α at the export size and at sizes the graph was not traced at."""

from __future__ import annotations

import pytest
import torch

from fusion_core import FusionNet, FusionNetConfig
from fusion_core.export import PARITY_TOLERANCE, export_onnx, onnx_parity

STAGES = {
    "transfer": dict(pyramid_gains=(0.75, 0.5, 0.25)),
    "tone": dict(sum_mix=0.1, contrast_gain=1.06),
    "hot_target": dict(hot_target=1.0, hot_target_threshold=0.03),
    "all_three": dict(pyramid_gains=(0.75, 0.5, 0.25), sum_mix=0.1, contrast_gain=1.06, hot_target=1.0),
}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_onnx_export_matches_pytorch_with_the_stage(stage: str, tmp_path, msrs_luma) -> None:
    torch.manual_seed(0)
    model = FusionNet(FusionNetConfig(channels=8, **STAGES[stage])).eval()
    result = export_onnx(model, tmp_path / "m.onnx", exporter="legacy")
    assert max(result.parity_max_abs.values()) <= PARITY_TOLERANCE
    ir, vi = msrs_luma
    for h, w in ((480, 640), (37, 53), (5, 1283)):
        diff = onnx_parity(result.path, model, ir[..., :h, :w].contiguous(), vi[..., :h, :w].contiguous())
        assert diff["fused"] <= 1.0 / 255.0 and diff["alpha"] <= 1.0 / 255.0, (h, w)
