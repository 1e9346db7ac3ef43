"""Read a cohort's input file into the canonical long table (stage 1 of the pipeline)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srflow.config import CohortConfig
from srflow.errors import ConfigError, InputError, shorten
from srflow.io.columns import (
    _column_list,
    _drop_index_columns,
    _missing_column_error,
    resolve_items,
)
from srflow.io.labels import _labelled_covariate, _labels_of
from srflow.io.readers import DUPLICATED_ATTR, read_raw_labelled
from srflow.io.result import IngestResult, ValueLabels
from srflow.io.values import as_text, clean_column, participant_text
from srflow.io.wide import _pivot_wide, _wide_regex

#: A text column caught by a prefix or regex is dropped from the items when more than
#: this share of its non-missing values is not a number (e.g. a free-text question).
TEXT_SHARE_LIMIT = 0.5


@dataclass
class _Layout:
    """The file's columns sorted by layout: stable ones and, for wide files, per-wave stems."""

    stable: list[str]
    stems: dict[str, dict[int, str]]

    @property
    def available(self) -> list[str]:
        """Column names the config may use: stable columns, then stems."""
        return list(dict.fromkeys([*self.stable, *self.stems]))


def read_cohort(cohort: CohortConfig) -> IngestResult:
    """Read a cohort's input file into the canonical long table (stage 1 of the pipeline).

    Parameters
    ----------
    cohort
        The cohort's validated config.

    Returns
    -------
    IngestResult
        The canonical table, the resolved items per instrument and notes.

    Raises
    ------
    InputError
        If the file cannot be read, a configured column is absent (with near matches and
        the available columns), or an instrument matches no column.
    """
    path = Path(cohort.input)
    frame, notes, value_labels = read_raw_labelled(
        path, delimiter=cohort.delimiter, encoding=cohort.encoding, sheet=cohort.sheet
    )
    duplicated = frame.attrs.get(DUPLICATED_ATTR, {})
    n_rows = len(frame)
    if n_rows == 0:
        raise InputError(f"{path} has a header but no data rows")
    cols = cohort.columns
    protected = {cols.participant, *(c for c in (cols.wave, cols.time) if c), *cols.covariates}
    frame = _drop_index_columns(frame, protected, notes)
    layout = _layout(path, frame, cohort, notes)
    _check_role_columns(path, cohort, layout)
    items = _resolve_instruments(path, cohort, layout.available)
    _check_duplicated(path, cohort, items, layout, duplicated)
    _check_reverse(path, cohort, items)
    long, role_columns = _long_frame(frame, cohort, items, layout.stems, notes)
    cleaned, text_counts = _clean_items(long, cohort, items)
    _drop_text_columns(path, cohort, items, text_counts, notes)
    table = _canonical_table(long, cohort, items, cleaned, layout.stems, value_labels, notes)
    return IngestResult(
        table=table,
        items=items,
        notes=notes,
        source=path,
        n_source_rows=n_rows,
        layout=cohort.layout,
        role_columns=role_columns,
        wide_pattern=cohort.wide_pattern,
        wide_stems=frozenset(layout.stems),
    )


def _layout(path: Path, frame: pd.DataFrame, cohort: CohortConfig, notes: list[str]) -> _Layout:
    """Stable columns and per-wave stems (wide files: from ``wide_pattern``)."""
    cols = cohort.columns
    if cohort.layout != "wide":
        return _Layout(stable=list(frame.columns), stems={})
    if cols.wave:
        notes.append(
            f"columns.wave ('{cols.wave}') is not used for layout wide: "
            "waves come from the column names"
        )
    pattern = _wide_regex(cohort.wide_pattern)
    stable: list[str] = []
    stems: dict[str, dict[int, str]] = {}
    for name in frame.columns:
        match = pattern.match(name) if name != cols.participant else None
        if match:
            stems.setdefault(match["item"], {})[int(match["wave"])] = name
        else:
            stable.append(name)
    if not stems:
        example = cohort.wide_pattern.format(item="GHQ_01", wave=1)
        raise InputError(
            f"{path}: layout wide but no column matches wide_pattern '{cohort.wide_pattern}' "
            f"(e.g. {example}); columns: {_column_list(list(frame.columns))}"
        )
    return _Layout(stable=stable, stems=stems)


