"""Type III tests of the fixed terms, one F test per term, as lmerTest's ``anova(type = 3)``.

The hypothesis matrix of a term is built the way lmerTest builds it for treatment coding:
express the columns of the rank-deficient coding (every level of every factor, the
reference too) in the model's own columns, then orthogonalise the rows of each term
against the terms that contain it (a term is contained in another that has all its
variables and more, with the same numeric variables: ``site`` in ``site:group`` but not
in ``E:site``). Numeric terms that no other term contains are tested by their own
coefficients, so a numeric main effect's F is its t squared.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from srflow.mixed.design import INTERCEPT, parse_term
from srflow.mixed.recipe import DesignRecipe

ANOVA_COLUMNS = ["term", "num_df", "den_df", "F", "p"]


def _variables(recipe: DesignRecipe, term: str) -> tuple[frozenset, frozenset]:
    """All variables of a term and its numeric ones (a power is a variable of its own, as I(E^2))."""
    parts = parse_term(term, recipe.spec.name)
    every = frozenset((p.column, p.power) for p in parts)
    numeric = frozenset((p.column, p.power) for p in parts if p.column not in recipe.levels)
    return every, numeric


def _contained_in(recipe: DesignRecipe, terms: list[str]) -> dict[str, list[str]]:
    """For every term, the terms that contain it (lmerTest's ``containment``)."""
    info = {term: _variables(recipe, term) for term in terms}
    out = {}
    for term, (every, numeric) in info.items():
        out[term] = [
            other
            for other, (o_every, o_numeric) in info.items()
            if every < o_every and numeric == o_numeric
        ]
    return out


def _zap(values: np.ndarray, digits: int = 7) -> np.ndarray:
    """R's ``zapsmall``: round relative to the largest magnitude so that round-off becomes 0."""
    largest = np.max(np.abs(values)) if values.size else 0.0
    if largest == 0:
        return values
    return np.round(values, max(0, digits - int(np.ceil(np.log10(largest)))))


def type3_contrasts(
    recipe: DesignRecipe, data: pd.DataFrame, X: np.ndarray, x_names: list[str]
) -> dict[str, np.ndarray]:
    """Hypothesis matrix of every fixed term for its Type III test.

    Parameters
    ----------
    recipe : DesignRecipe
    data : DataFrame
        The rows the model was fitted to.
    X, x_names : ndarray, list of str
        The fixed-effects design and its column names (intercept first).

    Returns
    -------
    dict
        Term -> (rows, p) contrast matrix.
    """
    terms = list(recipe.spec.fixed)
    blocks = [np.ones((len(data), 1))]
    full_names = [INTERCEPT]
    own_columns: dict[str, list[int]] = {}
    start = 1
    for term in terms:
        block, names = recipe.term_block(data, term, full=True)
        blocks.append(block)
        full_names.extend(names)
        own = recipe.term_block(data.iloc[:1], term)[1]
        own_columns[term] = list(range(start, start + len(own)))
        start += len(own)
    full = np.column_stack(blocks)
    # Columns of the full coding in the model's coding: exact (full lies in X's column space).
    coef = np.linalg.solve(X.T @ X, X.T @ full)
    basis = _zap(coef.T)  # rows: full-coding columns, columns: model columns
    order = sorted(terms, key=lambda t: -len(parse_term(t, recipe.spec.name)))
    containing = _contained_in(recipe, terms)
    for term in order:
        if containing[term]:
            others = [j for t in containing[term] for j in own_columns[t]]
            design = basis[:, others]
            fitted = design @ np.linalg.lstsq(design, basis[:, own_columns[term]], rcond=None)[0]
            basis[:, own_columns[term]] = _zap(basis[:, own_columns[term]] - fitted)
    rows = [full_names.index(name) for name in x_names]
    basis = basis[rows]
    out = {}
    for term in terms:
        contrast = basis[:, own_columns[term]].T
        out[term] = contrast[np.abs(contrast).sum(axis=1) > 1e-8]
    return out


def anova_table(contrasts: dict[str, np.ndarray], tester, df_method: str) -> pd.DataFrame:
    """One F test per term.

    Parameters
    ----------
    contrasts : dict
        Term -> contrast matrix (:func:`type3_contrasts`).
    tester : object or None
        Has ``f_test(L) -> (F, num_df, den_df)`` (Satterthwaite or Kenward-Roger); for
        ``df_method == "wald"`` an object with ``beta`` and ``vcov_beta``.
    df_method : str

    Returns
    -------
    DataFrame
        ``term, num_df, den_df, F, p``; Wald rows have ``den_df`` infinite and ``p`` from
        chi-square(num_df) of ``num_df * F``.
    """
    rows = []
    for term, contrast in contrasts.items():
        if df_method == "wald":
            estimate = contrast @ tester.beta
            wald = float(
                estimate @ np.linalg.solve(contrast @ tester.vcov_beta @ contrast.T, estimate)
            )
            q = contrast.shape[0]
            rows.append(
                {
                    "term": term,
                    "num_df": q,
                    "den_df": np.inf,
                    "F": wald / q,
                    "p": float(special.chdtrc(q, wald)),
                }
            )
            continue
        f_value, num_df, den_df = tester.f_test(contrast)
        rows.append(
            {
                "term": term,
                "num_df": num_df,
                "den_df": den_df,
                "F": f_value,
                "p": float(special.fdtrc(num_df, den_df, f_value)),
            }
        )
    return pd.DataFrame(rows, columns=ANOVA_COLUMNS)
