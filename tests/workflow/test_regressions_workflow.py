"""End to end: the `regressions` rule, with regressions that can and cannot be fitted.

Snakemake runs the whole workflow (default target, subprocess, the venv's snakemake, 2 cores)
on a synthetic cohort (srflow.synthetic.write_cohort, 60 participants x 5 waves, seed 11) in
a temporary folder, with config/config.yaml's cohort and these analyses:

- SR ``person`` (period, min 3 waves), ``per_wave`` (wave) and ``control_ref`` (reference arm
  "nobody": cannot be computed);
- regression ``rf_person``: sr_z:person on z(age), gender, arm (first, classical);
- regression ``rf_mean``: sr:per_wave on E and age (mean, HC3);
- regression ``on_failed``: sr:control_ref on age (its SR spec failed);
- regression ``constant``: P on z(wave) (first: every participant's first wave is 1).

No keep-going flag: the two that cannot be fitted are written as failed with their reasons,
and the run succeeds. The two others are checked against statsmodels OLS on the person-level
data built here with pandas from results/<cohort>/scores.csv and the SR CSVs (estimates and
SEs within 1e-9 relative).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
COHORT = "small"

pytestmark = pytest.mark.slow

SR_SPECS = {
    "person": {"level": "period", "min_waves": 3},
    "per_wave": {"level": "wave"},
    "control_ref": {"level": "period", "reference": {"column": "arm", "value": "nobody"}},
}
REGRESSIONS = {
    "rf_person": {"outcome": "sr_z:person", "predictors": ["z(age)", "gender", "arm"]},
    "rf_mean": {
        "outcome": "sr:per_wave",
        "predictors": ["E", "age"],
        "aggregate": "mean",
        "se": "hc3",
    },
    "on_failed": {"outcome": "sr:control_ref", "predictors": ["age"]},
    "constant": {"outcome": "P", "predictors": ["z(wave)"]},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    from srflow.synthetic import write_cohort

    workdir = tmp_path_factory.mktemp("regressions")
    write_cohort(workdir / "data", participants=60, waves=5, seed=11, messy=False)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    cohort = next(iter(config["cohorts"].values()))
    cohort["input"] = "data/cohort.csv"
    config.update(
        cohorts={COHORT: cohort},
        sr=SR_SPECS,
        mixed_models={},
        trajectories={},
        regressions=REGRESSIONS,
    )
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    command = [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir


def _fit(run: Path, name: str) -> dict:
    return json.loads((run / "results" / COHORT / "regressions" / f"{name}.fit.json").read_text())


def _coefficients(run: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(run / "results" / COHORT / "regressions" / f"{name}.coefficients.csv")


def _read(run: Path, path: str) -> pd.DataFrame:
    return pd.read_csv(run / "results" / COHORT / path, dtype={"participant_id": str})


def test_failed_regressions_are_written_with_reasons(run):
    failed = _fit(run, "on_failed")
    assert failed["status"] == "failed" and failed["n_obs"] is None
    assert failed["reason"].startswith(
        "regressions.on_failed.outcome: SR spec 'control_ref' failed, "
        "so sr:control_ref has no values: "
    )
    assert "nobody" in failed["reason"]
    constant = _fit(run, "constant")
    assert constant["reason"] == (
        "regressions.constant.predictors: z(wave) is undefined: the variable is "
        "constant over the model's rows"
    )
    for name in ("on_failed", "constant"):
        assert _coefficients(run, name).empty
        log = (run / "logs" / "regressions" / f"{COHORT}.{name}.log").read_text()
        assert f"regression '{name}' could not be fitted" in log
    assert (run / "logs" / "benchmarks" / "regressions" / f"{COHORT}.rf_person.tsv").is_file()


def test_regression_on_period_sr_equals_statsmodels(run):
    scores = _read(run, "scores.csv").sort_values(["participant_id", "wave"])
    person = scores.groupby("participant_id")[["age", "gender", "arm"]].first()
    person = person.join(_read(run, "sr/person.csv").set_index("participant_id")["sr_z"]).dropna()
    person["z_age"] = (person["age"] - person["age"].mean()) / person["age"].std(ddof=1)
    ref = smf.ols("sr_z ~ z_age + C(gender) + C(arm)", data=person).fit()
    ours = _coefficients(run, "rf_person")
    fit = _fit(run, "rf_person")
    assert fit["status"] == "ok" and fit["n_obs"] == len(person)
    assert fit["n_dropped_missing"] == scores["participant_id"].nunique() - len(person)
    by_name = dict(
        zip(
            ref.params.index.str.replace(r"C\((\w+)\)", r"\1", regex=True).str.replace(
                "z_age", "z(age)"
            ),
            range(len(ref.params)),
            strict=True,
        )
    )
    assert sorted(by_name) == sorted(ours["term"])  # the same columns, named as srflow names them
    order = [by_name[term] for term in ours["term"]]
    np.testing.assert_allclose(ours["estimate"], ref.params.iloc[order], rtol=1e-9)
    np.testing.assert_allclose(ours["se"], ref.bse.iloc[order], rtol=1e-9)
    assert fit["r2"] == pytest.approx(ref.rsquared, rel=1e-10)


def test_hc3_regression_on_wave_sr_means_equals_statsmodels(run):
    scores = _read(run, "scores.csv")
    per_wave = _read(run, "sr/per_wave.csv")[["participant_id", "wave", "sr"]]
    rows = scores.merge(per_wave, on=["participant_id", "wave"], how="left")
    person = rows.groupby("participant_id")[["sr", "E", "age"]].mean().dropna()
    ref = smf.ols("sr ~ E + age", data=person).fit(cov_type="HC3")
    ours = _coefficients(run, "rf_mean")
    assert list(ours["term"]) == ["Intercept", "E", "age"]
    np.testing.assert_allclose(ours["estimate"], ref.params, rtol=1e-9)
    np.testing.assert_allclose(ours["se"], ref.bse, rtol=1e-9)
    assert _fit(run, "rf_mean")["se"] == "hc3"


def test_rerun_has_nothing_to_do(run):
    command = [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(run),
        "--configfile",
        str(run / "config.yaml"),
        "--cores",
        "1",
        "--dry-run",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Nothing to be done" in done.stdout + done.stderr
