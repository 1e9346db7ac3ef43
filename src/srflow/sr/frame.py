"""The columns of the scores table an SR spec needs, checked and sorted, as numpy arrays."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from srflow.errors import InputError, ModelError

if TYPE_CHECKING:
    from srflow.config import SRSpec


@dataclasses.dataclass
class Frame:
    """The columns SR needs, sorted by (participant, wave), as numpy arrays."""

    codes: np.ndarray  # participant code, order of sorted participant_id
    labels: pd.Index  # participant_id per code
    wave: np.ndarray  # int64
    P: np.ndarray
    E: np.ndarray
    reference: np.ndarray  # row meets the reference condition (waves: any wave of it)
    in_waves: np.ndarray  # row belongs to the spec's waves


def prepare_frame(scores: pd.DataFrame, spec: SRSpec) -> Frame:
    """Check the scores table for ``spec`` and extract its columns.

    Raises
    ------
    InputError
        The table is not a scores table (no participant_id/wave, bad or repeated waves).
    ModelError
        A column the spec names is missing or not numeric, or P or E has no values.
    """
    name = spec.name
    if not isinstance(scores, pd.DataFrame):
        raise InputError("The scores table must be a pandas DataFrame.")
    for col in ("participant_id", "wave"):
        if col not in scores.columns:
            raise InputError(
                f"The scores table has no '{col}' column; it must come from srflow.scoring.score."
            )
    needed = {"outcome": spec.outcome, "exposure": spec.exposure}
    if spec.reference_column is not None:
        needed["reference column"] = spec.reference_column
    for role, col in needed.items():
        if col not in scores.columns:
            # A missing column is data-dependent (the sr block is shared by all cohorts).
            raise ModelError(
                f"SR spec '{name}': the {role} column '{col}' is not in the scores table "
                f"(columns: {', '.join(map(str, scores.columns))})."
            )
    wave = _wave_numbers(scores["wave"])
    codes, labels = pd.factorize(scores["participant_id"], sort=True)
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any():
        raise InputError("The scores table has rows without a participant_id.")
    P = _numeric(scores[spec.outcome], spec.outcome, name)
    E = _numeric(scores[spec.exposure], spec.exposure, name)
    order = np.lexsort((wave, codes))
    codes, wave, P, E = codes[order], wave[order], P[order], E[order]
    if len(codes) > 1 and np.any((codes[1:] == codes[:-1]) & (wave[1:] == wave[:-1])):
        raise InputError(
            "The scores table repeats a (participant_id, wave) pair; validation should have "
            "caught this."
        )
    in_waves = np.ones(len(codes), bool) if spec.waves is None else np.isin(wave, list(spec.waves))
    if spec.reference_waves is not None:
        reference = np.isin(wave, list(spec.reference_waves))
    elif spec.reference_column is not None:
        reference = _matches(
            scores[spec.reference_column], spec.reference_value, name, spec.reference_column
        )[order]
    else:
        reference = np.ones(len(codes), bool)
    if not np.isfinite(E).any():
        raise ModelError(
            f"SR spec '{name}': the exposure '{spec.exposure}' has no values (all missing); "
            "configure a stressor instrument or choose another exposure."
        )
    if not np.isfinite(P).any():
        raise ModelError(
            f"SR spec '{name}': the outcome '{spec.outcome}' has no values (all missing)."
        )
    return Frame(codes, pd.Index(labels), wave, P, E, reference, in_waves)  # in field order


def _wave_numbers(column: pd.Series) -> np.ndarray:
    try:
        wave_f = pd.to_numeric(column).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise InputError(
            "The scores table's wave column must hold wave numbers (integers >= 1)."
        ) from None
    if not np.all(np.isfinite(wave_f) & (wave_f == np.round(wave_f))):
        raise InputError(
            "The scores table has missing or non-integer wave numbers; validate the data first."
        )
    return wave_f.astype(np.int64)


def _numeric(series: pd.Series, column: str, name: str) -> np.ndarray:
    try:
        values = pd.to_numeric(series, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"SR spec '{name}': column '{column}' is not numeric ({exc}).") from None
    values = values.copy()
    values[~np.isfinite(values)] = np.nan
    return values


def _matches(column: pd.Series, value: Any, name: str, column_name: str) -> np.ndarray:
    hit = (
        np.asarray((column == value).fillna(False), dtype=bool)
        if len(column)
        else np.zeros(0, bool)
    )
    if not hit.any():
        # Config values are typed by YAML: accept "1" for 1 or "True" for True.
        hit = (
            np.asarray(column.astype("str").fillna("") == str(value), dtype=bool)
            & column.notna().to_numpy()
        )
    if not hit.any():
        raise ModelError(
            f"SR spec '{name}': no row has {column_name} == {value!r}, so the reference group "
            "is empty; check the reference value."
        )
    return hit
