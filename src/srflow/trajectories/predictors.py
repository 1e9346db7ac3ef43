"""Predictors of class membership: multinomial logit of the latent class on baseline covariates.

With posteriors ``tau_ik`` from a fitted mixture and modal classes ``w_i``, the classification
error matrix is ``D[k, s] = P(W = s | C = k) = sum_i tau_ik 1(w_i = s) / sum_i tau_ik``. The
model is ``log P(C = k | x) / P(C = r | x) = x' gamma_k`` (``r`` the reference class). Methods:

* ``ml`` (bias-adjusted three-step, Vermunt 2010; Bakk, Tekle and Vermunt 2013): maximise
  ``sum_i log sum_k P(C = k | x_i) D[k, w_i]``, the likelihood of the modal classes with the
  classification error built in; SEs from the observed information of that likelihood.
* ``bch`` (Bolck, Croon and Hagenaars 2004; Vermunt 2010): weight participant i in class k by
  ``D^-1[w_i, k]`` and maximise the weighted multinomial log-likelihood; sandwich SEs (the
  weights can be negative, so the model-based information is not valid).
* ``one_step``: the class curves and the logit jointly, by EM (the mixture's class densities
  with a participant-specific prior); SEs from the observed information of the logit with the
  class curves held at their optimum (they ignore the curves' own uncertainty).
* ``modal``: a multinomial logit of the modal class, naive SEs. It treats the classification
  as error-free, so its effects are attenuated towards zero; it is there for comparison.

Every optimum is certified (:mod:`srflow.trajectories.logit_check`): no finite maximum
(separation, singular information) raises, a non-stationary point, a restart that disagrees or
(one_step) an EM that did not converge make the fit ``suspect`` with the reason.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize, special

from srflow.errors import ModelError
from srflow.trajectories.em import MixtureParams
from srflow.trajectories.logit_check import (
    LogitCheck,
    existence_problem,
    restart_check,
    stationarity_problem,
)
from srflow.trajectories.panel import sufficient_stats

__all__ = [
    "PREDICTOR_METHODS",
    "bch_distal_means",
    "classification_error",
    "fit_class_predictors",
    "one_step_density",
]

PREDICTOR_METHODS = ("ml", "bch", "one_step", "modal")
_Z975 = 1.959963984540054
NOTES = {
    "ml": "bias-adjusted three-step (ML, Vermunt 2010)",
    "bch": "bias-adjusted three-step (BCH weights, sandwich SEs)",
    "one_step": "one-step joint model (SEs hold the class curves fixed)",
    "modal": "naive: modal class as if error-free (attenuated; for comparison only)",
}


def classification_error(posterior: np.ndarray) -> np.ndarray:
    """``D[k, s] = P(modal class s | true class k)`` estimated from posteriors (n, K).

    Examples
    --------
    >>> classification_error(np.array([[0.9, 0.1], [0.2, 0.8]])).round(3).tolist()
    [[0.818, 0.182], [0.111, 0.889]]
    """
    k = posterior.shape[1]
    modal = np.eye(k)[posterior.argmax(axis=1)]
    return (posterior.T @ modal) / posterior.sum(axis=0)[:, None]


def _class_logits(gamma: np.ndarray, x: np.ndarray, k: int, ref: int) -> np.ndarray:
    """Log P(C = k | x) (n, K) for coefficients of the non-reference classes (K - 1, p)."""
    eta = np.zeros((x.shape[0], k))
    others = [c for c in range(k) if c != ref]
    eta[:, others] = x @ gamma.reshape(k - 1, -1).T
    return eta - special.logsumexp(eta, axis=1, keepdims=True)


def _objective(weights_fn, x, k, ref):
    """Negative log-likelihood and gradient of a logit whose class 'targets' come from weights_fn."""
    others = [c for c in range(k) if c != ref]

    def value_and_grad(theta):
        log_pi = _class_logits(theta, x, k, ref)
        value, resid = weights_fn(log_pi)
        grad = -(resid[:, others].T @ x).reshape(-1)
        return -value, grad

    return value_and_grad


def _ml_terms(log_err):
    """ML three-step: log sum_k pi_ik D[k, w_i]; residual h_ik - pi_ik."""

    def weights_fn(log_pi):
        joint = log_pi + log_err
        total = special.logsumexp(joint, axis=1, keepdims=True)
        return float(total.sum()), np.exp(joint - total) - np.exp(log_pi)

    return weights_fn


def _weighted_terms(weights):
    """Weighted multinomial log-likelihood sum_i sum_k w_ik log pi_ik; residual w_ik - w_i. pi_ik."""

    def weights_fn(log_pi):
        return float((weights * log_pi).sum()), weights - weights.sum(1, keepdims=True) * np.exp(
            log_pi
        )

    return weights_fn


def _fit_logit(weights_fn, x, k, ref, start=None):
    fun = _objective(weights_fn, x, k, ref)
    theta0 = np.zeros((k - 1) * x.shape[1]) if start is None else start
    # a separated model walks off towards infinity and overflows on the way: the certificate
    # (logit_check) says so, the arithmetic warnings would only be noise
    with np.errstate(over="ignore", invalid="ignore"):
        result = optimize.minimize(
            fun, theta0, jac=True, method="BFGS", options={"gtol": 1e-8, "maxiter": 2000}
        )
    return result.x, fun


def _hessian(fun, theta, step=1e-5):
    """Numerical Hessian of the negative log-likelihood from its analytic gradient."""
    m = theta.shape[0]
    hess = np.empty((m, m))
    for j in range(m):  # loop over parameters (a handful), not participants
        e = np.zeros(m)
        e[j] = step
        hess[:, j] = (fun(theta + e)[1] - fun(theta - e)[1]) / (2 * step)
    return (hess + hess.T) / 2


def _scores(weights_fn_resid, theta, x, k, ref):
    """Per-participant score vectors (n, m) of a logit (for the sandwich)."""
    others = [c for c in range(k) if c != ref]
    resid = weights_fn_resid(_class_logits(theta, x, k, ref))[1][:, others]  # (n, K - 1)
    return (resid[:, :, None] * x[:, None, :]).reshape(x.shape[0], -1)


def _covariance(method, hess, theta, terms, x, k, ref):
    """Inverse information and the reported covariance (the sandwich for BCH)."""
    try:
        inv = np.linalg.inv(hess)
    except np.linalg.LinAlgError as exc:
        raise ModelError(
            "the class-membership model's information matrix is singular; a "
            "predictor may separate the classes or be collinear."
        ) from exc
    if method == "bch":
        scores = _scores(terms, theta, x, k, ref)
        return inv, inv @ (scores.T @ scores) @ inv
    return inv, inv


def _certified_optimum(method, terms, x, k, ref, names):
    """The logit's optimum, its covariance and its certificate (:mod:`.logit_check`)."""
    theta, fun = _fit_logit(terms, x, k, ref)
    check = LogitCheck()
    check.add(getattr(terms, "problem", None))  # one_step: its EM's convergence
    for attempt in range(2):  # the first optimum, then (if better) the restart's
        with np.errstate(over="ignore", invalid="ignore"):  # a non-finite Hessian is a finding
            hess = _hessian(fun, theta)
        problem = existence_problem(hess, theta, x, names)
        if problem:
            raise ModelError(problem)
        inv, cov = _covariance(method, hess, theta, terms, x, k, ref)
        if attempt == 1:
            break
        restarted, note = restart_check(
            fun,
            theta,
            np.sqrt(np.abs(np.diag(cov))),
            lambda start: _fit_logit(terms, x, k, ref, start=start)[0],
        )
        check.add(note)
        if restarted is theta:
            break
        theta = restarted
    check.add(stationarity_problem(fun(theta)[1], inv))
    return theta, cov, check


