"""scripts/anchor_weight_probe.py: the anchor weight at which an unanchored run's drift costs what its detection gained."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml

from fusion_core import save_checkpoint
from fusion_core.model import FusionNet
from training import load_config

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IVIF_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def probe_script(load_script):
    return load_script("anchor_weight_probe")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A small detection config on real MSRS crops and two different 8-channel networks."""
    folder = tmp_path_factory.mktemp("probe")
    config = yaml.safe_load((REPO / "config" / "train" / "ci_smoke.yaml").read_text())
    config["data"].update(base_dir=str(DATA), crop=128, batch_size=2)
    config["data"]["datasets"] = [{"root": "MSRS", "split": "train", "labels": "labels_det_ir"}]
    config["loss"] = {"detection": 2.0, "detection_negatives": 0.1}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    model = load_config(path).model
    torch.manual_seed(1)
    start = save_checkpoint(folder / "start.pt", FusionNet(model), {})
    torch.manual_seed(2)
    other = FusionNet(model)  # a fresh network blends almost as any other does: move its weights well away
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p) * 1.0)
    tuned = save_checkpoint(folder / "tuned.pt", other, {})
    return path, start, tuned


def test_the_weight_is_the_detection_gain_over_the_drift(probe_script, run: tuple[Path, Path, Path]) -> None:
    config, start, tuned = run
    result = probe_script.probe(config, str(start), str(tuned), batches=2, seed=3)
    assert result["labelled_crops"] == 4 and result["anchor_unanchored"] > 0.01  # the two networks fuse differently
    assert result["detection_start"] != result["detection_unanchored"]
    assert result["weight"] == pytest.approx(2.0 * result["detection_gain"] / result["anchor_unanchored"], rel=1e-12)  # loss.detection 2
    again = probe_script.probe(config, str(start), str(tuned), batches=2, seed=3)
    assert again == result  # the same batches and weights give the same numbers


def test_the_same_model_twice_has_no_drift_and_no_weight(probe_script, run: tuple[Path, Path, Path]) -> None:
    config, start, _ = run
    result = probe_script.probe(config, str(start), str(start), batches=1, seed=3)
    assert result["anchor_unanchored"] == 0.0 and result["detection_gain"] == 0.0 and result["weight"] is None


def test_a_config_without_detection_is_refused(probe_script, run: tuple[Path, Path, Path], tmp_path: Path) -> None:
    config, start, tuned = run
    data = yaml.safe_load(config.read_text())
    data["loss"] = {"detection": 0.0}
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(data))
    with pytest.raises(SystemExit, match="loss.detection is 0"):
        probe_script.probe(plain, str(start), str(tuned), batches=1, seed=3)


def test_hold_weighs_the_detection_anchor_by_the_same_rule(probe_script, run: tuple[Path, Path, Path]) -> None:
    """``--hold``: the held classes' confidence drift between the two networks' fusions of the same labelled crops,
    and the weight at which it costs what the detection term gained; the pixel anchor's numbers are unchanged."""
    config, start, tuned = run
    plain = probe_script.probe(config, str(start), str(tuned), batches=2, seed=3)
    held = probe_script.probe(config, str(start), str(tuned), batches=2, seed=3, hold=(1, 2))
    assert {k: held[k] for k in plain} == plain
    assert held["held_classes"] == [1, 2] and held["detection_anchor_tuned"] > 0
    assert held["detection_anchor_weight"] == pytest.approx(
        2.0 * held["detection_gain"] / held["detection_anchor_tuned"], rel=1e-12)
    freed = probe_script.probe(config, str(start), str(tuned), batches=2, seed=3, hold=(1, 2), free_boxes=True)
    # the people's cells left out: less held drift (the MSRS crops carry person boxes), the same detection gain
    assert freed["free_boxes"] and 0 < freed["detection_anchor_tuned"] < held["detection_anchor_tuned"]
    assert freed["detection_gain"] == held["detection_gain"]
    same = probe_script.probe(config, str(start), str(start), batches=1, seed=3, hold=(1, 2))
    assert same["detection_anchor_tuned"] == 0.0 and same["detection_anchor_weight"] is None
