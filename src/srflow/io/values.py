"""Cell values read without guessing: numbers, text, missing tokens and missing codes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Cell texts that mean "missing" in every text file.
NA_TOKENS: tuple[str, ...] = ("", "NA", "NaN", "nan", "N/A", "NULL", ".")


_NUMBER_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"


_INTEGRAL_TEXT_RE = r"^([+-]?\d+)\.0*$"


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
        return np.array(
            values.to_numpy(dtype="float64", na_value=np.nan), dtype="float64"
        ), np.zeros(n, dtype=bool)
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
            return np.array(numbers.to_numpy(zero_copy_only=False), dtype="float64"), np.zeros(
                n, dtype=bool
            )
    looks_numeric = pc.fill_null(pc.match_substring_regex(text, _NUMBER_RE), False)
    numbers = pc.cast(pc.if_else(looks_numeric, text, pa.scalar(None, text.type)), pa.float64())
    numbers = np.array(numbers.to_numpy(zero_copy_only=False), dtype="float64")
    not_numeric = np.array(
        pc.and_(pc.is_valid(text), pc.invert(looks_numeric)).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    # "1e400" is written like a number but overflows to infinity: not a usable answer, and
    # kept as text so that messages quote it as written
    overflow = np.isinf(numbers)
    if overflow.any():
        not_numeric |= overflow
        numbers[overflow] = np.nan
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
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(
        values.dtype
    ):
        return values.astype("str")
    if pd.api.types.is_object_dtype(values.dtype) and pd.api.types.infer_dtype(
        values, skipna=True
    ) in ("string", "empty"):
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
    if (
        value is None
        or (isinstance(value, float) and np.isnan(value))
        or value is pd.NaT
        or value is pd.NA
    ):
        return None
    if isinstance(value, (float, np.floating)):
        return (
            str(int(value))
            if float(value).is_integer() and abs(value) < 2**53
            else repr(float(value))
        )
    if isinstance(value, (pd.Timestamp, datetime)):
        return (
            value.isoformat(sep=" ")
            if (value.hour or value.minute or value.second)
            else value.strftime("%Y-%m-%d")
        )
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


def clean_column(
    values: pd.Series, codes: Iterable[Any] = (), numeric: bool = True
) -> tuple[pd.Series, int, int]:
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


def _na_tokens_to_missing(column: pd.Series) -> pd.Series:
    """Strip text cells and turn the standard NA tokens into missing (non-text cells untouched)."""
    if pd.api.types.is_object_dtype(column.dtype):
        is_text = np.array([isinstance(v, str) for v in column], dtype=bool)
        if not is_text.any():
            return column
        out = column.copy()
        text = pd.Series(
            [v.strip() for v in column[is_text]], index=column.index[is_text], dtype=object
        )
        text = text.mask(text.isin(NA_TOKENS))
        out[is_text] = text
        return out
    text = column.str.strip()
    return text.mask(text.isin(NA_TOKENS))
