"""Trajectory stages (srflow.stages, one module per rule): series, fit, bootstrap and select, file to file.

Known answers used here:
* anchoring: hand-made series whose anchor waves, windows and counts are worked out by hand
  in the comments (rule: first wave at or above the threshold after an assessed wave below it);
* fit indices: bic = -2 loglik + npm ln(n) and aic = -2 loglik + 2 npm, recomputed from the
  table's own loglik, npm and n (n = participants);
* seeds: the fit stage must reproduce srflow.trajectories.fit_trajectory_grid run with
  spec_seed(...), and a bootstrap replicate must simulate from that very K - 1 fit, so its
  loglik_null_observed equals the K - 1 fit's loglik exactly;
* bootstrap p-value: (1 + #{LR_b >= LR_obs}) / (B + 1), counted by hand from the replicate files.
Tolerances: exact where the same computation is repeated, 1e-9 relative for recomputed formulas.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srflow.errors import ConfigError
from srflow.stages import (
    spec_seed,
    trajectory_bootstrap_stage,
    trajectory_fit_stage,
    trajectory_select_stage,
)
from srflow.trajectories.series import series_columns, trajectory_series

SPEC = {
    "variable": "P",
    "time": "wave",
    "method": "lcga",
    "degree": 1,
    "variance": "class",
    "classes": [1, 3],
    "starts": 4,
    "bootstrap": 0,
    "labels": {"high": None, "change": None},
}


def _two_class_scores(n: int = 40, waves: int = 5, seed: int = 3) -> pd.DataFrame:
    """Half the participants low and flat (P = 5), half high and falling (P = 20 - 3 (wave - 1)); noise SD 1."""
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"S{i:03d}" for i in range(n)], waves)
    wave = np.tile(np.arange(1, waves + 1), n)
    falling = np.repeat(np.arange(n) % 2 == 1, waves)
    p = np.where(falling, 20.0 - 3.0 * (wave - 1), 5.0) + rng.normal(0.0, 1.0, n * waves)
    return pd.DataFrame(
        {
            "participant_id": ids,
            "wave": wave,
            "time": (wave - 1) * 30.0,
            "P": p,
            "E": rng.normal(10, 2, n * waves),
        }
    )


def _write_series(tmp_path, scores, spec=SPEC):
    series = trajectory_series(scores, spec)
    path = tmp_path / "series.parquet"
    series.data.to_parquet(path, index=False)
    return path


# ------------------------------------------------------------------ series


def test_series_columns_name_the_time_axis_and_outcome():
    assert series_columns(SPEC) == ("wave", "P")
    assert series_columns({**SPEC, "variable": "sr:per_wave", "time": "time"}) == ("time", "sr")
    anchor = {"column": "E", "threshold": 3, "pre": 1, "peri": 1, "post": 1}
    assert series_columns({**SPEC, "anchor": anchor}) == ("waves_from_anchor", "P")
    assert series_columns({**SPEC, "time": "time", "anchor": anchor}) == ("time_from_anchor", "P")


def test_series_of_a_score_drops_missing_values():
    scores = _two_class_scores(n=4, waves=3)
    scores.loc[[1, 5], "P"] = np.nan
    series = trajectory_series(scores, SPEC)
    assert list(series.data.columns) == ["participant_id", "wave", "P"]
    assert len(series.data) == 12 - 2
    assert series.anchors is None


def test_series_of_wave_level_sr_takes_times_from_the_scores():
    scores = _two_class_scores(n=3, waves=3)
    sr = (
        scores[["participant_id", "wave"]].iloc[:-1].assign(sr=np.arange(8.0))
    )  # last row has no SR
    series = trajectory_series(
        scores, {**SPEC, "variable": "sr:per_wave", "time": "time"}, sr_table=sr
    )
    assert list(series.data.columns) == ["participant_id", "wave", "time", "sr"]
    np.testing.assert_array_equal(series.data["sr"], np.arange(8.0))
    np.testing.assert_array_equal(series.data["time"], scores["time"].iloc[:-1])


def test_series_refuses_an_sr_table_without_one_score_per_wave():
    scores = _two_class_scores(n=3, waves=3)
    sliding = pd.DataFrame({"participant_id": ["S000"], "window": [1], "sr": [0.5]})
    with pytest.raises(ConfigError, match="one score per wave"):
        trajectory_series(scores, {**SPEC, "variable": "sr:sliding3"}, sr_table=sliding)


def test_series_refuses_an_unknown_variable():
    with pytest.raises(ConfigError, match="not a column of the scores table"):
        trajectory_series(_two_class_scores(n=2, waves=2), {**SPEC, "variable": "ghq"})


def _anchor_scores() -> tuple[pd.DataFrame, pd.DataFrame]:
    # stressor per wave 1..5 (threshold 3):
    #   A: 0 5 0 0 0 -> anchor wave 2 (wave 1 below)
    #   B: 5 5 0 4 0 -> wave 1 has no earlier wave, wave 2 follows a wave at 5; anchor wave 4
    #   C: 0 1 2 1 0 -> never reaches 3: unanchored
    event = {"A": [0, 5, 0, 0, 0], "B": [5, 5, 0, 4, 0], "C": [0, 1, 2, 1, 0]}
    rows = [
        (pid, w + 1, 7.0 * w, 10.0 * (i + 1) + w, v)
        for i, (pid, values) in enumerate(event.items())
        for w, v in enumerate(values)
    ]
    scores = pd.DataFrame(rows, columns=["participant_id", "wave", "time", "P", "life"])
    items = scores[["participant_id", "wave"]].assign(LE_01=scores["life"])
    return scores.drop(columns="life"), items


def test_anchored_series_windows_and_counts_by_hand():
    scores, items = _anchor_scores()
    spec = {**SPEC, "anchor": {"column": "LE_01", "threshold": 3, "pre": 1, "peri": 1, "post": 2}}
    series = trajectory_series(scores, spec, items=items)
    data = series.data
    # A: waves 1..4 = offsets -1..2; B: waves 3..5 = offsets -1..1 (no wave 6)
    assert data["participant_id"].tolist() == ["A"] * 4 + ["B"] * 3
    assert data["waves_from_anchor"].tolist() == [-1, 0, 1, 2, -1, 0, 1]
    assert data["window"].tolist() == ["pre", "peri", "post", "post", "pre", "peri", "post"]
    assert data["P"].tolist() == [10.0, 11.0, 12.0, 13.0, 22.0, 23.0, 24.0]
    anchors = series.anchors.set_index("participant_id")
    assert anchors["anchored"].tolist() == [True, True, False]
    assert anchors["anchor_wave"].tolist()[:2] == [2, 4] and pd.isna(
        anchors.loc["C", "anchor_wave"]
    )
    assert anchors[["n_pre", "n_peri", "n_post"]].to_numpy().tolist() == [
        [1, 1, 2],
        [1, 1, 1],
        [0, 0, 0],
    ]


def test_anchored_series_on_the_time_axis_counts_time_from_the_anchor():
    scores, items = _anchor_scores()
    spec = {
        **SPEC,
        "time": "time",
        "anchor": {"column": "LE_01", "threshold": 3, "pre": 1, "peri": 1, "post": 2},
    }
    series = trajectory_series(scores, spec, items=items)
    assert series.time == "time_from_anchor"
    # time = 7 (wave - 1): A's anchor at time 7, B's at time 21
    assert series.data["time_from_anchor"].tolist() == [-7.0, 0.0, 7.0, 14.0, -7.0, 0.0, 7.0]
    assert series.anchors["anchor_time"].tolist()[:2] == [7.0, 21.0]


def test_anchor_column_must_exist_and_be_numeric():
    scores, items = _anchor_scores()
    spec = {**SPEC, "anchor": {"column": "LE_99", "threshold": 3, "pre": 1, "peri": 1, "post": 1}}
    with pytest.raises(ConfigError, match="LE_99"):
        trajectory_series(scores, spec, items=items)
    text = scores.assign(group="x")
    with pytest.raises(ConfigError, match="must be numeric"):
        trajectory_series(text, {**spec, "anchor": {**spec["anchor"], "column": "group"}})


# ------------------------------------------------------------------ fit, bootstrap, select


def test_fit_stage_reproduces_the_grid_and_records_impossible_fits(tmp_path):
    from srflow.trajectories import fit_trajectory_grid

    series = _write_series(tmp_path, _two_class_scores())
    trajectory_fit_stage(
        SPEC, 11, "c", "s", 2, str(series), str(tmp_path / "K2.json"), str(tmp_path / "K2.parquet")
    )
    record = json.loads((tmp_path / "K2.json").read_text())
    direct, _ = fit_trajectory_grid(
        pd.read_parquet(series),
        time="wave",
        outcome="P",
        classes=[2],
        degree=1,
        n_init=4,
        random_state=spec_seed(11, "c", "s"),
    )
    row = dict(zip(record["selection"]["columns"], record["selection"]["data"][0], strict=False))
    assert record["status"] == "ok" and row["loglik"] == direct["loglik"].iloc[0]
    assert row["class_sizes"] in ("20/20",)  # the two simulated classes are recovered exactly
    classes = pd.read_parquet(tmp_path / "K2.parquet")
    assert len(classes) == 40
    np.testing.assert_allclose(classes[["post_1", "post_2"]].sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # 40 participants allow at most 13 classes (3 per class)
    trajectory_fit_stage(
        SPEC,
        11,
        "c",
        "s",
        14,
        str(series),
        str(tmp_path / "K14.json"),
        str(tmp_path / "K14.parquet"),
    )
    failed = json.loads((tmp_path / "K14.json").read_text())
    assert failed["status"] == "failed" and "too few" in failed["reason"]
    assert len(pd.read_parquet(tmp_path / "K14.parquet")) == 0


def _run_spec(tmp_path, scores, spec, ks, replicates):
    series = _write_series(tmp_path, scores, spec)
    fits, classes, boots = [], [], []
    for k in ks:
        fits.append(str(tmp_path / f"K{k}.json"))
        classes.append(str(tmp_path / f"K{k}.parquet"))
        trajectory_fit_stage(spec, 5, "c", "s", k, str(series), fits[-1], classes[-1])
        for r in range(replicates if k >= 2 else 0):
            boots.append(str(tmp_path / f"K{k}.rep{r}.json"))
            trajectory_bootstrap_stage(spec, 5, "c", "s", k, r, str(series), boots[-1])
    out = [str(tmp_path / f"{name}.csv") for name in ("selection", "classes", "curves")]
    trajectory_select_stage(spec, "s", fits, classes, *out, bootstrap_in=boots)
    return [pd.read_csv(path, dtype={"participant_id": "str"}) for path in out], boots


def test_select_stage_tables_formulas_and_bootstrap_pvalue(tmp_path):
    (selection, classes, curves), boots = _run_spec(
        tmp_path, _two_class_scores(), SPEC, ks=[1, 2, 3, 14], replicates=3
    )
    assert selection["K"].tolist() == [1, 2, 3, 14]
    assert selection["status"].tolist() == ["ok", "ok", "ok", "failed"]
    ok = selection[selection["status"] == "ok"]
    n = ok["n_participants"]
    np.testing.assert_allclose(ok["bic"], -2 * ok["loglik"] + ok["npm"] * np.log(n), rtol=1e-12)
    np.testing.assert_allclose(ok["aic"], -2 * ok["loglik"] + 2 * ok["npm"], rtol=1e-12)
    assert ok["npm"].tolist() == [3, 7, 11]  # K (intercept, slope, SD) + K - 1 proportions
    # bootstrap: the replicates simulate from the K - 1 fit of the grid itself
    replicates = [json.loads(Path(path).read_text()) for path in boots]
    loglik = dict(zip(ok["K"], ok["loglik"], strict=False))
    for k in (2, 3):
        reps = [r for r in replicates if r["K"] == k]
        assert all(r["loglik_null_observed"] == loglik[k - 1] for r in reps)
        observed = 2 * (loglik[k] - loglik[k - 1])
        exceed = sum(r["lr"] >= observed for r in reps)
        row = selection.set_index("K").loc[k]
        assert row["blrt_replicates"] == 3
        assert row["blrt_lr"] == pytest.approx(observed, rel=1e-12)
        assert row["blrt_p"] == (1 + exceed) / 4
    # two true classes: K = 2 beats one class in every replicate (LR 200+ against a few units)
    assert selection.set_index("K").loc[2, "blrt_p"] == 0.25
    assert pd.isna(selection.set_index("K").loc[1, "blrt_p"])
    # classes: one row per participant per fitted K, posteriors summing to 1, labels given
    assert classes.groupby("K").size().to_dict() == {1: 40, 2: 40, 3: 40}
    posterior = classes.filter(like="post_").sum(axis=1, min_count=1)
    np.testing.assert_allclose(posterior, 1.0, rtol=0, atol=1e-12)
    k2 = classes[classes["K"] == 2].groupby("class")["label"].first().sort_values().tolist()
    assert k2 == ["recovery", "resilient"]  # high falling, low flat
    # curves: K classes x 5 waves for each fitted K
    assert curves.groupby("K").size().to_dict() == {1: 5, 2: 10, 3: 15}


def test_select_stage_labels_anchored_curves_from_the_anchor_on(tmp_path):
    """Pre-event waves are the baseline: low before the event, high at it and falling after it.

    A one-class solution gets a descriptive name, never a prototype."""
    # label rules (srflow.trajectories.labels) with high = 10, change = 3 (low = min(mean, high)):
    #   from time 0: start 20 >= 10, change 8 - 20 = -12 <= -3 -> high falling
    #   from time -1 it would be start 5 < 10, change 8 - 5 = +3 >= 3 -> low rising
    curves = pd.DataFrame(
        {
            "K": 1,
            "class": 1,
            "time": [-1.0, 0.0, 1.0, 2.0],
            "fitted": [5.0, 20.0, 14.0, 8.0],
            **{"se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "se_status": "not computed"},
            "observed_mean": [5.0, 20.0, 14.0, 8.0],
            "observed_sd": 2.0,
            "n_observed": 10,
        }
    )
    record = {
        "spec": "s",
        "K": 1,
        "status": "ok",
        "reason": None,
        "selection": {
            "columns": ["method", "degree", "K", "loglik"],
            "data": [["lcga", 1, 1, -1.0]],
        },
        "curves": curves.to_dict(orient="split", index=False),
    }
    (tmp_path / "K1.json").write_text(json.dumps(record))
    pd.DataFrame({"participant_id": ["a"], "K": [1], "class": [1], "post_1": [1.0]}).to_parquet(
        tmp_path / "K1.parquet"
    )
    anchors = tmp_path / "anchors.csv"
    pd.DataFrame(
        {"participant_id": ["a", "b"], "anchored": [True, False], "anchor_wave": [2, None]}
    ).to_csv(anchors, index=False)
    spec = {
        **SPEC,
        "labels": {"high": 10.0, "change": 3.0},
        "anchor": {"column": "E", "threshold": 1, "pre": 1, "peri": 1, "post": 2},
    }
    out = [str(tmp_path / f"{name}.csv") for name in ("selection", "classes", "curves")]
    fits, classes = [str(tmp_path / "K1.json")], [str(tmp_path / "K1.parquet")]
    trajectory_select_stage(spec, "s", fits, classes, *out, anchors_in=str(anchors))
    assert pd.read_csv(out[0])[["n_anchored", "n_unanchored"]].iloc[0].tolist() == [1, 1]
    assert pd.read_csv(out[1])["label"].tolist() == ["high falling"]
    assert pd.read_csv(out[2])["label"].tolist() == ["high falling"] * 4
    unanchored = {key: value for key, value in spec.items() if key != "anchor"}
    trajectory_select_stage(unanchored, "s", fits, classes, *out)
    assert pd.read_csv(out[1])["label"].tolist() == ["low rising"]


def test_select_stage_when_every_fit_failed(tmp_path):
    scores = _two_class_scores(n=10, waves=1)  # one wave: a slope cannot be fitted
    (selection, classes, curves), _ = _run_spec(
        tmp_path, scores, {**SPEC, "bootstrap": 2}, ks=[1, 2], replicates=2
    )
    assert selection["status"].tolist() == ["failed", "failed"]
    assert selection["error"].str.contains("distinct value").all()
    assert selection["blrt_replicates"].fillna(0).tolist() == [0, 0]
    assert classes.empty and curves.empty


def test_stage_outputs_are_byte_identical_on_rerun(tmp_path):
    scores = _two_class_scores()
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        _run_spec(folder, scores, SPEC, ks=[1, 2], replicates=2)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_job_seeds_depend_on_identity_only():
    from srflow.stages import job_seed

    assert spec_seed(1, "c", "s") == job_seed(1, "c", "s")
    seeds = {job_seed(1, "c", "s", f"K{k}", f"rep{r}") for k in (2, 3) for r in range(50)}
    assert len(seeds) == 100
    assert math.isfinite(spec_seed(1, "c", "s")) and spec_seed(1, "c", "s") != spec_seed(
        2, "c", "s"
    )


# ------------------------------------------------------------------ predictors


def test_predictors_stage_reports_dropped_and_bad_predictors(tmp_path, capsys):
    """x is higher in the falling class (odd participants: mean 1 against 0, SD 1); age has one
    missing value (participant S000 dropped, said so); a constant predictor or a reference class
    beyond K gives a message and rows with NaN estimates, status "failed" and the reason, not
    a failure of the job."""
    from srflow.stages import trajectory_predictors_stage

    scores = _two_class_scores()
    number = scores["participant_id"].str[1:].astype(int)
    person_x = np.random.default_rng(0).normal(0.0, 1.0, 40) + (np.arange(40) % 2 == 1)
    scores["x"] = person_x[number]
    scores["age"] = 30.0 + number
    scores.loc[scores["participant_id"] == "S000", "age"] = np.nan
    scores["site"] = "A"
    scores_path = tmp_path / "scores.parquet"
    scores.to_parquet(scores_path, index=False)
    series = _write_series(tmp_path, scores)
    spec = {**SPEC, "classes": [1, 2], "predictor_method": "ml", "reference_class": 1}
    fits = []
    for k in (1, 2):
        trajectory_fit_stage(
            spec,
            11,
            "c",
            "s",
            k,
            str(series),
            str(tmp_path / f"K{k}.json"),
            str(tmp_path / f"K{k}.parquet"),
        )
        fits.append(k)
    out = {name: str(tmp_path / f"{name}.csv") for name in ("selection", "classes", "curves")}
    trajectory_select_stage(
        spec,
        "s",
        [str(tmp_path / f"K{k}.json") for k in fits],
        [str(tmp_path / f"K{k}.parquet") for k in fits],
        out["selection"],
        out["classes"],
        out["curves"],
    )
    target = tmp_path / "predictors.csv"
    trajectory_predictors_stage(
        {**spec, "predictors": ["x", "age"]},
        11,
        "c",
        "s",
        out["classes"],
        str(scores_path),
        str(series),
        str(target),
    )
    table = pd.read_csv(target)
    assert set(table["term"]) == {"(intercept)", "x", "age"} and set(table["K"]) == {2}
    assert (table["status"] == "ok").all() and table["reason"].isna().all()
    assert (
        "1 of 40 participants dropped for a missing baseline predictor (age 1)"
        in capsys.readouterr().err
    )
    trajectory_predictors_stage(
        {**spec, "predictors": ["x", "site"]},
        11,
        "c",
        "s",
        out["classes"],
        str(scores_path),
        str(series),
        str(target),
    )
    table = pd.read_csv(target)
    # K = 2 keeps its rows (class 2 against 1; intercept, x, site): NaN, failed, the reason
    assert table[["K", "class", "term"]].values.tolist() == [
        [2, 2, "(intercept)"],
        [2, 2, "x"],
        [2, 2, "site"],
    ]
    assert table["estimate"].isna().all() and (table["status"] == "failed").all()
    assert table["reason"].str.contains("site take a single value in the sample").all()
    assert "single value" in capsys.readouterr().err
    trajectory_predictors_stage(
        {**spec, "predictors": ["x"], "reference_class": 3},
        11,
        "c",
        "s",
        out["classes"],
        str(scores_path),
        str(series),
        str(target),
    )
    table = pd.read_csv(target)
    # no class is the reference: both classes of K = 2 get failed rows
    assert table[["K", "class", "term"]].values.tolist() == [
        [2, 1, "(intercept)"],
        [2, 1, "x"],
        [2, 2, "(intercept)"],
        [2, 2, "x"],
    ]
    assert table["se"].isna().all() and (table["status"] == "failed").all()
    assert "reference_class 3 does not exist" in capsys.readouterr().err


def test_distal_stage_writes_bch_means_and_reports_bad_outcomes(tmp_path, capsys):
    """The two simulated classes are recovered exactly (posteriors 0/1), so BCH means equal the
    plain class means of the last observed P: about 5 (flat) and 8 (20 - 3 x 4) by design."""
    from srflow.stages import trajectory_distal_stage

    scores = _two_class_scores()
    scores_path = tmp_path / "scores.parquet"
    scores.assign(site="A").to_parquet(scores_path, index=False)
    series = _write_series(tmp_path, scores)
    spec = {**SPEC, "classes": [2, 2]}
    trajectory_fit_stage(
        spec, 11, "c", "s", 2, str(series), str(tmp_path / "K2.json"), str(tmp_path / "K2.parquet")
    )
    out = {name: str(tmp_path / f"{name}.csv") for name in ("selection", "classes", "curves")}
    trajectory_select_stage(
        spec,
        "s",
        [str(tmp_path / "K2.json")],
        [str(tmp_path / "K2.parquet")],
        out["selection"],
        out["classes"],
        out["curves"],
    )
    target = tmp_path / "distal.csv"
    trajectory_distal_stage(
        {**spec, "distal": ["P", "site"]}, "s", out["classes"], str(scores_path), str(target)
    )
    table = pd.read_csv(target)
    last = scores.sort_values("wave").groupby("participant_id")["P"].last()
    falling = last.index.str[1:].astype(int) % 2 == 1
    assert table["mean"].tolist() == pytest.approx(
        [last[~falling].mean(), last[falling].mean()], rel=1e-9
    )
    assert "distal outcome site is not numeric" in capsys.readouterr().err
