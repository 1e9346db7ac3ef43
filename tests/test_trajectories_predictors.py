"""Predictors of class membership: bias-adjusted three-step (ml, bch), one-step and naive modal.

Known answer: a simulated cohort (tests/trajectory_cohorts.py ``predictor_cohort``, seed 7,
2,000 participants, 5 waves, residual SD 5, so the 4-class LCGA's relative entropy is about
0.84) whose classes follow a multinomial logit in a standard-normal x with slopes 0.8 (high
falling), -0.6 (high stable) and 0.5 (low rising) against the low-stable class. Tolerances:
ml, bch and one_step within 2.5 of their SEs of the truth for every class; modal attenuated
(each |slope| below the truth and on average under 90% of ml's); corrected SEs above naive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srflow.errors import ModelError
from srflow.trajectories import LCGA
from srflow.trajectories.membership import baseline_predictors, predictor_table
from srflow.trajectories.predictors import (
    classification_error,
    fit_class_predictors,
    one_step_density,
)
from srflow.trajectories.selection import selection_row
from trajectory_cohorts import predictor_cohort

TRUE_SLOPES = np.array([0.8, -0.6, 0.5])  # true classes 2, 3, 4 against class 1
INTERCEPTS = np.array([-0.8, -1.0, -0.9])


@pytest.fixture(scope="module")
def fitted():
    long, people = predictor_cohort(TRUE_SLOPES, INTERCEPTS, sigma=5.0)
    model = LCGA(4, variance="shared", n_init=10, random_state=1).fit(long, participant="id")
    people = people.set_index("id").loc[model.participants_]
    # fitted class -> true class by majority (the classes are well separated in level)
    table = pd.crosstab(model.labels_, people["true_class"].to_numpy())
    mapping = table.idxmax(axis=1).to_dict()
    assert sorted(mapping.values()) == [1, 2, 3, 4]
    return model, people, mapping


def _slopes(model, people, mapping, method):
    reference = next(c for c, t in mapping.items() if t == 1)
    density = one_step_density(model) if method == "one_step" else None
    table = fit_class_predictors(model.posterior_, people[["x"]], method, reference, density)
    # every method's optimum is certified here (stationary, a restart agrees, EM converged)
    assert (table["status"] == "ok").all(), table["reason"].iloc[0]
    rows = table[table["term"] == "x"].assign(true=lambda t: t["class"].map(mapping))
    rows = rows.sort_values("true")
    return rows["estimate"].to_numpy(), rows["se"].to_numpy()


def test_entropy_is_moderate(fitted):
    model, _, _ = fitted
    assert 0.8 <= selection_row(model)["entropy"] <= 0.88


@pytest.mark.parametrize("method", ["ml", "bch", "one_step"])
def test_corrected_estimates_recover_the_truth(fitted, method):
    estimate, se = _slopes(*fitted, method)
    assert np.all(np.abs(estimate - TRUE_SLOPES) <= 2.5 * se), (estimate, se)


def test_modal_is_attenuated_and_its_ses_are_smaller(fitted):
    modal, modal_se = _slopes(*fitted, "modal")
    ml, ml_se = _slopes(*fitted, "ml")
    bch, bch_se = _slopes(*fitted, "bch")
    assert np.all(np.abs(modal) < np.abs(TRUE_SLOPES))
    assert np.mean(np.abs(modal) / np.abs(ml)) < 0.9
    assert np.all(ml_se > modal_se) and np.all(bch_se > modal_se)


def test_classification_error_rows_are_distributions(fitted):
    model, _, _ = fitted
    matrix = classification_error(model.posterior_)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(np.diag(matrix) > 0.8)


def test_bad_predictors_give_clear_messages(fitted):
    model, people, _ = fitted
    with pytest.raises(ModelError, match="single value"):
        fit_class_predictors(model.posterior_, people[["x"]].assign(c=1.0), "ml")
    with pytest.raises(ModelError, match="does not exist"):
        fit_class_predictors(model.posterior_, people[["x"]], "ml", reference_class=7)
    scores = pd.DataFrame(
        {
            "participant_id": ["a", "a", "b", "c", "d"],
            "wave": [2, 1, 1, 1, 1],
            "age": [np.nan, 30.0, np.nan, 40.0, 50.0],
            "arm": ["t", "t", "c", "t", "c"],
        }
    )
    table, notes = baseline_predictors(scores, ["age", "arm"])
    assert list(table.index) == ["a", "c", "d"] and list(table.columns) == ["age", "arm[t]"]
    assert table["arm[t]"].tolist() == [1.0, 1.0, 0.0]
    assert notes == ["1 of 4 participants dropped for a missing baseline predictor (age 1)"]
    with pytest.raises(ModelError, match="not columns of the scores table"):
        baseline_predictors(scores, ["agee"])


def test_predictor_table_fails_a_k_without_the_reference_class(fitted):
    model, people, _ = fitted
    classes = pd.DataFrame(
        {"participant_id": model.participants_, "K": 4, "class": model.labels_, "label": "x"}
    )
    for j in range(4):
        classes[f"post_{j + 1}"] = model.posterior_[:, j]
    table, notes = predictor_table(classes, people[["x"]], "ml", reference_class=5)
    assert "reference_class 5 does not exist" in notes[0]
    # every class of K = 4 (none is the reference) and term: NaN estimates, failed, the reason
    assert table[["class", "term"]].values.tolist() == [
        [c, t] for c in (1, 2, 3, 4) for t in ("(intercept)", "x")
    ]
    assert table["estimate"].isna().all() and (table["status"] == "failed").all()
    assert table["reason"].str.startswith("reference_class 5 does not exist").all()
    table, notes = predictor_table(classes, people[["x"]], "ml", reference_class=1)
    assert (
        notes == [] and set(table["class"]) == {2, 3, 4} and (table["reference_class"] == 1).all()
    )
    assert table["method"].str.startswith("ml: bias-adjusted").all()
    assert (table["status"] == "ok").all() and (table["reason"] == "").all()


def test_bch_distal_means_recover_class_means(fitted):
    """Distal outcome y = 2 (true class - 1) + N(0, 1) (seed 3): BCH means within 2.5 SE of
    0, 2, 4, 6; the modal-class means are pulled towards each other (attenuated spread)."""
    from srflow.trajectories.predictors import bch_distal_means

    model, people, mapping = fitted
    rng = np.random.default_rng(3)
    y = 2.0 * (people["true_class"].to_numpy() - 1) + rng.normal(0.0, 1.0, len(people))
    fit = bch_distal_means(model.posterior_, y)
    truth = np.array([2.0 * (mapping[c] - 1) for c in range(1, 5)])
    assert np.all(np.abs(fit["mean"] - truth) <= 2.5 * fit["se"]), (fit["mean"], fit["se"])
    modal = np.array([y[model.labels_ == c].mean() for c in range(1, 5)])
    assert np.ptp(modal) < np.ptp(fit["mean"])
    assert fit["wald_df"] == 3 and fit["wald_p"] < 1e-10


def test_distal_table_rows(fitted):
    from srflow.trajectories.membership import DISTAL_COLUMNS, distal_table, last_values

    model, people, _ = fitted
    classes = pd.DataFrame(
        {"participant_id": model.participants_, "K": 4, "class": model.labels_, "label": "x"}
    )
    for j in range(4):
        classes[f"post_{j + 1}"] = model.posterior_[:, j]
    scores = pd.DataFrame(
        {
            "participant_id": np.repeat(model.participants_, 2),
            "wave": np.tile([1, 2], len(people)),
            "y": np.repeat(people["x"].to_numpy(), 2),
        }
    )
    scores.loc[1, "y"] = np.nan  # participant 0's last wave is missing: the first value is used
    outcomes, notes = last_values(scores, ["y"])
    assert notes == [] and outcomes.loc[model.participants_[0], "y"] == people["x"].iloc[0]
    table = distal_table(classes, outcomes)
    assert list(table.columns) == DISTAL_COLUMNS and len(table) == 4
    assert table["n"].sum() == len(people)
