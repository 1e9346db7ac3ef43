"""Which file columns play which role: item selectors, row-index columns, hints for absent names."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from srflow.config import Instrument
from srflow.errors import ConfigError, InputError, shorten
from srflow.io.values import parse_numbers

#: Column names that R, pandas or readr give to a written-out row index.
_UNNAMED_RE = re.compile(r"^(|Unnamed: \d+|\.\.\.\d+)$")


_INDEX_NAME_RE = re.compile(
    r"^(X(\.\d+)?|\.\.\.\d+|V1|rownames|row\.names|row_names|index|Unnamed: \d+|)$"
)


def resolve_items(
    columns: Sequence[str], instrument: Instrument, roles: Mapping[str, str] | None = None
) -> list[str]:
    """Turn an instrument's item selector into column names, in source order.

    Parameters
    ----------
    columns
        Candidate column names, in source order.
    instrument
        The instrument; its ``selector_kind`` is ``prefix``, ``regex`` (whole name must
        match) or ``columns`` (explicit list; every listed column must exist).
    roles
        Columns of the file that play another role (column -> config key), left out of
        ``columns``; an explicit item that is one of them is reported as such.

    Returns
    -------
    list of str
        The matching columns, in source order.

    Raises
    ------
    InputError
        If nothing matches, or an explicitly listed column is absent; names the
        instrument and selector and lists similar columns.
    ConfigError
        If a regex selector is not a valid regular expression, or an explicit item is a
        column with another role (e.g. a covariate).

    Examples
    --------
    >>> from srflow.config import Instrument
    >>> ghq = Instrument("ghq", "problems", "prefix", "GHQ_", (0, 3), "sum", 0.8, (), "severity", ())
    >>> resolve_items(["id", "GHQ_01", "GE_01", "GHQ_02"], ghq)
    ['GHQ_01', 'GHQ_02']
    """
    columns = list(columns)
    kind, selector = instrument.selector_kind, instrument.selector
    if kind == "prefix":
        found = [c for c in columns if c.startswith(selector)]
    elif kind == "regex":
        pattern = compile_selector(instrument)
        found = [c for c in columns if pattern.fullmatch(c)]
    elif kind == "columns":
        wanted = list(selector)
        absent = [c for c in wanted if c not in columns]
        taken = [c for c in absent if roles and c in roles]
        if taken:
            listed = ", ".join(f"'{c}' is {roles[c]}" for c in taken)
            raise ConfigError(
                f"instruments.{instrument.name}.items.columns: {listed}; a column plays one "
                "role only (an item or a covariate, not both): drop it from one of the two"
            )
        if absent:
            hints = "; ".join(f"'{shorten(c)}'{_near_hint(c, columns)}" for c in absent)
            raise InputError(
                f"instruments.{instrument.name}.items.columns: column(s) not in the file: {hints}. "
                f"Available columns: {_column_list(columns)}"
            )
        chosen = set(wanted)
        found = [c for c in columns if c in chosen]
    else:
        raise InputError(f"instruments.{instrument.name}.items: unknown selector kind '{kind}'")
    if not found:
        target = selector if isinstance(selector, str) else " ".join(selector)
        stem = re.sub(r"[^A-Za-z0-9]+.*$", "", target.lstrip("^")) or target
        similar = [c for c in columns if stem and c.lower().startswith(stem.lower()[:2])]
        similar += [
            c
            for c in difflib.get_close_matches(target, columns, n=5, cutoff=0.5)
            if c not in similar
        ]
        hint = f" Similar columns: {', '.join(similar[:10])}." if similar else ""
        raise InputError(
            f"instruments.{instrument.name}.items: {kind} {selector!r} matches no column.{hint} "
            f"Available columns: {_column_list(columns)}"
        )
    return found


def compile_selector(instrument: Instrument) -> re.Pattern[str]:
    """The compiled regex selector of an instrument, or a ConfigError naming the key."""
    try:
        return re.compile(str(instrument.selector))
    except re.error as exc:
        raise ConfigError(
            f"instruments.{instrument.name}.items.regex: {shorten(instrument.selector)!r} is not "
            f"a valid regular expression ({exc}); rule: the whole column name must match it"
        ) from None


#: Names longer than this take no part in "did you mean" hints (matching them is slow).
HINT_NAME_LIMIT = 200


def _near_hint(name: str, columns: Sequence[str]) -> str:
    if len(name) > HINT_NAME_LIMIT:
        return ""
    usable = [c for c in columns if len(c) <= HINT_NAME_LIMIT]
    near = difflib.get_close_matches(name, usable, n=3, cutoff=0.6)
    if not near:
        lowered = {c.lower(): c for c in usable}
        near = [lowered[name.lower()]] if name.lower() in lowered else []
    return f" (did you mean {', '.join(repr(c) for c in near)}?)" if near else ""


def _column_list(columns: Sequence[str], limit: int = 60) -> str:
    shown = ", ".join(repr(shorten(c)) for c in list(columns)[:limit])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")


def _is_row_index(values: pd.Series) -> str | None:
    """'1..n' or '0..n-1' if the column is exactly a row counter, else None."""
    numbers, not_numeric = parse_numbers(values)
    if not_numeric.any() or np.isnan(numbers).any():
        return None
    n = len(numbers)
    if n and np.array_equal(numbers, np.arange(1, n + 1)):
        return "1..n"
    if n and np.array_equal(numbers, np.arange(0, n)):
        return "0..n-1"
    return None


def _drop_index_columns(frame: pd.DataFrame, protected: set[str], notes: list[str]) -> pd.DataFrame:
    drop = []
    for name in frame.columns:
        if name in protected:
            continue
        if _UNNAMED_RE.match(name):
            kind = _is_row_index(frame[name])
            what = f"a row index ({kind})" if kind else "an unnamed column"
            notes.append(f"ignored column '{shorten(name)}': {what}")
            drop.append(name)
        elif _INDEX_NAME_RE.match(name):
            kind = _is_row_index(frame[name])
            if kind:
                notes.append(f"ignored column '{name}': a row index ({kind})")
                drop.append(name)
    return frame.drop(columns=drop) if drop else frame


def _missing_column_error(
    path: Path, key: str, column: str, available: Sequence[str]
) -> InputError:
    return InputError(
        f"{path}: {shorten(key)} names column '{shorten(column)}', which is not in the file"
        f"{_near_hint(column, available)}. "
        f"Available columns: {_column_list(available)}"
    )