def _check_role_columns(path: Path, cohort: CohortConfig, layout: _Layout) -> None:
    """Every configured role column exists (with near matches named when it does not)."""
    cols = cohort.columns
    wide = cohort.layout == "wide"
    available = layout.available
    role_keys = [("columns.participant", cols.participant)]
    if not wide:
        role_keys.append(("columns.wave", cols.wave))
    if cols.time:
        role_keys.append(("columns.time", cols.time))
    role_keys += [(f"columns.covariates.{name}", name) for name in cols.covariates]
    for key, column in role_keys:
        if column is not None and column not in available:
            raise _missing_column_error(path, key, column, available)
    if wide and cols.participant not in layout.stable:
        raise InputError(
            f"{path}: the participant column '{cols.participant}' must be a single column "
            "in a wide file"
        )


def _resolve_instruments(
    path: Path, cohort: CohortConfig, available: list[str]
) -> dict[str, list[str]]:
    """Instrument -> item columns, among the columns that play no other role."""
    cols = cohort.columns
    wide = cohort.layout == "wide"
    roles = {
        cols.participant,
        *(c for c in (cols.wave, cols.time) if c and not (wide and c == cols.wave)),
        *cols.covariates,
    }
    candidates = [c for c in available if c not in roles]
    role_keys = _role_keys(cohort)
    items: dict[str, list[str]] = {}
    for instrument in cohort.instruments.values():
        try:
            items[instrument.name] = resolve_items(candidates, instrument, role_keys)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
    return items


def _role_keys(cohort: CohortConfig) -> dict[str, str]:
    """Source column -> the config key that gives it a role other than item."""
    cols = cohort.columns
    keys = {cols.participant: "columns.participant"}
    if cols.wave and cohort.layout != "wide":
        keys[cols.wave] = "columns.wave"
    if cols.time:
        keys[cols.time] = "columns.time"
    keys.update({name: f"columns.covariates.{name}" for name in cols.covariates})
    return keys


def _check_duplicated(
    path: Path,
    cohort: CohortConfig,
    items: dict[str, list[str]],
    layout: _Layout,
    duplicated: dict[str, dict[str, list]],
) -> None:
    """A column the cohort uses must not share its name with another header field.

    The reader renames repeats (``GHQ_05``, ``GHQ_05.1``) so that the file can be read;
    were such a column used, a prefix would take both copies as items (or the role would
    read an arbitrary one), so the run stops and names the positions.
    """
    if not duplicated:
        return
    used = set(_role_keys(cohort)) | {c for names in items.values() for c in names}
    if layout.stems:  # wide: the used stems stand for their per-wave source columns
        used |= {c for stem in used & set(layout.stems) for c in layout.stems[stem].values()}
    clashes = []
    for name, info in duplicated.items():
        copies = {name, *info["renamed"]}
        if copies & used:
            where = ", ".join(str(p) for p in info["positions"])
            clashes.append(f"'{name}' (header fields {where})")
    if clashes:
        raise InputError(
            f"{path}: the header repeats the name of column(s) the config uses: "
            f"{'; '.join(clashes)}; rule: every column name is unique. Rename or remove "
            "the extra copies in the file"
        )


def _check_reverse(path: Path, cohort: CohortConfig, items: dict[str, list[str]]) -> None:
    """Every reverse-scored item is one of the instrument's resolved items."""
    for instrument in cohort.instruments.values():
        stray = [name for name in instrument.reverse if name not in items[instrument.name]]
        if stray:
            raise ConfigError(
                f"{path}: instruments.{instrument.name}.reverse: "
                f"{', '.join(repr(shorten(s)) for s in stray)} not among the instrument's items "
                f"({', '.join(items[instrument.name])}); fix the reverse list or the item selector"
            )


