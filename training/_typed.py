"""Dict <-> typed dataclass tree, with strict keys and values coerced by field type.

Private helper of :mod:`training.config`. Supports the field types the configs use: ``bool``,
``int``, ``float``, ``str``, ``X | None``, ``tuple[X, ...]``, fixed ``tuple[X, Y]`` and nested
dataclasses (also inside tuples).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import yaml

from fusion_core.errors import ConfigError


class _Raw(str):
    """A value typed on the command line: parsed according to the field it lands in."""


def _where(path: str) -> str:
    return f"'{path}'" if path else "the top level"


def build(cls: type, data: Any, path: str) -> Any:
    """Instantiate dataclass ``cls`` from mapping ``data``; ``path`` is the dotted location for errors."""
    if dataclasses.is_dataclass(data) and isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{_where(path)} must be a mapping of {cls.__name__} fields, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{path}.{unknown[0]}" if path else str(unknown[0])
        raise ConfigError(f"unknown key '{key}' in {_where(path)}; valid keys: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    kwargs = {name: coerce(value, hints[name], f"{path}.{name}" if path else name) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{_where(path)}: {exc}") from exc


def coerce(value: Any, tp: Any, path: str) -> Any:
    """``value`` converted to type ``tp`` or a ConfigError naming ``path``, the type and the value."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(value, _Raw) and tp is not str:
        if origin in (typing.Union, types.UnionType) and str in args:
            return str(value) if value.lower() not in ("null", "none", "~") else None
        try:
            parsed = yaml.safe_load(str(value))
        except yaml.YAMLError as exc:
            raise ConfigError(f"'{path}': cannot parse {value!r}: {exc}") from exc
        if isinstance(parsed, str) and parsed.lower() == "none":
            parsed = None
        return coerce(parsed, tp, path)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return coerce(value, option, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"'{path}': {value!r} fits none of {tp}")
    if origin is tuple:
        if isinstance(value, _Raw) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{path}' must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{path}.{i}") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"'{path}' must be a list of {len(args)} values, got {len(value)}: {value!r}")
        return tuple(coerce(v, a, f"{path}.{i}") for i, (v, a) in enumerate(zip(value, args)))
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"'{path}' must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"'{path}' must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads '1e-3' (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"'{path}' must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return str(value)
        raise ConfigError(f"'{path}' must be a string, got {value!r}")
    raise ConfigError(f"'{path}': unsupported field type {tp}")  # a programming error in a config class


def apply_override(tree: dict[str, Any], item: str) -> None:
    """Set ``a.b.c=value`` in the nested dict ``tree`` (list items by index); the key must exist."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} must look like section.key=value")
    parts = key.strip().split(".")
    node: Any = tree
    for depth, part in enumerate(parts):
        here = ".".join(parts[:depth]) or "the top level"
        last = depth == len(parts) - 1
        if isinstance(node, dict):
            if part not in node:
                raise ConfigError(f"unknown key '{'.'.join(parts[:depth + 1])}' in override {item!r}; "
                                  f"valid keys of {here}: {', '.join(sorted(node))}")
            if last:
                node[part] = _Raw(raw.strip())
            else:
                node = node[part]
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"override {item!r}: {here} is a list of {len(node)}; '{part}' is not an index in 0..{len(node) - 1}")
            if last:
                node[int(part)] = _Raw(raw.strip())
            else:
                node = node[int(part)]
        else:
            raise ConfigError(f"override {item!r}: {here} is a value, not a section")
