"""Read a cohort's raw data file into srflow's canonical long table.

The file format is chosen by extension. Text files are read with every cell as text
first (nothing is silently coerced), the standard missing-value tokens become
missing, and only then are item and covariate columns converted to numbers when
every non-missing value is numeric; anything else stays as raw text so that
validation can report the offending value. Wide files are pivoted to one row per
(source row, wave). README.md (Outputs, ``ingest/canonical.parquet``) describes it.
"""

from __future__ import annotations

import csv
import difflib
import io as _stdio
import logging
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from srflow.config import CohortConfig, Instrument
from srflow.errors import DataWarning, InputError

logger = logging.getLogger(__name__)

#: Cell texts that mean "missing" in every text file.
NA_TOKENS: tuple[str, ...] = ("", "NA", "NaN", "nan", "N/A", "NULL", ".")
TEXT_EXTENSIONS = frozenset({".csv", ".tsv", ".txt"})
SUPPORTED_EXTENSIONS = (".csv", ".tsv", ".txt", ".parquet", ".sav", ".zsav", ".dta", ".xlsx", ".xls")
#: Candidate delimiters for sniffing, in order of preference on ties.
DELIMITERS = (",", ";", "\t")
#: Column names that R, pandas or readr give to a written-out row index.
_UNNAMED_RE = re.compile(r"^(|Unnamed: \d+|\.\.\.\d+)$")
_INDEX_NAME_RE = re.compile(r"^(X(\.\d+)?|\.\.\.\d+|V1|rownames|row\.names|row_names|index|Unnamed: \d+|)$")
_NUMBER_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_INTEGRAL_TEXT_RE = r"^([+-]?\d+)\.0*$"
#: Day-first and other common date layouts tried after ISO 8601, in this order.
DATE_FORMATS = (
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%d-%m-%Y",
    "%d.%m.%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%d-%m-%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%y",
    "%d/%m/%y",
    "%d %b %Y",
    "%d %B %Y",
)
#: A text column caught by a prefix or regex is dropped from the items when more than
#: this share of its non-missing values is not a number (e.g. a free-text question).
TEXT_SHARE_LIMIT = 0.5


@dataclass
class IngestResult:
    """The canonical long table of one cohort file and what was learned reading it.

    Attributes
    ----------
    table
        One row per (source row, wave): ``source_row`` (1-based data record in the file),
        ``participant_id`` (text), ``wave`` (raw), ``time`` (raw, if configured), the item
        columns (missing codes replaced by NaN, otherwise raw), the covariates (raw).
    items
        Instrument name -> resolved item columns, in source order.
    notes
        Things the user should know (ignored index columns, excluded text columns, ...).
    source
        The file read.
    n_source_rows
        Number of data records in the file.
    layout
        ``"long"`` or ``"wide"``.
    role_columns
        Canonical role (``participant_id``, ``wave``, ``time``) -> source column name (or stem,
        for wide files); used to name the source column in validation failures.
    wide_pattern
        The pattern that built the source column names of wide files.
    wide_stems
        Canonical columns that came from per-wave source columns (wide layout only).
    """

    table: pd.DataFrame
    items: dict[str, list[str]]
    notes: list[str]
    source: Path
    n_source_rows: int
    layout: str = "long"
    role_columns: dict[str, str] = field(default_factory=dict)
    wide_pattern: str = "{item}_t{wave}"
    wide_stems: frozenset[str] = frozenset()

    def meta(self) -> dict[str, Any]:
        """Everything but the table, as JSON-ready values (see :meth:`from_meta`)."""
        return {
            "source": str(self.source),
            "n_source_rows": int(self.n_source_rows),
            "items": {name: list(columns) for name, columns in self.items.items()},
            "notes": list(self.notes),
            "layout": self.layout,
            "role_columns": dict(self.role_columns),
            "wide_pattern": self.wide_pattern,
            "wide_stems": sorted(self.wide_stems),
        }

    @classmethod
    def from_meta(cls, table: pd.DataFrame, meta: dict[str, Any]) -> "IngestResult":
        """Rebuild an IngestResult from a stored table (e.g. parquet) and :meth:`meta`."""
        return cls(
            table=table,
            items={name: list(columns) for name, columns in meta["items"].items()},
            notes=list(meta.get("notes", [])),
            source=Path(meta["source"]),
            n_source_rows=int(meta["n_source_rows"]),
            layout=meta.get("layout", "long"),
            role_columns=dict(meta.get("role_columns", {})),
            wide_pattern=meta.get("wide_pattern", "{item}_t{wave}"),
            wide_stems=frozenset(meta.get("wide_stems", ())),
        )

    def source_column(self, column: str, wave: Any = None) -> str:
        """Name of the source column behind a canonical column (at a wave, for wide files)."""
        name = self.role_columns.get(column, column)
        if self.layout == "wide" and name in self.wide_stems and wave is not None:
            return self.wide_pattern.format(item=name, wave=wave)
        return name


