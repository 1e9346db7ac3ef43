"""Turn terms of the variable grammar into columns on a model's rows.

Base variables come from the scores table (one row per participant and wave) or from SR
tables: a row-level SR spec (level ``wave``, ``multilevel``; ``change`` at the interval's
end wave) joins on (participant_id, wave), a person-level spec (``period``) gives every row
of a participant the same value, and a spec of level ``sliding`` (one score per participant
and window) cannot be joined. ``sr:<spec>`` is the table's ``sr`` column, ``sr_z:<spec>``
its ``sr_z`` column.

*The model's rows* are the rows of the scores table complete on every variable of the
model, i.e. on every factor of every term passed together. ``lag(x)`` is x at the
participant's previous wave (wave number minus one) in the whole scores table, so it is
known before the model's rows are chosen, and is missing where that wave is absent.
``within``, ``between`` and ``z`` are then computed on the model's rows only: ``between(x)``
is the participant's mean of x over their model rows, ``within(x)`` is x minus that mean,
and ``z(x)`` is (x - mean) / SD (ddof 1) over the model's rows. So ``z()`` comes after the
complete-case filter, as R's ``scale()`` in a model formula would if the data were filtered
to complete cases first. Everything is vectorised over rows (no loop over participants).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from srflow.errors import ConfigError, InputError, ModelError
from srflow.variables.grammar import GRAMMAR_SUMMARY, Base, Factor, GrammarError, Term, parse_term

KEYS = ("participant_id", "wave")


@dataclasses.dataclass(frozen=True)
class ResolvedVariables:
    """The columns of a model, on its rows.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``participant_id``, ``wave`` and one column per term, named as written, on the
        model's rows (in the order of the scores table; a fresh 0..n-1 index).
    rows : numpy.ndarray
        Positions (0-based) in the scores table of the model's rows.
    """

    frame: pd.DataFrame
    rows: np.ndarray


@dataclasses.dataclass(frozen=True)
class RowKeys:
    """The scores table's keys as integers, computed once per model: joins then avoid text.

    Attributes
    ----------
    labels : numpy.ndarray
        The distinct participant ids (as text), sorted.
    codes : numpy.ndarray
        Per row, the index of its participant in ``labels``.
    wave : numpy.ndarray
        Per row, the wave number (int64).
    """

    labels: np.ndarray
    codes: np.ndarray
    wave: np.ndarray

    @classmethod
    def of(cls, scores: pd.DataFrame) -> RowKeys:
        """Keys of a scores table (``participant_id``, ``wave``)."""
        codes, labels = pd.factorize(scores["participant_id"].astype(str), sort=True)
        return cls(
            np.asarray(labels, dtype=object),
            codes.astype(np.int64),
            scores["wave"].to_numpy(dtype=np.int64),
        )

    def participant_codes(self, ids: pd.Series) -> np.ndarray:
        """Codes of other participant ids (-1 where not in the scores table)."""
        # Match the distinct ids only: an SR table repeats each id once per wave.
        local, distinct = pd.factorize(ids.astype(str))
        mapped = pd.Index(self.labels).get_indexer(np.asarray(distinct, dtype=object))
        return np.where(local >= 0, mapped[local], -1)


def parse_terms(expressions: Sequence[str], where: str) -> list[Term]:
    """Parse every term, turning a grammar error into a ConfigError that names ``where``."""
    terms = []
    for text in expressions:
        try:
            terms.append(parse_term(text))
        except GrammarError as exc:
            raise ConfigError(
                f"{where}: {text!r} is not a valid term: {exc}. A term is {GRAMMAR_SUMMARY}"
            ) from None
    return terms


def sr_join_level(table: pd.DataFrame, spec: str, where: str) -> str:
    """``"row"`` or ``"person"``: how an SR table joins, read from its key columns."""
    if "window" in table.columns:
        raise ConfigError(
            f"{where}: SR spec '{spec}' has level sliding (one score per participant and "
            "window), which cannot be joined to a model's rows"
        )
    return "row" if "wave" in table.columns else "person"


def base_values(
    scores: pd.DataFrame,
    sr_tables: Mapping[str, pd.DataFrame],
    base: Base,
    where: str,
    sr_failures: Mapping[str, str] | None = None,
    keys: RowKeys | None = None,
) -> pd.Series:
    """The values of a base variable on the rows of the scores table.

    Parameters
    ----------
    scores : pandas.DataFrame
        The scores table (``participant_id``, ``wave``, ...).
    sr_tables : mapping
        SR spec name -> its table (``results/<cohort>/sr/<spec>.csv``).
    base : Base
        The variable.
    where : str
        Config key, for messages.
    sr_failures : mapping, optional
        SR spec name -> why it failed, for specs whose table is empty because they failed.
    keys : RowKeys, optional
        ``RowKeys.of(scores)``, when the caller has it already.

    Returns
    -------
    pandas.Series
        Aligned with ``scores`` (same index); missing where the SR table has no score.

    Raises
    ------
    ConfigError
        An unknown column, a spec without a table, a spec of level sliding.
    ModelError
        The spec failed (its reason is quoted) or has no scores.
    """
    if base.kind == "column":
        if base.name not in scores.columns:
            raise ConfigError(
                f"{where}: '{base.name}' is not a column of the scores table (columns: "
                f"{', '.join(map(str, scores.columns))})"
            )
        return scores[base.name]
    failures = sr_failures or {}
    if base.name in failures:
        raise ModelError(
            f"{where}: SR spec '{base.name}' failed, so {base.text} has no values: "
            f"{failures[base.name]}"
        )
    if base.name not in sr_tables:
        raise ConfigError(
            f"{where}: no SR table for spec '{base.name}' (given: "
            f"{', '.join(sorted(sr_tables)) or 'none'})"
        )
    table = sr_tables[base.name]
    level = sr_join_level(table, base.name, where)
    if len(table) == 0:
        raise ModelError(
            f"{where}: SR spec '{base.name}' has no scores, so {base.text} has no values"
        )
    keys = keys if keys is not None else RowKeys.of(scores)
    values = _join(keys, table, level == "row", base.kind, base.name)
    return pd.Series(values, index=scores.index, name=base.text)


def _join(keys: RowKeys, table: pd.DataFrame, by_wave: bool, column: str, spec: str) -> np.ndarray:
    """The table's ``column`` on the scores rows, matched on integer keys (NaN where absent)."""
    codes = keys.participant_codes(table["participant_id"])
    values = table[column].to_numpy(dtype=float)
    if by_wave:
        span = int(max(keys.wave.max(initial=0), table["wave"].max()) + 1)
        table_key = codes * span + table["wave"].to_numpy(dtype=np.int64)
        row_key = keys.codes * span + keys.wave
    else:
        table_key, row_key = codes, keys.codes
    known = codes >= 0  # SR rows of participants outside the scores table cannot match
    table_key, values = table_key[known], values[known]
    order = np.argsort(table_key, kind="stable")
    table_key, values = table_key[order], values[order]
    if np.any(table_key[1:] == table_key[:-1]):
        what = "(participant_id, wave)" if by_wave else "participant_id"
        raise InputError(f"SR table of spec '{spec}' repeats a {what} key")
    if len(table_key) == 0:
        return np.full(len(row_key), np.nan)
    at = np.minimum(np.searchsorted(table_key, row_key), len(table_key) - 1)
    return np.where(table_key[at] == row_key, values[at], np.nan)


