"""Checkpoints that say what they are: weights together with the FusionNetConfig that built them.

A checkpoint is a ``torch.save`` dict::

    {"format": "ivif-fusion-checkpoint", "version": 1,
     "model_config": {...FusionNetConfig...}, "model": state_dict,
     "meta": {...free-form: training record, data, seed...},
     ...optional training state (optimizer, step, train_config) added by training/}

The shipped default model lives in ``fusion_core/weights/default.pt``.

Loading never runs code from the file: :func:`load_checkpoint` uses ``torch.load(weights_only=True)``,
which accepts tensors and plain containers only (dict, list, tuple, str, int, float, bool, None).
:func:`save_checkpoint` therefore stores nothing else (it turns ``str``/number subclasses such as
``torch.__version__`` into plain values and refuses other objects). Every problem with a model file
raises :class:`~fusion_core.errors.ModelFileError` naming the file and what is wrong.

Checkpoints written before this rule (their ``meta`` held a ``TorchVersion``) are refused. Convert
one you trust, once, with::

    ivif convert-checkpoint OLD.pt NEW.pt

That command is the only place that unpickles with ``weights_only=False``, i.e. runs whatever code
the file contains: use it only on a file whose origin you trust (one you or this project wrote).
"""

from __future__ import annotations

import argparse
import pickle
import re
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import ConfigError, ModelFileError
from .model import FusionNet, FusionNetConfig

FORMAT = "ivif-fusion-checkpoint"
VERSION = 1
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "weights" / "default.pt"
CONVERT_HINT = "ivif convert-checkpoint OLD.pt NEW.pt"


def model_path(name: str | Path) -> Path:
    """The checkpoint a command-line model name means: ``'default'`` is the shipped model, anything else a path."""
    return DEFAULT_MODEL_PATH if str(name) == "default" else Path(name)


def save_checkpoint(path: str | Path, model: FusionNet, meta: dict[str, Any] | None = None, **training_state: Any) -> Path:
    """Write ``model`` with its config (and any extra training state) to ``path``; returns the path.

    ``meta`` and ``training_state`` may hold tensors and plain values only (see the module docstring);
    anything else raises ``TypeError`` naming the field, so every checkpoint loads with weights_only.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model.config.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }
    payload.update(training_state)
    _write(path, plain(payload))
    return path


def plain(value: Any, where: str = "checkpoint", convert_objects: bool = False) -> Any:
    """``value`` with every leaf a tensor or a plain str/int/float/bool/None (what weights_only loads).

    ``str``/``int``/``float`` subclasses (``torch.__version__``, numpy scalars) become the base type;
    numpy arrays become tensors; with ``convert_objects`` (converting an old checkpoint, whose meta often
    holds them) paths become strings and ``argparse.Namespace`` a dict. Anything else raises ``TypeError``
    naming its place ``where``.
    """
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, dict):
        return {plain(k, f"{where} key", convert_objects): plain(v, f"{where}.{k}", convert_objects) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [plain(v, f"{where}[{i}]", convert_objects) for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if convert_objects and isinstance(value, PurePath):
        return str(value)
    if convert_objects and isinstance(value, argparse.Namespace):
        return plain(vars(value), where, convert_objects)
    raise TypeError(f"{where} holds a {type(value).__module__}.{type(value).__qualname__}; checkpoints store only tensors "
                    "and plain dict/list/tuple/str/int/float/bool/None values, so they load with torch.load(weights_only=True)")


def _write(path: Path, payload: dict[str, Any]) -> None:
    if path.is_dir():
        raise IsADirectoryError(21, "is a folder, not a checkpoint file", str(path))
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        torch.save(payload, tmp)
    except RuntimeError as exc:  # torch reports an unwritable path as "open file failed"
        raise OSError(5, f"could not write the checkpoint ({exc})", str(tmp)) from exc
    tmp.replace(path)  # atomic: a crash mid-write never leaves a truncated checkpoint behind


def _unsafe_reason(exc: BaseException) -> str | None:
    """'it needs os.system to load' when weights_only refused a global (code to run), else None.

    Other weights_only refusals ("Unsupported operand 110") are what random bytes produce: not a checkpoint.
    """
    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    return f"it needs {found.group(1)} to load" if found else None


def load_checkpoint(path: str | Path | None = None) -> dict[str, Any]:
    """Read a checkpoint dict (the shipped default when ``path`` is None) and check its format.

    Never executes code from the file. Raises :class:`ModelFileError` for a missing path, a folder,
    an unreadable or truncated file, a file that needs code to load, a wrong format or version, and
    a missing or malformed ``model_config``/``model``.
    """
    path = Path(path) if path is not None else DEFAULT_MODEL_PATH
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    if not path.is_file():
        raise ModelFileError(f"model file {path} is not a file; give the path of a .pt checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _unsafe_reason(exc)
        if reason is None:
            cause = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(exc))  # past torch's generic advice
            raise ModelFileError(f"model file {path} could not be read as a checkpoint (corrupt or not a torch.save file): "
                                 f"{cause.group(1) if cause else exc}") from exc
        raise ModelFileError(f"model file {path} was refused: {reason}, and loading it could run code from the file. "
                             "If it is an ivif checkpoint from an older version and you trust where it came from, convert "
                             f"it once with `{CONVERT_HINT}`") from exc
    except Exception as exc:  # torch raises OSError, RuntimeError, EOFError, KeyError... for corrupt files
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise ModelFileError(f"model file {path} could not be read as a checkpoint (truncated, corrupt or not a torch.save "
                             f"file): {detail}") from exc
    check_payload(payload, path)
    return payload


def check_payload(payload: Any, where: str | Path) -> None:
    """Raise :class:`ModelFileError` unless ``payload`` is a checkpoint dict this build reads."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        kind = "a bare state_dict (it has no model config)" if isinstance(payload, dict) else f"a {type(payload).__name__}"
        raise ModelFileError(f"model file {where} is not an ivif-fusion checkpoint (format {FORMAT!r}): it holds {kind}")
    if payload.get("version") != VERSION:
        raise ModelFileError(f"model file {where} has checkpoint version {payload.get('version')!r}; this build reads "
                             f"version {VERSION}")
    if not isinstance(payload.get("model_config"), dict):
        raise ModelFileError(f"model file {where} has no model_config dict (the FusionNetConfig that built its weights)")
    state = payload.get("model")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"model file {where} has no 'model' state_dict of tensors")


