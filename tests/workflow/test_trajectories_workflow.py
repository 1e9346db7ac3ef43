"""End to end: the trajectory stage of the workflow on a small synthetic cohort (Snakemake in a temporary folder).

Specs run:
* ``anchored``: P over waves, aligned on the item GE_01 reaching 3 (read from validated.parquet,
  since the scores table has no items), 1 wave before and 2 after the anchor, K = 1..3, and a
  bootstrap LR test with 3 replicates per K >= 2;
* ``srwave``: wave-level SR (``sr:per_wave``) over the time column, K = 1..2;
* ``one_time``: P aligned on life_events >= 1 with no pre or post waves, so the series has a single
  time point and no K can be fitted: every row of its selection.csv is marked failed while the
  other specs complete.

Known answers: anchor waves recomputed here from validated.parquet by the stated rule; with one
class, an LCGA's class curve is the ordinary least-squares line of the outcome on time (the mixture
likelihood reduces to a Gaussian regression), checked against numpy.polyfit (1e-6 relative);
bic = -2 loglik + npm ln(n) with n participants (1e-12 relative); the bootstrap p-value is
(1 + #{LR_b >= LR_obs}) / (B + 1) counted from the replicate files (exact).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
B = 3

pytestmark = pytest.mark.slow

TRAJECTORIES = {
    "anchored": {
        "variable": "P",
        "time": "wave",
        "method": "lcga",
        "degree": 1,
        "classes": [1, 3],
        "starts": 5,
        "bootstrap": B,
        "anchor": {"column": "GE_01", "threshold": 3, "pre": 1, "post": 2},
    },
    "srwave": {
        "variable": "sr:per_wave",
        "time": "time",
        "method": "lcga",
        "degree": 1,
        "classes": [1, 2],
        "starts": 5,
    },
    "one_time": {
        "variable": "P",
        "time": "wave",
        "method": "lcga",
        "degree": 1,
        "classes": [1, 2],
        "starts": 5,
        "anchor": {"column": "life_events", "threshold": 1, "pre": 0, "post": 0},
    },
}


def _config(workdir: Path) -> Path:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cohort = config["cohorts"]["synthetic"]
    cohort["input"] = "data/cohort.csv"
    config["cohorts"] = {"small": cohort}
    config["sr"] = {"per_wave": {"level": "wave", "form": "linear"}}
    config["mixed_models"] = {}
    config["regressions"] = {}  # the default's rf_traits needs the SR spec person
    config["trajectories"] = TRAJECTORIES
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _snakemake(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        *extra,
    ]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from srflow.synthetic import write_cohort

    workdir = tmp_path_factory.mktemp("trajectories")
    write_cohort(workdir / "data", participants=60, waves=6, seed=11, messy=False)
    _config(workdir)
    done = _snakemake(workdir, "--cores", "2")
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir


def _results(run: Path, name: str) -> Path:
    return run / "results" / "small" / "trajectories" / name


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"participant_id": "str"})


def _hand_anchors(validated: pd.DataFrame, column: str, threshold: float) -> dict[str, int]:
    """First wave at or above the threshold whose previous assessed wave was below it."""
    anchors = {}
    for pid, rows in (
        validated.dropna(subset=[column]).sort_values("wave").groupby("participant_id")
    ):
        values, waves = rows[column].to_numpy(), rows["wave"].to_numpy()
        for i in range(1, len(values)):
            if values[i] >= threshold and values[i - 1] < threshold:
                anchors[pid] = int(waves[i])
                break
    return anchors


def test_anchors_follow_the_rule_on_the_item_from_the_validated_table(run):
    validated = pd.read_parquet(run / "results" / "small" / "validated.parquet")
    expected = _hand_anchors(validated, "GE_01", 3)
    anchors = _read(_results(run, "anchored") / "anchors.csv")
    assert len(anchors) == validated["participant_id"].nunique()
    found = (
        anchors[anchors["anchored"]]
        .set_index("participant_id")["anchor_wave"]
        .astype(int)
        .to_dict()
    )
    assert found == expected and len(found) >= 15
    selection = _read(_results(run, "anchored") / "selection.csv")
    assert (selection["n_anchored"] == len(expected)).all()
    assert (selection["n_unanchored"] == len(anchors) - len(expected)).all()


def test_anchored_selection_formulas_and_bootstrap(run):
    folder = _results(run, "anchored")
    selection = _read(folder / "selection.csv")
    assert selection["K"].tolist() == [1, 2, 3] and (selection["status"] == "ok").all()
    np.testing.assert_allclose(
        selection["bic"],
        -2 * selection["loglik"] + selection["npm"] * np.log(selection["n_participants"]),
        rtol=1e-12,
    )
    assert selection["npm"].tolist() == [3, 7, 11]
    loglik = dict(zip(selection["K"], selection["loglik"], strict=True))
    for k in (2, 3):
        reps = [
            json.loads((folder / "bootstrap" / f"K{k}.rep{r}.json").read_text()) for r in range(B)
        ]
        assert all(r["status"] == "ok" for r in reps)
        # every replicate simulates from the grid's own K - 1 fit
        assert all(r["loglik_null_observed"] == loglik[k - 1] for r in reps)
        observed = 2 * (loglik[k] - loglik[k - 1])
        exceed = sum(r["lr"] >= observed for r in reps)
        row = selection.set_index("K").loc[k]
        assert row["blrt_replicates"] == B
        assert 0 < row["blrt_p"] <= 1 and row["blrt_p"] == (1 + exceed) / (B + 1)
    assert pd.isna(selection.set_index("K").loc[1, "blrt_p"])


def test_anchored_classes_and_curves(run):
    folder = _results(run, "anchored")
    series = pd.read_parquet(folder / "series_anchored.parquet")
    assert set(series["waves_from_anchor"]) <= {-1, 0, 1, 2}
    classes = _read(folder / "classes.csv")
    n = series["participant_id"].nunique()
    assert classes.groupby("K").size().to_dict() == {1: n, 2: n, 3: n}
    assert not classes.duplicated(["participant_id", "K"]).any()
    np.testing.assert_allclose(
        classes.filter(like="post_").sum(axis=1, min_count=1), 1.0, atol=1e-12
    )
    assert classes["label"].notna().all()
    curves = _read(folder / "curves.csv")
    one = curves[curves["K"] == 1].sort_values("time")
    line = np.polyfit(series["waves_from_anchor"], series["P"], 1)
    np.testing.assert_allclose(one["fitted"], np.polyval(line, one["time"]), rtol=1e-6)
    means = series.groupby("waves_from_anchor")["P"].mean()
    np.testing.assert_allclose(one["observed_mean"], means.loc[one["time"]].to_numpy(), rtol=1e-12)


def test_sr_trajectory_models_the_wave_level_sr_scores(run):
    folder = _results(run, "srwave")
    sr = pd.read_csv(
        run / "results" / "small" / "sr" / "per_wave.csv", dtype={"participant_id": "str"}
    )
    scores = pd.read_csv(run / "results" / "small" / "scores.csv", dtype={"participant_id": "str"})
    expected = sr.merge(
        scores[["participant_id", "wave", "time"]], on=["participant_id", "wave"]
    ).dropna(subset=["sr"])
    series = pd.read_parquet(folder / "series.parquet")
    merged = series.merge(
        expected, on=["participant_id", "wave"], suffixes=("", "_sr"), validate="one_to_one"
    )
    assert len(merged) == len(series) == len(expected)
    np.testing.assert_array_equal(merged["sr"], merged["sr_sr"])
    selection = _read(folder / "selection.csv")
    assert selection["K"].tolist() == [1, 2] and (selection["status"] == "ok").all()
    curves = _read(folder / "curves.csv")
    one = curves[curves["K"] == 1].sort_values("time")
    line = np.polyfit(series["time"], series["sr"], 1)
    np.testing.assert_allclose(one["fitted"], np.polyval(line, one["time"]), rtol=1e-6, atol=1e-9)


def test_a_spec_with_one_time_point_is_marked_failed(run):
    folder = _results(run, "one_time")
    selection = _read(folder / "selection.csv")
    assert selection["K"].tolist() == [1, 2]
    assert (selection["status"] == "failed").all()
    assert selection["error"].str.contains("1 distinct value").all()
    assert _read(folder / "classes.csv").empty and _read(folder / "curves.csv").empty
    assert (
        run / "results" / "small" / "report.html"
    ).exists()  # the run finished: the report was built


def test_rerun_gives_byte_identical_trajectory_outputs(run, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(run / "data", again / "data")
    shutil.copy(run / "config.yaml", again / "config.yaml")
    trajectories = run / "results" / "small" / "trajectories"
    targets = sorted(str(p.relative_to(run)) for p in trajectories.rglob("*.csv"))
    done = _snakemake(again, "--cores", "1", *targets)
    assert done.returncode == 0, done.stderr[-4000:]

    def digests(root: Path) -> dict[str, str]:
        folder = root / "results" / "small" / "trajectories"
        return {
            str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    assert digests(again) == digests(run)