@dataclass(frozen=True)
class ValueLabels:
    """Value labels stored in an SPSS or Stata file.

    Attributes
    ----------
    format
        ``"SPSS"``, ``"Stata"`` or ``""`` (a format without value labels).
    columns
        Column name -> {stored code: label}, only for columns that carry labels.
    """

    format: str = ""
    columns: dict[str, dict[Any, str]] = field(default_factory=dict)


# --------------------------------------------------------------------------- values


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Read a column as numbers without guessing.

    Parameters
    ----------
    values
        Any column: numeric, text (numbers written as text, surrounding spaces allowed) or mixed.

    Returns
    -------
    numbers : numpy.ndarray of float64
        The numeric value, NaN where missing or not a number.
    not_numeric : numpy.ndarray of bool
        True where a value is present but is not a number (e.g. ``"abc"``, a date).
    """
    n = len(values)
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        numbers = values.astype("float64").to_numpy(dtype="float64", na_value=np.nan)
        return numbers, np.zeros(n, dtype=bool)
    if pd.api.types.is_numeric_dtype(dtype):
        return np.array(values.to_numpy(dtype="float64", na_value=np.nan), dtype="float64"), np.zeros(n, dtype=bool)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return np.full(n, np.nan), np.array(values.notna().to_numpy(), dtype=bool)
    text = _arrow_text(values, trim=False)
    for attempt in ("as read", "trimmed"):
        if attempt == "trimmed":
            text = pc.utf8_trim_whitespace(text)
        # A failing Arrow cast is slow (it scans everything), so try a small sample first.
        if _cast_fails(pc.drop_null(text.slice(0, 4096))):
            continue
        try:  # fast path: every present value is a plain number
            numbers = pc.cast(text, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        if not pc.any(pc.or_(pc.is_nan(numbers), pc.is_inf(numbers))).as_py():
            return np.array(numbers.to_numpy(zero_copy_only=False), dtype="float64"), np.zeros(n, dtype=bool)
    looks_numeric = pc.fill_null(pc.match_substring_regex(text, _NUMBER_RE), False)
    numbers = pc.cast(pc.if_else(looks_numeric, text, pa.scalar(None, text.type)), pa.float64())
    numbers = np.array(numbers.to_numpy(zero_copy_only=False), dtype="float64")
    not_numeric = np.array(pc.and_(pc.is_valid(text), pc.invert(looks_numeric)).to_numpy(zero_copy_only=False), dtype=bool)
    return numbers, not_numeric


def _cast_fails(sample: pa.Array) -> bool:
    try:
        pc.cast(sample, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return True
    return False


def _arrow_text(values: pd.Series, trim: bool = True) -> pa.Array:
    """Text of a non-numeric column as an Arrow array (missing stays null), stripped if asked."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        arr = pa.array(values.array)
    else:
        arr = pa.array(as_text(values), type=pa.large_string(), from_pandas=True)
    return pc.utf8_trim_whitespace(arr) if trim else arr


def as_text(values: pd.Series) -> pd.Series:
    """Write each value as the user would read it: ``3.0`` -> ``"3"``, missing -> NaN.

    Parameters
    ----------
    values
        Any column.

    Returns
    -------
    pandas.Series
        Text column (pandas ``str`` dtype) with the same index.
    """
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype):
        return values.astype("str")
    if pd.api.types.is_object_dtype(values.dtype) and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return values.astype("str")
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        out = np.full(len(numbers), None, dtype=object)
        finite = np.isfinite(numbers)
        integral = finite & (numbers == np.round(numbers)) & (np.abs(numbers) < 2**53)
        out[integral] = numbers[integral].astype(np.int64).astype(str)
        other = ~integral & ~np.isnan(numbers)
        out[other] = [repr(float(x)) for x in numbers[other]]
        return pd.Series(out, index=values.index, dtype="str")
    return pd.Series([_one_text(v) for v in values], index=values.index, dtype="str")


def _one_text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat(sep=" ") if (value.hour or value.minute or value.second) else value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def participant_text(values: pd.Series) -> pd.Series:
    """Participant identifiers as stripped text; ``1.0`` becomes ``"1"``; blanks become missing."""
    text = as_text(values).str.strip()
    text = text.str.replace(_INTEGRAL_TEXT_RE, r"\1", regex=True)
    return text.mask(text == "")


