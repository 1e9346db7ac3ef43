"""One row per participant, and the design matrix of a person-level regression.

Every base variable of the spec is first put on the rows of the scores table
(``srflow.variables.base_values``: columns as they are, SR scores joined by their level),
then reduced to one value per participant: a period-level SR score (the same on every row
of the participant) is taken as it is; any other numeric variable by ``aggregate`` (first =
the value at the lowest wave number that has one; mean = the mean over the waves that have
one); a non-numeric variable always by its first value. The model's participants are those
with a value for every variable; ``z()`` is computed over them. Category variables are
dummy coded against their first level in sorted order, among the model's participants.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from srflow.errors import ConfigError, ModelError
from srflow.variables.grammar import Base, Factor, Term
from srflow.variables.resolve import RowKeys, base_values, parse_terms, sr_join_level, zscore


@dataclasses.dataclass(frozen=True)
class PersonData:
    """The model's participants and their values.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``participant_id`` and one column per base variable (named as written), one row per
        participant of the model (sorted by participant_id).
    n_participants : int
        Participants in the scores table (``n_dropped_missing`` = this minus the rows).
    """

    frame: pd.DataFrame
    n_participants: int


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def _person_level(base: Base, sr_tables: Mapping[str, pd.DataFrame], where: str) -> bool:
    if base.kind == "column" or base.name not in sr_tables:
        return False
    return sr_join_level(sr_tables[base.name], base.name, where) == "person"


def person_data(
    scores: pd.DataFrame,
    sr_tables: Mapping[str, pd.DataFrame],
    terms: Mapping[str, list[Term]],
    aggregate: str,
    sr_failures: Mapping[str, str] | None = None,
) -> PersonData:
    """Aggregate every base variable of the terms to one value per participant.

    Parameters
    ----------
    scores : pandas.DataFrame
        The scores table.
    sr_tables : mapping
        SR spec name -> SR table.
    terms : mapping
        Config key (e.g. ``regressions.rf.outcome``) -> its parsed terms.
    aggregate : {"first", "mean"}
        See the module docstring.
    sr_failures : mapping, optional
        SR spec name -> why it failed.

    Returns
    -------
    PersonData
    """
    bases = {}
    for where, parsed in terms.items():
        for term in parsed:
            for factor in term.factors:
                bases.setdefault(factor.base.text, (factor.base, where))
    keys = RowKeys.of(scores)
    order = np.lexsort((keys.wave, keys.codes))  # by participant, then wave
    values = {
        text: base_values(scores, sr_tables, base, where, sr_failures, keys).iloc[order]
        for text, (base, where) in bases.items()
    }
    table = pd.DataFrame({text: v.reset_index(drop=True) for text, v in values.items()})
    grouped = table.groupby(keys.codes[order], sort=True)
    firsts = grouped.first()  # first non-missing value, rows being in wave order
    if aggregate == "mean":
        averaged = [
            t
            for t, (b, w) in bases.items()
            if _is_numeric(table[t]) and not _person_level(b, sr_tables, w)
        ]
        if averaged:
            firsts[averaged] = grouped[averaged].mean()
    n_participants = len(firsts)
    complete = firsts.notna().all(axis=1).to_numpy()
    frame = firsts.loc[complete].reset_index(drop=True)
    frame.insert(0, "participant_id", keys.labels[firsts.index.to_numpy()[complete]])
    return PersonData(frame=frame, n_participants=n_participants)


def _factor_block(
    frame: pd.DataFrame, factor: Factor, where: str
) -> tuple[list[np.ndarray], list[str]]:
    values = frame[factor.base.text]
    if not _is_numeric(values):
        if factor.transforms or factor.power != 1:
            raise ConfigError(
                f"{where}: {factor.text!r} needs a numeric variable; "
                f"{factor.base.text} is not numeric"
            )
        levels = sorted(pd.unique(values), key=str)
        if len(levels) < 2:
            raise ModelError(
                f"{where}: {factor.base.text} has the single value {levels[0]!r} among the "
                "participants in the model, so it cannot be a predictor"
            )
        text = values.astype(str).to_numpy()
        return (
            [(text == str(level)).astype(float) for level in levels[1:]],
            [f"{factor.atom_text}[T.{level}]" for level in levels[1:]],
        )
    x = values.to_numpy(dtype=float)
    if "z" in factor.transforms:
        x = zscore(x, factor.atom_text, where)
    return [x**factor.power], [factor.text]


def term_columns(frame: pd.DataFrame, term: Term, where: str) -> tuple[list[np.ndarray], list[str]]:
    """Design columns and names of one term (a product over its factors' columns)."""
    columns, names = [np.ones(len(frame))], [""]
    for factor in term.factors:
        block, labels = _factor_block(frame, factor, where)
        columns = [c * b for c in columns for b in block]
        names = [f"{n}:{lab}" if n else lab for n in names for lab in labels]
    return columns, names


def outcome_values(frame: pd.DataFrame, term: Term, where: str) -> np.ndarray:
    """The outcome on the model's participants (``z()`` applied if written)."""
    factor = term.factors[0]
    if term.is_interaction or factor.power != 1:
        raise ConfigError(
            f"{where}: {term.text!r} must be a single variable (no interaction, no power)"
        )
    if not _is_numeric(frame[factor.base.text]):
        raise ConfigError(f"{where}: the outcome {factor.base.text} is not numeric")
    y = frame[factor.base.text].to_numpy(dtype=float)
    return zscore(y, factor.atom_text, where) if "z" in factor.transforms else y


def design(frame: pd.DataFrame, terms: list[Term], where: str) -> tuple[np.ndarray, list[str]]:
    """The predictors' design matrix (without the intercept) and its column names."""
    columns: list[np.ndarray] = []
    names: list[str] = []
    for term in terms:
        block, labels = term_columns(frame, term, where)
        columns += block
        names += labels
    return np.column_stack(columns) if columns else np.empty((len(frame), 0)), names


def parse_spec_terms(outcome: str, predictors: list[str], where: str) -> dict[str, list[Term]]:
    """Parse the outcome and predictors; only ``z()`` is allowed in a person-level regression."""
    parsed = {
        f"{where}.outcome": parse_terms([outcome], f"{where}.outcome"),
        f"{where}.predictors": parse_terms(predictors, f"{where}.predictors"),
    }
    for key, terms in parsed.items():
        for term in terms:
            for factor in term.factors:
                other = [t for t in factor.transforms if t != "z"]
                if other:
                    raise ConfigError(
                        f"{key}: {term.text!r} uses {other[0]}(), which needs several rows "
                        "per participant; a person-level regression allows only z() "
                        "(use aggregate: mean for a participant's mean)"
                    )
    return parsed
