import numpy as np
import pytest
import torch

from fusion_core.colour import luminance, rgb_to_ycbcr, ycbcr_to_rgb


@pytest.mark.parametrize(
    ("rgb", "ycc"),
    [
        ((0.0, 0.0, 0.0), (0.0, 0.5, 0.5)),
        ((1.0, 1.0, 1.0), (1.0, 0.5, 0.5)),
        ((1.0, 0.0, 0.0), (0.299, 0.5 - 0.299 / 1.772, 1.0)),
        ((0.0, 0.0, 1.0), (0.114, 1.0, 0.5 - 0.114 / 1.402)),
    ],
)
def test_bt601_full_range_values(rgb, ycc):
    out = rgb_to_ycbcr(torch.tensor(rgb))
    assert torch.allclose(out, torch.tensor(ycc), atol=1e-6)


def test_round_trip_is_lossless_to_rounding():
    rgb = torch.rand(37, 53, 3, generator=torch.Generator().manual_seed(0))
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb))
    assert torch.max(torch.abs(back - rgb)) < 1e-5


def test_luminance_matches_opencv_gray():
    import cv2

    img = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    ours = luminance(torch.from_numpy(img).double()).numpy()
    ref = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64)
    assert np.max(np.abs(ours - ref)) <= 0.51  # OpenCV rounds with fixed-point coefficients


def test_planar_in_place_conversions_are_the_reference_to_the_bit():
    """The engine's in-place planar conversions give the interleaved reference's values exactly, clamping included."""
    from fusion_core.colour import rgb_planes_to_ycbcr, ycbcr_planes_to_rgb

    rgb = torch.rand(41, 59, 3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(rgb_planes_to_ycbcr(rgb.permute(2, 0, 1).contiguous()), rgb_to_ycbcr(rgb).permute(2, 0, 1))

    ycc = torch.rand(41, 59, 3, generator=torch.Generator().manual_seed(3))  # out-of-gamut mixes: clamped
    planar = ycc.permute(2, 0, 1).contiguous()
    assert torch.equal(ycbcr_planes_to_rgb(planar[0], planar[1:]), ycbcr_to_rgb(ycc).permute(2, 0, 1))
