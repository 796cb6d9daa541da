"""Typed dataclasses from untrusted YAML mappings.

Every option in Kara is a dataclass field; this module turns a mapping into an instance
and reports the first problem as ``<yaml path>: <what is wrong>``. Supported field types:
``int``, ``float``, ``str``, ``bool``, ``pathlib.Path``, ``Literal[...]``, ``X | None``,
``tuple[X, ...]`` and nested dataclasses. Field ``metadata`` may bound numbers with
``{"min": a, "max": b}`` (inclusive).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")


class OptionError(ValueError):
    """A value does not fit its field; ``str()`` is ``<yaml path>: <problem>``."""


def describe(value: Any) -> str:
    """How a bad value is shown in an error: short and unambiguous."""
    text = repr(value)
    if isinstance(value, Mapping):
        text = "a mapping"
    elif isinstance(value, list):
        text = "a list"
    elif value is None:
        text = "nothing (null)"
    return text if len(text) <= 60 else text[:57] + "..."


def key_text(key: Any) -> str:
    """A mapping key as it appears in a YAML path of an error: as typed when it is a plain
    printable string, else its repr, so a key holding a newline cannot split the one line."""
    if isinstance(key, str) and key.isprintable() and key.strip() == key and key:
        return key
    return repr(key)


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        return "a list"
    if tp is Path:
        return "a path"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, where: str, meta: Mapping[str, Any] | None = None) -> Any:
    """Check ``value`` against type ``tp``; return it converted (ints widen to floats)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, where, meta)
            except OptionError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise OptionError(f"{where}: expected {_type_name(tp)}, got {describe(value)}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices or isinstance(value, bool) != any(
            isinstance(c, bool) for c in choices if c == value
        ):
            raise OptionError(f"{where}: expected {_type_name(tp)}, got {describe(value)}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise OptionError(f"{where}: expected a list, got {describe(value)}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:  # tuple[int, int]: fixed
            if len(value) != len(args):
                raise OptionError(f"{where}: expected a list of {len(args)}, got {len(value)}")
            return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in
                         enumerate(zip(value, args, strict=True)))
        item_type = args[0] if args else Any
        items = [coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return build(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise OptionError(f"{where}: expected true or false, got {describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionError(f"{where}: expected int, got {describe(value)}")
        _check_bounds(value, where, meta)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OptionError(f"{where}: expected a number, got {describe(value)}")
        number = float(value)
        if not math.isfinite(number):
            raise OptionError(f"{where}: expected a finite number, got {describe(value)}")
        _check_bounds(number, where, meta)
        return number
    if tp is str:
        if not isinstance(value, str):
            raise OptionError(f"{where}: expected a string, got {describe(value)}")
        if meta and meta.get("nonempty", True) and not value.strip():
            raise OptionError(f"{where}: must not be empty")
        return value
    if tp is Path:
        if not isinstance(value, str) or not value.strip():
            raise OptionError(f"{where}: expected a path, got {describe(value)}")
        if "\x00" in value:
            raise OptionError(f"{where}: a path cannot contain a NUL character")
        return Path(value)
    if tp is Any:
        return value
    raise OptionError(f"{where}: unsupported option type {tp!r}")  # a plugin bug, said plainly


def _check_bounds(number: float, where: str, meta: Mapping[str, Any] | None) -> None:
    if not meta:
        return
    low, high = meta.get("min"), meta.get("max")
    if low is not None and number < low:
        raise OptionError(f"{where}: must be at least {low}, got {number!r}")
    if high is not None and number > high:
        raise OptionError(f"{where}: must be at most {high}, got {number!r}")


def build(cls: type[T], data: Any, where: str) -> T:
    """An instance of dataclass ``cls`` from mapping ``data``; errors name ``where.key``."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise OptionError(f"{where}: expected a mapping, got {describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    prefix = f"{where}." if where else ""
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields)) or "(none)"
            raise OptionError(f"{prefix}{key_text(key)}: unknown key; expected one of: {known}")
    values: dict[str, Any] = {}
    for name, fld in fields.items():
        if name in data:
            values[name] = coerce(data[name], hints[name], f"{prefix}{name}", fld.metadata)
        elif (
            fld.default is dataclasses.MISSING
            and fld.default_factory is dataclasses.MISSING
        ):
            raise OptionError(f"{prefix}{name}: required key is missing")
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:  # __post_init__ cross-field checks
        raise OptionError(f"{where or cls.__name__}: {exc}") from exc


def to_plain(obj: Any) -> Any:
    """A dataclass tree as plain YAML/JSON-friendly values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, tuple | list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    return obj


def options_class_problem(cls: Any) -> str | None:
    """What is wrong with a component's ``Options`` class, or ``None``: checked when the
    component is registered, so an author's mistake is the author's error, not a user's.

    It must be a frozen dataclass (options are shared between variants), every field of a
    supported type, and every default valid for its own type."""
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        return "Options must be a dataclass"
    if not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        return "Options must be a frozen dataclass (@dataclass(frozen=True))"
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # a bad annotation names no field by itself
        return f"Options annotations cannot be read ({type(exc).__name__}: {exc})"
    for fld in dataclasses.fields(cls):
        if fld.default is not dataclasses.MISSING:
            default = fld.default
        elif fld.default_factory is not dataclasses.MISSING:
            default = fld.default_factory()
        else:
            continue
        try:
            coerce(default, hints[fld.name], f"Options.{fld.name} default", fld.metadata)
        except OptionError as exc:
            return str(exc)
    return None
