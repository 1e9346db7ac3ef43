"""Tests of class labels (srflow.trajectories.labels) and stressor anchoring.

Known answers: hand-made curves of each prototype and a hand-made
3-participant stressor series whose anchor waves are worked out below.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from srflow.errors import ConfigError
from srflow.trajectories import LabelThresholds, anchor_on_event, label_classes


def prototype_curves() -> pd.DataFrame:
    times = np.arange(5.0)
    shapes = {
        1: 5 + 0.1 * times,  # resilient: low, stable
        2: 20 - 3.5 * times,  # recovery: high, falling
        3: 21 + 0 * times,  # chronic: high, stable
        4: 6 + 3.0 * times,  # delayed: low, rising
        5: 14 + 2.0 * times,  # high and worsening: no prototype, a descriptive name
    }
    return pd.DataFrame(
        [
            {"K": 5, "class": c, "time": t, "fitted": y}
            for c, ys in shapes.items()
            for t, y in zip(times, ys, strict=False)
        ]
    )


def test_each_prototype_gets_its_label():
    labels = label_classes(prototype_curves(), {"high": 12.0, "change": 3.0})
    assert labels["label"].tolist() == [
        "resilient",
        "recovery",
        "chronic",
        "delayed",
        "high rising",
    ]
    assert labels["change"].tolist() == pytest.approx([0.4, -14.0, 0.0, 12.0, 8.0])


def test_no_prototype_for_a_moderate_class_or_a_single_class():
    # the example: a class falling from 16.8 to 14.2, above the sample mean (12)
    times = np.arange(5.0)
    curves = pd.DataFrame(
        {
            "K": 2,
            "class": np.repeat([1, 2], 5),
            "time": np.tile(times, 2),
            "fitted": np.concatenate([5 + 0 * times, np.linspace(16.8, 14.2, 5)]),
        }
    )
    labels = label_classes(curves, {"high": 18.0, "low": 12.0, "change": 3.0})
    assert labels["label"].tolist() == ["resilient", "moderate stable"]
    labels = label_classes(curves, {"high": 18.0, "low": 12.0, "change": 2.0})
    assert labels["label"].tolist() == ["resilient", "moderate falling"]
    single = curves[curves["class"] == 1].assign(K=1)
    assert label_classes(single, {"high": 18.0, "low": 12.0, "change": 3.0})["label"].tolist() == [
        "low stable"
    ]


def test_sr_series_get_sr_names():
    times = np.arange(4.0)
    shapes = {1: -3 + 0 * times, 2: 0.2 + 0 * times, 3: 2.5 + 0 * times, 4: -0.5 + 1.2 * times}
    curves = pd.DataFrame(
        [
            {"K": 4, "class": c, "time": t, "fitted": y}
            for c, ys in shapes.items()
            for t, y in zip(times, ys, strict=True)
        ]
    )
    labels = label_classes(curves, {"high": 1.5, "change": 2.0}, kind="sr")
    assert labels["label"].tolist() == [
        "better than expected",
        "as expected",
        "worse than expected",
        "as expected, rising",
    ]


def test_duplicate_prototypes_are_numbered():
    curves = prototype_curves()
    extra = curves[curves["class"] == 1].assign(**{"class": 6, "fitted": 7.0})
    labels = label_classes(pd.concat([curves, extra]), LabelThresholds(high=12.0, change=3.0))
    assert labels.set_index("class").loc[[1, 6], "label"].tolist() == ["resilient 1", "resilient 2"]


def test_default_thresholds_from_pooled_statistics():
    curves = prototype_curves().assign(observed_mean=0.0, observed_sd=1.0, n_observed=10)
    # two groups per time: shift means so pooled mean/SD are known
    curves.loc[curves["class"] == 1, "observed_mean"] = 10.0
    groups = curves.assign(value=curves["observed_mean"])
    n = curves["n_observed"].sum()
    grand = (curves["n_observed"] * curves["observed_mean"]).sum() / n
    ss = ((curves["n_observed"] - 1) * curves["observed_sd"] ** 2).sum() + (
        curves["n_observed"] * (curves["observed_mean"] - grand) ** 2
    ).sum()
    sd = np.sqrt(ss / (n - 1))
    labels = label_classes(groups)
    assert labels["high_threshold"].iloc[0] == pytest.approx(grand + 0.5 * sd)
    assert labels["change_threshold"].iloc[0] == pytest.approx(0.5 * sd)
    with pytest.raises(ConfigError):
        label_classes(prototype_curves())  # no observed stats and no thresholds
    with pytest.raises(ConfigError):
        label_classes(prototype_curves(), {"hgh": 3})


def test_anchor_on_event_hand_example():
    # A: 0 0 2 0 3 -> first below->above at wave 3
    # B: 2 2 0 1 2 -> already high at wave 1 (no earlier wave below), first transition at wave 5
    # C: 0 NaN 0 0 0 -> never reaches the threshold: no anchor
    data = pd.DataFrame(
        {
            "participant_id": np.repeat(["A", "B", "C"], 5),
            "wave": np.tile(np.arange(1, 6), 3),
            "events": [0, 0, 2, 0, 3, 2, 2, 0, 1, 2, 0, np.nan, 0, 0, 0],
            "P": np.arange(15.0),
        }
    )
    result = anchor_on_event(data, "events", threshold=2, pre=2, peri=1, post=1)
    assert result.anchors.set_index("participant_id")["anchor_wave"].to_dict() == {"A": 3, "B": 5}
    assert (result.n_participants, result.n_anchored, result.n_unanchored) == (3, 2, 1)
    a = result.data[result.data["participant_id"] == "A"]
    assert a["waves_from_anchor"].tolist() == [-2, -1, 0, 1, 2]
    assert a["window"].tolist()[:4] == ["pre", "pre", "peri", "post"]
    assert pd.isna(a["window"].iloc[4])
    assert result.data.loc[result.data["participant_id"] == "C", "waves_from_anchor"].isna().all()
    # with a time column, time_from_anchor is in its units
    timed = anchor_on_event(data.assign(days=data["wave"] * 7.0), "events", 2, time="days")
    a_days = timed.data[timed.data["participant_id"] == "A"]["time_from_anchor"]
    assert a_days.tolist() == [-14.0, -7.0, 0.0, 7.0, 14.0]
    with pytest.raises(ConfigError):
        anchor_on_event(data, "events", 2, peri=0)
