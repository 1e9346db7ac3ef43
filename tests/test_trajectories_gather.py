"""Gathering per-K fit records into the selection table: suspect fits and selection notes.

Known answers from hand-made records: K = 3's log-likelihood below K = 2's makes it suspect;
BIC 100.0, 101.5 and 90.0 put K = 1 and 2 within 2 of each other only; class sizes 300/20
and 380/12/8 of 400 give the small classes listed (under 25 participants or 5%).
"""

from __future__ import annotations

import pandas as pd
import pytest

from srflow.trajectories.gather import gather_selection


def _record(k, loglik, bic, sizes, certification=""):
    row = {
        "method": "gmm",
        "degree": 2,
        "K": k,
        "loglik": loglik,
        "bic": bic,
        "class_sizes": sizes,
        "certification": certification,
        "error": "",
    }
    frame = pd.DataFrame([row])
    return {
        "spec": "s",
        "K": k,
        "status": "ok",
        "reason": None,
        "selection": frame.to_dict(orient="split", index=False),
    }


def test_suspect_fits_and_notes():
    records = [
        _record(1, -50.0, 100.0, "400"),
        _record(2, -40.0, 101.5, "380/20"),
        _record(3, -41.0, 90.0, "380/12/8"),
        {"spec": "s", "K": 4, "status": "failed", "reason": "too few"},
    ]
    table = gather_selection({"method": "gmm", "degree": 2}, records).set_index("K")
    assert table["status"].tolist() == ["ok", "ok", "suspect", "failed"]
    assert "below K - 1's -40.0000" in table.loc[3, "certification"]
    assert table["bic_near"].tolist() == ["2", "1", "", ""]
    assert table.loc[2, "small_classes"] == "class 2 has 20 participants (5.0%)"
    assert table.loc[3, "small_classes"] == (
        "class 2 has 12 participants (3.0%); class 3 has 8 participants (2.0%)"
    )
    assert list(table.columns[-2:]) == ["status", "error"]


def test_classification_table_is_mean_posterior_by_assigned_class():
    from srflow.trajectories.gather import classification_table

    classes = pd.DataFrame(
        {
            "participant_id": list("abcd"),
            "K": 2,
            "class": [1, 1, 2, 2],
            "label": ["low", "low", "high", "high"],
            "post_1": [0.9, 0.7, 0.2, 0.0],
            "post_2": [0.1, 0.3, 0.8, 1.0],
        }
    )
    table = classification_table(classes)
    assert table["n"].tolist() == [2, 2]
    assert table["mean_post_1"].tolist() == pytest.approx([0.8, 0.1])
    assert table["mean_post_2"].tolist() == pytest.approx([0.2, 0.9])
    assert list(table.columns) == [
        "K",
        "assigned_class",
        "label",
        "n",
        "mean_post_1",
        "mean_post_2",
    ]
