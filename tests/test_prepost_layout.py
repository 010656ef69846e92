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


def rounding_formula(x: torch.Tensor) -> torch.Tensor:
    """The engine's float -> uint8 rule written out in torch (what to_uint8's OpenCV path must equal)."""
    return x.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


def values_around_every_level() -> torch.Tensor:
    """Float32 values where rounding can go wrong: a dense grid over [-0.01, 1.01] and the 4 neighbouring
    floats on each side of every k/255 and (k + 0.5)/255, as a (N/64, 64) tensor."""
    levels = np.arange(-2, 258, dtype=np.float64)
    points = [np.linspace(-0.01, 1.01, 2_000_000, dtype=np.float32)]
    for centre in ((levels / 255).astype(np.float32), ((levels + 0.5) / 255).astype(np.float32)):
        for direction in (np.inf, -np.inf):
            v = centre
            for _ in range(4):
                points.append(v)
                v = np.nextafter(v, np.float32(direction))
    x = np.concatenate(points)
    return torch.from_numpy(x[: len(x) // 64 * 64].reshape(-1, 64).copy())


def test_to_uint8_equals_the_rounding_formula_at_every_level():
    x = values_around_every_level()
    assert torch.equal(to_uint8(x), rounding_formula(x))
    planes = x[: x.shape[0] // 3 * 3].reshape(3, -1, 64)  # planar (3, H, W), as the engine passes colour
    assert torch.equal(to_uint8(planes), rounding_formula(planes))
    assert to_uint8(torch.tensor([[0.5 / 255, 1.5 / 255, 127.5 / 255, -3.0, 7.0]])).tolist() == [[0, 2, 128, 0, 255]]


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
        expected = rounding_formula(ycbcr_to_rgb(torch.cat((fused_y[0, 0][..., None], ycc[..., 1:]), dim=-1)))
    assert np.array_equal(result.fused, expected.numpy())


def test_prepost_threads_rule():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert prepost_torch_threads("onnxruntime", cpu) == 1
    assert prepost_torch_threads("torch", cpu) is None  # torch runs the network: its threads are the backend's
    assert prepost_torch_threads("onnxruntime", cuda) is None
    assert prepost_torch_threads("tensorrt", cuda) is None

