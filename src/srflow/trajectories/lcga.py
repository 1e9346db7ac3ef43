"""Latent class growth analysis (LCGA) and growth mixture models (GMM) by EM.

Model
-----
Each of ``K`` latent classes has its own polynomial in time (degree 1..3).  A
participant's waves all belong to one class, so the likelihood of participant
``i`` is the mixture

    L_i = sum_k pi_k * N(y_i | X_i beta_k, V_ik),

where ``y_i`` holds the participant's observed outcomes only (missing waves
are absent from the likelihood: missing at random), ``X_i`` the time
polynomial at the participant's own times and

* LCGA: ``V_ik = sigma_k^2 I`` (class-specific) or ``sigma^2 I`` (shared);
* GMM:  ``V_ik = sigma_k^2 I + Z_i D_k Z_i'`` with a class-specific random
  intercept (``Z = 1``) and optionally a random slope (``Z = [1, time]``).

Computation
-----------
Rows are packed into padded ``(n_participants, max_waves)`` arrays with a
mask and reduced once to per-participant sufficient statistics
(``X'X``, ``X'y``, ``y'y``, ``n_i``).  Every E- and M-step is then a handful of
matrix products over participants, and the random starts are an extra leading
array axis, so the short runs of all starts advance together (no Python loop
over participants or over starts).  The GMM uses the Woodbury identity and the
matrix-determinant lemma on the ``q x q`` (q = 1 or 2) random-effect blocks, in
closed form.

Internally time is mapped to ``[-1, 1]`` over the observed range and expanded
in Legendre polynomials (near-orthogonal columns, stable normal equations);
reported coefficients (``coef_``) are on the raw time scale,
``coef_[k, j]`` multiplying ``time**j``.

Starts (emEM, as in lcmm's ``gridsearch`` and Mplus' ``STARTS``): ``n_starts``
random partitions of the participants are each run for ``n_short_iter`` EM
iterations; the ``n_final_starts`` best are run to convergence and the best
log-likelihood kept.  ``n_starts_at_best_`` counts the final-stage runs that
reached that log-likelihood (a check on local maxima).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.polynomial import legendre as npleg

from srflow.errors import ConvergenceWarning, InputError, ModelError

__all__ = ["LCGA", "GMM", "PanelData", "prepare_panel"]

_LOG_2PI = math.log(2.0 * math.pi)
#: smallest mixing proportion kept, so log(pi_k) stays finite for an emptied class
_MIN_WEIGHT = 1e-12
#: residual variance floor, relative to the outcome's variance (stops sigma -> 0 blow-ups)
_SIGMA2_FLOOR_REL = 1e-6
#: minimum participants per class requested; below this a fit is refused
MIN_PARTICIPANTS_PER_CLASS = 3


# --------------------------------------------------------------------------------------
# data preparation
# --------------------------------------------------------------------------------------


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


def _check_fittable(panel: PanelData, n_classes: int, degree: int) -> None:
    """Refuse inputs no K-class polynomial mixture can be fitted to."""
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
class _Stats:
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


def _basis(time: np.ndarray, degree: int, domain: tuple[float, float]) -> np.ndarray:
    """Legendre design on time mapped to [-1, 1] over ``domain``."""
    lo, hi = domain
    half = (hi - lo) / 2.0 if hi > lo else 1.0
    u = (time - (lo + hi) / 2.0) / half
    return npleg.legvander(u, degree)


def _sufficient_stats(panel: PanelData, degree: int) -> _Stats:
    domain = panel.time_range
    x = _basis(panel.time, degree, domain) * panel.mask[..., None]
    y = panel.outcome * panel.mask
    xx = np.einsum("ntp,ntq->npq", x, x)
    xy = np.einsum("ntp,nt->np", x, y)
    yy = np.einsum("nt,nt->n", y, y)
    values = panel.outcome[panel.mask]
    return _Stats(
        xx=xx, xy=xy, yy=yy, n_obs=panel.n_obs, outcome_var=float(values.var()), domain=domain
    )


def _legendre_to_raw(degree: int, domain: tuple[float, float]) -> np.ndarray:
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


# --------------------------------------------------------------------------------------
# EM engine (leading axis S = starts)
# --------------------------------------------------------------------------------------


@dataclass
class _Params:
    weights: np.ndarray  # (S, K)
    beta: np.ndarray  # (S, K, p)
    sigma2: np.ndarray  # (S, K)
    d: np.ndarray | None  # (S, K, q, q) random-effect covariance (GMM) or None

    def take(self, index: np.ndarray) -> _Params:
        return _Params(
            self.weights[index],
            self.beta[index],
            self.sigma2[index],
            None if self.d is None else self.d[index],
        )

    def put(self, index: np.ndarray, other: _Params) -> None:
        self.weights[index] = other.weights
        self.beta[index] = other.beta
        self.sigma2[index] = other.sigma2
        if self.d is not None:
            self.d[index] = other.d


class _Engine:
    """E and M steps for LCGA (q = 0) and GMM (q = 1, 2) on sufficient statistics."""

    def __init__(self, stats: _Stats, n_classes: int, shared_variance: bool, n_random: int):
        self.stats = stats
        self.k = n_classes
        self.shared = shared_variance
        self.q = n_random
        p = stats.n_basis
        self.p = p
        self.xx_flat = stats.xx.reshape(-1, p * p)
        self.n_total = float(stats.n_obs.sum())
        self.sigma2_floor = _SIGMA2_FLOOR_REL * max(stats.outcome_var, 1e-300)
        self.d_floor = 1e-8 * max(stats.outcome_var, 1e-300)
        # a tiny ridge keeps an emptied class's normal equations solvable
        self.ridge = 1e-10 * float(np.trace(stats.xx.sum(0))) / p * np.eye(p)
        # LCGA fast path works in (S, K, n) layout: one matrix product gives every
        # residual sum of squares, one more gives every M-step moment
        self.fast = self.q == 0
        self.gram = np.concatenate(
            (stats.yy[None, :], stats.xy.T, self.xx_flat.T), axis=0
        )  # (1 + p + p^2, n)
        self.moments = np.ascontiguousarray(
            np.concatenate(
                (self.xx_flat, stats.xy, stats.yy[:, None], stats.n_obs[:, None]), axis=1
            )
        )  # (n, p^2 + p + 2)
        if self.q:
            self.zz = stats.xx[:, : self.q, : self.q]  # (n, q, q)
            self.zy = stats.xy[:, : self.q]  # (n, q)
            self.zx_flat = stats.xx[:, : self.q, :].reshape(-1, p)  # (n*q, p)

    # --- shared pieces ------------------------------------------------------------
    def _rss(self, beta: np.ndarray) -> np.ndarray:
        """Residual sums of squares (S, n, K) of every participant under every class."""
        s = self.stats
        cross = np.matmul(s.xy, beta.transpose(0, 2, 1))  # (S, n, K)
        outer = (beta[..., :, None] * beta[..., None, :]).reshape(beta.shape[0], self.k, -1)
        quad = np.matmul(self.xx_flat, outer.transpose(0, 2, 1))  # (S, n, K)
        rss = s.yy[None, :, None] - 2.0 * cross + quad
        return np.maximum(rss, 0.0)

    def _z_residual(self, beta: np.ndarray) -> np.ndarray:
        """Z'(y - X beta), shape (S, n, K, q)."""
        n = self.stats.n_obs.shape[0]
        zxb = np.matmul(self.zx_flat, beta.transpose(0, 2, 1))  # (S, n*q, K)
        zxb = zxb.reshape(beta.shape[0], n, self.q, self.k).transpose(0, 1, 3, 2)
        return self.zy[None, :, None, :] - zxb

    def _random_effect_posterior(self, params: _Params, zr: np.ndarray):
        """Posterior mean m, covariance C and log|D| + log|G| of the random effects."""
        sigma2 = params.sigma2[:, None, :]  # (S, 1, K)
        if self.q == 1:
            d = params.d[..., 0, 0][:, None, :]  # (S, 1, K)
            g = 1.0 / d + self.zz[None, :, None, 0, 0] / sigma2  # (S, n, K)
            c = 1.0 / g
            m = c * zr[..., 0] / sigma2
            logdet = np.log(d) + np.log(g)
            return m[..., None], c[..., None, None], logdet
        # q == 2: closed-form 2 x 2 inverses
        d = params.d  # (S, K, 2, 2)
        det_d = d[..., 0, 0] * d[..., 1, 1] - d[..., 0, 1] * d[..., 1, 0]
        dinv = np.empty_like(d)
        dinv[..., 0, 0] = d[..., 1, 1] / det_d
        dinv[..., 1, 1] = d[..., 0, 0] / det_d
        dinv[..., 0, 1] = -d[..., 0, 1] / det_d
        dinv[..., 1, 0] = -d[..., 1, 0] / det_d
        g = dinv[:, None] + self.zz[None, :, None] / sigma2[..., None, None]  # (S, n, K, 2, 2)
        det_g = g[..., 0, 0] * g[..., 1, 1] - g[..., 0, 1] * g[..., 1, 0]
        c = np.empty_like(g)
        c[..., 0, 0] = g[..., 1, 1] / det_g
        c[..., 1, 1] = g[..., 0, 0] / det_g
        c[..., 0, 1] = -g[..., 0, 1] / det_g
        c[..., 1, 0] = -g[..., 1, 0] / det_g
        m = np.stack(
            (
                c[..., 0, 0] * zr[..., 0] + c[..., 0, 1] * zr[..., 1],
                c[..., 1, 0] * zr[..., 0] + c[..., 1, 1] * zr[..., 1],
            ),
            axis=-1,
        ) / sigma2[..., None]
        logdet = np.log(det_d)[:, None, :] + np.log(det_g)
        return m, c, logdet

    # --- E step ----------------------------------------------------------------------
    def _e_step_fast(self, params: _Params):
        beta = params.beta
        n_starts = beta.shape[0]
        coeffs = np.concatenate(
            (
                np.ones((n_starts, self.k, 1)),
                -2.0 * beta,
                (beta[..., :, None] * beta[..., None, :]).reshape(n_starts, self.k, -1),
            ),
            axis=2,
        )
        work = np.matmul(coeffs, self.gram)  # (S, K, n) residual sums of squares
        np.maximum(work, 0.0, out=work)
        work *= (-0.5 / params.sigma2)[..., None]
        work += (-0.5 * (_LOG_2PI + np.log(params.sigma2)))[..., None] * self.stats.n_obs
        work += np.log(params.weights)[..., None]
        top = work.max(axis=1, keepdims=True)
        work -= top
        np.exp(work, out=work)
        total = work.sum(axis=1, keepdims=True)
        work /= total
        loglik_i = top[:, 0, :] + np.log(total[:, 0, :])
        return loglik_i.sum(axis=1), work, None, loglik_i

    def _m_step_fast(self, posterior: np.ndarray) -> _Params:
        n_starts, k, n = posterior.shape
        p = self.p
        mom = np.matmul(posterior, self.moments)  # (S, K, p^2 + p + 2)
        lhs = mom[..., : p * p].reshape(n_starts, k, p, p)
        rhs = mom[..., p * p : p * p + p]
        weighted_yy = mom[..., -2]
        weighted_n = mom[..., -1]
        class_n = posterior.sum(axis=2)
        weights = np.maximum(class_n / n, _MIN_WEIGHT)
        weights = weights / weights.sum(axis=1, keepdims=True)
        beta = np.linalg.solve(lhs + self.ridge, rhs[..., None])[..., 0]
        # sum_i tau_ik ||y_i - X_i beta_k||^2 from the weighted moments
        weighted_rss = (
            weighted_yy
            - 2.0 * (beta * rhs).sum(axis=-1)
            + np.einsum("skp,skpq,skq->sk", beta, lhs, beta)
        )
        weighted_rss = np.maximum(weighted_rss, 0.0)
        if self.shared:
            pooled = weighted_rss.sum(axis=1) / self.n_total
            sigma2 = np.repeat(pooled[:, None], k, axis=1)
        else:
            sigma2 = weighted_rss / np.maximum(weighted_n, 1e-300)
        sigma2 = np.maximum(sigma2, self.sigma2_floor)
        return _Params(weights=weights, beta=beta, sigma2=sigma2, d=None)

    def e_step(self, params: _Params):
        """Log-likelihood per start (S,), posteriors and random-effect moments.

        Posteriors are (S, K, n) on the LCGA fast path and (S, n, K) otherwise.
        """
        if self.fast:
            return self._e_step_fast(params)
        s = self.stats
        rss = self._rss(params.beta)
        sigma2 = params.sigma2[:, None, :]
        n_i = s.n_obs[None, :, None]
        log_comp = -0.5 * n_i * (_LOG_2PI + np.log(sigma2))
        moments = None
        if self.q:
            zr = self._z_residual(params.beta)
            m, c, logdet = self._random_effect_posterior(params, zr)
            # Woodbury: r'V^-1 r = (r'r - (Z'r)'m) / sigma^2 ; lemma: log|V| adds log|D| + log|G|
            quad = (rss - (zr * m).sum(axis=-1)) / sigma2
            log_comp = log_comp - 0.5 * (logdet + quad)
            moments = (m, c)
        else:
            log_comp = log_comp - 0.5 * rss / sigma2
        log_comp = log_comp + np.log(params.weights)[:, None, :]
        top = log_comp.max(axis=2, keepdims=True)
        shifted = np.exp(log_comp - top)
        total = shifted.sum(axis=2, keepdims=True)
        loglik_i = top[..., 0] + np.log(total[..., 0])  # (S, n)
        posterior = shifted / total
        return loglik_i.sum(axis=1), posterior, moments, loglik_i

    # --- M step ----------------------------------------------------------------------
    def m_step(self, posterior: np.ndarray, moments=None, init: bool = False) -> _Params:
        if self.fast:
            return self._m_step_fast(posterior)
        s = self.stats
        n_starts = posterior.shape[0]
        p, k = self.p, self.k
        tau_t = posterior.transpose(0, 2, 1)  # (S, K, n)
        class_n = posterior.sum(axis=1)  # (S, K)
        weights = np.maximum(class_n / posterior.shape[1], _MIN_WEIGHT)
        weights = weights / weights.sum(axis=1, keepdims=True)
        lhs = np.matmul(tau_t, self.xx_flat).reshape(n_starts, k, p, p) + self.ridge
        rhs = np.matmul(tau_t, s.xy)  # (S, K, p)
        use_re = self.q and moments is not None and not init
        if use_re:
            m, c = moments
            # X'Z m: subtract the expected random-effect contribution before the GLS step
            xz = s.xx[:, :, : self.q]  # (n, p, q)
            if self.q == 1:
                # sum_i tau_ik m_ik X_i'Z_i: one matrix product per start
                weighted = (posterior * m[..., 0]).transpose(0, 2, 1)  # (S, K, n)
                rhs = rhs - np.matmul(weighted, xz[:, :, 0])
            else:
                for a in range(self.q):
                    weighted = (posterior * m[..., a]).transpose(0, 2, 1)
                    rhs = rhs - np.matmul(weighted, xz[:, :, a])
        beta = np.linalg.solve(lhs, rhs[..., None])[..., 0]
        rss = self._rss(beta)
        tau_n = posterior * s.n_obs[None, :, None]
        d = None
        if use_re:
            zr = self._z_residual(beta)
            if self.q == 1:
                zz1 = self.zz[None, :, None, 0, 0]
                m1, c1 = m[..., 0], c[..., 0, 0]
                # E||y - X beta - Z b||^2 = rss - 2 m'Z'r + m'Z'Z m + tr(Z'Z C)
                resid = rss - 2.0 * zr[..., 0] * m1 + zz1 * (m1 * m1 + c1)
                second = (m1 * m1 + c1)[..., None, None]
            else:
                z00 = self.zz[None, :, None, 0, 0]
                z01 = self.zz[None, :, None, 0, 1]
                z11 = self.zz[None, :, None, 1, 1]
                m0, m1 = m[..., 0], m[..., 1]
                c00, c01, c11 = c[..., 0, 0], c[..., 0, 1], c[..., 1, 1]
                resid = (
                    rss
                    - 2.0 * (zr[..., 0] * m0 + zr[..., 1] * m1)
                    + (m0 * m0 * z00 + 2.0 * m0 * m1 * z01 + m1 * m1 * z11)
                    + (z00 * c00 + 2.0 * z01 * c01 + z11 * c11)
                )
                s00, s01, s11 = m0 * m0 + c00, m0 * m1 + c01, m1 * m1 + c11
                second = np.stack(
                    (np.stack((s00, s01), axis=-1), np.stack((s01, s11), axis=-1)), axis=-2
                )
            d = np.matmul(
                posterior.transpose(0, 2, 1)[:, :, None, :],
                second.reshape(*second.shape[:3], -1).transpose(0, 2, 1, 3),
            ).reshape(n_starts, k, self.q, self.q) / np.maximum(
                class_n, 1e-300
            )[..., None, None]
            d = self._floor_d(d)
        else:
            resid = rss
        if self.shared:
            pooled = (posterior * resid).sum(axis=(1, 2)) / self.n_total
            sigma2 = np.repeat(pooled[:, None], k, axis=1)
        else:
            sigma2 = (posterior * resid).sum(axis=1) / np.maximum(tau_n.sum(axis=1), 1e-300)
        sigma2 = np.maximum(sigma2, self.sigma2_floor)
        if self.q and d is None:
            # initial split of the residual variance between random effects and noise
            d = np.zeros((n_starts, k, self.q, self.q))
            d[..., 0, 0] = 0.4 * sigma2
            if self.q == 2:
                d[..., 1, 1] = 0.1 * sigma2
            sigma2 = 0.6 * sigma2
        return _Params(weights=weights, beta=beta, sigma2=sigma2, d=d)

    def _floor_d(self, d: np.ndarray) -> np.ndarray:
        q = self.q
        floor = self.d_floor
        if q == 1:
            return np.maximum(d, floor)
        d = d.copy()
        d[..., 0, 0] = np.maximum(d[..., 0, 0], floor)
        d[..., 1, 1] = np.maximum(d[..., 1, 1], floor)
        # keep |correlation| < 1 so D stays invertible
        limit = np.sqrt(d[..., 0, 0] * d[..., 1, 1]) * (1.0 - 1e-9)
        off = np.clip(d[..., 0, 1], -limit, limit)
        d[..., 0, 1] = off
        d[..., 1, 0] = off
        return d


