"""Table contracts: the columns of a result table, their types, and a strict reader.

A :class:`TableContract` names every column a table may have (fixed names, plus patterns for
columns named after data, such as ``post_<k>`` or a random-effect term), which are required,
and what each holds. :meth:`TableContract.read` reads the CSV with those types and refuses a
missing required column, an unknown column or a value of the wrong type, naming the file,
the column and the rule to rerun; :meth:`TableContract.write` checks a frame the same way
before writing it unchanged (so the bytes are those of :func:`srflow.tables.write_table`).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd

from srflow.results._record import Source
from srflow.tables import write_table

#: Column kinds. ``text`` is read as text with empty cells as ""; ``int`` holds whole numbers
#: (empty cells allowed unless the column is required to be complete); ``float`` any number;
#: ``bool`` True/False; ``flexible`` any value (text or numbers), read as pandas does.
KINDS = ("text", "int", "float", "bool", "flexible")


@dataclasses.dataclass(frozen=True)
class Column:
    """One column: its name (or a regular expression for named-after-data columns) and kind."""

    name: str
    kind: str
    required: bool = True
    pattern: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"column {self.name!r}: kind must be one of {KINDS}, not {self.kind!r}"
            )

    def matches(self, column: str) -> bool:
        return re.fullmatch(self.name, column) is not None if self.pattern else column == self.name


def col(name: str, kind: str, required: bool = True) -> Column:
    """A fixed column (shorthand used by the contracts)."""
    return Column(name, kind, required)


def pattern(regex: str, kind: str) -> Column:
    """Columns whose names are data (e.g. ``post_[0-9]+``); never required."""
    return Column(regex, kind, required=False, pattern=True)


@dataclasses.dataclass(frozen=True)
class TableContract:
    """The contract of one result table.

    Attributes
    ----------
    what : str
        What the table is, for messages ("SR table").
    rule : str
        The rule that writes it.
    columns : tuple of Column
        Every column it may have, in the order writers put them.
    """

    what: str
    rule: str
    columns: tuple[Column, ...]

    def column_for(self, name: str) -> Column | None:
        fixed = next((c for c in self.columns if not c.pattern and c.name == name), None)
        return fixed or next((c for c in self.columns if c.pattern and c.matches(name)), None)

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required and not c.pattern]

    def check(self, frame: pd.DataFrame, source: str | Path | Source | None = None) -> pd.DataFrame:
        """Check a frame against the contract and return it unchanged.

        Raises
        ------
        ResultContractError
            A required column is missing, a column is unknown, or a value has the wrong type.
        """
        where = self._source(source)
        missing = [name for name in self.required if name not in frame.columns]
        if missing:
            raise where.fail("", f"the {self.what} lacks column(s) {missing}")
        unknown = [str(c) for c in frame.columns if self.column_for(str(c)) is None]
        if unknown:
            known = [c.name for c in self.columns]
            raise where.fail("", f"unknown column(s) {unknown} in the {self.what} (known: {known})")
        for name in frame.columns:
            self._check_values(frame[name], self.column_for(str(name)), where)
        return frame

    def read(self, path: str | Path) -> pd.DataFrame:
        """Read the table and check it.

        A CSV is read with the contract's types (text columns: empty cells as ""); a
        ``.parquet`` file keeps the types it was written with.
        """
        path = Path(path)
        where = self._source(path)
        if not path.is_file():
            raise where.fail("", f"the {self.what} is missing")
        if path.suffix == ".parquet":
            try:
                frame = pd.read_parquet(path)
            except Exception as exc:  # pyarrow raises several types for a broken file
                raise where.fail(
                    "", f"not a readable Parquet file ({type(exc).__name__}: {exc})"
                ) from None
            return self.check(frame, where)
        try:
            header = pd.read_csv(path, nrows=0).columns
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise where.fail("", f"not a readable CSV ({exc})") from None
        text = [
            c
            for c in header
            if (spec := self.column_for(str(c))) is not None and spec.kind == "text"
        ]
        frame = pd.read_csv(path, dtype={c: "str" for c in text}, keep_default_na=True)
        for name in text:
            frame[name] = frame[name].fillna("").astype("str")
        return self.check(frame, where)

    def write(self, frame: pd.DataFrame, path: str | Path) -> None:
        """Check the frame, then write it with :func:`srflow.tables.write_table`."""
        self.check(frame, path)
        write_table(frame, path)

    def _source(self, source: str | Path | Source | None) -> Source:
        if isinstance(source, Source):
            return source
        return Source(path=str(source) if source is not None else f"<{self.what}>", rule=self.rule)

    def _check_values(self, values: pd.Series, spec: Column, where: Source) -> None:
        kind = spec.kind
        if kind in ("flexible", "text"):  # text is whatever the writer wrote; read back as text
            return
        present = values[values.notna()]
        if present.empty:
            return
        if kind == "bool":
            if values.dtype == bool or present.map(lambda v: isinstance(v, (bool, np.bool_))).all():
                return
            raise where.fail(
                f"column '{values.name}'", f"expected True/False, found {_show(present.iloc[0])}"
            )
        numbers = pd.to_numeric(present, errors="coerce")
        if numbers.isna().any() or values.dtype == bool:
            bad = present[numbers.isna()].iloc[0] if numbers.isna().any() else present.iloc[0]
            raise where.fail(f"column '{values.name}'", f"expected numbers, found {_show(bad)}")
        if kind == "int" and not np.all(np.mod(numbers.to_numpy(dtype=float), 1) == 0):
            bad = present[np.mod(numbers.to_numpy(dtype=float), 1) != 0].iloc[0]
            raise where.fail(
                f"column '{values.name}'", f"expected whole numbers, found {_show(bad)}"
            )


def _show(value: object) -> str:
    """A value as quoted in messages: numpy scalars as plain Python values, long text cut."""
    plain = value.item() if isinstance(value, np.generic) else value
    text = repr(plain)
    return text if len(text) <= 40 else text[:37] + "..."
