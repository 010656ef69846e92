"""The shipped YOLOX ONNX graph run by PyTorch: a frozen, differentiable copy of the detector.

Training with detection in the loop needs the gradient of a detection loss with respect to the
fused image, through exactly the network the product ships. ONNX Runtime gives no input gradients,
so :class:`TorchOnnxGraph` reads the ONNX file and evaluates its nodes one by one with torch
operations: the weights are the file's initializers (buffers, never trained), the result is the
same raw head output ``(B, A, 5 + C)`` as ONNX Runtime's (tests compare the two on real images).

Only the operator subset of YOLOX exports is implemented (Conv, Sigmoid, Mul, Add, Concat, Slice,
MaxPool, Resize, Reshape, Shape, Transpose, Constant); any other operator is refused when the file
is read, naming it, rather than half-way through a training run. Spatial sizes are free: any
height and width that are multiples of the coarsest stride run, as in rectangular inference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelFileError

SUPPORTED = frozenset({"Conv", "Sigmoid", "Mul", "Add", "Concat", "Slice", "MaxPool", "Resize", "Reshape", "Shape",
                       "Transpose", "Constant"})


def _attributes(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _symmetric_padding(pads: list[int], op: str, name: str) -> tuple[int, int]:
    """ONNX pads [top, left, bottom, right] -> torch (pad_h, pad_w); asymmetric padding is not needed by YOLOX."""
    if not pads:
        return 0, 0
    if pads[0] != pads[2] or pads[1] != pads[3]:
        raise ModelFileError(f"{op} node {name!r} has asymmetric pads {pads}, which this reader does not support")
    return int(pads[0]), int(pads[1])


class TorchOnnxGraph(nn.Module):
    """Evaluate a YOLOX ONNX file with torch; ``forward(images)`` (B, 3, H, W) BGR 0–255 -> raw head output."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        import onnx
        from onnx import numpy_helper

        self.path = Path(path)
        try:
            model = onnx.load(str(self.path))
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad model file
            raise ModelFileError(f"cannot read detector ONNX {self.path}: {exc}") from exc
        graph = model.graph
        unsupported = sorted({n.op_type for n in graph.node} - SUPPORTED)
        if unsupported:
            raise ModelFileError(f"{self.path} uses ONNX operators {unsupported} that the torch copy of the detector "
                                 f"does not implement (supported: {', '.join(sorted(SUPPORTED))})")
        self._names: dict[str, str] = {}
        for i, init in enumerate(graph.initializer):
            key = f"w{i}"
            self.register_buffer(key, torch.from_numpy(numpy_helper.to_array(init).copy()), persistent=False)
            self._names[init.name] = key
        self._nodes = []
        for n in graph.node:
            attrs = _attributes(n)
            if n.op_type == "Constant":  # decoded once here, not at every forward
                key = f"c{len(self._names)}"
                self.register_buffer(key, torch.from_numpy(numpy_helper.to_array(attrs["value"]).copy()), persistent=False)
                self._names[n.output[0]] = key
            else:
                self._nodes.append((n.op_type, list(n.input), list(n.output), attrs, n.name))
        self._input = graph.input[0].name
        self._output = graph.output[0].name
        self.requires_grad_(False)
        self.eval()

    def _value(self, env: dict[str, Any], name: str) -> Any:
        return env[name] if name in env else getattr(self, self._names[name])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        env: dict[str, Any] = {self._input: images}
        for op, inputs, outputs, attrs, name in self._nodes:
            args = [self._value(env, i) if i else None for i in inputs]
            env[outputs[0]] = _OPS[op](args, attrs, name)
        return env[self._output]


def _conv(args: list, attrs: dict, name: str) -> torch.Tensor:
    x, w = args[0], args[1]
    bias = args[2] if len(args) > 2 else None
    pad = _symmetric_padding(list(attrs.get("pads", [])), "Conv", name)
    return F.conv2d(x, w, bias, stride=tuple(attrs.get("strides", (1, 1))), padding=pad,
                    dilation=tuple(attrs.get("dilations", (1, 1))), groups=int(attrs.get("group", 1)))


def _maxpool(args: list, attrs: dict, name: str) -> torch.Tensor:
    pad = _symmetric_padding(list(attrs.get("pads", [])), "MaxPool", name)
    return F.max_pool2d(args[0], kernel_size=tuple(attrs["kernel_shape"]), stride=tuple(attrs.get("strides", (1, 1))),
                        padding=pad)


def _ints(value: Any) -> list[int]:
    if isinstance(value, torch.Tensor):
        return [int(v) for v in value.reshape(-1).tolist()]
    return [int(v) for v in np.asarray(value).reshape(-1)]


def _slice(args: list, attrs: dict, name: str) -> Any:
    data = args[0]
    starts, ends = _ints(args[1]), _ints(args[2])
    axes = _ints(args[3]) if len(args) > 3 and args[3] is not None else list(range(len(starts)))
    steps = _ints(args[4]) if len(args) > 4 and args[4] is not None else [1] * len(starts)
    index: list[slice] = [slice(None)] * data.dim()
    for start, end, axis, step in zip(starts, ends, axes, steps):
        size = data.shape[axis]
        end = min(end, size) if end >= 0 else end
        index[axis] = slice(start, end, step)
    return data[tuple(index)]


def _resize(args: list, attrs: dict, name: str) -> torch.Tensor:
    mode = attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "nearest":
        raise ModelFileError(f"Resize node {name!r} uses mode {mode!r}; only nearest is supported")
    scales = args[2] if len(args) > 2 else None
    if scales is None or scales.numel() == 0:
        size = _ints(args[3])[-2:]
        return F.interpolate(args[0], size=tuple(size), mode="nearest")
    factor = [float(s) for s in scales.tolist()][-2:]
    return F.interpolate(args[0], scale_factor=tuple(factor), mode="nearest")


def _reshape(args: list, attrs: dict, name: str) -> torch.Tensor:
    shape = _ints(args[1])
    shape = [args[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]  # ONNX: 0 copies the input's size
    return args[0].reshape(shape)


_OPS: dict[str, Callable[[list, dict, str], Any]] = {
    "Conv": _conv,
    "Sigmoid": lambda a, _at, _n: torch.sigmoid(a[0]),
    "Mul": lambda a, _at, _n: a[0] * a[1],
    "Add": lambda a, _at, _n: a[0] + a[1],
    "Concat": lambda a, at, _n: torch.cat(a, dim=int(at["axis"])),
    "Slice": _slice,
    "MaxPool": _maxpool,
    "Resize": _resize,
    "Reshape": _reshape,
    "Shape": lambda a, _at, _n: torch.tensor(a[0].shape, dtype=torch.int64),
    "Transpose": lambda a, at, _n: a[0].permute(*[int(p) for p in at["perm"]]),
}
