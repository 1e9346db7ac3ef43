"""From a mixed-model spec and a data table to design matrices: factor coding and level checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from srflow.errors import ConfigError
from srflow.mixed.design import INTERCEPT, MixedModelSpec, parse_term


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _sorted_levels(series: pd.Series) -> list:
    values = pd.unique(series.dropna())
    try:
        return sorted(values)
    except TypeError:  # mixed types: order by their text
        return sorted(values, key=str)


def _ordered_levels(spec: MixedModelSpec, column: str, series: pd.Series) -> tuple:
    """Levels in sorted order with the configured reference (if any) moved first."""
    levels = _sorted_levels(series)
    reference = spec.reference(column)
    if reference is None:
        return tuple(levels)
    matches = [level for level in levels if str(level) == str(reference)]
    if not matches:
        raise ConfigError(_unknown_reference(spec, column, reference, levels))
    return (matches[0], *[level for level in levels if level is not matches[0]])


def _unknown_reference(spec: MixedModelSpec, column: str, reference: Any, levels: Sequence) -> str:
    return (
        f"mixed_models.{spec.name}.contrasts.{column}.reference: level {reference!r} does not occur in "
        f"column {column!r} (levels: {', '.join(map(str, levels))})."
    )


def design_problem(spec: MixedModelSpec, data: pd.DataFrame) -> str | None:
    """Why the categorical part of ``spec`` cannot be built from ``data``, or None.

    Checks, on the rows the model will use: a ``contrasts`` entry names a numeric column
    or a level that does not occur, or a categorical column of a fixed or random term has
    a single level. The message names the model and the config key.

    Parameters
    ----------
    spec : MixedModelSpec
    data : DataFrame
        The complete rows of the model's columns.

    Returns
    -------
    str or None

    Examples
    --------
    >>> import pandas as pd
    >>> spec = MixedModelSpec("P", ["site"], name="m", contrasts={"site": {"reference": "Z"}})
    >>> design_problem(spec, pd.DataFrame({"P": [1.0, 2.0], "site": ["A", "B"]}))
    "mixed_models.m.contrasts.site.reference: level 'Z' does not occur in column 'site' (levels: A, B)."
    """
    for column, reference in spec.contrasts:
        if column not in data.columns:
            continue  # reported as a missing column by DesignRecipe.from_data
        if _is_numeric(data[column]):
            return (
                f"mixed_models.{spec.name}.contrasts.{column}: column {column!r} is numeric; contrasts "
                "apply to categorical columns only."
            )
        levels = _sorted_levels(data[column])
        if not any(str(level) == str(reference) for level in levels):
            return _unknown_reference(spec, column, reference, levels)
    for key in ("fixed", "random"):
        for term in getattr(spec, key):
            for part in parse_term(term, spec.name, key):
                if part.column in data.columns and not _is_numeric(data[part.column]):
                    levels = _sorted_levels(data[part.column])
                    if len(levels) < 2:
                        return (
                            f"mixed_models.{spec.name}.{key}: term {term!r} uses the categorical column "
                            f"{part.column!r}, which has a single level "
                            f"({', '.join(map(repr, levels)) or 'none'}) in the rows used; a factor needs "
                            "at least two levels."
                        )
    return None


@dataclasses.dataclass(frozen=True)
class DesignRecipe:
    """How to turn data into X and Z for a spec: the terms and each categorical column's levels.

    The first level of each categorical column is its reference (treatment coding).
    """

    spec: MixedModelSpec
    levels: Mapping[str, tuple]

    @classmethod
    def from_data(cls, spec: MixedModelSpec, data: pd.DataFrame) -> DesignRecipe:
        """Check the spec's columns exist and record the levels of categorical ones.

        Raises
        ------
        ConfigError
            A column the spec names is not in the data, the outcome is not numeric, a
            categorical column is raised to a power, or a configured reference level
            does not occur.
        """
        missing = [c for c in spec.used_columns() if c not in data.columns]
        if missing:
            raise ConfigError(
                f"mixed_models.{spec.name}: column(s) {', '.join(map(repr, missing))} not found in the data; "
                f"available columns: {', '.join(map(str, data.columns))}."
            )
        if not _is_numeric(data[spec.outcome]):
            raise ConfigError(
                f"mixed_models.{spec.name}.outcome: column {spec.outcome!r} is not numeric."
            )
        levels: dict[str, tuple] = {}
        for term in (*spec.fixed, *spec.random):
            for part in parse_term(term, spec.name):
                if _is_numeric(data[part.column]):
                    continue
                if part.power != 1:
                    raise ConfigError(
                        f"mixed_models.{spec.name}: term {term!r} raises the categorical column "
                        f"{part.column!r} to a power; only numeric columns can be."
                    )
                if part.column not in levels:
                    levels[part.column] = _ordered_levels(spec, part.column, data[part.column])
        return cls(spec, levels)

    def term_block(
        self, data: pd.DataFrame, term: str, full: bool = False
    ) -> tuple[np.ndarray, list[str]]:
        """Columns and names of one term (none for a categorical column with a single level).

        With ``full=True`` every level of a categorical column gets a column, the
        reference too (the rank-deficient coding Type III contrasts are defined on).
        """
        columns: list[np.ndarray] = [np.ones(len(data))]
        names: list[str] = [""]
        for part in parse_term(term, self.spec.name):
            series = data[part.column]
            if part.column in self.levels:
                kept = self.levels[part.column] if full else self.levels[part.column][1:]
                block = [(series == level).to_numpy(dtype=float) for level in kept]
                labels = [f"{part.column}[T.{level}]" for level in kept]
            else:
                block = [series.to_numpy(dtype=float) ** part.power]
                labels = [part.column if part.power == 1 else f"{part.column}^{part.power}"]
            columns = [c * b for c in columns for b in block]
            names = [f"{n}:{lab}" if n else lab for n in names for lab in labels]
        return np.column_stack(columns) if columns else np.empty((len(data), 0)), names

    def references(self, column_name: str) -> str:
        """The reference levels a fixed-effect column is relative to, e.g. ``"site=A"``.

        The intercept is relative to every categorical column's reference; a column
        involving a factor to that factor's reference; a purely numeric column to none.
        """
        if column_name == INTERCEPT:
            columns = list(self.levels)
        else:
            columns = [
                c
                for c in self.levels
                if any(p.split("[T.")[0] == c for p in column_name.split(":"))
            ]
        return "; ".join(f"{c}={self.levels[c][0]}" for c in columns)

    def matrices(self, data: pd.DataFrame) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
        """Fixed and random designs (each with the intercept first) and their column names.

        Parameters
        ----------
        data : DataFrame
            Rows to use, without missing values in the spec's columns.

        Returns
        -------
        X, x_names, Z, z_names
        """
        out = []
        for terms in (self.spec.fixed, self.spec.random):
            blocks, names = [np.ones((len(data), 1))], [INTERCEPT]
            for term in terms:
                block, labels = self.term_block(data, term)
                blocks.append(block)
                names.extend(labels)
            out.extend([np.column_stack(blocks), names])
        return out[0], out[1], out[2], out[3]
