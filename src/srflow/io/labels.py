"""SPSS and Stata value labels applied to category covariates."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from srflow.io.result import ValueLabels
from srflow.io.values import _one_text, as_text, parse_numbers


def apply_value_labels(values: pd.Series, labels: dict[Any, str]) -> tuple[pd.Series, list[str]]:
    """Replace stored codes by their value labels, as text.

    Numeric codes are compared as numbers (so the SPSS code ``1.0``, the Stata code ``1``
    and the text ``"1"`` all match label key ``1``); text codes (SPSS string variables)
    as stripped text.

    Parameters
    ----------
    values
        A column of codes (missing stays missing).
    labels
        Stored code -> label.

    Returns
    -------
    column : pandas.Series
        Text column (pandas ``str`` dtype): the label where the code has one, else the code
        written as text (``2.0`` -> ``"2"``).
    unlabelled : list of str
        The distinct present codes without a label, as text, sorted.
    """
    text = as_text(values)
    out = text.to_numpy(dtype=object, na_value=None)
    done = np.zeros(len(out), dtype=bool)
    numbers, _ = parse_numbers(values)
    numeric_keys, text_keys = _split_label_keys(labels)
    for code, label in numeric_keys:
        hit = numbers == code
        out[hit] = label
        done |= hit
    if text_keys:
        stripped = text.str.strip().to_numpy(dtype=object, na_value=None)
        for code, label in text_keys:
            hit = ~done & (stripped == code)
            out[hit] = label
            done |= hit
    left = ~done & text.notna().to_numpy()
    unlabelled = sorted(set(out[left]), key=lambda v: (_sort_number(v), v))
    return pd.Series(out, index=values.index, dtype="str"), unlabelled


def _split_label_keys(
    labels: dict[Any, str],
) -> tuple[list[tuple[float, str]], list[tuple[str, str]]]:
    """Numeric codes (sorted) and text codes (file order) with their labels as text."""
    numeric_keys: list[tuple[float, str]] = []
    text_keys: list[tuple[str, str]] = []
    for code, label in labels.items():
        if isinstance(code, (bool, np.bool_)):
            numeric_keys.append((float(code), str(label)))
        elif isinstance(code, (int, float, np.integer, np.floating)):
            if not np.isnan(float(code)):
                numeric_keys.append((float(code), str(label)))
        else:
            text_keys.append((str(code).strip(), str(label)))
    numeric_keys.sort(key=lambda pair: pair[0])
    return numeric_keys, text_keys


def _sort_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("inf")


def _labels_of(
    name: str, sources: list[str], value_labels: ValueLabels, notes: list[str]
) -> dict[Any, str]:
    """The labels behind a covariate; for a wide stem, those of its per-wave columns when they agree."""
    merged: dict[float | str, tuple[Any, str]] = {}
    for source in sources:
        for code, label in value_labels.columns.get(source, {}).items():
            key = (
                float(code)
                if isinstance(code, (int, float, np.integer, np.floating))
                else str(code).strip()
            )
            if key in merged and merged[key][1] != str(label):
                notes.append(
                    f"covariate '{name}': the per-wave columns label code {_one_text(code)} differently "
                    f"('{merged[key][1]}', '{label}'); value labels not applied, codes kept"
                )
                return {}
            merged.setdefault(key, (code, str(label)))
    return {code: label for code, label in merged.values()}


def _labelled_covariate(
    name: str, column: pd.Series, labels: dict[Any, str], label_format: str, notes: list[str]
) -> pd.Series:
    """A category covariate with its codes replaced by labels; the mapping is noted for the user."""
    labelled, unlabelled = apply_value_labels(column, labels)
    numeric_keys, text_keys = _split_label_keys(labels)
    shown = [f"{_one_text(code)} = {label}" for code, label in numeric_keys]
    shown += [f"{code} = {label}" for code, label in text_keys]
    notes.append(f"covariate '{name}': {label_format} value labels applied ({', '.join(shown)})")
    if unlabelled:
        notes.append(
            f"covariate '{name}': value(s) without a value label kept as they are: {', '.join(unlabelled[:20])}"
            + (f", ... ({len(unlabelled)} in all)" if len(unlabelled) > 20 else "")
            + "; add labels in the source file or declare them as missing codes"
        )
    return labelled
