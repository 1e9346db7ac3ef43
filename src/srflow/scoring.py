"""Questionnaire scoring: item values -> instrument scores, P and E.

Stage 3 of the pipeline (ingest -> validate -> score). The input is the
validated long table (items already float64 with NaN for missing); the output is
the scores table with one row per (participant, wave)::

    participant_id, wave, time, P, E, <instrument scores in config order>, <covariates in config order>

Rules, applied per instrument and row, all vectorised over rows:

* reverse-scored items become ``low + high - value`` (the instrument's range);
* stressor items with ``method: count`` become 1 if rated above the range's
  lowest value, 0 if rated at it (NaN stays NaN); ``severity`` keeps the ratings;
* ``score: sum`` is the item sum, missing unless every item is answered;
  ``mean`` is the mean of the answered items and ``prorated_sum`` that mean
  times the number of items, both missing when fewer than ``min_answered`` of the
  items are answered. A row with no answered item is always missing, never 0.
* ``E`` combines the stressor instrument scores: ``sum``, or ``zmean`` (the mean
  of the instrument scores z-scored over the cohort's scored rows, ddof=1). E is
  missing where any stressor score is missing, and all-missing without stressors.
* ``P`` is the problems instrument's score, or a composite of several (cohort key
  ``problems``: ``zmean`` as for E, or ``pca1``; see :mod:`srflow.composite`).

Which columns belong to an instrument is decided by :func:`srflow.io.resolve_items`
only, so ingest and scoring can never disagree on the item set.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from srflow.composite import composite_p, scoring_summary, zscore_columns
from srflow.config import CohortConfig, Instrument
from srflow.errors import ConfigError, DataWarning, InputError, ValidationError
from srflow.io import resolve_items
from srflow.missing_scores import missing_score_problems

__all__ = [
    "STRUCTURAL_COLUMNS",
    "instrument_items",
    "item_matrix",
    "score_items",
    "combine_exposure",
    "composite_p",
    "scoring_summary",
    "answered_counts",
    "score",
]

#: Columns of the validated table that are never items.
STRUCTURAL_COLUMNS: tuple[str, ...] = ("source_row", "participant_id", "wave", "time")
#: Key columns of the scores table, in order.
KEY_COLUMNS: tuple[str, ...] = ("participant_id", "wave")
# Shares are compared as counts with this slack, so that e.g. min_answered 0.7 of 10
# items asks for 7 items although 0.7 * 10 is 7.000000000000001 in binary floating point.
_SHARE_TOLERANCE = 1e-9


def instrument_items(columns: Sequence[str], cohort: CohortConfig) -> dict[str, list[str]]:
    """Map each instrument of a cohort to its item columns among ``columns``.

    Parameters
    ----------
    columns : sequence of str
        Column names of the validated table.
    cohort : CohortConfig
        The cohort whose instruments to resolve.

    Returns
    -------
    dict of str to list of str
        Instrument name -> item column names (order of :func:`srflow.io.resolve_items`),
        in config order.

    Raises
    ------
    InputError
        If an instrument has no item column in the table.
    """
    # Structural columns and declared covariates are never items, even if a prefix catches them.
    excluded = set(STRUCTURAL_COLUMNS) | set(cohort.columns.covariates)
    candidates = [c for c in columns if c not in excluded]
    items: dict[str, list[str]] = {}
    for name, instrument in cohort.instruments.items():
        resolved = list(resolve_items(candidates, instrument))
        if not resolved:
            raise InputError(
                f"instrument '{name}' of cohort '{cohort.name}' has no item column in the validated table "
                f"({instrument.selector_kind}: {instrument.selector!r}); check the instrument's items in the config"
            )
        items[name] = resolved
    return items


def item_matrix(table: pd.DataFrame, instrument: Instrument, items: Sequence[str]) -> np.ndarray:
    """Return an instrument's item values ready to score: float64, reversed, counted.

    Parameters
    ----------
    table : pandas.DataFrame
        Validated table holding the item columns (numeric, NaN = missing).
    instrument : Instrument
        The instrument (range, reverse items, role and method).
    items : sequence of str
        Its item columns.

    Returns
    -------
    numpy.ndarray
        Shape (rows, items), float64, NaN = not answered. Reverse items hold
        ``low + high - value``; for stressors with ``method: count`` each value is
        1.0 if above the range's lowest value, else 0.0.

    Raises
    ------
    ConfigError
        If a reverse item is not among the instrument's items.
    InputError
        If an item column is not numeric (the table was not validated).
    """
    stray = [name for name in instrument.reverse if name not in items]
    if stray:
        raise ConfigError(
            f"instruments.{instrument.name}.reverse: {', '.join(stray)} not among the instrument's items "
            f"({', '.join(items)}); fix the reverse list or the item selector"
        )
    try:
        values = table.loc[:, list(items)].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"instrument '{instrument.name}': item columns must be numeric to score ({exc}); "
            "score the validated table (srflow.validation.validate), not the raw one"
        ) from None
    low, high = instrument.range
    if instrument.reverse:
        if not values.flags.writeable:  # a read-only view of the table's block under copy-on-write
            values = values.copy()
        reverse = np.isin(np.asarray(items, dtype=object), list(instrument.reverse))
        values[:, reverse] = (low + high) - values[:, reverse]
    if instrument.role == "stressors" and instrument.method == "count":
        # Comparisons with NaN are False; put NaN back where the item was not answered.
        values = np.where(np.isnan(values), np.nan, (values > low).astype(np.float64))
    return values


def _required_answers(n_items: int, min_answered: float) -> int:
    """Smallest number of answered items whose share reaches ``min_answered`` (at least 1)."""
    return max(1, math.ceil(min_answered * n_items - _SHARE_TOLERANCE))


def score_items(values: np.ndarray, method: str, min_answered: float = 1.0) -> np.ndarray:
    """Score rows of item values.

    Parameters
    ----------
    values : numpy.ndarray
        Shape (rows, items), float64, NaN = not answered (already reversed/counted).
    method : {"sum", "mean", "prorated_sum"}
        sum: item sum, NaN unless every item is answered. mean: mean of the answered
        items. prorated_sum: that mean times the number of items.
    min_answered : float, default 1.0
        For mean and prorated_sum, the minimum share of answered items (0 < share <= 1);
        below it the score is NaN. Ignored for sum.

    Returns
    -------
    numpy.ndarray
        Shape (rows,), float64. A row with no answered item is NaN for every method.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] == 0:
        raise InputError(
            f"need a 2-D array with at least one item column to score, got shape {values.shape}"
        )
    n_items = values.shape[1]
    answered = ~np.isnan(values)
    n_answered = answered.sum(axis=1)
    total = np.where(answered, values, 0.0).sum(axis=1)
    if method == "sum":
        enough = n_answered == n_items
        result = total
    elif method in ("mean", "prorated_sum"):
        enough = n_answered >= _required_answers(n_items, min_answered)
        with np.errstate(invalid="ignore", divide="ignore"):
            # total * n / k rather than (total / k) * n: exact when every item is answered.
            result = total / n_answered if method == "mean" else total * n_items / n_answered
    else:
        raise ConfigError(f"unknown score method '{method}'; allowed: sum, mean, prorated_sum")
    # `enough` is False for a row without answers (n_answered 0), so it is NaN, never 0.
    return np.where(enough & (n_answered > 0), result, np.nan)