def fit_class_predictors(
    posterior: np.ndarray,
    predictors: pd.DataFrame,
    method: str = "ml",
    reference_class: int = 1,
    class_density=None,
) -> pd.DataFrame:
    """Multinomial logit of the latent class on predictors, by one of :data:`PREDICTOR_METHODS`.

    Parameters
    ----------
    posterior : ndarray (n, K)
        Posterior class probabilities of the fitted mixture, rows aligned with ``predictors``.
    predictors : pandas.DataFrame
        Numeric predictor columns (n rows, no missing values; dummy-code categories first).
    method : {"ml", "bch", "one_step", "modal"}
    reference_class : int, default 1
        1-based class the others are contrasted with.
    class_density : callable, optional
        For ``one_step``: ``class_density(tau) -> log f`` (n, K), the log class densities after
        an M-step of the class curves on posteriors ``tau`` (see :func:`one_step_density`).

    Returns
    -------
    pandas.DataFrame
        ``class, term, estimate, se, statistic, p, ci_low, ci_high, odds_ratio, method,
        status, reason`` for every non-reference class and term (``(intercept)`` and the
        predictors); ``status`` is "ok" when the optimum is certified (stationary, a restart
        agrees: :mod:`srflow.trajectories.logit_check`), else "suspect" and ``reason`` says why.

    Raises
    ------
    ModelError
        Unknown method or reference class, a constant predictor, too few participants, or no
        finite maximum (a predictor separates the classes, singular information).
    """
    if method not in PREDICTOR_METHODS:
        raise ModelError(f"predictor_method must be one of {PREDICTOR_METHODS}, got {method!r}.")
    n, k = posterior.shape
    if not 1 <= int(reference_class) <= k:
        raise ModelError(
            f"reference_class {reference_class} does not exist: K = {k} classes "
            f"are numbered 1..{k}."
        )
    constant = [c for c in predictors.columns if predictors[c].nunique() < 2]
    if constant:
        raise ModelError(
            f"predictor(s) {', '.join(constant)} take a single value in the sample; "
            "a constant cannot predict class membership."
        )
    x = np.column_stack([np.ones(n), predictors.to_numpy(dtype=float)])
    if n <= x.shape[1] * k:
        raise ModelError(f"{n} participants are too few for {x.shape[1]} terms in {k} classes.")
    ref = int(reference_class) - 1
    modal = posterior.argmax(axis=1)
    if method == "ml":
        log_err = np.log(np.maximum(classification_error(posterior), 1e-300))[:, modal].T
        terms = _ml_terms(log_err)
    elif method == "bch":
        inverse = np.linalg.inv(classification_error(posterior))
        terms = _weighted_terms(inverse[modal])
    elif method == "modal":
        terms = _weighted_terms(np.eye(k)[modal])
    else:
        if class_density is None:
            raise ModelError("predictor_method one_step needs the fitted model's class densities.")
        terms = _one_step_terms(posterior, x, k, ref, class_density)
    names = ["(intercept)", *predictors.columns]
    theta, cov, check = _certified_optimum(method, terms, x, k, ref, names)
    table = _coefficient_table(theta, cov, names, k, ref, method)
    return table.assign(status=check.status, reason=check.reason)