def _run_em(
    engine: _Engine,
    params: _Params,
    max_iter: int,
    tol: float,
    history: np.ndarray | None = None,
) -> tuple[_Params, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run EM on all starts until each converges or ``max_iter`` iterations pass.

    Converged starts leave the batch, so late iterations only touch the slow ones.
    Returns parameters, log-likelihood (S,), iterations (S,), converged (S,) and
    the largest log-likelihood decrease seen (S,), which should be ~0 for EM.
    """
    n_starts = params.weights.shape[0]
    loglik = np.full(n_starts, -np.inf)
    n_iter = np.zeros(n_starts, dtype=int)
    converged = np.zeros(n_starts, dtype=bool)
    worst_drop = np.zeros(n_starts)
    active = np.arange(n_starts)
    current = params
    for _ in range(max_iter + 1):
        sub = current.take(active)
        ll_new, posterior, moments, _ = engine.e_step(sub)
        previous = loglik[active]
        change = ll_new - previous
        worst_drop[active] = np.maximum(worst_drop[active], np.where(np.isfinite(change), -change, 0))
        loglik[active] = ll_new
        done = np.abs(change) <= tol * (1.0 + np.abs(ll_new))
        converged[active[done]] = True
        out_of_budget = n_iter[active] >= max_iter
        keep = ~(done | out_of_budget)
        if not keep.any():
            break
        step = engine.m_step(posterior[keep], None if moments is None else tuple(a[keep] for a in moments))
        active = active[keep]
        n_iter[active] += 1
        current.put(active, step)
    return current, loglik, n_iter, converged, worst_drop


# --------------------------------------------------------------------------------------
# public estimators
# --------------------------------------------------------------------------------------


class LCGA:
    """Latent class growth analysis fitted by EM with emEM random starts.

    Parameters
    ----------
    n_classes : int
        Number of latent classes K.
    degree : int, default 1
        Polynomial degree in time (0..3).
    variance : {"class", "shared"}, default "class"
        Class-specific residual variance or one shared across classes.
    n_starts : int, default 50
        Random starts (random partitions of participants) for the short stage.
    n_short_iter : int, default 25
        EM iterations per start in the short stage.
    n_final_starts : int or None, default None
        Starts carried to convergence; None = ``max(2, n_starts // 5)``.
    max_iter : int, default 2000
        Maximum EM iterations in the final stage.
    tol : float, default 1e-8
        Convergence: ``|delta loglik| <= tol * (1 + |loglik|)`` between EM iterations.
    random_state : int or None, default None
        Seed of ``numpy.random.default_rng``.

    Attributes
    ----------
    coef_ : ndarray (K, degree + 1)
        Class polynomials on the raw time scale, ``coef_[k, j]`` multiplies ``time**j``.
    sigma_ : ndarray (K,)
        Residual SD per class (equal entries for shared variance).
    weights_ : ndarray (K,)
        Mixing proportions.
    loglik_ : float
        Maximised log-likelihood.
    n_params_ : int
        Free parameters: ``K (degree + 1) + (K or 1) + (K - 1)`` [+ random-effect
        (co)variances for the GMM].
    posterior_ : ndarray (n_participants, K)
        Posterior class probabilities.
    classes_ : ndarray (n_participants,)
        MAP class, 1-based, in canonical order.
    participants_ : ndarray
        Participant labels, aligned with ``posterior_``.
    converged_, n_iter_ : bool, int
        Convergence of the best run.
    n_starts_at_best_ : int
        Final-stage runs within ``max(1e-3, 1e-8 |loglik|)`` of the best log-likelihood.
    final_logliks_ : ndarray
        Log-likelihoods of all final-stage runs, best first.

    Notes
    -----
    Classes are put in a canonical order: by mean fitted level over the
    observed time range, then by average slope, so labels do not depend on
    the start that won.
    """

    _n_random = 0

    def __init__(
        self,
        n_classes: int,
        degree: int = 1,
        variance: str = "class",
        n_starts: int = 50,
        n_short_iter: int = 25,
        n_final_starts: int | None = None,
        max_iter: int = 2000,
        tol: float = 1e-8,
        random_state: int | None = None,
    ):
        self.n_classes = n_classes
        self.degree = degree
        self.variance = variance
        self.n_starts = n_starts
        self.n_short_iter = n_short_iter
        self.n_final_starts = n_final_starts
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    # --- fitting ---------------------------------------------------------------------
    def fit(
        self,
        data: pd.DataFrame | PanelData,
        participant: str = "participant_id",
        time: str = "time",
        outcome: str = "P",
    ) -> LCGA:
        """Fit the model to a long table (or a prepared :class:`PanelData`).

        Parameters
        ----------
        data : pandas.DataFrame or PanelData
            Long table with participant, time and outcome columns; rows with a
            missing outcome are dropped.
        participant, time, outcome : str
            Column names.

        Returns
        -------
        self

        Raises
        ------
        ModelError
            Too few participants for K classes, too few distinct times for the
            degree, or no variation in the outcome.
        """
        if self.variance not in ("class", "shared"):
            raise ModelError(f"variance must be 'class' or 'shared', got {self.variance!r}.")
        panel = data if isinstance(data, PanelData) else prepare_panel(data, participant, time, outcome)
        _check_fittable(panel, self.n_classes, self.degree)
        if self._n_random == 2 and self.degree < 1:
            raise ModelError("a random slope needs degree >= 1.")
        stats = _sufficient_stats(panel, self.degree)
        engine = _Engine(stats, self.n_classes, self.variance == "shared", self._n_random)
        rng = np.random.default_rng(self.random_state)
        k, n = self.n_classes, panel.n_participants

        n_starts = max(1, int(self.n_starts)) if k > 1 else 1
        n_final = self.n_final_starts if self.n_final_starts is not None else max(2, n_starts // 5)
        n_final = int(min(max(1, n_final), n_starts))
        # random partitions: each participant to a uniformly drawn class
        assignment = rng.integers(0, k, size=(n_starts, n))
        posterior = np.zeros((n_starts, n, k))
        np.put_along_axis(posterior, assignment[..., None], 1.0, axis=2)
        if engine.fast:
            posterior = np.ascontiguousarray(posterior.transpose(0, 2, 1))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            params = engine.m_step(posterior, init=True)
            short_iter = np.zeros(n_starts, dtype=int)
            if k > 1 and n_final < n_starts:
                params, ll_short, short_iter, *_ = _run_em(
                    engine, params, self.n_short_iter, self.tol
                )
                # best first; ties broken by start index so the choice is deterministic
                ll_short = np.where(np.isfinite(ll_short), ll_short, -np.inf)
                chosen = np.lexsort((np.arange(n_starts), -ll_short))[:n_final]
                params = params.take(chosen)
                short_iter = short_iter[chosen]
            params, loglik, n_iter, converged, worst_drop = _run_em(
                engine, params, self.max_iter, self.tol
            )
        loglik = np.where(np.isfinite(loglik), loglik, -np.inf)
        best = int(np.lexsort((np.arange(loglik.shape[0]), -loglik))[0])
        if not np.isfinite(loglik[best]):
            raise ModelError(
                f"EM produced no finite log-likelihood for K = {k}; the data may be degenerate."
            )
        best_ll = float(loglik[best])
        close = max(1e-3, 1e-8 * abs(best_ll))
        self.n_starts_at_best_ = int(np.sum(loglik >= best_ll - close))
        self.final_logliks_ = np.sort(loglik)[::-1]
        self.n_final_starts_ = int(loglik.shape[0])
        self.max_loglik_decrease_ = float(worst_drop[best])
        chosen_params = params.take(np.array([best]))
        self._finish(
            panel, stats, engine, chosen_params, best_ll, bool(converged[best]),
            int(n_iter[best] + short_iter[best]),
        )
        if not self.converged_:
            warnings.warn(
                f"{type(self).__name__} with K = {k} did not converge in {self.max_iter} EM "
                "iterations; raise max_iter or loosen tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _finish(self, panel, stats, engine, params, loglik, converged, n_iter) -> None:
        k, p = self.n_classes, self.degree + 1
        beta = params.beta[0]
        lo, hi = stats.domain
        span = hi - lo if hi > lo else 2.0
        # mean level over [lo, hi] is the Legendre constant term; average slope uses P_j(+-1) = (+-1)^j
        level = beta[:, 0]
        odd = np.array([(1.0 - (-1.0) ** j) for j in range(p)])
        slope = (beta * odd).sum(axis=1) / span
        order = np.lexsort((np.round(slope, 12), np.round(level, 10)))
        params = _Params(
            params.weights[:, order],
            params.beta[:, order],
            params.sigma2[:, order],
            None if params.d is None else params.d[:, order],
        )
        _, posterior, _, loglik_i = engine.e_step(params)
        if engine.fast:
            posterior = posterior.transpose(0, 2, 1)
        self.loglik_ = float(loglik)
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.weights_ = params.weights[0].copy()
        self.coef_legendre_ = params.beta[0].copy()
        self.coef_ = self.coef_legendre_ @ _legendre_to_raw(self.degree, stats.domain).T
        self.sigma_ = np.sqrt(params.sigma2[0])
        self.random_cov_ = None if params.d is None else params.d[0].copy()
        self.posterior_ = posterior[0]
        self.classes_ = self.posterior_.argmax(axis=1) + 1
        self.participants_ = panel.participants
        self.loglik_participant_ = loglik_i[0]
        self.time_domain_ = stats.domain
        self.panel_ = panel
        n_var = k if self.variance == "class" else 1
        q = self._n_random
        self.n_params_ = int(k * p + n_var + (k - 1) + k * q * (q + 1) // 2)
        self.sigma2_floor_ = engine.sigma2_floor
        self.outcome_sd_ = math.sqrt(stats.outcome_var)

    # --- results ---------------------------------------------------------------------
    def predict_curves(self, times: np.ndarray) -> np.ndarray:
        """Fitted class means at ``times``, shape ``(K, len(times))``."""
        times = np.asarray(times, dtype=float)
        basis = _basis(times, self.degree, self.time_domain_)
        return self.coef_legendre_ @ basis.T

    @property
    def summary(self) -> pd.DataFrame:
        """One row per class: share, MAP size, raw-time coefficients, residual SD."""
        counts = np.bincount(self.classes_ - 1, minlength=self.n_classes)
        table = pd.DataFrame(
            {
                "class": np.arange(1, self.n_classes + 1),
                "weight": self.weights_,
                "n_map": counts,
            }
        )
        for j in range(self.degree + 1):
            table[f"coef_time{j}"] = self.coef_[:, j]
        table["sigma"] = self.sigma_
        if self.random_cov_ is not None:
            table["sd_random_intercept"] = np.sqrt(self.random_cov_[:, 0, 0])
            if self.random_cov_.shape[1] == 2:
                table["sd_random_slope_legendre"] = np.sqrt(self.random_cov_[:, 1, 1])
        return table

    def simulate(self, rng: np.random.Generator) -> pd.DataFrame:
        """Draw a data set from the fitted model at the observed design.

        Each participant keeps their observed times; the class is drawn from
        ``weights_``, then outcomes from the class's mean curve plus residual
        noise (and random effects for the GMM).

        Parameters
        ----------
        rng : numpy.random.Generator

        Returns
        -------
        pandas.DataFrame
            Long table with the fitted panel's column names.
        """
        panel = self.panel_
        n, width = panel.time.shape
        classes = rng.choice(self.n_classes, size=n, p=self.weights_ / self.weights_.sum())
        basis = _basis(panel.time, self.degree, self.time_domain_)  # (n, T, p)
        mean = np.einsum("ntp,np->nt", basis, self.coef_legendre_[classes])
        noise = rng.standard_normal((n, width)) * self.sigma_[classes][:, None]
        values = mean + noise
        if self.random_cov_ is not None:
            q = self.random_cov_.shape[1]
            chol = np.linalg.cholesky(self.random_cov_)  # (K, q, q)
            effects = np.einsum("nab,nb->na", chol[classes], rng.standard_normal((n, q)))
            values = values + np.einsum("ntq,nq->nt", basis[..., :q], effects)
        return panel.to_long(values)


class GMM(LCGA):
    """Growth mixture model: LCGA plus a class-specific random intercept (and slope).

    The marginal likelihood of participant ``i`` in class ``k`` is Gaussian with
    covariance ``sigma_k^2 I + Z_i D_k Z_i'``; it is evaluated with the Woodbury
    identity and the matrix-determinant lemma on the ``q x q`` random-effect
    blocks (closed form for q = 1, 2), vectorised over participants and starts.

    Fitting is EM with the class and the random effects as missing data: the
    E-step gives class posteriors and, per class, the posterior mean ``m`` and
    covariance ``C`` of the random effects; the M-step updates the fixed
    effects by weighted least squares on ``y - Z m``, then ``D_k`` from
    ``m m' + C`` and the residual variance from the expected residual sum of
    squares.  This is an exact EM step for the complete-data likelihood, so the
    observed log-likelihood does not decrease (``max_loglik_decrease_`` records
    the largest decrease seen, for checking).  EM is slow for variance
    components near zero, so ``max_iter`` is larger by default.

    Parameters
    ----------
    n_classes, degree, variance, n_starts, n_short_iter, n_final_starts, max_iter, tol, random_state
        As in :class:`LCGA`.
    random_intercept : bool, default True
        Must be True (a GMM without random effects is an LCGA).
    random_slope : bool, default False
        Add a random slope on (linear) time with a full 2 x 2 covariance.

    Attributes
    ----------
    random_cov_ : ndarray (K, q, q)
        Random-effect covariance per class, in the internal time scale
        (time mapped to [-1, 1] over the observed range); the intercept
        variance is on the outcome scale at the mid-point of that range.
    """

    def __init__(
        self,
        n_classes: int,
        degree: int = 1,
        variance: str = "class",
        n_starts: int = 50,
        n_short_iter: int = 25,
        n_final_starts: int | None = None,
        max_iter: int = 5000,
        tol: float = 1e-8,
        random_state: int | None = None,
        random_intercept: bool = True,
        random_slope: bool = False,
    ):
        super().__init__(
            n_classes=n_classes,
            degree=degree,
            variance=variance,
            n_starts=n_starts,
            n_short_iter=n_short_iter,
            n_final_starts=n_final_starts,
            max_iter=max_iter,
            tol=tol,
            random_state=random_state,
        )
        self.random_intercept = random_intercept
        self.random_slope = random_slope

    @property
    def _n_random(self) -> int:  # type: ignore[override]
        if not self.random_intercept:
            raise ModelError(
                "GMM needs random_intercept=True; without random effects use LCGA instead."
            )
        return 2 if self.random_slope else 1