def _split_codes(codes: Iterable[Any]) -> tuple[list[float], list[str]]:
    numeric_codes, text_codes = [], []
    for code in codes:
        try:
            numeric_codes.append(float(code))
        except (TypeError, ValueError):
            text_codes.append(str(code).strip().casefold())
    return numeric_codes, text_codes


def clean_column(values: pd.Series, codes: Iterable[Any] = (), numeric: bool = True) -> tuple[pd.Series, int, int]:
    """Replace missing codes by NaN and, if asked, make the column numeric when it can be.

    Numeric codes (and codes written as numeric text) are compared as numbers, so
    ``-99``, ``"-99"`` and ``-99.0`` all match ``-99``; other text codes are compared
    as stripped, case-insensitive text.

    Parameters
    ----------
    values
        A column.
    codes
        The declared missing codes.
    numeric
        Convert to float64 when every remaining non-missing value is a number.

    Returns
    -------
    column : pandas.Series
        float64 when converted, else the raw column with the codes missing.
    n_present : int
        Non-missing values after removing the codes.
    n_text : int
        How many of those are not numbers.
    """
    numbers, not_numeric = parse_numbers(values)
    numeric_codes, text_codes = _split_codes(codes)
    hit = np.isin(numbers, numeric_codes) if numeric_codes else np.zeros(len(values), dtype=bool)
    if not_numeric.any():
        # Text cells: declared text codes (any case) and NA tokens written with spaces around.
        positions = np.flatnonzero(not_numeric)
        stripped = as_text(values.iloc[positions]).str.strip()
        is_code = stripped.isin(NA_TOKENS) | stripped.str.casefold().isin(text_codes)
        hit[positions[is_code.to_numpy()]] = True
    text_left = not_numeric & ~hit
    n_text = int(text_left.sum())
    n_present = int((~np.isnan(numbers) & ~hit).sum()) + n_text
    if numeric and n_text == 0 and not pd.api.types.is_datetime64_any_dtype(values.dtype):
        numbers[hit] = np.nan
        return pd.Series(numbers, index=values.index, dtype="float64"), n_present, 0
    if hit.any():
        if pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
            values = values.astype("float64")
        values = values.mask(hit)
    return values, n_present, n_text


def replace_missing_codes(values: pd.Series, codes: Iterable[Any]) -> pd.Series:
    """Replace declared missing codes by NaN (numbers compared numerically, text case-insensitively).

    Parameters
    ----------
    values
        A column.
    codes
        The declared missing codes.

    Returns
    -------
    pandas.Series
        The column with every code replaced by NaN, otherwise unchanged.
    """
    return clean_column(values, codes, numeric=False)[0]


# --------------------------------------------------------------------------- time


