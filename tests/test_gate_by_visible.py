"""scripts/gate_by_visible.py: on real MSRS frames, a night frame takes the dark model's fused image and a day frame
the bright model's; a missing fused image or a limit outside (0, 1) writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

STEMS = ("00004N", "00055D")  # visible luminance means 0.133 and 0.335


def folders(tmp_path: Path, msrs_dir: Path) -> tuple[Path, Path, Path]:
    vi, dark, bright = tmp_path / "vi", tmp_path / "dark", tmp_path / "bright"
    for folder in (vi, dark, bright):
        folder.mkdir()
    for stem in STEMS:
        shutil.copy(msrs_dir / "vi" / f"{stem}.png", vi / f"{stem}.png")
        cv2.imwrite(str(dark / f"{stem}.png"), np.full((4, 4), 10, np.uint8))
        cv2.imwrite(str(bright / f"{stem}.png"), np.full((4, 4), 200, np.uint8))
    return vi, dark, bright


def run(script, vi: Path, dark: Path, bright: Path, limit: float, out: Path) -> int:
    return script.main(["--vi", str(vi), "--dark", str(dark), "--bright", str(bright), "--limit", str(limit), "--out", str(out)])


def test_each_frame_takes_the_fused_image_its_brightness_asks_for(tmp_path, msrs_dir, load_script) -> None:
    script = load_script("gate_by_visible")
    vi, dark, bright = folders(tmp_path, msrs_dir)
    assert script.visible_mean(vi / "00004N.png") < 0.22 < script.visible_mean(vi / "00055D.png")
    out = tmp_path / "gated"
    assert run(script, vi, dark, bright, 0.22, out) == 0
    pixel = {stem: int(cv2.imread(str(out / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)[0, 0]) for stem in STEMS}
    assert pixel == {"00004N": 10, "00055D": 200}
    # a limit above both frames' means sends both to the dark model
    assert run(script, vi, dark, bright, 0.5, tmp_path / "all_dark") == 0
    assert {int(cv2.imread(str(tmp_path / "all_dark" / f"{s}.png"), cv2.IMREAD_GRAYSCALE)[0, 0]) for s in STEMS} == {10}


def test_a_missing_fused_image_or_a_bad_limit_writes_nothing(tmp_path, msrs_dir, load_script) -> None:
    script = load_script("gate_by_visible")
    vi, dark, bright = folders(tmp_path, msrs_dir)
    (bright / "00004N.png").unlink()
    assert run(script, vi, dark, bright, 0.22, tmp_path / "out") == 2
    assert not (tmp_path / "out").exists()
    assert run(script, vi, dark, dark, 1.5, tmp_path / "out2") == 2
    assert not (tmp_path / "out2").exists()
