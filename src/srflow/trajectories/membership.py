"""The predictors table of a trajectory spec: baseline covariates -> class membership, per K.

Notes about the data (participants dropped for missing values, a constant predictor, a
reference class beyond K) are returned as text for the stage to print once. A K whose
membership model cannot be estimated (no finite maximum: a predictor separates the classes,
singular information; a constant predictor; a reference class beyond K) keeps its rows, one
per class and term, with NaN estimates, ``status`` "failed" and the ``reason``; the other K
are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from srflow.errors import ModelError
from srflow.trajectories.predictors import NOTES, bch_distal_means, fit_class_predictors

__all__ = [
    "DISTAL_COLUMNS",
    "PREDICTOR_COLUMNS",
    "baseline_predictors",
    "distal_table",
    "last_values",
    "predictor_table",
]

DISTAL_COLUMNS = [
    "K",
    "class",
    "label",
    "outcome",
    "mean",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "wald_chi2",
    "wald_df",
    "wald_p",
    "method",
]
PREDICTOR_COLUMNS = [
    "K",
    "class",
    "reference_class",
    "label",
    "term",
    "estimate",
    "se",
    "statistic",
    "p",
    "ci_low",
    "ci_high",
    "odds_ratio",
    "method",
    "status",
    "reason",
]


def baseline_predictors(
    scores: pd.DataFrame,
    names: Sequence[str],
    participant: str = "participant_id",
    wave: str = "wave",
) -> tuple[pd.DataFrame, list[str]]:
    """Each participant's predictors at their first wave, numeric (categories dummy-coded).

    A category becomes one 0/1 column per level but the first (sorted), named
    ``<column>[<level>]``. Participants with a missing predictor at their first wave are
    dropped and counted in the notes.

    Returns
    -------
    predictors : pandas.DataFrame
        Indexed by participant, numeric columns.
    notes : list of str
    """
    unknown = [name for name in names if name not in scores.columns]
    if unknown:
        raise ModelError(
            f"predictor(s) {', '.join(unknown)} are not columns of the scores table "
            f"({', '.join(map(str, scores.columns))})."
        )
    first = scores.sort_values([participant, wave], kind="mergesort").groupby(participant).head(1)
    table = first.set_index(participant)[list(names)]
    missing = table.isna().any(axis=1)
    notes = []
    if missing.any():
        counts = ", ".join(
            f"{c} {int(table[c].isna().sum())}" for c in names if table[c].isna().any()
        )
        notes.append(
            f"{int(missing.sum())} of {len(table)} participants dropped for a missing "
            f"baseline predictor ({counts})"
        )
    table = table[~missing]
    columns = {}
    for name in names:
        values = table[name]
        if pd.api.types.is_numeric_dtype(values) and not isinstance(
            values.dtype, pd.CategoricalDtype
        ):
            columns[name] = values.astype(float)
            continue
        levels = sorted(values.astype(str).unique())
        for level in levels[1:]:
            columns[f"{name}[{level}]"] = (values.astype(str) == level).astype(float)
        if len(levels) < 2:
            columns[name] = pd.Series(0.0, index=values.index)  # constant: rejected when fitted
    return pd.DataFrame(columns, index=table.index), notes


def predictor_table(
    classes: pd.DataFrame,
    predictors: pd.DataFrame,
    method: str = "ml",
    reference_class: int = 1,
    density_for: Callable[[int], Callable] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Class-membership effects for every K >= 2 of a classes table.

    Parameters
    ----------
    classes : pandas.DataFrame
        ``classes.csv``: ``participant_id, K, class, label, post_1 .. post_Kmax``.
    predictors : pandas.DataFrame
        Output of :func:`baseline_predictors` (indexed by participant).
    method, reference_class
        See :func:`srflow.trajectories.predictors.fit_class_predictors`.
    density_for : callable, optional
        ``density_for(K)`` -> the class densities of the K fit (method ``one_step``).

    Returns
    -------
    table : pandas.DataFrame
        :data:`PREDICTOR_COLUMNS`, one row per K, non-reference class and term (every class
        when the reference class is beyond K); a K that failed has NaN estimates.
    notes : list of str
        Why a K failed.
    """
    frames, notes = [], []
    for k in sorted(int(k) for k in classes["K"].unique() if int(k) >= 2):  # loop over K
        rows = classes[classes["K"] == k].set_index("participant_id")
        keep = rows.index.intersection(predictors.index)
        posterior = rows.loc[keep, [f"post_{j}" for j in range(1, k + 1)]].to_numpy(dtype=float)
        labels: Mapping[int, str] = rows.groupby("class")["label"].first().to_dict()
        try:
            density = density_for(k) if method == "one_step" and density_for else None
            if density is not None:
                density = _aligned(density, rows.index, keep)
            table = fit_class_predictors(
                posterior, predictors.loc[keep], method, reference_class, class_density=density
            )
        except ModelError as error:
            notes.append(f"K = {k}: {error}")
            table = _failed_rows(k, reference_class, predictors.columns, method, str(error))
        table.insert(0, "K", k)
        table.insert(2, "reference_class", int(reference_class))
        table.insert(3, "label", table["class"].map(labels).fillna("").astype(str))
        frames.append(table)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in PREDICTOR_COLUMNS}), notes
    return pd.concat(frames, ignore_index=True)[PREDICTOR_COLUMNS], notes


