"""The scored units of each SR level: rows (wave, multilevel), people (period), windows, intervals.

Every builder is vectorised over participants (``bincount`` on participant codes); units
come out in table order (participant code, then the level's key).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from srflow.errors import ModelError

if TYPE_CHECKING:
    from srflow.config import SRSpec
    from srflow.sr.frame import Frame

#: Fewest fitting units a line may have.
MIN_UNITS_PER_LINE = 3


@dataclasses.dataclass
class Units:
    """The scored units of a spec (every needed value observed)."""

    keys: dict[str, np.ndarray]  # participant_id and key columns, in table order
    E: np.ndarray
    P: np.ndarray  # outcome shown in the table
    y: np.ndarray  # regressand (P, or dP for change)
    offset: np.ndarray  # P_expected = offset + fitted y (P_(t-1) for change)
    covariate: np.ndarray | None  # P_(t-1) when adjust_previous
    line: np.ndarray  # line index of every unit
    line_labels: list[Any]
    line_key: str | None  # "wave" / "window" / None
    reference: np.ndarray  # unit may define the line
    groups: np.ndarray  # participant code (multilevel grouping)
    labels: pd.Index  # participant_id of each code
    excluded: dict[str, int]
    n_candidates: int


def build_units(f: Frame, spec: SRSpec) -> Units:
    """The units of ``spec.level`` with the values needed to score them."""
    if spec.level in ("wave", "multilevel"):
        return _row_units(f, spec)
    if spec.level == "period":
        return _period_units(f, spec)
    if spec.level == "sliding":
        return _sliding_units(f, spec)
    return _change_units(f, spec)


def _no_units(name: str, what: str) -> ModelError:
    return ModelError(
        f"SR spec '{name}': no {what} has both the outcome and the exposure observed, so "
        "there is nothing to score."
    )


def _row_units(f: Frame, spec: SRSpec) -> Units:
    rows = f.in_waves
    ok = rows & np.isfinite(f.P) & np.isfinite(f.E)
    if not ok.any():
        raise _no_units(spec.name, "row")
    wave = f.wave[ok]
    pooled = spec.level == "wave" and spec.reference_waves is not None
    if spec.level == "wave" and not pooled:
        labels, line = np.unique(wave, return_inverse=True)
        line_labels, line_key = [int(w) for w in labels], "wave"
    else:
        line = np.zeros(int(ok.sum()), dtype=np.int64)
        line_labels = (
            ["reference waves " + ",".join(map(str, spec.reference_waves))] if pooled else ["all"]
        )
        line_key = None
    codes = f.codes[ok]
    return Units(
        keys={"participant_id": codes, "wave": wave},
        E=f.E[ok],
        P=f.P[ok],
        y=f.P[ok],
        offset=np.zeros(int(ok.sum())),
        covariate=None,
        line=np.asarray(line, np.int64),
        line_labels=line_labels,
        line_key=line_key,
        reference=f.reference[ok],
        groups=codes,
        labels=f.labels,
        excluded={"missing": int((rows & ~ok).sum())},
        n_candidates=int(rows.sum()),
    )


def _participant_reference(f: Frame, spec: SRSpec, n_people: int) -> np.ndarray:
    """Participants that belong to the reference (any of their rows meets the condition)."""
    if spec.reference_waves is None and spec.reference_column is None:
        return np.ones(n_people, bool)
    rows = f.reference
    if spec.reference_waves is not None:
        rows = rows & np.isfinite(f.P) & np.isfinite(f.E)
    return np.bincount(f.codes[rows], minlength=n_people) > 0


def _period_units(f: Frame, spec: SRSpec) -> Units:
    n_people = len(f.labels)
    rows = f.in_waves
    ok = rows & np.isfinite(f.P) & np.isfinite(f.E)
    n_rows = np.bincount(f.codes[rows], minlength=n_people)
    n_ok = np.bincount(f.codes[ok], minlength=n_people)
    keep = n_ok >= spec.min_waves
    if not keep.any():
        raise ModelError(
            f"SR spec '{spec.name}': no participant has both P and E observed at >= "
            f"{spec.min_waves} waves of the period, so there is nothing to score."
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_P = np.bincount(f.codes[ok], weights=f.P[ok], minlength=n_people) / n_ok
        mean_E = np.bincount(f.codes[ok], weights=f.E[ok], minlength=n_people) / n_ok
    people = np.flatnonzero(keep)
    return _mean_units(
        f,
        spec,
        people,
        {},
        mean_P[people],
        mean_E[people],
        np.zeros(len(people), np.int64),
        ["all"],
        None,
        counts=(n_rows, n_ok, keep),
    )


def _sliding_units(f: Frame, spec: SRSpec) -> Units:
    w = int(spec.window)
    n_people = len(f.labels)
    rows = f.in_waves
    if not rows.any():
        raise _no_units(spec.name, "row")
    first, last = int(f.wave[rows].min()), int(f.wave[rows].max())
    starts = np.arange(first, last - w + 2)
    if len(starts) == 0:
        raise ModelError(
            f"SR spec '{spec.name}': the data span waves {first}..{last}, fewer than one window "
            f"of {w} waves; lower 'window'."
        )
    n_win = len(starts)
    ok = rows & np.isfinite(f.P) & np.isfinite(f.E)
    size = n_people * n_win
    # Each row belongs to up to w windows: expand once, then reduce with bincount.
    cnt_any = np.zeros(size)
    cnt = np.zeros(size)
    sum_P = np.zeros(size)
    sum_E = np.zeros(size)
    for j in range(w):
        start = f.wave - j
        valid = rows & (start >= first) & (start <= starts[-1])
        key = f.codes[valid] * n_win + (start[valid] - first)
        cnt_any += np.bincount(key, minlength=size)
        v_ok = valid & ok
        key_ok = f.codes[v_ok] * n_win + (start[v_ok] - first)
        cnt += np.bincount(key_ok, minlength=size)
        sum_P += np.bincount(key_ok, weights=f.P[v_ok], minlength=size)
        sum_E += np.bincount(key_ok, weights=f.E[v_ok], minlength=size)
    keep = cnt >= spec.min_in_window
    units = np.flatnonzero(keep)  # participant-major, window-minor: already in table order
    if len(units) == 0:
        raise ModelError(
            f"SR spec '{spec.name}': no participant has P and E observed at >= "
            f"{spec.min_in_window} waves of any window of {w} waves."
        )
    people, win = np.divmod(units, n_win)
    return _mean_units(
        f,
        spec,
        people,
        {"window": starts[win].astype(np.int64)},
        sum_P[units] / cnt[units],
        sum_E[units] / cnt[units],
        win.astype(np.int64),
        [int(x) for x in starts],
        "window",
        counts=(cnt_any, cnt, keep),
    )


def _mean_units(
    f: Frame,
    spec: SRSpec,
    people: np.ndarray,
    keys: dict[str, np.ndarray],
    mean_P: np.ndarray,
    mean_E: np.ndarray,
    line: np.ndarray,
    line_labels: list[Any],
    line_key: str | None,
    counts: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> Units:
    """Units that average a participant's waves (period, sliding window).

    ``counts`` holds, per candidate unit, the rows it has, the rows with P and E both
    observed, and whether that is enough to score it.
    """
    n_any, n_ok, keep = counts
    return Units(
        keys={"participant_id": people, **keys},
        E=mean_E,
        P=mean_P,
        y=mean_P,
        offset=np.zeros(len(people)),
        covariate=None,
        line=line,
        line_labels=line_labels,
        line_key=line_key,
        reference=_participant_reference(f, spec, len(f.labels))[people],
        groups=people,
        labels=f.labels,
        excluded={
            "missing": int(((n_any > 0) & (n_ok == 0)).sum()),
            "too_few_waves": int(((n_ok > 0) & ~keep).sum()),
        },
        n_candidates=int((n_any > 0).sum()),
    )


def _change_units(f: Frame, spec: SRSpec) -> Units:
    sel = np.flatnonzero(f.in_waves)
    codes, wave, P, E, ref = f.codes[sel], f.wave[sel], f.P[sel], f.E[sel], f.reference[sel]
    # Rows are sorted by (participant, wave): the predecessor is the previous row.
    interval = np.zeros(len(sel), bool)
    interval[1:] = (codes[1:] == codes[:-1]) & (wave[1:] - wave[:-1] == 1)
    end = np.flatnonzero(interval)
    start = end - 1
    ok = np.isfinite(P[end]) & np.isfinite(P[start]) & np.isfinite(E[end])
    if not ok.any():
        raise ModelError(
            f"SR spec '{spec.name}': no interval between consecutive waves has P at both waves "
            "and E at its end, so there is nothing to score."
        )
    end, start = end[ok], start[ok]
    p_prev = P[start]
    return Units(
        keys={"participant_id": codes[end], "wave_from": wave[start], "wave": wave[end]},
        E=E[end],
        P=P[end],
        y=P[end] - p_prev,
        offset=p_prev,
        covariate=p_prev if spec.adjust_previous else None,
        line=np.zeros(len(end), np.int64),
        line_labels=["all"],
        line_key=None,
        reference=ref[end],
        groups=codes[end],
        labels=f.labels,
        excluded={"missing": int((~ok).sum())},
        n_candidates=int(len(ok)),
    )


def line_label(units: Units, g: int) -> Any:
    """The label of line ``g`` in the line JSON: ``{wave: 3}``, ``{window: 1}`` or a text."""
    return {units.line_key: units.line_labels[g]} if units.line_key else units.line_labels[g]


def describe_line(units: Units, g: int) -> str:
    """Line ``g`` in words, for messages."""
    if units.line_key:
        return f"{units.line_key} {units.line_labels[g]}"
    return "the sample" if units.line_labels[g] == "all" else str(units.line_labels[g])


def check_line_sizes(counts: np.ndarray, units: Units, name: str, what: str, need: int) -> None:
    """Raise a ModelError naming the lines with fewer than ``need`` fitting units."""
    small = np.flatnonzero(counts < need)
    if len(small):
        where = ", ".join(describe_line(units, g) for g in small[:10])
        raise ModelError(
            f"SR spec '{name}': fewer than {need} {what} to fit the line in {where} "
            f"(found {', '.join(str(int(counts[g])) for g in small[:10])}); the normative line "
            "needs at least 3 units per line. Use other waves/window or a broader reference."
        )