def combine_exposure(
    stressor_scores: Mapping[str, np.ndarray], combine: str, n_rows: int | None = None
) -> np.ndarray:
    """Combine stressor instrument scores into E.

    Parameters
    ----------
    stressor_scores : mapping of str to numpy.ndarray
        Instrument name -> score per row (float64, NaN = missing), in config order.
    combine : {"sum", "zmean"}
        sum: sum of the scores. zmean: mean of the scores z-scored per instrument with
        the mean and SD (ddof=1) over that instrument's non-missing rows.
    n_rows : int, optional
        Number of rows; needed only when there is no stressor instrument.

    Returns
    -------
    numpy.ndarray
        E per row, float64; NaN where any stressor score is NaN, all-NaN when there are
        no stressor instruments. With zmean, an instrument whose scores have no spread
        (or fewer than two scored rows) cannot be z-scored: E is then all-NaN and a
        :class:`srflow.errors.DataWarning` says why.
    """
    if combine not in ("sum", "zmean"):
        raise ConfigError(f"exposure.combine: unknown value '{combine}'; allowed: sum, zmean")
    if not stressor_scores:
        if n_rows is None:
            raise ValueError("n_rows is needed when there is no stressor instrument")
        return np.full(n_rows, np.nan)
    if combine == "sum":
        stacked = np.column_stack(
            [np.asarray(s, dtype=np.float64) for s in stressor_scores.values()]
        )
        return stacked.sum(axis=1)  # NaN propagates: E is missing if any part is
    z, _, _ = zscore_columns(
        stressor_scores,
        "stressor",
        "E (exposure combine: zmean)",
        "use combine: sum or check the instrument's data",
    )
    return z.mean(axis=1)


def _adjacent_order(validated: pd.DataFrame) -> tuple[bool, bool]:
    """Whether rows are strictly ordered by (participant_id, wave), and whether a key pair repeats."""
    ids = validated["participant_id"].to_numpy()
    waves = validated["wave"].to_numpy()
    if len(ids) < 2:
        return True, False
    same_id = ids[1:] == ids[:-1]
    in_order = bool(np.all((ids[1:] > ids[:-1]) | (same_id & (waves[1:] > waves[:-1]))))
    repeated = bool(np.any(same_id & (waves[1:] == waves[:-1])))
    return in_order, repeated


