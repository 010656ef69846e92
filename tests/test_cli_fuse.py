import shutil

import cv2
import numpy as np
import pytest

from fusion_core import create_engine
from fusion_core.cli.main import main
from fusion_core.io import read_thermal, read_visible

STEMS = ["00004N", "00008N", "00055D"]


@pytest.fixture()
def pair_dirs(tmp_path, msrs_dir):
    for side in ("ir", "vi"):
        (tmp_path / side).mkdir()
        for stem in STEMS:
            shutil.copy(msrs_dir / side / f"{stem}.png", tmp_path / side / f"{stem}.png")
    return tmp_path


def test_fuse_writes_fused_and_alpha_equal_to_engine(pair_dirs, capsys):
    out = pair_dirs / "out"
    assert main(["fuse", "--ir", str(pair_dirs / "ir"), "--vi", str(pair_dirs / "vi"), "--out", str(out)]) == 0
    assert "fused 3 pairs" in capsys.readouterr().out
    engine = create_engine()
    for stem in STEMS:
        res = engine.fuse(read_thermal(pair_dirs / "ir" / f"{stem}.png"), read_visible(pair_dirs / "vi" / f"{stem}.png"))
        fused = cv2.cvtColor(cv2.imread(str(out / "fused" / f"{stem}.png")), cv2.COLOR_BGR2RGB)
        alpha = cv2.imread(str(out / "alpha" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(fused, res.fused)
        assert np.array_equal(alpha, res.alpha)


def test_fuse_pairs_by_stem_across_extensions(pair_dirs):
    vi = pair_dirs / "vi" / "00004N.png"
    cv2.imwrite(str(vi.with_suffix(".jpg")), cv2.imread(str(vi)))
    vi.unlink()
    out = pair_dirs / "out"
    assert main(["fuse", "--ir", str(pair_dirs / "ir"), "--vi", str(pair_dirs / "vi"), "--out", str(out)]) == 0
    assert sorted(p.stem for p in (out / "fused").iterdir()) == sorted(STEMS)


def test_grey_visible_gives_grey_png(pair_dirs):
    vi = pair_dirs / "vi" / "00004N.png"
    cv2.imwrite(str(vi), cv2.imread(str(vi), cv2.IMREAD_GRAYSCALE))
    out = pair_dirs / "out"
    main(["fuse", "--ir", str(pair_dirs / "ir"), "--vi", str(pair_dirs / "vi"), "--out", str(out)])
    assert cv2.imread(str(out / "fused" / "00004N.png"), cv2.IMREAD_UNCHANGED).ndim == 2


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: (d / "vi" / "00008N.png").unlink(), "00008N.png has no vi partner"),
        (lambda d: (d / "ir" / "00008N.png").write_bytes(b"not a png"), "cannot read thermal image .*00008N.png"),
        (lambda d: cv2.imwrite(str(d / "vi" / "00055D.png"), np.zeros((100, 50, 3), np.uint8)), "pair '00055D'.*cannot be registered"),
    ],
)
def test_fuse_refuses_bad_pairs_naming_the_file(pair_dirs, capsys, mutate, message):
    mutate(pair_dirs)
    code = main(["fuse", "--ir", str(pair_dirs / "ir"), "--vi", str(pair_dirs / "vi"), "--out", str(pair_dirs / "out")])
    assert code == 2
    err = capsys.readouterr().err
    import re

    assert re.search(message, err), err


def test_help_of_every_command(capsys):
    from fusion_core.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage: ivif " + name in capsys.readouterr().out


def test_a_16_bit_camera_left_at_the_full_range_is_warned_about(pair_dirs, capsys):
    """16-bit PNGs of a core whose counts span 1000-2020 (1000 + 4 * the MSRS IR): under the default fixed full range
    the thermal side is nearly flat, and ivif fuse says so with the span and the options that fix it; with
    --thermal-range at that span it says nothing and fuses as the 8-bit images."""
    counts = pair_dirs / "ir16"
    counts.mkdir()
    for stem in STEMS:
        cv2.imwrite(str(counts / f"{stem}.png"), (1000 + 4 * read_thermal(pair_dirs / "ir" / f"{stem}.png").astype(np.uint16)))
    assert main(["fuse", "--ir", str(counts), "--vi", str(pair_dirs / "vi"), "--out", str(pair_dirs / "full")]) == 0
    out = capsys.readouterr().out
    assert "warning: pair '00004N': uint16 thermal frames span 1008 to 12" in out, out  # a night frame: 1008 to ~1240
    assert "% of the range 0-65535" in out and "pass --thermal-range LOW HIGH (about that span) or --thermal-policy percentile" in out
    assert main(["fuse", "--ir", str(counts), "--vi", str(pair_dirs / "vi"), "--out", str(pair_dirs / "ranged"),
                 "--thermal-range", "1000", "2020"]) == 0
    assert "warning" not in capsys.readouterr().out
    assert main(["fuse", "--ir", str(pair_dirs / "ir"), "--vi", str(pair_dirs / "vi"), "--out", str(pair_dirs / "eight")]) == 0
    for stem in STEMS:
        ranged, eight = (cv2.imread(str(pair_dirs / d / "fused" / f"{stem}.png")).astype(int) for d in ("ranged", "eight"))
        assert np.abs(ranged - eight).max() <= 1  # (1000 + 4v - 1000) / 1020 = v / 255
