"""The SR result of one spec: its table, its line JSON, and how both are laid out."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from srflow import results

if TYPE_CHECKING:
    from srflow.config import SRSpec
    from srflow.sr.units import Units

SIGN_CONVENTION = "sr = P - P_expected; higher = more problems than expected = less resilient"
#: How ``sr_z`` is computed, per value of the spec's ``standardize`` (written in the line JSON).
SR_Z_NOTES = {
    "line": "sr_z = (sr - mean) / SD (ddof=1) within each normative line (wave, window) of the spec",
    "pooled": "sr_z = (sr - mean) / SD (ddof=1) over all scored units of the spec, pooled over "
    "its lines",
}


@dataclasses.dataclass
class SRResult:
    """SR scores of one spec.

    Attributes
    ----------
    name : str
        The spec's name (the key under ``sr:`` in the config).
    table : pandas.DataFrame
        ``participant_id``, the level's key columns (``wave``; ``window``; ``wave_from``,
        ``wave``; none for ``period``), ``E``, (``P_previous`` for ``change``), ``P``,
        ``P_expected``, ``sr``, ``sr_z``. Sorted by participant then key. Empty (with the
        header) when the spec failed.
    line : dict
        JSON-ready description of the normative line(s) and diagnostics.
    status : str
        ``"ok"`` or ``"failed"``.
    reason : str or None
        Why the spec failed (names the spec).
    """

    name: str
    table: pd.DataFrame
    line: dict
    status: str = "ok"
    reason: str | None = None

    def write(self, csv_path: str | Path, json_path: str | Path) -> None:
        """Write ``table`` as CSV and ``line`` as JSON (deterministic formatting).

        Parameters
        ----------
        csv_path, json_path : str or Path
            Targets, e.g. ``results/{cohort}/sr/{spec}.csv`` and ``.line.json``.
        """
        results.SR_TABLE.write(self.table, csv_path)
        results.SRLine.from_json(self.line, json_path).write(json_path)


def key_columns(level: str) -> list[str]:
    """The columns that identify a unit of ``level`` besides ``participant_id``."""
    return {
        "wave": ["wave"],
        "multilevel": ["wave"],
        "sliding": ["window"],
        "change": ["wave_from", "wave"],
        "period": [],
    }.get(level, [])


def empty_sr_table(level: str) -> pd.DataFrame:
    """The header of an SR table of ``level``, with no rows (used when a spec fails).

    Parameters
    ----------
    level : str
        One of the SR levels of the config schema (``wave``, ``period``, ...).

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> list(empty_sr_table("change").columns)
    ['participant_id', 'wave_from', 'wave', 'E', 'P_previous', 'P', 'P_expected', 'sr', 'sr_z']
    """
    columns = ["participant_id", *key_columns(level), "E"]
    if level == "change":
        columns.append("P_previous")
    columns += ["P", "P_expected", "sr", "sr_z"]
    frame = pd.DataFrame({c: pd.Series([], dtype="float64") for c in columns})
    frame["participant_id"] = frame["participant_id"].astype("str")
    for key in key_columns(level):
        frame[key] = frame[key].astype("int64")
    return frame


def line_header(spec: SRSpec) -> dict[str, Any]:
    """The part of the line JSON that describes the spec (written for ok and failed specs)."""
    return {
        "spec": spec.name,
        "status": "ok",
        "reason": None,
        "level": spec.level,
        "outcome": spec.outcome,
        "exposure": spec.exposure,
        "form_requested": spec.form,
        "form_used": None,
        "alpha": spec.alpha,
        "outliers": {"method": spec.outliers, "k": spec.k},
        "reference": spec.reference,
        "waves": None if spec.waves is None else list(spec.waves),
        "settings": spec.settings,
        "sign_convention": SIGN_CONVENTION,
        "standardize": spec.standardize,
        "sr_z": SR_Z_NOTES[spec.standardize],
        "n": {},
    }


def assemble_table(
    units: Units, expected: np.ndarray, sr: np.ndarray, level: str, standardize: str
) -> pd.DataFrame:
    """The SR table of the scored units (see :class:`SRResult`); ``sr_z`` per ``standardize``."""
    codes = units.keys["participant_id"]
    columns: dict[str, Any] = {"participant_id": units.labels.take(codes)}
    for key in key_columns(level):
        columns[key] = np.asarray(units.keys[key], dtype=np.int64)
    columns["E"] = units.E
    if level == "change":
        columns["P_previous"] = units.offset
    if standardize == "line" and len(units.line_labels) > 1:
        sr_z = z_scores_by_line(sr, units.line, len(units.line_labels))
    else:
        # One line (or pooled): the pooled formula, so single-line specs are byte-identical
        # whichever way they standardise.
        sr_z = z_scores(sr)
    columns.update(P=units.P, P_expected=expected, sr=sr, sr_z=sr_z)
    table = pd.DataFrame(columns)
    table["participant_id"] = table["participant_id"].astype("str")
    # Units are built in (participant code, key) order and codes follow the sorted
    # participant_id, so the table is already sorted deterministically.
    return table


def z_scores(values: np.ndarray) -> np.ndarray:
    """``(values - mean) / SD`` with ddof 1; all NaN when fewer than 2 values or SD 0."""
    if len(values) < 2:
        return np.full(len(values), np.nan)
    sd = values.std(ddof=1)
    if not np.isfinite(sd) or sd == 0:
        return np.full(len(values), np.nan)
    return (values - values.mean()) / sd


def z_scores_by_line(values: np.ndarray, line: np.ndarray, n_lines: int) -> np.ndarray:
    """``(values - mean) / SD`` within each line (ddof 1), vectorised over the lines.

    Parameters
    ----------
    values : numpy.ndarray
        The SR scores.
    line : numpy.ndarray of int
        The line index (0 .. ``n_lines`` - 1) of every value.
    n_lines : int
        The number of lines.

    Returns
    -------
    numpy.ndarray
        The z-scores; all NaN in a line with fewer than 2 values or SD 0 (as :func:`z_scores`).
        Two passes (mean, then squared deviations from it), so the SD keeps its precision when
        the mean is large.

    Examples
    --------
    >>> z = z_scores_by_line(np.array([1.0, 2.0, 3.0, 10.0, 30.0]), np.array([0, 0, 0, 1, 1]), 2)
    >>> [round(float(v), 6) for v in z]
    [-1.0, 0.0, 1.0, -0.707107, 0.707107]
    """
    count = np.bincount(line, minlength=n_lines).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(line, weights=values, minlength=n_lines) / count
        deviation = values - mean[line]
        sd = np.sqrt(np.bincount(line, weights=deviation**2, minlength=n_lines) / (count - 1))
    usable = (count >= 2) & np.isfinite(sd) & (sd > 0)
    return np.where(usable[line], deviation / np.where(usable, sd, 1.0)[line], np.nan)
