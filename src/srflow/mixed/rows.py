"""The rows a mixed model is fitted on: variables resolved, complete cases, data checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from srflow.mixed.design import MixedModelSpec

MIN_GROUPS = 3


def model_data(
    data: pd.DataFrame,
    specs: Sequence[MixedModelSpec],
    sr_tables: Mapping[str, pd.DataFrame] | None = None,
    sr_failures: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, int]:
    """The model's data with one column per variable (named as written), and rows dropped.

    When every variable of ``specs`` is a plain column of ``data`` and no SR tables are
    given, ``data`` is returned as it is (the complete-case filter comes later). Otherwise
    the variables of all ``specs`` together are resolved by
    :func:`srflow.variables.resolve_variables`: the rows are those complete on every one of
    them (and on the group), and ``z()``, ``within()`` and ``between()`` are computed over
    those rows (``within``/``between`` by participant), so models compared by a
    likelihood-ratio test see the same transformed values.

    Parameters
    ----------
    data : DataFrame
        The scores table (``participant_id``, ``wave`` and the columns the specs name).
    specs : sequence of MixedModelSpec
        The model, or the two models of a likelihood-ratio test.
    sr_tables, sr_failures : mapping, optional
        SR spec name -> its table, and -> why it failed.

    Returns
    -------
    frame, n_dropped : DataFrame, int
        ``n_dropped`` counts the rows of ``data`` left out (0 when ``data`` is returned).

    Raises
    ------
    ConfigError
        An unknown column or SR spec, a transform of a non-numeric column.
    ModelError
        A named SR spec failed or has no scores, a lag missing everywhere, no complete row,
        a constant variable under ``z()``.
    """
    if sr_tables is None and not any(spec.needs_resolving() for spec in specs):
        return data, 0
    from srflow.variables import resolve_variables

    groups = [s.group for s in specs if s.group != "participant_id"]
    variables = list(dict.fromkeys([*groups, *(v for s in specs for v in s.variables())]))
    where = f"mixed_models.{specs[-1].name}"
    resolved = resolve_variables(data, sr_tables or {}, variables, where, sr_failures)
    return resolved.frame, len(data) - len(resolved.frame)


def _complete_rows(
    data: pd.DataFrame, spec: MixedModelSpec, extra: list[str] | None = None
) -> tuple[pd.DataFrame, int]:
    columns = list(dict.fromkeys([*spec.used_columns(), *(extra or [])]))
    subset = data[columns]
    keep = subset.notna().all(axis=1).to_numpy()
    return subset.loc[keep].reset_index(drop=True), int((~keep).sum())


def _constant_within_groups(columns: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per column, True when it takes a single value within every group."""
    codes = pd.factorize(groups)[0]
    n = codes.max(initial=-1) + 1
    out = np.zeros(columns.shape[1], bool)
    for j in range(columns.shape[1]):  # over random terms (a handful), not participants
        x = columns[:, j]
        low = np.full(n, np.inf)
        high = np.full(n, -np.inf)
        np.minimum.at(low, codes, x)
        np.maximum.at(high, codes, x)
        out[j] = bool(np.all(high - low <= 1e-12 * max(1.0, float(np.abs(x).max(initial=0)))))
    return out


def _check_data(spec, recipe, rows, X, x_names, Z, z_names) -> str | None:
    """Reason the model cannot be fitted to these rows, or None."""
    if len(rows) == 0:
        return "no complete rows (every row misses the outcome, the group or a predictor)"
    values = np.column_stack([rows[spec.outcome].to_numpy(dtype=float), X, Z])
    if not np.isfinite(values).all():
        return "non-finite data (infinite values in the outcome or a predictor)"
    n_groups = rows[spec.group].nunique()
    if n_groups < MIN_GROUPS:
        return f"too few participants: {n_groups} (at least {MIN_GROUPS} needed)"
    if n_groups <= Z.shape[1]:
        return (
            f"too few participants: {n_groups} for {Z.shape[1]} random effects per participant "
            "(need more participants than random effects)"
        )
    if np.ptp(rows[spec.outcome].to_numpy(dtype=float)) == 0:
        return f"constant outcome: {spec.outcome} takes one value"
    for matrix, names in ((X, x_names), (Z, z_names)):
        for j, name in enumerate(names[1:], start=1):
            if np.ptp(matrix[:, j]) == 0:
                return f"constant predictor: {name} takes one value in the rows used"
    fixed_in_person = _constant_within_groups(Z[:, 1:], rows[spec.group].to_numpy())
    if fixed_in_person.any():
        name = z_names[1 + int(np.flatnonzero(fixed_in_person)[0])]
        return (
            f"random term {name} does not vary within any participant; a random term must be a "
            "row-varying variable"
        )
    for term in (*spec.fixed, *spec.random):
        if not recipe.term_block(rows.iloc[:1], term)[1]:
            return f"constant predictor: {term} has a single level in the rows used"
    if len(rows) <= X.shape[1] + 1 or np.linalg.matrix_rank(X) < X.shape[1]:
        return "singular/rank-deficient design: a fixed-effect column is a linear combination of others"
    return None


def nested_in_problem(
    spec: MixedModelSpec, data: pd.DataFrame, rows: pd.DataFrame | None
) -> str | None:
    """Why ``spec.nested_in`` cannot be used, or None (model-level: the other models still run).

    ``data`` is checked for the column and its type; ``rows`` (the complete rows, when
    given) for a participant in two levels and for a single level.

    Examples
    --------
    >>> spec = MixedModelSpec("P", [], name="m", nested_in="site")
    >>> rows = pd.DataFrame({"participant_id": ["a", "a", "b"], "P": [1.0, 2, 3],
    ...                      "site": ["x", "y", "x"]})
    >>> print(nested_in_problem(spec, rows, rows))
    mixed_models.m.nested_in: participant a occurs in site x and site y (1 participant(s) in more than one site); each participant must belong to one site.
    """
    column = spec.nested_in
    if column is None:
        return None
    where = f"mixed_models.{spec.name}.nested_in"
    if column not in data.columns:
        return f"{where}: column {column!r} is not in the data."
    series = data[column]
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return (
            f"{where}: column {column!r} is numeric; nested_in names a categorical column (site "
            "or country labels): store its codes as text."
        )
    if rows is None:
        return None
    from srflow.mixed.nested import sites_of_participants

    bad, levels = sites_of_participants(rows[spec.group].to_numpy(), rows[column].to_numpy())
    if bad:
        label, sites = next(iter(bad.items()))
        return (
            f"{where}: participant {label} occurs in "
            + " and ".join(f"{column} {s}" for s in sites)
            + f" ({len(bad)} participant(s) in more than one {column}); each participant must "
            f"belong to one {column}."
        )
    if len(levels) < 2:
        found = f" ({levels[0]})" if len(levels) else ""
        return (
            f"{where}: column {column!r} has a single level{found} in the rows used; a random "
            "intercept for it needs two or more."
        )
    return None
