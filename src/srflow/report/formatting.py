"""Number formatting for the report, including the one small-count suppression rule.

Every count that reaches the report goes through :func:`suppress_count`, so the
disclosure rule lives in exactly one place.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Shown instead of a value that is missing or withheld.
DASH = "–"


def suppress_count(count: Any, min_cell: int = 5) -> str:
    """Format a count for the report, hiding small counts.

    Parameters
    ----------
    count
        A non-negative whole number (int, numpy integer or integral float). Missing
        values (None, NaN) are shown as a dash.
    min_cell
        Counts from 1 to ``min_cell - 1`` are shown as ``"<min_cell"`` (e.g. ``"<5"``).
        Zero is shown as ``"0"``: it describes nobody, so it discloses nobody.

    Returns
    -------
    str
        ``"<5"``, ``"0"`` or the count with thousands separators (``"12,345"``).
    """
    if count is None or (isinstance(count, float) and math.isnan(count)):
        return DASH
    try:
        if count is np.ma.masked or bool(np.isnan(count)):
            return DASH
    except TypeError:
        pass
    value = int(round(float(count)))
    if 0 < value < min_cell:
        return f"<{min_cell}"
    return f"{value:,}"


def is_suppressed(count: Any, min_cell: int) -> bool:
    """True when :func:`suppress_count` would hide this count."""
    try:
        value = float(count)
    except (TypeError, ValueError):
        return False
    return not math.isnan(value) and 0 < round(value) < min_cell


def format_share(count: Any, total: Any, min_cell: int = 5, digits: int = 1) -> str:
    """A percentage ``count / total``, withheld (dash) when the count itself is suppressed."""
    try:
        count_f, total_f = float(count), float(total)
    except (TypeError, ValueError):
        return DASH
    if (
        math.isnan(count_f)
        or math.isnan(total_f)
        or total_f <= 0
        or is_suppressed(count_f, min_cell)
    ):
        return DASH
    return f"{100.0 * count_f / total_f:.{digits}f}%"


def format_number(value: Any, digits: int = 3) -> str:
    """Format an estimate or statistic compactly and deterministically.

    Booleans become "yes"/"no", missing values a dash, large numbers get separators,
    very small or very large magnitudes scientific notation.
    """
    if value is None:
        return DASH
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value if value != "" else DASH
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return DASH
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if abs(x) < 1e-12:  # numerically zero (e.g. the mean of residuals)
        return "0"
    magnitude = abs(x)
    # Information criteria of large samples must stay comparable, so no scientific notation below 1e15.
    if magnitude >= 1e15 or magnitude < 10 ** (-digits):
        return f"{x:.{max(digits - 1, 1)}e}"
    if magnitude >= 1000:
        return f"{x:,.1f}"
    return f"{x:.{digits}f}"


def format_p(value: Any) -> str:
    """Format a p-value: three decimals, or "<0.001"."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return DASH
    if math.isnan(x):
        return DASH
    if x < 0.001:
        return "<0.001"
    return f"{x:.3f}"


def is_count_name(name: str) -> bool:
    """Whether a column or key name denotes a count of people or rows (so it is suppressed)."""
    lowered = str(name).lower()
    if any(word in lowered for word in ("start", "iter", "param", "line", "npm", "df")):
        return (
            False  # counts of starts, iterations, parameters or lines describe the fit, not people
        )
    return (
        lowered in {"n", "count", "size", "n_obs", "n_groups"}
        or lowered.startswith("n_")
        or lowered.endswith("_n")
        or lowered.endswith("_size")
        or lowered.endswith("_count")
    )


#: Display names of common statistics.
LABELS = {
    "aic": "AIC",
    "bic": "BIC",
    "sabic": "SABIC",
    "caic": "CAIC",
    "icl": "ICL",
    "loglik": "log-likelihood",
    "npm": "parameters",
    "r2": "R²",
    "r_squared": "R²",
    "adj_r2": "adjusted R²",
    "sd": "SD",
    "se": "SE",
    "icc": "ICC",
    "df": "df",
    "loglik_ml": "log-likelihood (ML)",
    "r2_adj": "adjusted R²",
    "cooks_distance": "Cook's distance",
    "n_params": "parameters",
    "n_obs": "n observations",
    "n_groups": "n participants",
    "appa_min": "lowest AvePP",
    "occ_min": "lowest OCC",
    "appa": "AvePP",
    "occ": "OCC",
}


def humanize(name: str) -> str:
    """Turn a key such as ``n_excluded`` into a label such as ``n excluded`` (``aic`` -> ``AIC``)."""
    parts = str(name).split(".")
    return ": ".join(LABELS.get(p.lower(), p.replace("_", " ")) for p in parts).strip()