@dataclass(frozen=True)
class ParsedTime:
    """Assessment times read from the raw time column.

    Attributes
    ----------
    days
        Days since the participant's first assessment (dates) or the numbers as given; NaN
        where missing or unparseable.
    unparseable
        True where a value is present but could not be read.
    kind
        ``"date"`` or ``"number"``.
    """

    days: np.ndarray
    unparseable: np.ndarray
    kind: str


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse dates written as ISO 8601 or common day-first layouts (``31.12.2020``, ``31/12/2020``).

    Ambiguous dates such as ``03/04/2020`` are read day first (3 April). Values already
    stored as dates (SPSS, Stata, parquet, Excel) are used as they are.

    Parameters
    ----------
    values
        Raw date column.

    Returns
    -------
    pandas.Series
        ``datetime64`` values (time zone dropped), NaT where missing or unparseable.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = pd.Series(values, copy=False)
    elif pd.api.types.is_object_dtype(values.dtype) and any(isinstance(v, (date, datetime)) for v in values):
        is_date = np.array([isinstance(v, (date, datetime)) for v in values], dtype=bool)
        out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
        out[is_date] = pd.to_datetime(pd.Series(list(values[is_date]), index=values.index[is_date], dtype=object))
        rest = ~is_date & values.notna().to_numpy()
        if rest.any():
            out[rest] = parse_dates(as_text(values[rest]))
        return out
    else:
        text = as_text(values).str.strip()
        out = pd.to_datetime(text, format="ISO8601", errors="coerce")
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        for fmt in DATE_FORMATS:
            todo = out.isna().to_numpy() & text.notna().to_numpy()
            if not todo.any():
                break
            out[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert(None)
    return out


def time_to_days(
    values: pd.Series,
    participant_id: pd.Series,
    time_type: str = "auto",
    eligible: np.ndarray | None = None,
) -> ParsedTime:
    """Turn the raw time column into days since each participant's first assessment.

    Parameters
    ----------
    values
        Raw time column (dates, numbers, or text holding either).
    participant_id
        Participant of each row (same index as ``values``).
    time_type
        ``"date"``, ``"number"`` (used as given) or ``"auto"`` (number if the present
        values are numeric, else date; when most are numbers, the few others are
        reported as unparseable numbers rather than turning the column into dates).
    eligible
        Rows whose dates may define a participant's first assessment (e.g. excluding wide
        wave slots without data); default every row.

    Returns
    -------
    ParsedTime
        Days (float64), the unparseable mask and the kind used.
    """
    present = values.notna().to_numpy()
    if time_type == "auto":
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            time_type = "date"
        else:
            numbers, not_numeric = parse_numbers(values)
            # A stray text among numbers is a bad number, not a sign of a date column.
            n_numeric = int((~np.isnan(numbers)).sum())
            time_type = "date" if not_numeric.sum() > n_numeric else "number"
    if time_type == "number":
        numbers, not_numeric = parse_numbers(values)
        return ParsedTime(days=numbers, unparseable=not_numeric, kind="number")
    dates = parse_dates(values)
    parsed = dates.notna().to_numpy()
    stamps = dates.to_numpy(dtype="datetime64[ns]")
    use = parsed if eligible is None else parsed & np.asarray(eligible, dtype=bool)
    origin_source = pd.Series(np.where(use, stamps, np.datetime64("NaT")), index=values.index)
    keys = participant_id.reset_index(drop=True)
    first = origin_source.reset_index(drop=True).groupby(keys, sort=False).transform("min").to_numpy(dtype="datetime64[ns]")
    days = (stamps - first) / np.timedelta64(1, "D")
    days = np.asarray(days, dtype="float64")
    days[~parsed] = np.nan
    return ParsedTime(days=days, unparseable=present & ~parsed, kind="date")


# --------------------------------------------------------------------------- reading


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
        raise InputError(f"input file not found: {path} (resolved {path.resolve()}); check cohorts.<name>.input in the config")
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

            frame, metadata = pyreadstat.read_sav(str(path), apply_value_formats=False, dates_as_pandas_datetime=True)
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
            f"cannot read {path} as a {ext} file: {type(exc).__name__}: {exc}; check that the file is "
            "complete and really is in this format (the extension decides the reader)"
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
        for source, final in zip(original, frame.columns)
        if stored_labels.get(source)
    }
    return frame, notes, ValueLabels(format=label_format, columns=by_column)


def _stata_value_labels(path: Path, notes: list[str]) -> dict[str, dict[Any, str]]:
    """Variable -> {code: label} of a Stata file (pandas does not expose which label set a variable uses)."""
    try:
        import pyreadstat

        _, metadata = pyreadstat.read_dta(str(path), metadataonly=True)
    except Exception as exc:  # noqa: BLE001 -- labels are a convenience: the data were read, go on without them
        notes.append(f"{path.name}: the Stata value labels could not be read ({type(exc).__name__}: {exc}); codes are used")
        return {}
    return dict(metadata.variable_value_labels or {})