def _one_step_terms(posterior, x, k, ref, class_density, n_iter=200, tol=1e-8):
    """EM of the joint model; returns the logit's terms at the final class densities."""
    tau = posterior
    theta = None
    previous = -np.inf
    converged = False
    for _ in range(n_iter):  # EM iterations; each is vectorised over participants
        log_f = class_density(tau)
        terms = _weighted_terms(tau)
        theta, _ = _fit_logit(terms, x, k, ref, start=theta)
        joint = _class_logits(theta, x, k, ref) + log_f
        total = special.logsumexp(joint, axis=1, keepdims=True)
        tau = np.exp(joint - total)
        loglik = float(total.sum())
        if abs(loglik - previous) <= tol * (1 + abs(loglik)):
            converged = True
            break
        previous = loglik

    def weights_fn(log_pi):
        joint = log_pi + log_f
        total = special.logsumexp(joint, axis=1, keepdims=True)
        return float(total.sum()), np.exp(joint - total) - np.exp(log_pi)

    weights_fn.problem = (  # read by the certificate
        None if converged else f"the one-step EM did not converge in {n_iter} iterations"
    )
    return weights_fn


def _coefficient_table(theta, cov, names, k, ref, method) -> pd.DataFrame:
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    others = [c for c in range(k) if c != ref]
    stat = theta / np.where(se > 0, se, np.nan)
    table = pd.DataFrame(
        {
            "class": np.repeat(np.array(others) + 1, len(names)),
            "term": np.tile(names, k - 1),
            "estimate": theta,
            "se": se,
            "statistic": stat,
            "p": special.erfc(np.abs(stat) / math.sqrt(2.0)),
            "ci_low": theta - _Z975 * se,
            "ci_high": theta + _Z975 * se,
            "odds_ratio": np.exp(theta),
            "method": f"{method}: {NOTES[method]}",
        }
    )
    return table


