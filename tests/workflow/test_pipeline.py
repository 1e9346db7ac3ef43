"""End to end: Snakemake runs the whole workflow on a small synthetic cohort in a temporary folder.

Scores are checked against the simulator's ground truth (truth.csv): where no item is missing,
P must equal the complete-data GHQ sum and E the sum of both stressor instruments, exactly.
"""

from __future__ import annotations

import hashlib
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

pytestmark = pytest.mark.slow


def _config(workdir: Path, input_file: str, **cohort_overrides) -> Path:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cohort = config["cohorts"]["synthetic"]
    cohort["input"] = input_file
    cohort.update(cohort_overrides)
    config["cohorts"] = {"small": cohort}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _snakemake(workdir: Path, configfile: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from srflow.synthetic import write_cohort

    workdir = tmp_path_factory.mktemp("run")
    write_cohort(workdir / "data", participants=80, waves=5, seed=7, messy=False)
    configfile = _config(workdir, "data/cohort.csv")
    done = _snakemake(workdir, configfile)
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir


def test_scores_match_ground_truth(finished_run):
    results = finished_run / "results" / "small"
    scores = pd.read_csv(results / "scores.csv", dtype={"participant_id": str})
    truth = pd.read_csv(finished_run / "data" / "truth.csv", dtype={"participant_id": str})
    merged = scores.merge(truth, on=["participant_id", "wave"], validate="one_to_one")
    assert len(merged) == len(truth) == len(scores)
    complete_p = merged["n_missing_problem_items"] == 0
    assert complete_p.sum() > 0.6 * len(merged)  # about 0.98**12 of rows have every GHQ item
    np.testing.assert_array_equal(merged.loc[complete_p, "P"], merged.loc[complete_p, "P_full"])
    complete_e = (merged["n_missing_general_items"] == 0) & (merged["n_missing_life_items"] == 0)
    np.testing.assert_allclose(
        merged.loc[complete_e, "E"],
        merged.loc[complete_e, "E_general_full"] + merged.loc[complete_e, "E_life_full"],
        rtol=0,
        atol=1e-9,
    )
    # a questionnaire with every item missing is missing, never 0
    assert merged.loc[merged["n_missing_problem_items"] == 12, "P"].isna().all()


def test_ledger_accounts_for_every_input_row(finished_run):
    results = finished_run / "results" / "small"
    raw = pd.read_csv(finished_run / "data" / "cohort.csv")
    ledger = pd.read_csv(results / "validation" / "ledger.csv")
    assert len(ledger) == len(raw)
    assert sorted(ledger["source_row"]) == list(range(1, len(raw) + 1))
    assert set(ledger["status"]) <= {"kept", "excluded"}


def test_report_is_written_and_names_the_cohort(finished_run):
    html = (finished_run / "results" / "small" / "report.html").read_text()
    scores = pd.read_csv(
        finished_run / "results" / "small" / "scores.csv", dtype={"participant_id": str}
    )
    assert "small" in html
    assert str(scores["participant_id"].nunique()) in html
    assert not any(pid in html for pid in scores["participant_id"].unique())


def test_rerun_is_byte_identical(finished_run, tmp_path):
    """Same input and config give byte-identical results (determinism requirement)."""
    again = tmp_path / "again"
    shutil.copytree(finished_run / "data", again / "data")
    shutil.copy(finished_run / "config.yaml", again / "config.yaml")
    done = _snakemake(again, again / "config.yaml", "--cores", "1")
    assert done.returncode == 0, done.stderr[-4000:]

    def digests(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "results").rglob("*"))
            if p.is_file()
        }

    assert digests(again) == digests(finished_run)


def test_invalid_data_stops_with_readable_message_and_no_partial_results(tmp_path):
    from srflow.synthetic import write_cohort

    write_cohort(tmp_path / "data", participants=20, waves=3, seed=3, messy=False)
    raw = pd.read_csv(tmp_path / "data" / "cohort.csv", dtype=str, keep_default_na=False)
    raw.loc[4, "GHQ_05"] = "7"  # data row 5: out of the 0-3 range
    raw.to_csv(tmp_path / "data" / "bad.csv", index=False)
    configfile = _config(tmp_path, "data/bad.csv")
    done = _snakemake(tmp_path, configfile)
    assert done.returncode != 0
    message = done.stdout + done.stderr
    assert "row 5" in message and "GHQ_05" in message and "7" in message
    assert "Traceback" not in message
    assert not (tmp_path / "results" / "small" / "validated.parquet").exists()
    assert not (tmp_path / "results" / "small" / "scores.csv").exists()
    failures = pd.read_csv(tmp_path / "logs" / "validate" / "small.failures.csv")
    assert failures[["source_row", "column", "check"]].values.tolist() == [
        [5, "GHQ_05", "item_in_range"]
    ]


def test_exclude_policy_drops_and_lists_rows(tmp_path):
    from srflow.synthetic import write_cohort

    write_cohort(tmp_path / "data", participants=20, waves=3, seed=3, messy=False)
    raw = pd.read_csv(tmp_path / "data" / "cohort.csv", dtype=str, keep_default_na=False)
    raw.loc[4, "GHQ_05"] = "7"
    raw.to_csv(tmp_path / "data" / "bad.csv", index=False)
    configfile = _config(tmp_path, "data/bad.csv", on_invalid="exclude")
    done = _snakemake(tmp_path, configfile)
    assert done.returncode == 0, done.stderr[-4000:]
    ledger = pd.read_csv(
        tmp_path / "results" / "small" / "validation" / "ledger.csv", keep_default_na=False
    )
    excluded = ledger[ledger["status"] == "excluded"]
    assert excluded["source_row"].tolist() == [5]
    assert "item_in_range" in excluded["reason"].iloc[0]
    scores = pd.read_csv(tmp_path / "results" / "small" / "scores.csv")
    assert len(scores) == len(raw) - 1


def test_snakemake_report_collects_flagged_figures(finished_run):
    """Every file flagged with report() is a target of rule all, so --report works after a run."""
    import zipfile

    done = _snakemake(finished_run, finished_run / "config.yaml", "--report", "report.zip")
    assert done.returncode == 0, done.stderr[-4000:]
    with zipfile.ZipFile(finished_run / "report.zip") as archive:
        names = archive.namelist()
    assert any(name.endswith("overview.svg") for name in names)
    assert any(name.endswith("scores.svg") for name in names)


def test_config_typo_stops_snakemake_with_the_key_named(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["cohorts"]["synthetic"]["lyout"] = "long"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    done = _snakemake(tmp_path, path, "-n")
    assert done.returncode == 1
    message = done.stdout + done.stderr
    assert "cohorts.synthetic: unknown key 'lyout' (did you mean 'layout'?)" in message
    assert "Traceback" not in message and 'File "' not in message


def test_editing_settings_reruns_exactly_the_stages_that_use_them(finished_run):
    """Scoring settings feed ingest/validate/score and everything after; an SR spec only its own job."""
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    config["cohorts"]["small"]["instruments"]["ghq12"]["reverse"] = []
    edited = finished_run / "edited.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    plan = _snakemake(finished_run, edited, "-n", "--quiet", "rules")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert all(rule in plan.stdout for rule in ("ingest", "validate", "score", "report"))

    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    config["sr"]["person"]["outliers"] = "huber"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    plan = _snakemake(finished_run, edited, "-n", "--quiet", "rules")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "sr_scores" in plan.stdout and "report" in plan.stdout
    assert "ingest" not in plan.stdout and "fit_mixed_model" not in plan.stdout
