"""Long trajectory data packed for the mixture engines: padded panels and sufficient statistics.

Rows are packed into padded ``(n_participants, max_waves)`` arrays with a mask and reduced once
to per-participant sufficient statistics (``X'X``, ``X'y``, ``y'y``, ``n_i``), so every E- and
M-step of the mixture models is a handful of matrix products over participants.

Internally time is mapped to ``[-1, 1]`` over the observed range and expanded in Legendre
polynomials (near-orthogonal columns, stable normal equations); :func:`legendre_to_raw` converts
coefficients back to powers of raw time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.polynomial import legendre as npleg

from srflow.errors import InputError, ModelError

__all__ = [
    "MIN_PARTICIPANTS_PER_CLASS",
    "PanelData",
    "SufficientStats",
    "check_fittable",
    "legendre_basis",
    "legendre_to_raw",
    "prepare_panel",
    "sufficient_stats",
]

#: minimum participants per class requested; below this a fit is refused
MIN_PARTICIPANTS_PER_CLASS = 3


@dataclass(frozen=True)
class PanelData:
    """Long data packed into padded per-participant arrays.

    Attributes
    ----------
    participants : numpy.ndarray
        Participant labels, sorted, shape ``(n,)``.
    time, outcome : numpy.ndarray
        Padded arrays ``(n, max_waves)``; padded cells hold 0.
    mask : numpy.ndarray
        True where a cell holds an observation.
    n_obs : numpy.ndarray
        Observations per participant.
    participant, time_column, outcome_column : str
        Column names the panel was built from.
    """

    participants: np.ndarray
    time: np.ndarray
    outcome: np.ndarray
    mask: np.ndarray
    n_obs: np.ndarray
    participant: str
    time_column: str
    outcome_column: str

    @property
    def n_participants(self) -> int:
        """Number of participants with at least one observed outcome."""
        return int(self.n_obs.shape[0])

    @property
    def time_range(self) -> tuple[float, float]:
        """Smallest and largest observed time."""
        observed = self.time[self.mask]
        return float(observed.min()), float(observed.max())

    def to_long(self, outcome: np.ndarray | None = None) -> pd.DataFrame:
        """Unpack to a long DataFrame (optionally with a replacement outcome array)."""
        values = self.outcome if outcome is None else outcome
        rows, cols = np.nonzero(self.mask)
        return pd.DataFrame(
            {
                self.participant: self.participants[rows],
                self.time_column: self.time[rows, cols],
                self.outcome_column: values[rows, cols],
            }
        )


def prepare_panel(
    data: pd.DataFrame,
    participant: str = "participant_id",
    time: str = "time",
    outcome: str = "P",
) -> PanelData:
    """Pack a long table into padded per-participant arrays.

    Rows with a missing outcome or time are dropped; participants keep the
    waves they have (unbalanced times are fine).

    Parameters
    ----------
    data : pandas.DataFrame
        Long table, one row per (participant, wave).
    participant, time, outcome : str
        Column names.

    Returns
    -------
    PanelData

    Raises
    ------
    InputError
        A named column is absent or the outcome/time is not numeric.
    ModelError
        No usable rows remain.
    """
    missing = [c for c in (participant, time, outcome) if c not in data.columns]
    if missing:
        raise InputError(
            f"trajectory input lacks column(s) {missing}; available columns are "
            f"{list(data.columns)}. Pass the right names via participant=, time=, outcome=."
        )
    try:
        y_all = pd.to_numeric(data[outcome], errors="raise").to_numpy(dtype=float, na_value=np.nan)
        t_all = pd.to_numeric(data[time], errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"columns {outcome!r} and {time!r} must be numeric for trajectory models: {exc}"
        ) from exc
    keep = np.isfinite(y_all) & np.isfinite(t_all)
    if not keep.any():
        raise ModelError(
            f"no rows with both {outcome!r} and {time!r} observed; nothing to fit a trajectory to."
        )
    ids = data[participant].to_numpy()[keep]
    y_all, t_all = y_all[keep], t_all[keep]
    codes, labels = pd.factorize(pd.Series(ids), sort=True)
    labels = np.asarray(labels)
    # stable order by participant then time, so padding is deterministic
    order = np.lexsort((t_all, codes))
    codes, y_all, t_all = codes[order], y_all[order], t_all[order]
    n = labels.shape[0]
    n_obs = np.bincount(codes, minlength=n)
    starts = np.concatenate(([0], np.cumsum(n_obs)[:-1]))
    position = np.arange(codes.shape[0]) - starts[codes]
    width = int(n_obs.max())
    y_pad = np.zeros((n, width))
    t_pad = np.zeros((n, width))
    mask = np.zeros((n, width), dtype=bool)
    y_pad[codes, position] = y_all
    t_pad[codes, position] = t_all
    mask[codes, position] = True
    return PanelData(
        participants=labels,
        time=t_pad,
        outcome=y_pad,
        mask=mask,
        n_obs=n_obs.astype(float),
        participant=participant,
        time_column=time,
        outcome_column=outcome,
    )


def check_fittable(panel: PanelData, n_classes: int, degree: int) -> None:
    """Refuse inputs no K-class polynomial mixture can be fitted to.

    Raises
    ------
    ModelError
        K < 1, a degree outside 0..3, fewer than 3 participants per class, fewer distinct
        times than the degree needs, a constant outcome, or (K > 1) identical series.
    """
    if n_classes < 1:
        raise ModelError(f"n_classes must be >= 1, got {n_classes}.")
    if degree < 0 or degree > 3:
        raise ModelError(f"degree must be 0, 1, 2 or 3, got {degree}.")
    n = panel.n_participants
    need = MIN_PARTICIPANTS_PER_CLASS * n_classes
    if n < need:
        raise ModelError(
            f"{n} participant(s) are too few for {n_classes} trajectory classes "
            f"(need at least {need}, {MIN_PARTICIPANTS_PER_CLASS} per class); "
            "lower the maximum number of classes."
        )
    observed_times = np.unique(panel.time[panel.mask])
    if observed_times.shape[0] < degree + 1:
        raise ModelError(
            f"time takes {observed_times.shape[0]} distinct value(s) but a degree-{degree} "
            f"polynomial needs at least {degree + 1}; lower the degree or check the time column "
            f"{panel.time_column!r}."
        )
    values = panel.outcome[panel.mask]
    if np.ptp(values) == 0.0:
        raise ModelError(
            f"outcome {panel.outcome_column!r} has the same value ({values[0]:g}) in every row; "
            "there is no variation for a trajectory model to describe."
        )
    if n_classes > 1:
        # all series identical <=> outcome constant within every distinct time
        times = panel.time[panel.mask]
        _, time_code = np.unique(times, return_inverse=True)
        lo = np.full(observed_times.shape[0], np.inf)
        hi = np.full(observed_times.shape[0], -np.inf)
        np.minimum.at(lo, time_code, values)
        np.maximum.at(hi, time_code, values)
        if np.all(hi - lo == 0.0):
            raise ModelError(
                "every participant has the same series (no variation between participants at "
                f"any time), so {n_classes} classes cannot be told apart; fit K = 1 only."
            )


@dataclass(frozen=True)
class SufficientStats:
    """Per-participant sufficient statistics in the Legendre basis."""

    xx: np.ndarray  # (n, p, p)
    xy: np.ndarray  # (n, p)
    yy: np.ndarray  # (n,)
    n_obs: np.ndarray  # (n,)
    outcome_var: float
    domain: tuple[float, float]

    @property
    def n_basis(self) -> int:
        return self.xy.shape[1]


def legendre_basis(time: np.ndarray, degree: int, domain: tuple[float, float]) -> np.ndarray:
    """Legendre design on time mapped to [-1, 1] over ``domain``."""
    lo, hi = domain
    half = (hi - lo) / 2.0 if hi > lo else 1.0
    u = (time - (lo + hi) / 2.0) / half
    return npleg.legvander(u, degree)


def sufficient_stats(
    panel: PanelData, degree: int, domain: tuple[float, float] | None = None
) -> SufficientStats:
    """Per-participant ``X'X``, ``X'y``, ``y'y`` and ``n_i`` in the Legendre basis.

    Parameters
    ----------
    panel : PanelData
    degree : int
        Polynomial degree.
    domain : (float, float), optional
        Time range mapped to [-1, 1]; default the panel's observed range (a fitted model
        passes its own range to score new participants on the same scale).
    """
    domain = panel.time_range if domain is None else domain
    x = legendre_basis(panel.time, degree, domain) * panel.mask[..., None]
    y = panel.outcome * panel.mask
    xx = np.einsum("ntp,ntq->npq", x, x)
    xy = np.einsum("ntp,nt->np", x, y)
    yy = np.einsum("nt,nt->n", y, y)
    values = panel.outcome[panel.mask]
    return SufficientStats(
        xx=xx, xy=xy, yy=yy, n_obs=panel.n_obs, outcome_var=float(values.var()), domain=domain
    )


def legendre_to_raw(degree: int, domain: tuple[float, float]) -> np.ndarray:
    """Matrix M with raw power coefficients = legendre coefficients @ M.T."""
    lo, hi = domain
    if hi <= lo:
        hi = lo + 2.0
    matrix = np.zeros((degree + 1, degree + 1))
    for j in range(degree + 1):
        unit = np.zeros(degree + 1)
        unit[j] = 1.0
        raw = npleg.Legendre(unit, domain=[lo, hi]).convert(kind=np.polynomial.Polynomial).coef
        matrix[: raw.shape[0], j] = raw
    return matrix