def lag_values(values: pd.Series, codes: np.ndarray, waves: np.ndarray) -> pd.Series:
    """Each row's value at the same participant's wave number minus one (missing if absent).

    Parameters
    ----------
    values : pandas.Series
        One value per row.
    codes, waves : numpy.ndarray
        Per row, an integer participant code and the wave number.

    Examples
    --------
    >>> x = pd.Series([1.0, 2.0, 3.0, 4.0])
    >>> lag_values(x, np.array([0, 0, 0, 1]), np.array([1, 2, 4, 2])).tolist()
    [nan, 1.0, nan, nan]
    """
    order = np.lexsort((waves, codes))
    c, w = codes[order], waves[order]
    has_previous = np.zeros(len(order), bool)
    has_previous[1:] = (c[1:] == c[:-1]) & (w[1:] == w[:-1] + 1)
    source = np.full(len(order), -1)
    source[1:] = order[:-1]
    picked = np.where(has_previous, source, -1)
    out = np.empty(len(order), dtype=np.int64)
    out[order] = picked
    result = values.iloc[np.maximum(out, 0)].copy()
    result.index = values.index
    return result.where(out >= 0)


def _numeric(values: pd.Series, what: str, where: str) -> np.ndarray:
    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
        raise ConfigError(f"{where}: {what} needs a numeric variable; it is not numeric")
    return values.to_numpy(dtype=float, na_value=np.nan)


