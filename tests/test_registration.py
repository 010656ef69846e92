import cv2
import numpy as np
import pytest
import torch

from fusion_core import ConfigError, InputError, RegistrationConfig
from fusion_core.registration import Registrar


def test_identity_passes_through_same_tensor():
    x = torch.rand(10, 12)
    assert Registrar()(x, (10, 12)) is x


def test_resize_when_sizes_differ_with_same_aspect():
    x = torch.rand(240, 320)
    out = Registrar()(x, (480, 640))
    assert out.shape == (480, 640)
    assert abs(float(out.mean()) - float(x.mean())) < 0.01


def test_homography_matches_opencv_warp_perspective():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.random((120, 160)).astype(np.float32), (0, 0), 3)
    h = np.array([[1.02, 0.01, 4.0], [-0.01, 0.98, -3.0], [1e-5, 0.0, 1.0]])
    ref = cv2.warpPerspective(img, h, (170, 130), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    ours = Registrar(RegistrationConfig(homography=tuple(h.ravel())))(torch.from_numpy(img), (130, 170)).numpy()
    inner = (slice(8, -8), slice(8, -8))  # borders differ only where the source runs out
    assert np.max(np.abs(ours[inner] - ref[inner])) < 2e-3


@pytest.mark.parametrize(
    ("cfg", "size", "message"),
    [
        (RegistrationConfig(allow_resize=False), (20, 20), "resizing is disabled"),
        (RegistrationConfig(), (20, 40), "aspect ratios differ"),
    ],
)
def test_unregistrable_sizes(cfg, size, message):
    with pytest.raises(InputError, match=message):
        Registrar(cfg)(torch.rand(10, 10), size)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"homography": (1.0, 0.0, 0.0)}, "9 numbers"),
        ({"homography": (0.0,) * 9}, "singular"),
        ({"max_aspect_change": -1.0}, "max_aspect_change"),
        ({"calibrated_sizes": ((640, 512), (1280, 720))}, "needs a homography"),
        ({"homography": (2.0, 0, 0, 0, 2.0, 0, 0, 0, 1), "calibrated_sizes": ((640, 512),)}, r"\(thermal w, h\)"),
        ({"homography": (2.0, 0, 0, 0, 2.0, 0, 0, 0, 1), "calibrated_sizes": ((640, 0), (1280, 720))}, "in pixels"),
    ],
)
def test_invalid_registration_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RegistrationConfig(**kwargs)


def test_calibrated_sizes_accept_their_resolution_and_refuse_others():
    """A homography is valid for the resolutions it was estimated at: the same pair sizes warp as without
    the check; any other size (e.g. the camera switched mode) is refused, naming both, for the warp and the footprint."""
    h = (2.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 1.0)
    checked = Registrar(RegistrationConfig(homography=h, calibrated_sizes=((32, 24), (64, 48))))
    x = torch.rand(24, 32)
    assert torch.equal(checked(x, (48, 64)), Registrar(RegistrationConfig(homography=h))(x, (48, 64)))
    assert checked.coverage((24, 32), (48, 64)) == Registrar(RegistrationConfig(homography=h)).coverage((24, 32), (48, 64))
    for thermal_hw, visible_hw in (((24, 32), (96, 128)), ((48, 64), (48, 64))):
        with pytest.raises(InputError, match=r"calibrated for thermal 32x24 and visible 64x48, but this pair is thermal "
                                             rf"{thermal_hw[1]}x{thermal_hw[0]} and visible {visible_hw[1]}x{visible_hw[0]}"):
            checked(torch.rand(*thermal_hw), visible_hw)
        with pytest.raises(InputError, match="recalibrate"):
            checked.footprint(thermal_hw, visible_hw)


def test_a_calibrations_identity_maps_pixels_one_to_one_between_its_sizes():
    """The identity from a calibration file is not "no homography": a 32x24 thermal frame lands 1:1 in the top-left
    corner of a 64x48 visible frame (a quarter of it), other sizes are refused; without calibrated sizes the identity
    still means pre-registered (a resize)."""
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    calibrated = Registrar(RegistrationConfig(homography=identity, calibrated_sizes=((32, 24), (64, 48))))
    x = torch.rand(24, 32)
    out = calibrated(x, (48, 64))
    assert out.shape == (48, 64)
    # grid_sample's float32 normalised coordinates put each sample a few 1e-6 px off the pixel centre
    assert torch.allclose(out[:24, :32], x, atol=1e-5) and float(out[24:].abs().max()) == 0.0
    assert calibrated.coverage((24, 32), (48, 64)) == pytest.approx(0.25, abs=0.02)
    with pytest.raises(InputError, match="calibrated for thermal 32x24"):
        calibrated(torch.rand(48, 64), (48, 64))
    resized = Registrar(RegistrationConfig(homography=identity))(x, (48, 64))
    assert abs(float(resized.mean()) - float(x.mean())) < 0.01 and float(resized[30:].abs().max()) > 0


@pytest.mark.parametrize("homography, corners", [
    ((0.5, 0, 100, 0, 0.5, 50, 0, 0, 1), [(100, 50), (419, 50), (419, 289), (100, 289)]),  # a quarter-size inset
    (None, [(0, 0), (639, 0), (639, 479), (0, 479)]),  # pre-registered: the whole frame
])
def test_footprint_outline_is_the_covered_rectangle(homography, corners) -> None:
    config = RegistrationConfig(homography=homography) if homography else RegistrationConfig()
    outline = Registrar(config).footprint((480, 640), (480, 640)).outline()
    assert sorted(outline) == sorted((float(x), float(y)) for x, y in corners)


def test_footprint_outline_fills_the_covered_mask_of_a_rotated_perspective_rig() -> None:
    t = np.radians(10)
    h = (1.2 * np.cos(t), -1.2 * np.sin(t), -60, 1.2 * np.sin(t), 1.2 * np.cos(t), -100, 1e-4, 0, 1)
    footprint = Registrar(RegistrationConfig(homography=h)).footprint((480, 640), (480, 640))
    outline = footprint.outline()
    assert 0.3 < footprint.coverage < 1.0 and len(outline) >= 5  # clipped by the frame: more than 4 corners
    filled = np.zeros((480, 640), np.uint8)
    cv2.fillConvexPoly(filled, np.round(outline).astype(np.int32), 1)
    agree = (filled.astype(bool) == footprint.covered).mean()
    assert agree > 0.998  # the polygon is the mask up to its boundary pixels
    assert Registrar(RegistrationConfig(homography=(1, 0, 5000, 0, 1, 0, 0, 0, 1))).footprint((480, 640), (480, 640)).outline() == []