def _long_frame(
    frame: pd.DataFrame,
    cohort: CohortConfig,
    items: dict[str, list[str]],
    stems: dict[str, dict[int, str]],
    notes: list[str],
) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per (source row, wave) with ``source_row``; and role -> source column."""
    cols = cohort.columns
    if cohort.layout == "wide":
        role_stems = [c for c in (cols.time, *cols.covariates) if c]
        used = list(dict.fromkeys(role_stems + [c for names in items.values() for c in names]))
        long = _pivot_wide(frame, cols.participant, used, stems, notes)
        role_columns = {"participant_id": cols.participant, "wave": "wave"}
    else:
        long = frame.assign(source_row=np.arange(1, len(frame) + 1, dtype=np.int64))
        role_columns = {"participant_id": cols.participant, "wave": cols.wave}
    if cols.time:
        role_columns["time"] = cols.time
    return long.reset_index(drop=True), role_columns


def _clean_items(
    long: pd.DataFrame, cohort: CohortConfig, items: dict[str, list[str]]
) -> tuple[dict[str, pd.Series], dict[str, tuple[int, int]]]:
    """Item columns with missing codes removed, and (present, text) counts per item."""
    item_codes: dict[str, tuple[Any, ...]] = {}
    for instrument in cohort.instruments.values():
        for name in items[instrument.name]:
            item_codes.setdefault(name, tuple(cohort.missing_codes))
            item_codes[name] = item_codes[name] + tuple(instrument.missing_codes)
    # Arrow releases the GIL while parsing numbers, so columns are cleaned in parallel;
    # each column's result does not depend on the others or on the number of threads.
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        results = list(
            pool.map(lambda kv: clean_column(long[kv[0]], kv[1], numeric=True), item_codes.items())
        )
    cleaned: dict[str, pd.Series] = {}
    text_counts: dict[str, tuple[int, int]] = {}
    for name, (column, n_present, n_text) in zip(item_codes, results, strict=True):
        cleaned[name] = column
        text_counts[name] = (n_present, n_text)
    return cleaned, text_counts


def _drop_text_columns(
    path: Path,
    cohort: CohortConfig,
    items: dict[str, list[str]],
    text_counts: dict[str, tuple[int, int]],
    notes: list[str],
) -> None:
    """Prefix/regex selectors may also catch a free-text question: drop such columns."""
    for instrument in cohort.instruments.values():
        if instrument.selector_kind == "columns":
            continue
        keep = []
        for name in items[instrument.name]:
            n_present, n_text = text_counts[name]
            if n_present and n_text / n_present > TEXT_SHARE_LIMIT:
                notes.append(
                    f"column '{name}' matches the {instrument.selector_kind} "
                    f"{instrument.selector!r} of instrument '{instrument.name}' but holds text "
                    f"({n_text} of {n_present} values are not numbers); it is not used as an item"
                )
            else:
                keep.append(name)
        if not keep:
            raise InputError(
                f"{path}: instruments.{instrument.name}.items: every column matched by "
                f"{instrument.selector_kind} {instrument.selector!r} holds text, not item answers"
            )
        items[instrument.name] = keep


def _canonical_table(
    long: pd.DataFrame,
    cohort: CohortConfig,
    items: dict[str, list[str]],
    cleaned: dict[str, pd.Series],
    stems: dict[str, dict[int, str]],
    value_labels: ValueLabels,
    notes: list[str],
) -> pd.DataFrame:
    """The canonical columns: keys, time, items (cleaned), covariates (labelled if asked)."""
    cols = cohort.columns
    wide = cohort.layout == "wide"
    parts: dict[str, pd.Series] = {
        "source_row": long["source_row"].astype("int64"),
        "participant_id": participant_text(long[cols.participant]),
        "wave": long["wave"] if wide else clean_column(long[cols.wave], (), numeric=True)[0],
    }
    if cols.time:
        parts["time"] = long[cols.time]
    for name in dict.fromkeys(c for names in items.values() for c in names):
        parts[name] = cleaned[name]
    for name, kind in cols.covariates.items():
        if name in parts:  # a column that is also an item keeps its numbers: scoring needs them
            continue
        numeric = kind in ("numeric", "integer")
        column = clean_column(long[name], cohort.missing_codes, numeric=numeric)[0]
        if kind == "category":
            sources = list(stems[name].values()) if name in stems else [name]
            mapping = _labels_of(name, sources, value_labels, notes)
            if mapping:
                column = _labelled_covariate(name, column, mapping, value_labels.format, notes)
        parts[name] = column
    return pd.DataFrame({name: _storable(column) for name, column in parts.items()})


def _storable(values: pd.Series) -> pd.Series:
    """Mixed-type object columns (Excel, SPSS strings) as text or dates, for parquet."""
    if not pd.api.types.is_object_dtype(values.dtype):
        return values
    present = values.dropna()
    if len(present) and all(isinstance(v, (date, datetime)) for v in present):
        return pd.to_datetime(values)
    return as_text(values)