def participant_means(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Each row's participant mean of ``values`` (codes 0..G-1 over the same rows).

    Examples
    --------
    >>> participant_means(np.array([1.0, 3.0, 10.0]), np.array([0, 0, 1])).tolist()
    [2.0, 2.0, 10.0]
    """
    totals = np.bincount(codes, weights=values)
    counts = np.bincount(codes)
    return (totals / counts)[codes]


def zscore(values: np.ndarray, what: str, where: str) -> np.ndarray:
    """(x - mean) / SD with ddof 1; a ModelError (naming ``where``) if x is constant or too short.

    Examples
    --------
    >>> zscore(np.array([1.0, 2.0, 3.0]), "z(x)", "m").tolist()
    [-1.0, 0.0, 1.0]
    """
    if len(values) < 2:
        raise ModelError(f"{where}: {what} needs at least two rows; the model has {len(values)}")
    sd = values.std(ddof=1)
    if not np.isfinite(sd) or sd <= 1e-12 * max(1.0, float(np.abs(values).max())):
        raise ModelError(
            f"{where}: {what} is undefined: the variable is constant over the model's rows"
        )
    return (values - values.mean()) / sd


def _pre_values(
    scores: pd.DataFrame,
    sr_tables: Mapping[str, pd.DataFrame],
    factor: Factor,
    where: str,
    sr_failures: Mapping[str, str] | None,
    keys: RowKeys,
) -> pd.Series:
    """A factor's values before the model's rows are known: the base, lagged if asked."""
    values = base_values(scores, sr_tables, factor.base, where, sr_failures, keys)
    if "lag" in factor.transforms:
        lagged = lag_values(values, keys.codes, keys.wave)
        if values.notna().any() and lagged.isna().all():
            raise ModelError(
                f"{where}: lag({factor.base.text}) is missing on every row: no participant "
                f"has {factor.base.text} at two consecutive wave numbers (w - 1 and w)"
            )
        values = lagged
    return values


def _finish(
    values: pd.Series, factor: Factor, codes: np.ndarray, where: str
) -> pd.Series | np.ndarray:
    """Apply the transforms that depend on the model's rows (within/between, then z)."""
    layers = [name for name in factor.transforms if name != "lag"]
    if not layers:
        return values.reset_index(drop=True)
    x = _numeric(values, factor.atom_text, where)
    for name in reversed(layers):  # innermost first
        if name == "between":
            x = participant_means(x, codes)
        elif name == "within":
            x = x - participant_means(x, codes)
        else:
            x = zscore(x, factor.atom_text, where)
    return x


def _term_column(
    term: Term, atoms: Mapping[str, pd.Series | np.ndarray], where: str
) -> pd.Series | np.ndarray:
    if not term.is_interaction and term.factors[0].power == 1:
        return atoms[term.factors[0].atom_text]
    product = None
    for factor in term.factors:
        x = atoms[factor.atom_text]
        if isinstance(x, pd.Series):
            if not (pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x)):
                raise ConfigError(
                    f"{where}: {term.text!r} multiplies or powers the non-numeric "
                    f"{factor.atom_text}; pass its factors separately and expand the "
                    "categories in the design"
                )
            x = x.to_numpy(dtype=float)
        x = x**factor.power
        product = x if product is None else product * x
    return product


def resolve_variables(
    scores: pd.DataFrame,
    sr_tables: Mapping[str, pd.DataFrame],
    expressions: Sequence[str],
    where: str = "model",
    sr_failures: Mapping[str, str] | None = None,
) -> ResolvedVariables:
    """Resolve the terms of one model into columns on the model's rows (see the module docstring).

    Parameters
    ----------
    scores : pandas.DataFrame
        The scores table: ``participant_id``, ``wave`` and the columns the terms name, one
        row per (participant, wave).
    sr_tables : mapping
        SR spec name -> its table, for the specs the terms name.
    expressions : sequence of str
        Every term of the model (outcome included): together they define the model's rows.
    where : str
        Config key of the model (e.g. ``mixed_models.rf``), starting every message.
    sr_failures : mapping, optional
        SR spec name -> the reason it failed.

    Returns
    -------
    ResolvedVariables
        One column per term, named as written; a numeric interaction or power is the
        product; a non-numeric column without transform is returned as it is.

    Raises
    ------
    ConfigError
        A grammar error, an unknown column or spec, a spec of level sliding, a transform
        of a non-numeric variable.
    ModelError
        No row complete on every variable, an all-missing lag, a failed SR spec, a
        constant variable under z().

    Examples
    --------
    >>> scores = pd.DataFrame({"participant_id": ["a", "a", "b", "b"], "wave": [1, 2, 1, 2],
    ...                        "E": [1.0, 3.0, 2.0, 6.0]})
    >>> out = resolve_variables(scores, {}, ["within(E)", "between(E)", "lag(E)"])
    >>> out.rows.tolist(), out.frame["within(E)"].tolist(), out.frame["between(E)"].tolist()
    ([1, 3], [0.0, 0.0], [3.0, 6.0])
    """
    terms = parse_terms(expressions, where)
    missing_keys = [k for k in KEYS if k not in scores.columns]
    if missing_keys:
        raise InputError(f"{where}: the scores table lacks {', '.join(missing_keys)}")
    factors = {f.atom_text: f for term in terms for f in term.factors}
    keys = RowKeys.of(scores)
    pre = {
        text: _pre_values(scores, sr_tables, f, where, sr_failures, keys)
        for text, f in factors.items()
    }
    complete = np.ones(len(scores), bool)
    for values in pre.values():
        complete &= values.notna().to_numpy()
    if not complete.any():
        counts = ", ".join(f"{text}: {int(v.notna().sum())}" for text, v in pre.items())
        raise ModelError(
            f"{where}: no row has a value for every variable of the model "
            f"(rows with a value: {counts})"
        )
    rows = np.flatnonzero(complete)
    participant = scores["participant_id"].iloc[rows].reset_index(drop=True)
    codes = np.unique(keys.codes[rows], return_inverse=True)[1]  # 0..G-1 over the model's rows
    atoms = {text: _finish(pre[text].iloc[rows], f, codes, where) for text, f in factors.items()}
    columns = {
        "participant_id": participant,
        "wave": scores["wave"].iloc[rows].reset_index(drop=True),
    }
    for term in terms:
        columns[term.text] = _term_column(term, atoms, where)
    return ResolvedVariables(frame=pd.DataFrame(columns), rows=rows)