def _failed_rows(
    k: int, reference_class: int, columns: Sequence[str], method: str, reason: str
) -> pd.DataFrame:
    """NaN rows of a K whose membership model could not be estimated, with the reason."""
    classes = [c for c in range(1, k + 1) if c != int(reference_class)]
    terms = ["(intercept)", *columns]
    nan = np.full(len(classes) * len(terms), np.nan)
    return pd.DataFrame(
        {
            "class": np.repeat(classes, len(terms)),
            "term": np.tile(terms, len(classes)),
            **{name: nan for name in ("estimate", "se", "statistic", "p", "ci_low", "ci_high")},
            "odds_ratio": nan,
            "method": f"{method}: {NOTES.get(method, method)}",
            "status": "failed",
            "reason": reason,
        }
    )


def _aligned(density: Callable, fitted: pd.Index, keep: pd.Index) -> Callable:
    """A class density restricted to the participants kept (rows in ``keep`` order)."""
    position = fitted.get_indexer(keep)
    if np.array_equal(position, np.arange(len(fitted))):
        return density

    def restricted(tau: np.ndarray) -> np.ndarray:
        full = np.zeros((len(fitted), tau.shape[1]))  # dropped participants weigh nothing
        full[position] = tau
        return density(full)[position]

    return restricted


def last_values(
    scores: pd.DataFrame,
    names: Sequence[str],
    participant: str = "participant_id",
    wave: str = "wave",
) -> tuple[pd.DataFrame, list[str]]:
    """Each participant's last observed value of every distal outcome (numeric), by wave."""
    unknown = [name for name in names if name not in scores.columns]
    if unknown:
        raise ModelError(
            f"distal outcome(s) {', '.join(unknown)} are not columns of the scores table."
        )
    columns, notes = {}, []
    ordered = scores.sort_values([participant, wave], kind="mergesort")
    everyone = ordered[participant].unique()
    for name in names:
        if not pd.api.types.is_numeric_dtype(ordered[name]):
            notes.append(f"distal outcome {name} is not numeric; left out")
            continue
        observed = ordered.dropna(subset=[name]).groupby(participant)[name].last()
        if len(observed) < len(everyone):
            notes.append(
                f"{len(everyone) - len(observed)} of {len(everyone)} participants have "
                f"no value of {name}; left out of its means"
            )
        columns[name] = observed
    return pd.DataFrame(columns), notes


def distal_table(classes: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """BCH class means of every distal outcome for every K >= 2 (see ``bch_distal_means``)."""
    frames = []
    for k in sorted(int(k) for k in classes["K"].unique() if int(k) >= 2):  # loop over K
        rows = classes[classes["K"] == k].set_index("participant_id")
        labels = rows.groupby("class")["label"].first()
        for name in outcomes.columns:  # loop over outcomes
            values = outcomes[name].dropna()
            keep = rows.index.intersection(values.index)
            posterior = rows.loc[keep, [f"post_{j}" for j in range(1, k + 1)]].to_numpy(dtype=float)
            fit = bch_distal_means(posterior, values.loc[keep].to_numpy(dtype=float))
            frames.append(
                pd.DataFrame(
                    {
                        "K": k,
                        "class": np.arange(1, k + 1),
                        "label": labels.reindex(np.arange(1, k + 1))
                        .fillna("")
                        .astype(str)
                        .to_numpy(),
                        "outcome": name,
                        "mean": fit["mean"],
                        "se": fit["se"],
                        "ci_low": fit["mean"] - 1.959963984540054 * fit["se"],
                        "ci_high": fit["mean"] + 1.959963984540054 * fit["se"],
                        "n": np.bincount(posterior.argmax(axis=1), minlength=k),
                        "wald_chi2": fit["wald_chi2"],
                        "wald_df": fit["wald_df"],
                        "wald_p": fit["wald_p"],
                        "method": "bch: BCH-weighted class means, sandwich SEs, Wald test of equal means",
                    }
                )
            )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in DISTAL_COLUMNS})
    return pd.concat(frames, ignore_index=True)[DISTAL_COLUMNS]