def one_step_density(model):
    """``class_density`` for :func:`fit_class_predictors` with ``one_step``, from a fitted LCGA/GMM.

    Each call runs one M-step of the class curves (and variances) on the given posteriors,
    starting from the model's optimum, and returns the log class densities (n, K).
    """
    engine = model._engine(sufficient_stats(model.panel_, model.degree, domain=model.time_domain_))
    state = {"params": model.params_}
    k = model.n_classes

    def density(tau: np.ndarray) -> np.ndarray:
        layout = np.ascontiguousarray(tau.T[None]) if engine.class_major else tau[None]
        _, _, moments, _ = engine.e_step(state["params"])
        step = engine.m_step(layout, moments)
        uniform = MixtureParams(np.full((1, k), 1.0 / k), step.beta, step.sigma2, step.d)
        state["params"] = uniform
        _, posterior, _, loglik_i = engine.e_step(uniform)
        posterior = posterior[0].T if engine.class_major else posterior[0]
        return np.log(np.maximum(posterior, 1e-300)) + loglik_i[0][:, None] + math.log(k)

    return density


def bch_distal_means(posterior: np.ndarray, outcome: np.ndarray) -> dict:
    """Class means of a distal outcome with BCH weights, sandwich SEs and a Wald test of equality.

    With modal classes ``w_i`` and the classification error matrix ``D``, participant i weighs
    ``D^-1[w_i, k]`` in class k (Bolck, Croon and Hagenaars 2004; Bakk and Vermunt 2016), so the
    weighted class means are unbiased for the latent classes' means despite misclassification.

    Parameters
    ----------
    posterior : ndarray (n, K)
    outcome : ndarray (n,)

    Returns
    -------
    dict
        ``mean, se`` (K,), ``cov`` (K, K), ``wald_chi2, wald_df, wald_p`` (all means equal).

    Examples
    --------
    >>> post = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> bch_distal_means(post, np.array([1.0, 3.0, 10.0, 12.0]))["mean"].tolist()
    [2.0, 11.0]
    """
    k = posterior.shape[1]
    weights = np.linalg.inv(classification_error(posterior))[posterior.argmax(axis=1)]
    totals = weights.sum(axis=0)
    mean = (weights * outcome[:, None]).sum(axis=0) / totals
    scores = weights * (outcome[:, None] - mean) / totals  # (n, K) influence of each participant
    cov = scores.T @ scores
    contrast = np.eye(k)[1:] - np.eye(k)[0]
    diff = contrast @ mean
    middle = contrast @ cov @ contrast.T
    try:
        chi2 = float(diff @ np.linalg.solve(middle, diff)) if k > 1 else float("nan")
    except np.linalg.LinAlgError:
        chi2 = float("nan")
    return {
        "mean": mean,
        "se": np.sqrt(np.diag(cov)),
        "cov": cov,
        "wald_chi2": chi2,
        "wald_df": k - 1,
        "wald_p": float(special.gammaincc((k - 1) / 2, chi2 / 2)) if k > 1 else float("nan"),
    }
