"""Strict JSON records: frozen dataclasses whose fields are the keys of a result file.

A record class lists every key a file may hold, one field per key, with its type. Reading
(:meth:`Record.from_json`) refuses an unknown key, a missing required key and a value of the
wrong JSON type, naming the file, where in it, and the rule that writes it (so the user
knows what to rerun). Writing (:meth:`Record.to_json`) gives back exactly the mapping that
was read, so writing through a record changes no byte of the output.

Field types understood: ``str``, ``int``, ``float`` (an integer is a valid float and is kept
as written), ``bool``, ``Json`` (any JSON value), another :class:`Record` (a nested object),
``tuple[X, ...]`` (a JSON list), ``Mapping[str, X]`` (an object whose keys are data, such as
term names) and unions of these, ``None`` included. A field whose default is :data:`ABSENT`
may be left out of the file; every other field is required (``None`` is then written as
``null``).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Union

from srflow.errors import InputError
from srflow.tables import jsonable, write_json

#: Any JSON value, left as read (free-form parts of a file, such as echoed settings).
Json = Any


class _Absent:
    """The marker of a key that is not in the file (distinct from a JSON ``null``)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


#: Default of an optional field: the key may be missing from the file.
ABSENT: Any = _Absent()


class ResultContractError(InputError):
    """A result file does not match its contract in :mod:`srflow.results`."""


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a record comes from, for messages: the file and the rule that writes it."""

    path: str
    rule: str

    def fail(self, where: str, problem: str) -> ResultContractError:
        place = f" at {where}" if where else ""
        return ResultContractError(
            f"{self.path}{place}: {problem}. The file does not match what srflow writes (it may be "
            f"from an older srflow version or edited by hand); rerun rule '{self.rule}' to rewrite it, "
            f"e.g. snakemake --forcerun {self.rule}."
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Record:
    """Base of every JSON record; subclasses are frozen, keyword-only dataclasses.

    Top-level file records set ``RULE`` (the Snakemake rule that writes the file) and
    ``WHAT`` (what the file is, for messages).
    """

    RULE: ClassVar[str] = ""
    WHAT: ClassVar[str] = "result file"

    @classmethod
    def from_json(cls, data: Any, source: str | Path | Source | None = None, where: str = ""):
        """Build the record from a parsed JSON mapping, checking every key and type.

        Parameters
        ----------
        data : Mapping
            The parsed file (numpy values are accepted and converted as the writers do).
        source : str, Path or Source, optional
            The file the data come from (named in errors, with the class's ``RULE``).
        where : str, optional
            Position inside the file, for nested records.

        Raises
        ------
        ResultContractError
            Unknown key, missing required key or a value of the wrong type.
        """
        return _decode_record(cls, jsonable(data), _source(cls, source), where)

    @classmethod
    def read(cls, path: str | Path):
        """Read and check a JSON file of this record."""
        import json

        path = Path(path)
        source = _source(cls, path)
        if not path.is_file():
            raise source.fail("", f"the {cls.WHAT} is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise source.fail("", f"not valid JSON ({exc})") from None
        return cls.from_json(data, source)

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON mapping it was read from (absent keys left out).

        Keys come in sorted order, as in the file (``write`` sorts them).
        """
        names = sorted(
            f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not ABSENT
        )
        return {name: _encode(getattr(self, name)) for name in names}

    def write(self, path: str | Path) -> None:
        """Write the record as strict JSON (sorted keys, two-space indent, final newline)."""
        write_json(self.to_json(), path)

    def has(self, key: str) -> bool:
        """Whether the file holds ``key`` (an optional field that was not left out)."""
        return getattr(self, key) is not ABSENT


def _source(cls: type, source: str | Path | Source | None) -> Source:
    if isinstance(source, Source):
        return source
    return Source(path=str(source) if source is not None else f"<{cls.WHAT}>", rule=cls.RULE or "?")


def _encode(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _encode(v) for k, v in value.items()}
    return value


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type hint, required) of every field of a record class."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (
            f.name,
            hints[f.name],
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    )


def _decode_record(cls: type, data: Any, source: Source, where: str) -> Record:
    if not isinstance(data, Mapping):
        raise source.fail(where, f"expected an object ({cls.__name__}), got {_kind(data)}")
    fields = _fields(cls)
    known = {name for name, _, _ in fields}
    unknown = sorted(set(data) - known)
    if unknown:
        raise source.fail(where, f"unknown key(s) {unknown} (known: {sorted(known)})")
    missing = [name for name, _, required in fields if required and name not in data]
    if missing:
        raise source.fail(where, f"missing key(s) {missing}")
    values = {
        name: _decode(hint, data[name], source, f"{where}.{name}" if where else name)
        for name, hint, _ in fields
        if name in data
    }
    return cls(**values)


def _decode(hint: Any, value: Any, source: Source, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        return _decode_union(typing.get_args(hint), value, source, where)
    if hint is type(None):
        if value is not None:
            raise source.fail(where, f"expected null, got {_kind(value)}")
        return None
    if isinstance(hint, type) and issubclass(hint, Record):
        return _decode_record(hint, value, source, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise source.fail(where, f"expected a list, got {_kind(value)}")
        item = typing.get_args(hint)[0]
        return tuple(_decode(item, v, source, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise source.fail(where, f"expected an object, got {_kind(value)}")
        args = typing.get_args(hint)
        item = args[1] if args else Any
        return types.MappingProxyType(
            {k: _decode(item, v, source, f"{where}.{k}") for k, v in value.items()}
        )
    return _check_scalar(hint, value, source, where)


def _decode_union(options: tuple, value: Any, source: Source, where: str) -> Any:
    if value is None:
        if type(None) in options:
            return None
        raise source.fail(where, "expected a value, got null")
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _decode(option, value, source, where)
        except ResultContractError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    names = " or ".join(_name(o) for o in options)
    raise source.fail(where, f"expected {names}, got {_kind(value)}")


def _check_scalar(hint: Any, value: Any, source: Source, where: str) -> Any:
    ok = {
        str: isinstance(value, str),
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
    }.get(hint)
    if ok is None:
        raise TypeError(f"unsupported field type {hint!r} in a result record")
    if not ok:
        raise source.fail(where, f"expected {_name(hint)}, got {_kind(value)}")
    return value


def _name(hint: Any) -> str:
    if isinstance(hint, type) and issubclass(hint, Record):
        return f"an object ({hint.__name__})"
    return {
        str: "text",
        bool: "true/false",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(hint, getattr(hint, "__name__", str(hint)))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"true/false ({value!r})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text ({shown!r})"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def record(cls: type) -> type:
    """Make a :class:`Record` subclass a frozen, keyword-only dataclass (its fields are keys)."""
    return dataclasses.dataclass(frozen=True, kw_only=True, eq=True)(cls)
