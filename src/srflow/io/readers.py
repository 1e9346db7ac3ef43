"""Read a data file as it is, choosing the reader by extension (text, parquet, SPSS, Stata, Excel)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from srflow.errors import InputError, shorten
from srflow.io.result import ValueLabels
from srflow.io.text import _read_text
from srflow.io.values import _na_tokens_to_missing

TEXT_EXTENSIONS = frozenset({".csv", ".tsv", ".txt"})


SUPPORTED_EXTENSIONS = (
    ".csv",
    ".tsv",
    ".txt",
    ".parquet",
    ".sav",
    ".zsav",
    ".dta",
    ".xlsx",
    ".xls",
)


def read_raw(
    path: str | Path,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """Read a data file as it is, choosing the reader by extension.

    Text files come back with every column as text (standard missing tokens already
    missing, surrounding spaces removed); binary formats keep their stored types
    (SPSS and Stata values, never value labels; :func:`read_raw_labelled` also returns
    the value labels).

    Parameters
    ----------
    path
        The file.
    delimiter, encoding
        For text files; None = detect (delimiter among ``,`` ``;`` tab; UTF-8 with or
        without BOM, falling back to cp1252).
    sheet
        For Excel files, the sheet name or 0-based index.

    Returns
    -------
    frame : pandas.DataFrame
        One row per data record, a RangeIndex, column names as text.
    notes : list of str
        Things done that the user should know (e.g. an encoding fallback).

    Raises
    ------
    InputError
        If the file does not exist, cannot be read, or has an unsupported extension.
    """
    frame, notes, _ = read_raw_labelled(path, delimiter=delimiter, encoding=encoding, sheet=sheet)
    return frame, notes


def read_raw_labelled(
    path: str | Path,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | int = 0,
) -> tuple[pd.DataFrame, list[str], ValueLabels]:
    """Like :func:`read_raw`, and also return the value labels stored in the file.

    Parameters
    ----------
    path
        The file.
    delimiter, encoding, sheet
        As for :func:`read_raw`.

    Returns
    -------
    frame : pandas.DataFrame
        Exactly what :func:`read_raw` returns (codes, not labels).
    notes : list of str
        As for :func:`read_raw`.
    labels : ValueLabels
        The format (``"SPSS"`` or ``"Stata"``) and, per column (names as in ``frame``), the
        stored code -> label mapping. Empty for formats without value labels (text, parquet,
        Excel) and for columns without labels.

    Raises
    ------
    InputError
        As for :func:`read_raw`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(
            f"input file not found: {path} (resolved {path.resolve()}); check cohorts.<name>.input in the config"
        )
    if path.is_dir():
        raise InputError(f"input {path} is a folder; cohorts.<name>.input must name a data file")
    ext = path.suffix.lower()
    notes: list[str] = []
    stored_labels: dict[str, dict[Any, str]] = {}
    label_format = ""
    try:
        if ext in TEXT_EXTENSIONS:
            frame = _read_text(path, delimiter, encoding, notes)
        elif ext == ".parquet":
            import pyarrow.parquet as pq

            frame = pq.read_table(path).to_pandas()
        elif ext in (".sav", ".zsav"):
            import pyreadstat

            frame, metadata = pyreadstat.read_sav(
                str(path), apply_value_formats=False, dates_as_pandas_datetime=True
            )
            stored_labels = dict(metadata.variable_value_labels or {})
            label_format = "SPSS"
        elif ext == ".dta":
            frame = pd.read_stata(path, convert_categoricals=False, convert_missing=False)
            stored_labels = _stata_value_labels(path, notes)
            label_format = "Stata"
        elif ext in (".xlsx", ".xls"):
            frame = _read_excel(path, sheet)
        else:
            raise InputError(
                f"{path}: unsupported file type '{ext or '(no extension)'}'; srflow reads "
                f"{' '.join(SUPPORTED_EXTENSIONS)}; save the data in one of these formats"
            )
    except InputError:
        raise
    except Exception as exc:  # the readers raise many types; all mean "cannot read this file"
        raise InputError(
            f"cannot read {path} as a {ext} file: {type(exc).__name__}: {shorten(exc, 300)}; "
            + (
                "check the cohort keys 'encoding' and 'delimiter', and that the file is "
                if ext in TEXT_EXTENSIONS
                else "check that the file is "
            )
            + "complete and really is in this format (the extension decides the reader)"
        ) from exc
    frame = frame.reset_index(drop=True)
    original = [str(c) for c in frame.columns]
    frame.columns = original
    stripped = [c.strip() for c in frame.columns]
    if stripped != list(frame.columns):
        notes.append("spaces around column names were removed")
        frame.columns = stripped
    frame = _dedupe_columns(frame, notes)
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_object_dtype(column.dtype) or (
            pd.api.types.is_string_dtype(column.dtype) and ext not in TEXT_EXTENSIONS
        ):
            frame[name] = _na_tokens_to_missing(column)
    # Key the labels by the final column names (after stripping and de-duplication).
    by_column = {
        final: dict(stored_labels[source])
        for source, final in zip(original, frame.columns, strict=False)
        if stored_labels.get(source)
    }
    return frame, notes, ValueLabels(format=label_format, columns=by_column)


