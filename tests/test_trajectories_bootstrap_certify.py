"""Bootstrap LR replicates are certified: a K fit below its K - 1 fit or not converged is refitted
from the K - 1 optimum, or excluded and counted.

Known answers:
* A K-class model with one class of a K - 1 optimum doubled (two copies, half the weight each)
  has exactly the K - 1 log-likelihood (every participant's mixture density is unchanged).
* Truth K = 2 (150 participants, 4 waves, levels 3 SDs apart, seed 4), LCGA degree 1, shared
  variance, 19 replicates per K (seed 9): K = 2 beats K = 1 in the data far more than in any
  replicate, so p(1 vs 2) = 1 / 20 = 0.05; for 2 vs 3 the observed LR (3.48) is ordinary under
  the 2-class null, p = 0.5. Replicate 10 of K = 2 simulates two near-identical classes: its
  first K = 2 fit ends 8e-6 below the K = 1 fit (EM stopped on a flat ridge), the refit from
  the doubled K = 1 optimum is exactly at it (LR 0): refitted and used.
* With 2 EM iterations nothing converges: every replicate is excluded, none used, p undefined.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from srflow.trajectories import GMM, LCGA, bootstrap_lrt_replicate, fit_trajectory_grid
from srflow.trajectories.gather import bootstrap_columns
from srflow.trajectories.nesting import duplicate_class
from srflow.trajectories.panel import prepare_panel, sufficient_stats

B = 19
SETTINGS = dict(random_state=9, n_init=5, degree=1, variance="shared")


@pytest.fixture(scope="module")
def two_classes() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 150
    truth = rng.integers(0, 2, n)
    times = np.arange(4.0)
    values = 3.0 * truth[:, None] + 0.5 * times + rng.standard_normal((n, 4))
    return pd.DataFrame(
        {
            "participant_id": np.repeat(np.arange(n), 4),
            "time": np.tile(times, n),
            "P": values.ravel(),
        }
    )


@pytest.mark.parametrize("model", [LCGA(2, degree=1), GMM(2, degree=1, n_init=5)])
def test_a_doubled_class_keeps_the_k_minus_1_log_likelihood(two_classes, model):
    model.random_state = 0
    model.fit(two_classes)
    panel = prepare_panel(two_classes, "participant_id", "time", "P")
    bigger = type(model)(3, degree=1)
    engine = bigger._engine(sufficient_stats(panel, 1))
    for j in range(2):
        loglik, *_ = engine.e_step(duplicate_class(model.params_, j))
        assert loglik[0] == pytest.approx(model.loglik_, abs=1e-9)


@pytest.fixture(scope="module")
def replicates(two_classes):
    return [
        bootstrap_lrt_replicate(two_classes, k, r, **SETTINGS) for k in (2, 3) for r in range(B)
    ]


def test_bootstrap_p_values_and_counts(two_classes, replicates):
    selection, _ = fit_trajectory_grid(two_classes, classes=[1, 2, 3], **SETTINGS)
    table = bootstrap_columns(selection.assign(status="ok"), replicates, [1, 2, 3]).set_index("K")
    assert table.loc[2, "blrt_p"] == pytest.approx(1 / 20)
    assert table.loc[3, "blrt_p"] == pytest.approx(10 / 20)
    assert table.loc[3, "blrt_lr"] == pytest.approx(3.479239, abs=1e-5)
    counts = ["blrt_replicates", "blrt_excluded_replicates", "blrt_refitted_replicates"]
    assert table.loc[2, counts].tolist() == [19, 0, 1]
    assert table.loc[3, counts].tolist() == [19, 0, 0]
    assert table.loc[1, counts].isna().all()


def test_a_replicate_below_k_minus_1_is_refitted_from_its_optimum(two_classes, replicates):
    refitted = [(r["K"], r["replicate"]) for r in replicates if r["refitted"]]
    assert refitted == [(2, 10)]
    rep = replicates[10]
    assert rep["status"] == "ok" and rep["reason"] is None
    assert rep["lr"] == pytest.approx(0.0, abs=1e-9) and rep["lr"] >= -1e-9
    assert all(r["lr"] >= -1e-6 for r in replicates)  # K never below K - 1 once certified
    # deterministic for a seed
    assert bootstrap_lrt_replicate(two_classes, 2, 10, **SETTINGS) == rep


def test_unconverged_replicates_are_excluded_and_counted(two_classes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reps = [
            bootstrap_lrt_replicate(two_classes, 2, r, **SETTINGS, model_options={"max_iter": 2})
            for r in range(3)
        ]
    assert [r["status"] for r in reps] == ["excluded"] * 3
    assert all("did not converge" in r["reason"] for r in reps)
    selection = pd.DataFrame({"K": [1, 2], "loglik": [-1209.17, -963.9], "status": "ok"})
    table = bootstrap_columns(selection, reps, [1, 2]).set_index("K")
    assert table.loc[2, "blrt_replicates"] == 0 and table.loc[2, "blrt_excluded_replicates"] == 3
    assert np.isnan(table.loc[2, "blrt_p"])


def test_bootstrap_stage_records_an_excluded_replicate(tmp_path, monkeypatch, capsys):
    """The stage writes the library's certification: status, the reason with the job's identity."""
    import json

    from srflow import trajectories
    from srflow.stages import trajectory_bootstrap_stage

    series = tmp_path / "series.parquet"
    pd.DataFrame({"participant_id": ["a"], "wave": [1], "P": [1.0]}).to_parquet(series)
    result = {
        "K": 2,
        "replicate": 4,
        "loglik_null_observed": -10.0,
        "loglik_null": -9.0,
        "loglik_alt": -9.5,
        "lr": -1.0,
        "refitted": True,
        "status": "excluded",
        "reason": "the K fit did not converge, even refitted from the K - 1 optimum",
    }
    monkeypatch.setattr(trajectories, "bootstrap_lrt_replicate", lambda *a, **k: dict(result))
    spec = {"variable": "P", "time": "wave", "method": "lcga", "degree": 1, "variance": "shared"}
    out = tmp_path / "rep.json"
    trajectory_bootstrap_stage({**spec, "starts": 2}, 5, "c", "s", 2, 4, str(series), str(out))
    record = json.loads(out.read_text())
    assert record["status"] == "excluded" and record["refitted"] is True
    assert record["reason"] == (
        "bootstrap replicate 4 of K=2 excluded: the K fit did not converge, even refitted from "
        "the K - 1 optimum"
    )
    assert record["reason"] in capsys.readouterr().err