def _dedupe_columns(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    names = list(frame.columns)
    if len(set(names)) == len(names):
        return frame
    seen: dict[str, int] = {}
    new = []
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
    return frame


def _na_tokens_to_missing(column: pd.Series) -> pd.Series:
    """Strip text cells and turn the standard NA tokens into missing (non-text cells untouched)."""
    if pd.api.types.is_object_dtype(column.dtype):
        is_text = np.array([isinstance(v, str) for v in column], dtype=bool)
        if not is_text.any():
            return column
        out = column.copy()
        text = pd.Series([v.strip() for v in column[is_text]], index=column.index[is_text], dtype=object)
        text = text.mask(text.isin(NA_TOKENS))
        out[is_text] = text
        return out
    text = column.str.strip()
    return text.mask(text.isin(NA_TOKENS))


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
        return pd.read_excel(path, sheet_name=sheet, dtype=object, keep_default_na=False, na_values=[])
    except ValueError as exc:
        if "Worksheet" in str(exc) or "sheet" in str(exc).lower():
            from openpyxl import load_workbook

            names = load_workbook(path, read_only=True).sheetnames if path.suffix.lower() == ".xlsx" else []
            raise InputError(
                f"{path}: no sheet {sheet!r} (cohort key 'sheet'); sheets in the file: {', '.join(names) or '?'}"
            ) from None
        raise


def _sniff(sample: str) -> str:
    """Pick the delimiter that occurs most often in the header line."""
    first_line = sample.lstrip("\ufeff").split("\n", 1)[0]
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    return best if counts[best] > 0 else ","


def _decode_sample(raw: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode the first bytes of a text file; returns (text, encoding used)."""
    cut = raw.rfind(b"\n")
    head = raw[: cut + 1] if cut > 0 else raw
    if encoding:
        return head.decode(encoding, errors="replace"), encoding
    try:
        return head.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return head.decode("cp1252", errors="replace"), "cp1252"


def _header_names(sample: str, delimiter: str) -> list[str]:
    reader = csv.reader(_stdio.StringIO(sample.lstrip("\ufeff")), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return []
    return header


def _read_text(path: Path, delimiter: str | None, encoding: str | None, notes: list[str]) -> pd.DataFrame:
    with open(path, "rb") as handle:
        raw_head = handle.read(1 << 16)
    if not raw_head.strip():
        raise InputError(f"{path} is empty; it must start with a header line naming the columns")
    sample, sample_encoding = _decode_sample(raw_head, encoding)
    if delimiter is None:
        delimiter = _sniff(sample)
    names = _header_names(sample, delimiter)
    if not names:
        raise InputError(f"{path}: no header line found; the first line must name the columns")
    read_encoding = encoding or sample_encoding
    fallback_note = f"{path.name} is not valid UTF-8; read as cp1252 (set the cohort's encoding to be explicit)"
    if encoding is None and sample_encoding == "cp1252":
        notes.append(fallback_note)
        warnings.warn(fallback_note, DataWarning, stacklevel=3)
    try:
        table = _arrow_read(path, names, delimiter, read_encoding)
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if encoding is None and read_encoding == "utf-8" and "UTF8" in message.upper():
            notes.append(fallback_note)
            warnings.warn(fallback_note, DataWarning, stacklevel=3)
            read_encoding = "cp1252"
            table = _arrow_read(path, names, delimiter, read_encoding)
        else:
            frame = _pandas_read(path, delimiter, read_encoding, message)
            notes.append(
                f"{path.name}: the fast reader stopped ({message.splitlines()[0]}); read with the pandas reader, "
                "which fills rows with too few fields with missing values"
            )
            warnings.warn(notes[-1], DataWarning, stacklevel=3)
            return frame
    return table.to_pandas()


def _arrow_read(path: Path, names: list[str], delimiter: str, encoding: str) -> pa.Table:
    import pyarrow.csv as pcsv

    unique = list(names)
    seen: dict[str, int] = {}
    for i, name in enumerate(unique):  # arrow needs distinct names for column_types
        if name in seen:
            seen[name] += 1
            unique[i] = f"{name}\x00{seen[name]}"
        else:
            seen[name] = 0
    read_options = pcsv.ReadOptions(
        column_names=unique,
        skip_rows=1,
        encoding="utf8" if encoding.lower().replace("-", "") in ("utf8", "utf8sig") else encoding,
        block_size=1 << 24,
    )
    parse_options = pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert_options = pcsv.ConvertOptions(
        column_types={name: pa.string() for name in unique},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=list(NA_TOKENS),
    )
    table = pcsv.read_csv(path, read_options=read_options, parse_options=parse_options, convert_options=convert_options)
    return table.rename_columns(names)


def _pandas_read(path: Path, delimiter: str, encoding: str, arrow_message: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_values=[],
            encoding="utf-8-sig" if encoding == "utf-8" else encoding,
            engine="c",
        )
    except Exception as exc:
        raise InputError(
            f"cannot parse {path} as delimited text (delimiter {delimiter!r}): {arrow_message}; {exc}. "
            "Check the delimiter (cohort key 'delimiter'), quoting and that every row has the same number of fields"
        ) from exc
    for name in frame.columns:
        frame[name] = _na_tokens_to_missing(frame[name].astype("str"))
    return frame


# --------------------------------------------------------------------------- columns


def resolve_items(columns: Sequence[str], instrument: Instrument) -> list[str]:
    """Turn an instrument's item selector into column names, in source order.

    Parameters
    ----------
    columns
        Candidate column names, in source order.
    instrument
        The instrument; its ``selector_kind`` is ``prefix``, ``regex`` (whole name must
        match) or ``columns`` (explicit list; every listed column must exist).

    Returns
    -------
    list of str
        The matching columns, in source order.

    Raises
    ------
    InputError
        If nothing matches, or an explicitly listed column is absent; names the
        instrument and selector and lists similar columns.
    """
    columns = list(columns)
    kind, selector = instrument.selector_kind, instrument.selector
    if kind == "prefix":
        found = [c for c in columns if c.startswith(selector)]
    elif kind == "regex":
        pattern = re.compile(selector)
        found = [c for c in columns if pattern.fullmatch(c)]
    elif kind == "columns":
        wanted = list(selector)
        absent = [c for c in wanted if c not in columns]
        if absent:
            hints = "; ".join(f"'{c}'{_near_hint(c, columns)}" for c in absent)
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
        similar += [c for c in difflib.get_close_matches(target, columns, n=5, cutoff=0.5) if c not in similar]
        hint = f" Similar columns: {', '.join(similar[:10])}." if similar else ""
        raise InputError(
            f"instruments.{instrument.name}.items: {kind} {selector!r} matches no column.{hint} "
            f"Available columns: {_column_list(columns)}"
        )
    return found


def _near_hint(name: str, columns: Sequence[str]) -> str:
    near = difflib.get_close_matches(name, list(columns), n=3, cutoff=0.6)
    if not near:
        lowered = {c.lower(): c for c in columns}
        near = [lowered[name.lower()]] if name.lower() in lowered else []
    return f" (did you mean {', '.join(repr(c) for c in near)}?)" if near else ""


def _column_list(columns: Sequence[str], limit: int = 60) -> str:
    shown = ", ".join(repr(c) for c in list(columns)[:limit])
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
            notes.append(f"ignored column '{name}': {what}")
            drop.append(name)
        elif _INDEX_NAME_RE.match(name):
            kind = _is_row_index(frame[name])
            if kind:
                notes.append(f"ignored column '{name}': a row index ({kind})")
                drop.append(name)
    return frame.drop(columns=drop) if drop else frame


def _missing_column_error(path: Path, key: str, column: str, available: Sequence[str]) -> InputError:
    return InputError(
        f"{path}: {key} names column '{column}', which is not in the file{_near_hint(column, available)}. "
        f"Available columns: {_column_list(available)}"
    )


def _wide_regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\{item\}|\{wave\})", pattern)
    out = []
    for part in parts:
        if part == "{item}":
            out.append(r"(?P<item>.+)")
        elif part == "{wave}":
            out.append(r"(?P<wave>\d+)")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "$")


# --------------------------------------------------------------------------- the stage


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
    n_rows = len(frame)
    if n_rows == 0:
        raise InputError(f"{path} has a header but no data rows")
    cols = cohort.columns
    protected = {cols.participant, *(c for c in (cols.wave, cols.time) if c), *cols.covariates}
    frame = _drop_index_columns(frame, protected, notes)

    wide = cohort.layout == "wide"
    stems: dict[str, dict[int, str]] = {}
    stable: list[str] = list(frame.columns)
    if wide:
        if cols.wave:
            notes.append(f"columns.wave ('{cols.wave}') is not used for layout wide: waves come from the column names")
        pattern = _wide_regex(cohort.wide_pattern)
        stable = []
        for name in frame.columns:
            match = pattern.match(name) if name != cols.participant else None
            if match:
                stems.setdefault(match["item"], {})[int(match["wave"])] = name
            else:
                stable.append(name)
        if not stems:
            raise InputError(
                f"{path}: layout wide but no column matches wide_pattern '{cohort.wide_pattern}' "
                f"(e.g. {cohort.wide_pattern.format(item='GHQ_01', wave=1)}); columns: {_column_list(list(frame.columns))}"
            )
    available = list(dict.fromkeys([*stable, *stems]))

    role_keys = [("columns.participant", cols.participant)]
    if not wide:
        role_keys.append(("columns.wave", cols.wave))
    if cols.time:
        role_keys.append(("columns.time", cols.time))
    role_keys += [(f"columns.covariates.{name}", name) for name in cols.covariates]
    for key, column in role_keys:
        if column is not None and column not in available:
            raise _missing_column_error(path, key, column, available)
    if wide and cols.participant not in stable:
        raise InputError(f"{path}: the participant column '{cols.participant}' must be a single column in a wide file")

    roles = {cols.participant, *(c for c in (cols.wave, cols.time) if c and not (wide and c == cols.wave)), *cols.covariates}
    candidates = [c for c in available if c not in roles]
    items: dict[str, list[str]] = {}
    for instrument in cohort.instruments.values():
        try:
            items[instrument.name] = resolve_items(candidates, instrument)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None

    if wide:
        role_stems = [c for c in (cols.time, *cols.covariates) if c]
        used = list(dict.fromkeys(role_stems + [c for names in items.values() for c in names]))
        long = _pivot_wide(frame, cols.participant, used, stems, notes)
        role_columns = {"participant_id": cols.participant, "wave": "wave"}
    else:
        long = frame
        long = long.assign(source_row=np.arange(1, n_rows + 1, dtype=np.int64))
        role_columns = {"participant_id": cols.participant, "wave": cols.wave}
    if cols.time:
        role_columns["time"] = cols.time

    long = long.reset_index(drop=True)
    item_codes: dict[str, tuple[Any, ...]] = {}
    for instrument in cohort.instruments.values():
        for name in items[instrument.name]:
            item_codes.setdefault(name, tuple(cohort.missing_codes))
            item_codes[name] = item_codes[name] + tuple(instrument.missing_codes)
    cleaned: dict[str, pd.Series] = {}
    text_counts: dict[str, tuple[int, int]] = {}
    # Arrow releases the GIL while parsing numbers, so columns are cleaned in parallel;
    # each column's result does not depend on the others or on the number of threads.
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        results = list(pool.map(lambda kv: clean_column(long[kv[0]], kv[1], numeric=True), item_codes.items()))
    for name, (column, n_present, n_text) in zip(item_codes, results):
        cleaned[name] = column
        text_counts[name] = (n_present, n_text)

    # Prefix/regex selectors may also catch a free-text question: drop such columns.
    for instrument in cohort.instruments.values():
        if instrument.selector_kind == "columns":
            continue
        keep = []
        for name in items[instrument.name]:
            n_present, n_text = text_counts[name]
            if n_present and n_text / n_present > TEXT_SHARE_LIMIT:
                notes.append(
                    f"column '{name}' matches the {instrument.selector_kind} {instrument.selector!r} of instrument "
                    f"'{instrument.name}' but holds text ({n_text} of {n_present} values are not "
                    "numbers); it is not used as an item"
                )
                warnings.warn(notes[-1], DataWarning, stacklevel=2)
            else:
                keep.append(name)
        if not keep:
            raise InputError(
                f"{path}: instruments.{instrument.name}.items: every column matched by "
                f"{instrument.selector_kind} {instrument.selector!r} holds text, not item answers"
            )
        items[instrument.name] = keep

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
        column = clean_column(long[name], cohort.missing_codes, numeric=kind in ("numeric", "integer"))[0]
        if kind == "category":
            sources = list(stems[name].values()) if name in stems else [name]
            mapping = _labels_of(name, sources, value_labels, notes)
            if mapping:
                column = _labelled_covariate(name, column, mapping, value_labels.format, notes)
        parts[name] = column
    table = pd.DataFrame({name: _storable(column) for name, column in parts.items()})

    for note in notes:
        logger.info("%s: %s", path.name, note)
    return IngestResult(
        table=table,
        items=items,
        notes=notes,
        source=path,
        n_source_rows=n_rows,
        layout=cohort.layout,
        role_columns=role_columns,
        wide_pattern=cohort.wide_pattern,
        wide_stems=frozenset(stems),
    )


def apply_value_labels(values: pd.Series, labels: dict[Any, str]) -> tuple[pd.Series, list[str]]:
    """Replace stored codes by their value labels, as text.

    Numeric codes are compared as numbers (so the SPSS code ``1.0``, the Stata code ``1``
    and the text ``"1"`` all match label key ``1``); text codes (SPSS string variables)
    as stripped text.

    Parameters
    ----------
    values
        A column of codes (missing stays missing).
    labels
        Stored code -> label.

    Returns
    -------
    column : pandas.Series
        Text column (pandas ``str`` dtype): the label where the code has one, else the code
        written as text (``2.0`` -> ``"2"``).
    unlabelled : list of str
        The distinct present codes without a label, as text, sorted.
    """
    text = as_text(values)
    out = text.to_numpy(dtype=object, na_value=None)
    done = np.zeros(len(out), dtype=bool)
    numbers, _ = parse_numbers(values)
    numeric_keys, text_keys = _split_label_keys(labels)
    for code, label in numeric_keys:
        hit = numbers == code
        out[hit] = label
        done |= hit
    if text_keys:
        stripped = text.str.strip().to_numpy(dtype=object, na_value=None)
        for code, label in text_keys:
            hit = ~done & (stripped == code)
            out[hit] = label
            done |= hit
    left = ~done & text.notna().to_numpy()
    unlabelled = sorted(set(out[left]), key=lambda v: (_sort_number(v), v))
    return pd.Series(out, index=values.index, dtype="str"), unlabelled


def _split_label_keys(labels: dict[Any, str]) -> tuple[list[tuple[float, str]], list[tuple[str, str]]]:
    """Numeric codes (sorted) and text codes (file order) with their labels as text."""
    numeric_keys: list[tuple[float, str]] = []
    text_keys: list[tuple[str, str]] = []
    for code, label in labels.items():
        if isinstance(code, (bool, np.bool_)):
            numeric_keys.append((float(code), str(label)))
        elif isinstance(code, (int, float, np.integer, np.floating)):
            if not np.isnan(float(code)):
                numeric_keys.append((float(code), str(label)))
        else:
            text_keys.append((str(code).strip(), str(label)))
    numeric_keys.sort(key=lambda pair: pair[0])
    return numeric_keys, text_keys


def _sort_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("inf")


def _labels_of(name: str, sources: list[str], value_labels: ValueLabels, notes: list[str]) -> dict[Any, str]:
    """The labels behind a covariate; for a wide stem, those of its per-wave columns when they agree."""
    merged: dict[float | str, tuple[Any, str]] = {}
    for source in sources:
        for code, label in value_labels.columns.get(source, {}).items():
            key = float(code) if isinstance(code, (int, float, np.integer, np.floating)) else str(code).strip()
            if key in merged and merged[key][1] != str(label):
                notes.append(
                    f"covariate '{name}': the per-wave columns label code {_one_text(code)} differently "
                    f"('{merged[key][1]}', '{label}'); value labels not applied, codes kept"
                )
                warnings.warn(notes[-1], DataWarning, stacklevel=3)
                return {}
            merged.setdefault(key, (code, str(label)))
    return {code: label for code, label in merged.values()}


def _labelled_covariate(name: str, column: pd.Series, labels: dict[Any, str], label_format: str, notes: list[str]) -> pd.Series:
    """A category covariate with its codes replaced by labels; the mapping is noted for the user."""
    labelled, unlabelled = apply_value_labels(column, labels)
    numeric_keys, text_keys = _split_label_keys(labels)
    shown = [f"{_one_text(code)} = {label}" for code, label in numeric_keys]
    shown += [f"{code} = {label}" for code, label in text_keys]
    notes.append(f"covariate '{name}': {label_format} value labels applied ({', '.join(shown)})")
    if unlabelled:
        notes.append(
            f"covariate '{name}': value(s) without a value label kept as they are: {', '.join(unlabelled[:20])}"
            + (f", ... ({len(unlabelled)} in all)" if len(unlabelled) > 20 else "")
            + "; add labels in the source file or declare them as missing codes"
        )
        warnings.warn(notes[-1], DataWarning, stacklevel=3)
    return labelled


def _storable(values: pd.Series) -> pd.Series:
    """Mixed-type object columns (Excel, SPSS strings) as text or dates, so the table can be stored as parquet."""
    if not pd.api.types.is_object_dtype(values.dtype):
        return values
    present = values.dropna()
    if len(present) and all(isinstance(v, (date, datetime)) for v in present):
        return pd.to_datetime(values)
    return as_text(values)


def _pivot_wide(
    frame: pd.DataFrame,
    participant: str,
    used: list[str],
    stems: dict[str, dict[int, str]],
    notes: list[str],
) -> pd.DataFrame:
    """One row per (wide row, wave) for every wave that has a column of a used stem."""
    n = len(frame)
    waves = sorted({w for name in used if name in stems for w in stems[name]})
    if not waves:
        raise InputError("layout wide: none of the configured columns has a per-wave column")
    n_waves = len(waves)
    # Row-major order: wide row 1 at every wave, then wide row 2, ...
    row_of = np.repeat(np.arange(n), n_waves)
    order = (np.arange(n)[:, None] + np.arange(n_waves)[None, :] * n).ravel()
    out: dict[str, Any] = {
        "source_row": row_of.astype(np.int64) + 1,
        "wave": np.tile(np.asarray(waves, dtype=np.int64), n),
    }
    stable_columns = {participant, *(c for c in used if c not in stems)}
    for name in stable_columns:
        out[name] = frame[name].take(row_of).reset_index(drop=True)
    for name in used:
        if name not in stems:
            continue
        present = [frame[c] for c in stems[name].values()]
        dtypes = {str(p.dtype) for p in present}
        filler_dtype = present[0].dtype if len(dtypes) == 1 else object
        parts = []
        for wave in waves:
            source = stems[name].get(wave)
            parts.append(frame[source] if source is not None else pd.Series(np.nan, index=frame.index, dtype=filler_dtype))
        stacked = pd.concat(parts, ignore_index=True)
        out[name] = stacked.take(order).reset_index(drop=True)
    absent = {name: [w for w in waves if w not in stems[name]] for name in used if name in stems}
    for name, missing in absent.items():
        if missing:
            notes.append(f"column '{name}' has no column for wave(s) {', '.join(map(str, missing))}; treated as missing there")
    return pd.DataFrame(out)