def _stata_value_labels(path: Path, notes: list[str]) -> dict[str, dict[Any, str]]:
    """Variable -> {code: label} of a Stata file (pandas does not expose which label set a variable uses)."""
    try:
        import pyreadstat

        _, metadata = pyreadstat.read_dta(str(path), metadataonly=True)
    except Exception as exc:  # noqa: BLE001 -- labels are a convenience: the data were read, go on without them
        notes.append(
            f"{path.name}: the Stata value labels could not be read ({type(exc).__name__}: {exc}); codes are used"
        )
        return {}
    return dict(metadata.variable_value_labels or {})


#: ``DataFrame.attrs`` key under which :func:`read_raw` records repeated header names.
DUPLICATED_ATTR = "srflow_duplicated_columns"


def _dedupe_columns(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    names = list(frame.columns)
    if len(set(names)) == len(names):
        return frame
    seen: dict[str, int] = {}
    new = []
    # Which names the header repeats, with their 1-based positions: a cohort that uses
    # such a column must stop (srflow.io.cohort), an unused one is only renamed.
    repeated = {
        name: [i + 1 for i, other in enumerate(names) if other == name]
        for name in dict.fromkeys(names)
        if names.count(name) > 1
    }
    for name in names:
        if name in seen:
            seen[name] += 1
            candidate = f"{name}.{seen[name]}"
            while candidate in names or candidate in new:
                seen[name] += 1
                candidate = f"{name}.{seen[name]}"
            notes.append(f"duplicate column name '{name}' renamed to '{candidate}'")
            new.append(candidate)
        else:
            seen[name] = 0
            new.append(name)
    frame = frame.copy()
    frame.columns = new
    frame.attrs[DUPLICATED_ATTR] = {
        name: {"positions": positions, "renamed": [new[i - 1] for i in positions[1:]]}
        for name, positions in repeated.items()
    }
    return frame


def _read_excel(path: Path, sheet: str | int) -> pd.DataFrame:
    if path.suffix.lower() == ".xls":
        try:
            import xlrd  # noqa: F401
        except ImportError:
            raise InputError(
                f"{path}: reading old .xls files needs the package xlrd, which is not installed; "
                "save the sheet as .xlsx (or .csv) or install xlrd"
            ) from None
    try:
        return pd.read_excel(
            path, sheet_name=sheet, dtype=object, keep_default_na=False, na_values=[]
        )
    except ValueError as exc:
        if "Worksheet" in str(exc) or "sheet" in str(exc).lower():
            from openpyxl import load_workbook

            names = (
                load_workbook(path, read_only=True).sheetnames
                if path.suffix.lower() == ".xlsx"
                else []
            )
            raise InputError(
                f"{path}: no sheet {sheet!r} (cohort key 'sheet'); sheets in the file: {', '.join(names) or '?'}"
            ) from None
        raise
