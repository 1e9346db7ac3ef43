"""The report's building blocks: display tables, sections, the shared context and helpers.

Nothing here ever puts a participant id or a row-level table into the output; every count
is shown through :func:`srflow.report.formatting.suppress_count`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from srflow.report import figures as fg
from srflow.report.formatting import (
    DASH,
    format_number,
    format_p,
    is_count_name,
    is_suppressed,
    suppress_count,
)


@dataclasses.dataclass
class Table:
    """A display table: every cell already formatted as text."""

    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    numeric: list[bool] | None = None
    row_classes: list[str] | None = None


@dataclasses.dataclass
class Section:
    """A top-level report section: an anchor, a title and a list of blocks."""

    id: str
    title: str
    blocks: list[dict] = dataclasses.field(default_factory=list)

    def add(self, kind: str, **content: Any) -> None:
        self.blocks.append({"kind": kind, **content})

    @property
    def subsections(self) -> list[dict]:
        return [b for b in self.blocks if b["kind"] == "h3"]


class FigureNumbers:
    """Numbers the report's figures in the order they are drawn.

    The only thing the section builders share: passed to each explicitly, so figure numbers
    follow the order the sections are built in (the report order).
    """

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def block(self, fig: Any, alt: str, caption: str, kind: str = "svg") -> fg.FigureBlock:
        """Number a matplotlib figure and render it as inline SVG (``kind="svg"``) or PNG."""
        number = next(self._next)
        fig_id = f"fig{number}"
        html = fg.to_svg(fig, fig_id, alt) if kind == "svg" else fg.to_png(fig, alt)
        return fg.FigureBlock(id=fig_id, html=html, caption=f"Figure {number}. {caption}", alt=alt)


@dataclasses.dataclass(frozen=True)
class ReportContext:
    """What every section needs to know about the cohort and the report settings (read only)."""

    cohort_config: Any
    scores: pd.DataFrame
    min_cell: int
    max_points: int
    individual_points: bool
    title: str
    seed: int
    n_participants: int
    waves: tuple
    has_time: bool

    @classmethod
    def from_inputs(cls, inputs: Any) -> ReportContext:
        settings = dict(inputs.cohort_config.report)
        seed = inputs.provenance.get("seed")
        if seed is None:
            seed = inputs.config_data.get("seed", 0)
        scores = inputs.scores
        return cls(
            cohort_config=inputs.cohort_config,
            scores=scores,
            min_cell=int(settings["min_cell"]),
            max_points=int(settings["max_points"]),
            individual_points=bool(settings["individual_points"]),
            title=settings.get("title") or f"srflow report: {inputs.cohort}",
            seed=int(seed),
            n_participants=int(scores["participant_id"].nunique()),
            waves=tuple(sorted(pd.unique(scores["wave"]).tolist())) if len(scores) else (),
            has_time=bool(np.isfinite(pd.to_numeric(scores["time"], errors="coerce")).any()),
        )

    def count(self, value: Any) -> str:
        """The one way a count is shown (small counts suppressed)."""
        return suppress_count(value, self.min_cell)


def slug(text: str) -> str:
    keep = "".join(c.lower() if c.isalnum() else "-" for c in str(text))
    return "-".join(part for part in keep.split("-") if part) or "x"


def finite(values: Any) -> np.ndarray:
    array = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    return array[np.isfinite(array)]


def label(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(
        value, (str, bool, int, float, np.integer, np.floating, np.bool_)
    )


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: Keys never shown in fact lists: echoes of the config and texts the report words itself.
_ALWAYS_SKIP = {
    "settings",
    "sign_convention",
    "sr_z",
    "ci_method",
    "information_criteria_note",
    "fixed_terms",
    "random_terms",
}


def scalar_items(
    entry: Mapping[str, Any], skip: set[str], depth: int = 3, prefix: str = ""
) -> list[tuple[str, Any]]:
    """Scalar values of a record's JSON; nested objects (up to ``depth`` levels) as 'outer.inner'."""
    items: list[tuple[str, Any]] = []
    for key, value in entry.items():
        if key in skip and not prefix:
            continue
        path = f"{prefix}{key}"
        if str(key).endswith("note") or key in _ALWAYS_SKIP:
            continue  # explanatory notes and echoed settings: the report says these in its own words
        if isinstance(value, Mapping):
            if depth > 1:
                items += scalar_items(value, skip, depth - 1, prefix=f"{path}.")
        elif is_scalar(value):
            items.append((path, value))
    return items


