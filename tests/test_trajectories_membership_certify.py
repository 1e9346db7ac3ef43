"""Class-membership logit: certification of its optimum and the rows of a K that cannot be fitted.

Known answers:
* Separation: two classes (levels 2 and 10, residual SD 1.5, 5 waves, 300 participants, seed 3)
  are recovered without error (all posteriors ~0/1), so a predictor equal to the modal class
  separates them; the logit has no finite maximum (the optimiser walks off, the information
  along the separating direction falls below 1e-6 of the design's) and the K is ``failed``
  with NaN estimates, for every method. So is a binary predictor constant within one class. A predictor and a copy of it times 2
  make the information exactly singular: ``failed``.
* A normal predictor (w + class, SD 1) gives an ``ok`` fit whose estimates equal the
  uncertified BFGS optimum (the restart agrees to 1e-8 relative, so the first optimum is kept).
* The checks in :mod:`srflow.trajectories.logit_check` on hand-made quadratics: a Newton step's
  gain is ``g' H^-1 g / 2``; a restart that finds a lower minimum replaces the optimum.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srflow.errors import ModelError
from srflow.report.trajectory_membership import certification_note
from srflow.trajectories import LCGA
from srflow.trajectories import predictors as pred
from srflow.trajectories.logit_check import restart_check, stationarity_problem
from srflow.trajectories.membership import PREDICTOR_COLUMNS, predictor_table

N = 300


@pytest.fixture(scope="module")
def separated():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, N)
    values = np.where(truth[:, None] == 1, 10.0, 2.0) + rng.normal(0, 1.5, (N, 5))
    data = pd.DataFrame(
        {"id": np.repeat(np.arange(N), 5), "time": np.tile(np.arange(5.0), N), "P": values.ravel()}
    )
    model = LCGA(2, degree=1, n_init=5, random_state=0).fit(
        data, participant="id", time="time", outcome="P"
    )
    modal = model.posterior_.argmax(axis=1)
    w = rng.normal(size=N)
    people = pd.DataFrame(
        {"z": (modal == 1).astype(float), "w": w, "v": w + modal}, index=model.participants_
    )
    classes = pd.DataFrame(
        {
            "participant_id": model.participants_,
            "K": 2,
            "class": model.labels_,
            "label": "",
            "post_1": model.posterior_[:, 0],
            "post_2": model.posterior_[:, 1],
        }
    )
    return model, people, classes


def test_the_two_classes_are_recovered_without_error(separated):
    model, people, _ = separated
    assert model.posterior_.max(axis=1).min() > 1 - 1e-6


@pytest.mark.parametrize("method", ["ml", "bch", "modal"])
def test_a_separating_predictor_fails_with_the_reason(separated, method):
    model, people, classes = separated
    with pytest.raises(ModelError, match="no finite maximum"):
        pred.fit_class_predictors(model.posterior_, people[["z", "w"]], method)
    table, notes = predictor_table(classes, people[["z", "w"]], method)
    assert list(table.columns) == PREDICTOR_COLUMNS
    assert table[["K", "class", "term"]].values.tolist() == [
        [2, 2, "(intercept)"],
        [2, 2, "z"],
        [2, 2, "w"],
    ]
    numbers = ["estimate", "se", "statistic", "p", "ci_low", "ci_high", "odds_ratio"]
    assert table[numbers].isna().all().all() and (table["status"] == "failed").all()
    assert table["reason"].str.contains("separates the classes").all()
    assert len(notes) == 1 and notes[0].startswith("K = 2: no finite maximum")
    assert table["method"].str.startswith(f"{method}: ").all()


def test_collinear_predictors_make_the_information_singular(separated):
    model, people, _ = separated
    both = people[["v"]].assign(v2=2.0 * people["v"])
    with pytest.raises(ModelError, match="information matrix is singular"):
        pred.fit_class_predictors(model.posterior_, both, "ml")


@pytest.mark.parametrize("method", ["ml", "bch", "modal"])
def test_a_normal_predictor_is_certified_and_unchanged(separated, method):
    model, people, _ = separated
    table = pred.fit_class_predictors(model.posterior_, people[["v"]], method)
    assert (table["status"] == "ok").all() and (table["reason"] == "").all()
    # the uncertified estimator: one BFGS run from 0 (what the module did before the checks)
    posterior = model.posterior_
    modal = posterior.argmax(axis=1)
    x = np.column_stack([np.ones(N), people["v"].to_numpy()])
    if method == "ml":
        log_err = np.log(np.maximum(pred.classification_error(posterior), 1e-300))[:, modal].T
        terms = pred._ml_terms(log_err)
    elif method == "bch":
        terms = pred._weighted_terms(np.linalg.inv(pred.classification_error(posterior))[modal])
    else:
        terms = pred._weighted_terms(np.eye(2)[modal])
    theta, _ = pred._fit_logit(terms, x, 2, 0)
    np.testing.assert_array_equal(table["estimate"].to_numpy(), theta)
    # v = w + modal class with w ~ N(0, 1): a clear positive effect
    assert 0.5 < table.loc[1, "estimate"] < 1.1


def test_stationarity_gain_by_hand():
    """g = (0.002, 0), H^-1 = diag(1, 4): gain = 0.002^2 / 2 = 2e-6 > 1e-6; g / 2 gains 5e-7."""
    cov = np.diag([1.0, 4.0])
    assert "would gain 2e-06" in stationarity_problem(np.array([0.002, 0.0]), cov)
    assert stationarity_problem(np.array([0.001, 0.0]), cov) is None


def test_restart_replaces_a_local_optimum_and_flags_it():
    """f(t) = (t - 3)^2 with a 'first run' stopped at t = 1 (f = 4): the restart reaches 3."""

    def fun(theta):
        return float(((theta - 3.0) ** 2).sum()), 2.0 * (theta - 3.0)

    first = np.array([1.0])
    better, reason = restart_check(fun, first, np.array([0.5]), lambda start: np.array([3.0]))
    assert better.tolist() == [3.0] and "higher log-likelihood (-0.000000 against -4.000000)" in (
        reason
    )
    same, reason = restart_check(fun, np.array([3.0]), np.array([0.5]), lambda s: np.array([3.0]))
    assert same.tolist() == [3.0] and reason is None
    # the restart starts 3 SEs away, alternating directions
    seen = []
    restart_check(fun, np.array([3.0, 3.0]), np.array([0.5, 2.0]), lambda s: seen.append(s) or s)
    assert seen[0].tolist() == [4.5, -3.0]


def test_report_says_why_in_words():
    failed = pd.DataFrame({"status": ["failed"] * 2, "reason": ["no finite maximum"] * 2})
    assert certification_note(failed, 2, "ML") == (
        "The class-membership model at the chosen K = 2 (ML) could not be estimated: no finite "
        "maximum. No effects are shown."
    )
    suspect = pd.DataFrame({"status": ["suspect"], "reason": ["a restart disagrees"]})
    assert "could not be certified: a restart disagrees" in certification_note(suspect, 3, "ML")
    assert certification_note(pd.DataFrame({"status": ["ok"], "reason": [""]}), 2, "ML") is None


def test_the_report_says_a_failed_chosen_k_in_words():
    """The demo report's predictors at its chosen K marked failed (as predictor_table writes a
    K with no finite maximum): a warning with the reason and no effects table; suspect: the
    warning and the table."""
    import dataclasses

    from srflow import results
    from test_report import _warn_boxes, build_report, make_inputs, section_html

    inputs = make_inputs(sr={}, mixed={})
    traj = inputs.trajectories["problems"]
    predictors = traj.predictors
    reason = "the effect of age on class contrast 1 is 23.5 log-odds per SD: no finite maximum"
    for status in ("failed", "suspect"):
        marked = predictors.assign(status=status, reason=reason)
        if status == "failed":
            numbers = ["estimate", "se", "statistic", "p", "ci_low", "ci_high", "odds_ratio"]
            marked[numbers] = np.nan
        inputs.trajectories = {
            "problems": dataclasses.replace(traj, predictors=results.PREDICTORS_TABLE.check(marked))
        }
        html = section_html(build_report(inputs), "trajectories")
        boxes = [b for b in _warn_boxes(html) if "class-membership model" in b]
        assert len(boxes) == 1 and reason in boxes[0]
        if status == "failed":
            assert "could not be estimated" in boxes[0]
            assert "Predictors of class membership" not in html
        else:
            assert "could not be certified" in boxes[0]
            assert "Predictors of class membership" in html


def _three_class_posterior(seed: int = 1, n: int = 600):
    """Posterior 0.96 on each participant's class (0.02 on the others), classes uniform."""
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 3, n)
    posterior = np.full((n, 3), 0.02)
    posterior[np.arange(n), classes] = 0.96
    return rng, classes, posterior


@pytest.mark.parametrize("method", ["ml", "bch", "modal"])
def test_a_binary_predictor_constant_within_a_class_fails(method):
    """z is 0 for every member of class 3 and 0/1 at random elsewhere: no finite effect of z on
    class 3 against 1 (its log-odds go to -infinity); a rare z held only by 6 members of class 2
    (a quasi-separation the per-SD size check misses: SE ~1e4) fails the same way."""
    rng, classes, posterior = _three_class_posterior()
    w = rng.normal(size=len(classes))
    z = np.where(classes == 2, 0.0, (rng.random(len(classes)) < 0.5).astype(float))
    rare = np.zeros(len(classes))
    rare[np.flatnonzero(classes == 1)[:6]] = 1.0
    for frame in (pd.DataFrame({"z": z, "w": w}), pd.DataFrame({"rare": rare, "w": w})):
        with pytest.raises(ModelError, match="no finite maximum"):
            pred.fit_class_predictors(posterior, frame, method)
    ok = pred.fit_class_predictors(posterior, pd.DataFrame({"w": w + classes}), method)
    assert (ok["status"] == "ok").all()
