"""Writers of the released table in the formats users bring: CSV, wide CSV, SPSS, Stata, Excel.

Every writer is byte-reproducible: the timestamps that the SPSS and Excel writers embed are
overwritten with 2021-01-01 00:00, and Stata's is passed to the writer.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from srflow.errors import InputError
from srflow.synthetic.design import (
    GENDERS,
    GENERAL_ITEMS,
    LIFE_ITEMS,
    MAJOR_LIFE_ITEMS,
    POSITIVE_ITEMS,
    PROBLEM_ITEMS,
)

_FIXED_FILE_TIME = dt.datetime(2021, 1, 1, 0, 0, 0)
_GENDER_CODES = {name: code for code, name in enumerate(GENDERS, start=1)}


def _problem_label(item: str) -> str:
    number = int(item.split("_")[1])
    direction = (
        "positively worded, stored raw: higher = better"
        if item in POSITIVE_ITEMS
        else "higher = more problems"
    )
    return f"GHQ-12-like item {number} (0-3, {direction})"


def _variable_labels(columns: list[str]) -> dict[str, str]:
    """Variable labels of the statistics-package formats."""
    labels = {
        "subject_id": "Participant identifier",
        "wave": "Assessment wave (1 = baseline)",
        "date": "Assessment date",
        "age": "Age in years at baseline",
        "gender": "Gender",
        "arm": "Study arm",
    }
    for column in columns:
        if column in PROBLEM_ITEMS:
            labels[column] = _problem_label(column)
        elif column in GENERAL_ITEMS:
            labels[column] = f"Daily hassle {int(column[3:])}: severity 0-5 (0 = did not happen)"
        elif column in LIFE_ITEMS:
            kind = "major life event" if column in MAJOR_LIFE_ITEMS else "life event"
            labels[column] = (
                f"{kind.capitalize()} {int(column[3:])}: severity 0-5 (0 = did not happen)"
            )
    return {column: labels[column] for column in columns if column in labels}


def item_columns(data: pd.DataFrame) -> list[str]:
    """The questionnaire item columns of a released table."""
    return [c for c in data.columns if c.startswith(("GHQ_", "GE_", "LE_", "Q_"))]


def write_csv(frame: pd.DataFrame, path: Path, **kwargs) -> None:
    """CSV with Unix line ends on every platform."""
    frame.to_csv(path, lineterminator="\n", **kwargs)


def _fix_sav_timestamp(path: Path) -> None:
    """Overwrite the creation date/time that ReadStat stamps into the SAV header.

    The header is: record type (4 bytes), product name (60), layout code,
    nominal case size, compression, weight index, case count (4 each) and the
    bias (8), then creation date ``dd mmm yy`` (9) and time ``hh:mm:ss`` (8).
    """
    raw = bytearray(path.read_bytes())
    if raw[:4] != b"$FL2":
        raise InputError(f"{path} is not an SPSS system file; cannot fix its timestamp.")
    raw[92:101] = b"01 Jan 21"  # literal, not strftime("%b"), which follows the locale
    raw[101:109] = b"00:00:00"
    path.write_bytes(bytes(raw))


def _normalise_xlsx(path: Path) -> None:
    """Make an openpyxl workbook byte-reproducible: fixed document times and zip entry times."""
    stamp = _FIXED_FILE_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path) as source:
        entries = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, content in entries:
            if name == "docProps/core.xml":
                text = content.decode("utf-8")
                text = re.sub(
                    r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                    rf"\g<1>{stamp}\g<3>",
                    text,
                )
                content = text.encode("utf-8")
            info = zipfile.ZipInfo(name, date_time=_FIXED_FILE_TIME.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            target.writestr(info, content)
    path.write_bytes(buffer.getvalue())


def wide_layout(data: pd.DataFrame) -> pd.DataFrame:
    """Wide layout: subject_id, age, gender, arm, then per wave every item and the date.

    Per-wave columns are named ``{name}_t{wave}``.
    """
    items = item_columns(data)
    persons = data.drop_duplicates("subject_id")[["subject_id", "age", "gender", "arm"]].set_index(
        "subject_id"
    )
    per_wave = data.pivot(index="subject_id", columns="wave", values=[*items, "date"])
    waves = sorted(data["wave"].unique())
    ordered = [(name, wave) for wave in waves for name in [*items, "date"]]
    per_wave = per_wave[ordered]
    per_wave.columns = [f"{name}_t{wave}" for name, wave in ordered]
    return persons.join(per_wave).reset_index()


def _messy_long(data: pd.DataFrame) -> pd.DataFrame:
    """Typed copy for the statistics-package formats: real dates, float items."""
    out = data.copy()
    out["date"] = pd.to_datetime(out["date"])
    for column in item_columns(out):
        out[column] = out[column].astype("float64")
    return out


def write_sav(data: pd.DataFrame, path: Path) -> None:
    """SPSS system file with variable and value labels, fixed header timestamp."""
    import pyreadstat

    frame = _messy_long(data)
    frame["date"] = frame["date"].dt.date
    frame["gender"] = frame["gender"].map(_GENDER_CODES).astype("float64")
    frame["arm"] = frame["arm"].astype(object)
    frame["subject_id"] = frame["subject_id"].astype(object)
    frame["age"] = frame["age"].astype("float64")
    frame["wave"] = frame["wave"].astype("float64")
    pyreadstat.write_sav(
        frame,
        str(path),
        file_label="srflow synthetic cohort",
        column_labels=_variable_labels(list(frame.columns)),
        variable_value_labels={
            "gender": {float(code): name for name, code in _GENDER_CODES.items()}
        },
        variable_measure={"gender": "nominal", "arm": "nominal"},
    )
    _fix_sav_timestamp(path)


def write_dta(data: pd.DataFrame, path: Path) -> None:
    """Stata 118 file with variable labels, Stata dates and byte items, fixed timestamp."""
    frame = data.copy()
    frame["date"] = pd.to_datetime(frame["date"])
    frame["subject_id"] = frame["subject_id"].astype(object)
    frame["arm"] = frame["arm"].astype(object)
    frame["wave"] = frame["wave"].astype(np.int16)
    frame["age"] = frame["age"].astype(np.int16)
    for column in item_columns(frame):
        frame[column] = frame[column].astype("Int8")  # Stata byte with "." for blanks
    frame.to_stata(
        path,
        write_index=False,
        version=118,
        time_stamp=_FIXED_FILE_TIME,
        data_label="srflow synthetic cohort",
        variable_labels=_variable_labels(list(frame.columns)),
        convert_dates={"date": "td"},
    )


def write_xlsx(data: pd.DataFrame, path: Path) -> None:
    """Excel workbook (sheet ``cohort``), byte-reproducible."""
    data.to_excel(path, sheet_name="cohort", index=False, engine="openpyxl")
    _normalise_xlsx(path)