def format_value(key: str, value: Any, min_cell: int) -> str:
    """A fact's value: counts suppressed, p-values as p, text with small counts scrubbed."""
    parts = key.split(".")
    last = parts[-1]
    if value is None:
        return DASH
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    # "n.excluded.outliers" is a count because of its first part; "n_used" because of its name
    if numeric and (is_count_name(last) or parts[0] == "n"):
        return suppress_count(value, min_cell)
    if isinstance(value, str):
        return scrub_counts(value, min_cell)
    if last in {"p", "p_value", "pvalue"} or last.startswith("p_") or last.endswith("_p"):
        return format_p(value)
    return format_number(value)


def group_stats(
    frame: pd.DataFrame, group: str, column: str, min_cell: int, label_prefix: str = ""
) -> list[dict]:
    """Box-plot statistics per group (5th/25th/50th/75th/95th percentiles and mean).

    Groups with fewer than ``min_cell`` values are left out (their percentiles would
    describe a handful of people).
    """
    values = frame[[group, column]].copy()
    values[column] = pd.to_numeric(values[column], errors="coerce")
    values = values[np.isfinite(values[column].to_numpy(dtype=float))]
    if values.empty:
        return []
    grouped = values.groupby(group, sort=True)[column]
    counts = grouped.size()
    quantiles = grouped.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack()
    means = grouped.mean()
    stats = []
    for key in counts.index:
        if counts[key] < min_cell:
            continue
        q = quantiles.loc[key]
        stats.append(
            {
                "label": f"{label_prefix}{label(key)}",
                "whislo": q[0.05],
                "q1": q[0.25],
                "med": q[0.5],
                "q3": q[0.75],
                "whishi": q[0.95],
                "mean": means[key],
            }
        )
    return stats


_PEOPLE_RE = re.compile(
    r"\b(\d+) (participants?|people|persons?|rows?|units?)( \((\d+(?:\.\d+)?)%\))?"
)
_IMPLIES_RE = re.compile(r"\bimplies (\d+)\b")


def scrub_counts(text: str, min_cell: int) -> str:
    """Suppress small counts written inside free text (e.g. a degenerate-solution reason).

    "class 3 has 2 participants (0.05%)" becomes "class 3 has <5 participants".
    """

    def people(match: re.Match) -> str:
        count = int(match.group(1))
        if is_suppressed(count, min_cell):
            return f"{suppress_count(count, min_cell)} {match.group(2)}"
        return match.group(0)

    def implies(match: re.Match) -> str:
        return f"implies {suppress_count(int(match.group(1)), min_cell)}"

    return _IMPLIES_RE.sub(implies, _PEOPLE_RE.sub(people, str(text)))


def yes_no(flag: bool | None) -> str:
    return DASH if flag is None else "yes" if flag else "no"


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def p_clause(p: Any) -> str:
    """'= 0.027' or '< 0.001', to follow the letter p in a sentence."""
    text = format_p(p)
    return f"< {text[1:]}" if text.startswith("<") else f"= {text}"


def variance_table(vc: Mapping[str, Any]) -> Table | None:
    """Variance components as (component, value) rows: "sd.E", "corr.Intercept:E", "residual_sd"."""
    from srflow.report.formatting import humanize

    items = scalar_items(vc, set())
    if not items:
        return None
    return Table(
        ["component", "value"],
        [[humanize(k), format_number(v)] for k, v in items],
        numeric=[False, True],
    )


def fit_warning(
    section: Section,
    what: str,
    *,
    singular: bool | None,
    status: str = "ok",
    reason: str | None = None,
    detail: str = "",
    consequence: str = "",
) -> None:
    """The one warning box of a fit that is singular or could not be certified (every section uses it).

    Parameters
    ----------
    section : Section
        Where the box goes.
    what : str
        The fit, as the start of a sentence ("Model 'reactivity'", "The multilevel line").
    singular : bool or None
        Whether the fit is singular.
    status : str
        The fit's status; "suspect" means its optimum could not be certified.
    reason : str, optional
        Why it is suspect.
    detail : str
        Text inserted after "at ±1" (e.g. the estimated correlation).
    consequence : str
        Sentences that follow a suspect fit's warning (what it means for this fit).
    """
    sentences = []
    if status == "suspect":
        why = str(reason or "no reason given").removeprefix("the optimum could not be certified: ")
        sentences.append(
            f"{what}: the optimum could not be certified ({why}); "
            "treat the estimates as provisional, not as an ok fit." + consequence
        )
    if singular:
        sentences.append(
            f"{what} is singular: a random-effect SD is estimated near zero or a correlation at ±1{detail}, so the "
            "random part is richer than the data support and its SDs and correlation are not reliable; consider "
            "dropping the random slope."
        )
    if sentences:  # one box however many problems the fit has
        section.add("note", tone="warn", text=" ".join(sentences))
