"""Model files load without running code, and every bad one is a ModelFileError naming the file and the problem.

The table covers the checkpoint loader (torch backend, export, training's loaders all go through it),
the ONNX Runtime backend's ONNX files and the detector's YOLOX model file.
"""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

from fusion_core import EngineConfig, FusionNet, FusionNetConfig, create_engine
from fusion_core.checkpoint import DEFAULT_MODEL_PATH, load_checkpoint, load_model, save_checkpoint
from fusion_core.cli.main import main as ivif
from fusion_core.detection import Detector, DetectorConfig
from fusion_core.errors import ConfigError, ModelFileError
from fusion_core.export import export_onnx, resolve_onnx

REPO = Path(__file__).resolve().parents[1]
YOLOX = REPO / "fusion_core" / "weights" / "yolox_nano" / "yolox_nano.onnx"


class _Payload:
    """A pickle that would create ``marker`` (via ``open(marker, 'w')``) when unpickled with code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _shipped() -> dict[str, Any]:
    return torch.load(DEFAULT_MODEL_PATH, map_location="cpu", weights_only=True)


def _with(**changes: Any) -> dict[str, Any]:
    payload = _shipped()
    for key, value in changes.items():
        if value is _DROP:
            del payload[key]
        else:
            payload[key] = value
    return payload


_DROP = object()


def _write(path: Path, what: Any) -> Path:
    if isinstance(what, bytes):
        path.write_bytes(what)
    else:
        torch.save(what, path)
    return path


def _weights_without_one_key() -> dict[str, torch.Tensor]:
    state = dict(_shipped()["model"])
    del state[sorted(state)[0]]
    return state


# name -> (file content: bytes, a payload for torch.save, or None for "no such file"), message fragments
BAD_CHECKPOINTS: dict[str, tuple[Callable[[Path], Any], tuple[str, ...]]] = {
    "missing": (lambda tmp: None, ("does not exist",)),
    "folder": (lambda tmp: "folder", ("is not a file",)),
    "empty": (lambda tmp: b"", ("could not be read as a checkpoint", "EOFError")),
    "truncated": (lambda tmp: DEFAULT_MODEL_PATH.read_bytes()[:30000], ("could not be read as a checkpoint", "truncated")),
    "garbage": (lambda tmp: b"not a checkpoint at all " * 40, ("could not be read as a checkpoint", "Unsupported operand 110")),
    "code in a zip checkpoint": (lambda tmp: {"format": "ivif-fusion-checkpoint", "x": _Payload(tmp / "marker")},
                                 ("was refused: it needs io.open", "could run code", "ivif convert-checkpoint")),
    "code in a bare pickle": (lambda tmp: pickle.dumps(_Payload(tmp / "marker")),  # protocol 4: refused at its FRAME opcode
                              ("could not be read as a checkpoint", "Unsupported operand 149")),
    "bare state_dict": (lambda tmp: _shipped()["model"], ("is not an ivif-fusion checkpoint", "bare state_dict")),
    "a list": (lambda tmp: [1, 2, 3], ("is not an ivif-fusion checkpoint", "holds a list")),
    "wrong format": (lambda tmp: _with(format="other-project"), ("is not an ivif-fusion checkpoint",)),
    "wrong version": (lambda tmp: _with(version=99), ("checkpoint version 99", "this build reads version 1")),
    "no model_config": (lambda tmp: _with(model_config=_DROP), ("has no model_config",)),
    "model_config not a dict": (lambda tmp: _with(model_config="s4"), ("has no model_config",)),
    "bad model_config value": (lambda tmp: _with(model_config={"channels": 2}), ("bad model_config", "channels must be >= 4")),
    "unknown model_config key": (lambda tmp: _with(model_config={"width": 3}), ("bad model_config", "unknown FusionNetConfig keys ['width']")),
    "model_config of wrong type": (lambda tmp: _with(model_config={"dilations": "abc"}), ("bad model_config",)),
    "no weights": (lambda tmp: _with(model=_DROP), ("has no 'model' state_dict of tensors",)),
    "weights not tensors": (lambda tmp: _with(model={"a": 1}), ("has no 'model' state_dict of tensors",)),
    "wrong weight shapes": (lambda tmp: _with(model_config=dict(_shipped()["model_config"], channels=8)),
                            ("do not fit the model they claim to be", "size mismatch")),
    "missing weight": (lambda tmp: _with(model=_weights_without_one_key()), ("do not fit", "Missing key")),
    "extra weight": (lambda tmp: _with(model=dict(_shipped()["model"], stray=torch.zeros(1))), ("do not fit", "Unexpected key")),
}


def _bad_checkpoint(tmp_path: Path, name: str) -> Path:
    make, _ = BAD_CHECKPOINTS[name]
    content = make(tmp_path)
    path = tmp_path / "model.pt"
    if content == "folder":
        path.mkdir()
    elif content is not None:
        _write(path, content)
    return path


@pytest.mark.parametrize("name", BAD_CHECKPOINTS)
def test_every_bad_checkpoint_is_a_model_file_error(tmp_path, name):
    path = _bad_checkpoint(tmp_path, name)
    for load in (load_model, lambda p: create_engine(EngineConfig(backend="torch", model_path=str(p)))):
        with pytest.raises(ModelFileError) as info:
            load(path)
        message = str(info.value)
        assert str(path) in message
        for fragment in BAD_CHECKPOINTS[name][1]:
            assert fragment in message
    assert not (tmp_path / "marker").exists()  # the loader never ran the file's code


def test_the_crafted_pickle_really_runs_code_when_unpickled_unsafely(tmp_path):
    """Control for the table: the same file *does* create the marker with weights_only=False."""
    path = _bad_checkpoint(tmp_path, "code in a zip checkpoint")
    torch.load(path, weights_only=False)
    assert (tmp_path / "marker").exists()


@pytest.mark.parametrize("name", ["truncated", "code in a zip checkpoint", "wrong weight shapes"])
def test_onnxruntime_backend_and_export_refuse_bad_checkpoints(tmp_path, monkeypatch, name):
    monkeypatch.setenv("IVIF_CACHE_DIR", str(tmp_path / "cache"))
    path = _bad_checkpoint(tmp_path, name)
    for call in (lambda: create_engine(EngineConfig(backend="onnxruntime", model_path=str(path))),
                 lambda: export_onnx(path, tmp_path / "out.onnx")):
        with pytest.raises(ModelFileError, match=str(path)):
            call()
    assert not (tmp_path / "out.onnx").exists() and not (tmp_path / "marker").exists()


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    ("folder", "does not exist (it is a folder)"),
    (b"\x08\x07garbage that is not protobuf" * 8, "could not be read as an ONNX model"),
    (YOLOX, "is not an ivif-fusion ONNX export"),
], ids=["missing", "folder", "garbage", "foreign ONNX"])
def test_onnxruntime_backend_refuses_bad_onnx_files(tmp_path, content, message):
    path = tmp_path / "model.onnx"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, Path):
        path.write_bytes(content.read_bytes())
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError) as info:
        create_engine(EngineConfig(backend="onnxruntime", model_path=str(path)))
    assert str(path) in str(info.value) and message in str(info.value)


def test_torch_backend_refuses_an_onnx_file(tmp_path):
    with pytest.raises(ModelFileError, match="backend 'torch' needs a .pt checkpoint"):
        create_engine(EngineConfig(backend="torch", model_path=str(tmp_path / "m.onnx")))


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    ("folder", "(it is a folder)"),
    (b"garbage, not ONNX" * 10, "could not be loaded by onnxruntime"),
], ids=["missing", "folder", "garbage"])
def test_detector_refuses_bad_model_files(tmp_path, content, message):
    path = tmp_path / "yolox.onnx"
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError) as info:
        Detector(DetectorConfig(model_path=str(path)))
    assert f"detector model_path {path}" in str(info.value) and message in str(info.value)


def test_model_file_error_is_a_config_error():
    assert issubclass(ModelFileError, ConfigError)


def test_committed_checkpoints_load_with_weights_only():
    files = subprocess.run(["git", "ls-files", "*.pt"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert {"fusion_core/weights/default.pt", "docs/models/ssvif_cpu_1200steps.pt"} <= set(files)
    for name in files:
        payload = torch.load(REPO / name, map_location="cpu", weights_only=True)
        assert payload["format"] == "ivif-fusion-checkpoint"
        assert load_model(REPO / name).config == FusionNetConfig.from_dict(payload["model_config"])


def test_save_turns_str_and_number_subclasses_into_plain_values_and_refuses_objects(tmp_path):
    model = FusionNet(FusionNetConfig(channels=8))
    meta = {"torch": torch.__version__, "n": np.int64(3), "x": np.float32(0.5), "rng": np.arange(3, dtype=np.uint32),
            "nested": [("a", 1)]}
    path = save_checkpoint(tmp_path / "m.pt", model, meta)
    back = torch.load(path, weights_only=True)["meta"]
    assert back["torch"] == str(torch.__version__) and type(back["torch"]) is str
    assert back["n"] == 3 and type(back["n"]) is int and back["x"] == 0.5 and type(back["x"]) is float
    assert back["rng"].tolist() == [0, 1, 2] and back["nested"] == [("a", 1)]
    for k, v in load_model(path).state_dict().items():
        assert torch.equal(v, model.state_dict()[k])
    with pytest.raises(TypeError, match=r"checkpoint\.meta\.where holds a pathlib\.\w*Path"):
        save_checkpoint(tmp_path / "bad.pt", model, {"where": tmp_path})
    assert not (tmp_path / "bad.pt").exists()


def test_convert_an_old_trusted_checkpoint(tmp_path, capsys):
    """An old-style checkpoint (a TorchVersion in meta) is refused with the hint, and converts to identical tensors."""
    old = tmp_path / "old.pt"
    payload = _shipped()
    payload["meta"] = {"torch": torch.torch_version.TorchVersion("2.1.0")}
    torch.save(payload, old)
    with pytest.raises(ModelFileError, match="it needs torch.torch_version.TorchVersion to load"):
        load_checkpoint(old)
    new = tmp_path / "new.pt"
    assert ivif(["convert-checkpoint", str(old), str(new)]) == 0
    assert "wrote" in capsys.readouterr().out
    converted = torch.load(new, weights_only=True)
    assert converted["meta"] == {"torch": "2.1.0"}
    for k, v in payload["model"].items():
        assert torch.equal(converted["model"][k], v) and converted["model"][k].dtype == v.dtype
    # convert still checks what it converts
    bad = _write(tmp_path / "bad.pt", _with(model_config={"channels": 2}))
    assert ivif(["convert-checkpoint", str(bad), str(tmp_path / "bad_new.pt")]) == 2
    assert "bad model_config" in capsys.readouterr().err and not (tmp_path / "bad_new.pt").exists()
    assert ivif(["convert-checkpoint", str(tmp_path / "none.pt"), str(new)]) == 2


def test_a_good_onnx_export_still_resolves(tmp_path, monkeypatch):
    monkeypatch.setenv("IVIF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("IVIF_ONNX_EXPORTER", "legacy")
    path, meta = resolve_onnx(None, "fp32")
    assert path.is_file() and meta.model_config == load_model().config