def _sorted(validated: pd.DataFrame) -> pd.DataFrame:
    """The table sorted by participant and wave with a fresh RangeIndex (no sort if already so)."""
    missing = [c for c in KEY_COLUMNS if c not in validated.columns]
    if missing:
        raise InputError(
            f"the validated table lacks column(s) {', '.join(missing)}; score the output of srflow.validation.validate"
        )
    in_order, repeated = _adjacent_order(validated)
    if not in_order:
        validated = validated.sort_values(list(KEY_COLUMNS), kind="stable")
        in_order, repeated = _adjacent_order(validated)
    if repeated:
        raise InputError(
            "the validated table has more than one row for some (participant_id, wave); "
            "validation should have reported the duplicates: score the output of srflow.validation.validate"
        )
    return validated.reset_index(drop=True)


def answered_counts(validated: pd.DataFrame, cohort: CohortConfig) -> pd.DataFrame:
    """Count the answered items of every instrument per row.

    Parameters
    ----------
    validated : pandas.DataFrame
        The validated table.
    cohort : CohortConfig
        The cohort's config.

    Returns
    -------
    pandas.DataFrame
        Columns participant_id, wave, then one int64 column per instrument (config
        order) with the number of non-missing items; sorted by participant_id, wave,
        the same rows as :func:`score`. ``attrs["n_items"]`` maps each instrument to its
        number of items.
    """
    table = _sorted(validated)
    items = instrument_items(list(table.columns), cohort)
    out = table.loc[:, list(KEY_COLUMNS)].copy()
    for name, columns in items.items():
        out[name] = table.loc[:, columns].notna().sum(axis=1).to_numpy(dtype=np.int64)
    out.attrs["n_items"] = {name: len(columns) for name, columns in items.items()}
    return out


def score(validated: pd.DataFrame, cohort: CohortConfig) -> pd.DataFrame:
    """Score every instrument and build the scores table (pipeline stage 3).

    Parameters
    ----------
    validated : pandas.DataFrame
        The validated long table (``ValidationResult.table``): participant_id, wave,
        time, float64 item columns with NaN for missing, typed covariates.
    cohort : CohortConfig
        The cohort's config (instruments, exposure combine, covariates).

    Returns
    -------
    pandas.DataFrame
        Columns participant_id, wave, time, P, E, one float64 column per instrument
        (named by the instrument, config order), then the covariates (config order, types
        kept). Sorted by participant_id, wave, with a RangeIndex. P is the problems
        instrument's score; E the stressor scores combined by ``cohort.exposure_combine``
        (all-NaN without stressor instruments).

    Raises
    ------
    InputError
        If key columns, an instrument's items or a covariate are missing, or items are
        not numeric.
    ConfigError
        If a reverse item is not among its instrument's items.
    """
    table = _sorted(validated)
    covariates = list(cohort.columns.covariates)
    absent = [c for c in covariates if c not in table.columns]
    if absent:
        raise InputError(
            f"covariate column(s) {', '.join(absent)} missing from the validated table of cohort '{cohort.name}'"
        )
    items = instrument_items(list(table.columns), cohort)
    scores: dict[str, np.ndarray] = {}
    for name, instrument in cohort.instruments.items():
        values = item_matrix(table, instrument, items[name])
        scores[name] = score_items(values, instrument.score, instrument.min_answered)
        del values
    with warnings.catch_warnings():
        # an instrument that cannot be z-scored leaves E missing in every row, which
        # missing_score_problems below reports as an error with the cause: one message
        warnings.simplefilter("ignore", DataWarning)
        exposure = combine_exposure(
            {s.name: scores[s.name] for s in cohort.stressors},
            cohort.exposure_combine,
            n_rows=len(table),
        )
        problems = composite_p(pd.DataFrame(scores), cohort).values
    if "time" in table.columns:
        time = table["time"].to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        time = np.full(len(table), np.nan)
    columns: dict[str, object] = {
        "participant_id": table["participant_id"],
        "wave": table["wave"],
        "time": time,
        "P": problems,
        "E": exposure,
    }
    columns.update(scores)
    for name in covariates:
        columns[name] = table[name]
    out = pd.DataFrame(columns, index=pd.RangeIndex(len(table)))
    problems = missing_score_problems(out, table, cohort, items)  # a silent all-NaN score misleads
    if cohort.problems_combine and len(out) and not out["P"].notna().any() and not problems:
        problems.append(
            f"P (problems combine: {cohort.problems_combine} of {', '.join(cohort.problems_instruments)}): "
            f"missing in all {len(out)} rows: no row has every instrument scored, or one has no spread"
        )
    if problems:
        raise ValidationError(
            f"cohort {cohort.name}: a score is missing in every row, so nothing downstream can "
            "use it:\n  - " + "\n  - ".join(problems)
        )
    return out
