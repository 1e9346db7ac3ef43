"""Certification of mixed-model optima (srflow.mixed.certify) and the LR test's refit.

Known answers: the OLS bound is the closed-form ML / REML log-likelihood of the linear
model without random effects (computed here with numpy); the nested bound is a separate
fit of the model without the last random effect; lme4's sleepstudy values are those of
tests/test_mixed.py. A stalled optimiser is simulated by replacing the optimiser chain.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srflow.mixed import certify, fit_lmm, fit_mixed_model, group_statistics, likelihood_ratio_test
from srflow.mixed import models as mixed_models
from srflow.mixed.deviance import profiled_deviance, theta_to_lambda
from srflow.mixed.optimise import Candidate

DATA = Path(__file__).parent / "data"
LME4_ML_LOGLIK = (
    -875.9696722
)  # sleepstudy, Reaction ~ Days + (Days | Subject), ML (lme4 1.1-31, R 4.2.2)


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    data = pd.read_csv(DATA / "sleepstudy.csv")
    return data.rename(columns={"Subject": "participant_id"}).astype({"participant_id": str})


def _arrays(sleep):
    X = np.column_stack([np.ones(len(sleep)), sleep["Days"]])
    return sleep["Reaction"].to_numpy(), X, sleep["participant_id"].to_numpy()


def _ols_loglik(y: np.ndarray, X: np.ndarray, reml: bool) -> float:
    n, p = X.shape
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    dof = n - p if reml else n
    value = -0.5 * dof * (1.0 + math.log(2.0 * math.pi) + math.log(resid @ resid / dof))
    if reml:
        value -= 0.5 * np.linalg.slogdet(X.T @ X)[1]
    return value


@pytest.mark.parametrize("reml", [False, True])
def test_a_regular_fit_is_certified_with_its_evidence(sleep, reml):
    y, X, g = _arrays(sleep)
    fit = fit_lmm(y, X, X, g, reml=reml)
    assert fit.certified and fit.suspect_reason is None and not fit.singular
    checks = {c["check"]: c for c in fit.certificates}
    for start in ("start: identity", "start: moments", "start: nested optimum"):
        assert checks[start]["loglik"] <= fit.loglik + 1e-6
        assert checks[start]["converged"]
    ols = checks["lower bound: model without random effects (OLS)"]
    assert ols["loglik"] == pytest.approx(_ols_loglik(y, X, reml), rel=1e-10) and ols["passed"]
    nested = checks["lower bound: model without the last random effect"]
    intercept_only = fit_lmm(y, X, X[:, :1], g, reml=reml)
    assert nested["loglik"] == pytest.approx(intercept_only.loglik, abs=1e-6) and nested["passed"]
    assert checks["gradient and Hessian at the optimum"]["passed"]
    if not reml:
        assert fit.loglik == pytest.approx(LME4_ML_LOGLIK, abs=1e-4)


def _stalled(problem, start, x0, optimisers=()):
    """An optimiser that stops where it starts and does not claim convergence."""
    theta = np.asarray(x0, float)
    return Candidate(start, theta, problem.deviance(theta), False, 1.0, 1.0, 0.0, "none", [])


def test_a_stalled_optimiser_gives_a_suspect_fit_not_a_singular_one(sleep, monkeypatch):
    monkeypatch.setattr(certify, "minimise_from", _stalled)
    y, X, g = _arrays(sleep)
    with pytest.warns(Warning, match="convergence criterion"):
        fit = fit_lmm(y, X, X, g, reml=False)
    assert not fit.certified and "convergence check" in fit.suspect_reason
    assert not fit.singular
    assert any(w.startswith("Suspect fit") for w in fit.warnings)
    with pytest.warns(Warning):
        result = fit_mixed_model(
            sleep, {"outcome": "Reaction", "fixed": ["Days"], "random": ["Days"], "method": "ml"}
        )
    assert result.status == "suspect" and "could not be certified" in result.reason
    assert result.fit["status"] == "suspect" and result.fit["singular"] is None
    assert result.fit["certificates"][-1]["passed"] is False
    assert len(result.fixed) == 2  # the estimates are still reported


def test_an_optimum_below_the_ols_bound_is_suspect(sleep, monkeypatch):
    def far_away(problem, start, x0, optimisers=()):
        theta = np.where(np.abs(x0) > 0, 100.0, 0.0)  # a huge variance: far worse than OLS
        return Candidate(start, theta, problem.deviance(theta), True, 0.0, 0.0, 1.0, "L-BFGS-B", [])

    monkeypatch.setattr(certify, "minimise_from", far_away)
    y, X, g = _arrays(sleep)
    fit = fit_lmm(y, X, X[:, :1], g, reml=False)
    assert not fit.certified
    assert "below that of the model without random effects (OLS)" in fit.suspect_reason


SMALL = {"outcome": "Reaction", "fixed": ["Days"], "random": [], "method": "ml"}
LARGE = {"outcome": "Reaction", "fixed": ["Days"], "random": ["Days"], "method": "ml"}


def _lowering_fit_lmm(monkeypatch, always: bool):
    """fit_lmm whose larger-model fit (2 random effects) comes back 50 units too low."""
    real = mixed_models.fit_lmm
    calls = []

    def patched(y, X, Z, groups, **kwargs):
        fit = real(y, X, Z, groups, **kwargs)
        calls.append(kwargs.get("starts", ()))
        if Z.shape[1] == 2 and (always or not kwargs.get("starts")):
            return dataclasses.replace(fit, loglik=fit.loglik - 50.0)
        return fit

    monkeypatch.setattr(mixed_models, "fit_lmm", patched)
    return calls


def test_lr_test_refits_the_larger_model_from_the_smaller_optimum(sleep, monkeypatch):
    honest = likelihood_ratio_test(sleep, SMALL, LARGE)
    calls = _lowering_fit_lmm(monkeypatch, always=False)
    out = likelihood_ratio_test(sleep, SMALL, LARGE)
    assert out["status"] == "ok"
    assert out["refit_from_smaller"]["loglik_before"] == pytest.approx(
        honest["loglik_large"] - 50.0
    )
    assert out["refit_from_smaller"]["loglik_after"] == pytest.approx(
        honest["loglik_large"], abs=1e-8
    )
    assert out["chi2"] == pytest.approx(honest["chi2"], abs=1e-6) and out["chi2"] > 40
    # The start handed over is the smaller model's optimum, padded with zeros.
    ((name, theta),) = calls[-1]
    assert "smaller model's optimum" in name
    small_theta = theta_to_lambda(theta, 2)
    assert small_theta[1, 1] == 0.0 and small_theta[1, 0] == 0.0
    y, X, g = _arrays(sleep)
    small_fit = fit_lmm(y, X, X[:, :1], g, reml=False)
    assert small_theta[0, 0] == pytest.approx(small_fit.theta[0], rel=1e-12)
    large_at_start = -0.5 * profiled_deviance(theta, group_statistics(y, X, X, g), reml=False)
    assert large_at_start == pytest.approx(small_fit.loglik, abs=1e-8)


def test_lr_test_never_reports_a_chi_square_when_the_larger_model_stays_lower(sleep, monkeypatch):
    _lowering_fit_lmm(monkeypatch, always=True)
    out = likelihood_ratio_test(sleep, SMALL, LARGE)
    assert out["status"] == "suspect"
    assert out["chi2"] is None and out["p"] is None and out["df"] is None
    assert "below the nested model's" in out["reason"]