def model_config_from(payload: dict[str, Any], where: str | Path) -> FusionNetConfig:
    """The payload's FusionNetConfig; :class:`ModelFileError` when it does not build one."""
    try:
        return FusionNetConfig.from_dict(payload["model_config"])
    except (ConfigError, TypeError, ValueError, KeyError) as exc:
        raise ModelFileError(f"model file {where} has a bad model_config {payload.get('model_config')!r}: {exc}") from exc


def load_weights(module: nn.Module, state: dict[str, Any], where: str | Path, what: str = "weights") -> None:
    """``module.load_state_dict(state)`` (strict), with missing/unexpected keys and shape mismatches as ModelFileError."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        detail = " ".join(str(exc).split())
        if len(detail) > 600:
            detail = detail[:600] + " ..."
        raise ModelFileError(f"model file {where}: its {what} do not fit the model they claim to be ({detail})") from exc


def model_from_payload(payload: dict[str, Any], where: str | Path) -> FusionNet:
    """Rebuild the FusionNet a checked payload describes, in eval mode on the CPU."""
    model = FusionNet(model_config_from(payload, where))
    load_weights(model, payload["model"], where)
    return model.eval()


def load_model(path: str | Path | None = None) -> FusionNet:
    """Rebuild the FusionNet stored in a checkpoint, in eval mode on the CPU."""
    path = Path(path) if path is not None else DEFAULT_MODEL_PATH
    return model_from_payload(load_checkpoint(path), path)


def convert_unsafe(old: str | Path, new: str | Path) -> Path:
    """Re-save a checkpoint that only loads with ``weights_only=False`` in the safe format.

    UNPICKLES ``old`` WITH CODE EXECUTION: call it only on a file you trust. The tensors are copied
    unchanged; ``meta`` and training state are turned into plain values (:func:`plain`). The result
    is checked by loading it back the safe way.
    """
    old, new = Path(old), Path(new)
    if not old.is_file():
        raise ModelFileError(f"model file {old} does not exist or is not a file")
    try:
        payload = torch.load(old, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ModelFileError(f"model file {old} could not be read even as a trusted pickle: {exc}") from exc
    check_payload(payload, old)
    model_from_payload(payload, old)  # the weights must fit their config before we bless the file
    new.parent.mkdir(parents=True, exist_ok=True)
    try:
        converted = plain(payload, convert_objects=True)
    except TypeError as exc:
        raise ModelFileError(f"model file {old} cannot be converted: {exc}") from exc
    _write(new, converted)
    load_model(new)
    return new
