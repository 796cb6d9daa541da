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
MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_VALUES = 100_000
"""Values a kara.yaml may hold once its aliases are expanded: a real one holds hundreds."""


class OptionError(ValueError):
    """A value does not fit its field; ``str()`` is ``<yaml path>: <problem>``."""


def describe(value: Any) -> str:
    """How a bad value is shown in an error: short and unambiguous.

    The type is looked at first and only a scalar is ever ``repr``-ed, cut short before:
    a list built from YAML aliases can stand for billions of values, and an int of
    thousands of digits cannot even be printed.
    """
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple | set):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        text = repr(value[:61])
    elif isinstance(value, bool | float):
        text = repr(value)
    elif isinstance(value, int):
        digits = value.bit_length() * 0.30103
        text = repr(value) if digits < 60 else f"an integer of about {digits:.0f} digits"
    else:
        text = f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def key_text(key: Any) -> str:
    """A mapping key as it appears in a YAML path of an error: as typed when it is a plain
    printable string, else its repr, so a key holding a newline cannot split the one line."""
    if isinstance(key, str) and key.isprintable() and key.strip() == key and key:
        return key
    return describe(key)


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
        try:
            number = float(value)
        except OverflowError:  # an int of hundreds of digits
            raise OptionError(f"{where}: must be a number within range, got "
                              f"{describe(value)}") from None
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
        raise OptionError(f"{where}: must be at least {low}, got {describe(number)}")
    if high is not None and number > high:
        raise OptionError(f"{where}: must be at most {high}, got {describe(number)}")


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


def expanded_size(data: Any) -> int:
    """How many values ``data`` holds once every YAML alias is expanded, counted without
    expanding (a "billion laughs" file is a few shared lists); :class:`ValueError` when a
    value contains itself."""
    memo: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Any) -> int:
        if isinstance(node, Mapping):
            children: list[Any] = [*node.keys(), *node.values()]
        elif isinstance(node, list | tuple):
            children = list(node)
        else:
            return 1
        key = id(node)
        if key in memo:
            return memo[key]
        if key in open_nodes:
            raise ValueError("a value contains itself (an alias inside its own anchor)")
        open_nodes.add(key)
        total = 1 + sum(size(child) for child in children)
        open_nodes.discard(key)
        memo[key] = total
        return total

    return size(data)


def read_yaml(path: Path) -> Any:
    """Parse ``path`` with ``yaml.safe_load``; syntax errors become ``file:line: ...``, and
    a file whose aliases expand to more than :data:`MAX_CONFIG_VALUES` values (a "billion
    laughs") is refused before anything looks at its values."""
    import yaml

    from kara_core.errors import ConfigError

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: too large for a config file ({len(raw)} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{line}: invalid YAML: {problem}") from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:  # ValueError: int too long
        raise ConfigError(f"{path}: invalid YAML: {str(exc).splitlines()[0][:200]}") from None
    try:
        values = expanded_size(data)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if values > MAX_CONFIG_VALUES:
        raise ConfigError(
            f"{path}: its anchors and aliases expand to {_amount(values)} values "
            f"(at most {MAX_CONFIG_VALUES:,} are accepted); a config this big is a mistake "
            "or an attack"
        )
    return data


def _amount(n: int) -> str:
    return f"{n:,}" if n < 10**12 else f"about 10^{int(n.bit_length() * 0.30103)}"
