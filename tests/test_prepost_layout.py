"""The engine's planar pre/post-processing: layout changes are exact, and the fused colour is the
interleaved formula's to the bit (the engine used to convert colour interleaved; see fusion_core.colour)."""

import numpy as np
import pytest
import torch

from fusion_core.colour import rgb_to_ycbcr, ycbcr_to_rgb
from fusion_core.engine import create_engine
from fusion_core.engine.contract import EngineConfig
from fusion_core.engine.auto import prepost_torch_threads
from fusion_core.engine.pipeline import _interleave_u8, _planes_u8, to_uint8


@pytest.mark.parametrize("channels", [3, 4])
def test_planes_round_trip_exactly(channels):
    image = np.random.default_rng(channels).integers(0, 256, (31, 47, channels), dtype=np.uint8)
    planes = _planes_u8(torch.from_numpy(image))
    assert planes.shape == (channels, 31, 47)
    for c in range(channels):
        assert np.array_equal(planes[c].numpy(), image[..., c])
    assert np.array_equal(_interleave_u8(planes).numpy(), image)


@pytest.fixture(scope="module", params=["torch", "onnxruntime"])
def engine(request):
    return create_engine(EngineConfig(backend=request.param))


def test_engine_colour_equals_the_interleaved_formula(engine, msrs_pair):
    """Fused colour = visible CbCr with the fused Y, computed the old (interleaved) way: same bytes."""
    thermal, visible = msrs_pair
    result = engine.fuse(thermal, visible, "rgb")
    prep = engine._prepare(thermal, visible, "rgb")
    with torch.inference_mode():
        fused_y, _alpha = engine.runner(prep.ir_y, prep.vi_y)
        ycc = rgb_to_ycbcr(torch.from_numpy(visible).float().mul_(1.0 / 255.0))
        expected = to_uint8(ycbcr_to_rgb(torch.cat((fused_y[0, 0][..., None], ycc[..., 1:]), dim=-1)))
    assert np.array_equal(result.fused, expected.numpy())


def test_prepost_threads_rule():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert prepost_torch_threads("onnxruntime", cpu) == 1
    assert prepost_torch_threads("torch", cpu) is None  # torch runs the network: its threads are the backend's
    assert prepost_torch_threads("onnxruntime", cuda) is None
    assert prepost_torch_threads("tensorrt", cuda) is None

