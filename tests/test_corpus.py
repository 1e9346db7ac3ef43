"""The malformed-input corpus (tests/corpus/make_corpus.py): every case gets its expected outcome.

Per case, through ``srflow validate`` (in-process, the CLI's own entry point): no traceback for a
data or config problem; the exit status the case expects; the message names the file, row,
column, value and rule (or the config key) as listed; quoted values are capped; the ledger
has one row per canonical input row; nothing a code-like string asks for is executed.
For the cases that pass ``srflow validate``, every later stage (ingest, validate, score, SR,
mixed models, trajectory series) runs in-process without a config error: a config that
validates does not stop a later job. A handful run end to end through Snakemake (slow):
those that fail leave no partial results.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "corpus"))

import make_corpus  # noqa: E402
from make_corpus import CANARY, CASES  # noqa: E402

from srflow.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
#: Longest output a case may print: a message quotes, it does not dump.
MAX_OUTPUT = 20_000
#: srflow validate on a hostile config must answer within this many seconds.
MAX_SECONDS = 20


def test_the_corpus_covers_every_kind_of_bad_input():
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)
    kinds = {case.kind for case in CASES}
    assert kinds == {"values", "keys", "files", "config", "analyses"}
    assert all(case.mentions for case in CASES if case.expect == "fail")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_srflow_validate_gives_the_expected_outcome(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    built = make_corpus.build(case, tmp_path / "case")
    failures = tmp_path / "failures.csv"
    started = time.monotonic()
    code = main(["validate", "--config", str(built.config), "--failures", str(failures)])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    text = out + err
    assert "Traceback" not in text
    assert code == (0 if case.expect == "ok" else 1), text[-3000:]
    for expected in case.mentions:
        assert expected in text, f"{expected!r} not in:\n{text[-3000:]}"
    for unexpected in case.absent:
        assert unexpected not in text
    assert len(text) < MAX_OUTPUT
    assert elapsed < MAX_SECONDS
    ledger = failures.with_suffix(".ledger.csv")
    if built.n_rows is not None and ledger.exists():
        assert len(pd.read_csv(ledger)) == built.n_rows
    if case.expect == "ok":
        assert ledger.exists() and "failures: none" in text or "on_invalid is exclude" in text
    assert not (tmp_path / CANARY).exists() and not (tmp_path / "case" / CANARY).exists()


def _stages(config_path: Path, workdir: Path) -> None:
    """Every stage after ``srflow validate``, in-process, as the workflow's jobs run them."""
    from srflow.config import load_config
    from srflow.stages import (
        ingest_stage,
        mixed_stage,
        score_stage,
        sr_stage,
        trajectory_series_stage,
        validate_stage,
    )

    config = load_config(config_path)
    data = config.data
    out = workdir / "results"
    ingest_stage(data, "corpus", str(out / "canonical.parquet"), str(out / "meta.json"))
    validate_stage(
        data, "corpus", str(out / "canonical.parquet"), str(out / "meta.json"),
        str(out / "validated.parquet"), str(out / "failures.csv"), str(out / "ledger.csv"),
        str(workdir / "diagnostics"),
    )  # fmt: skip
    score_stage(data, "corpus", str(out / "validated.parquet"), str(out / "scores.parquet"),
                str(out / "scores.csv"))  # fmt: skip
    cohort = config.cohort("corpus")
    for name in cohort.sr:
        sr_stage(data, "corpus", name, str(out / "scores.parquet"), str(out / f"sr_{name}.csv"),
                 str(out / f"sr_{name}.json"))  # fmt: skip
    for name in cohort.mixed_models:
        mixed_stage(data, "corpus", name, str(out / "scores.parquet"), str(out / f"{name}.fixed.csv"),
                    str(out / f"{name}.fit.json"), str(out / f"{name}.random.csv"))  # fmt: skip
    for name, spec in cohort.trajectories.items():
        variable = str(spec["variable"])
        sr_in = str(out / f"sr_{variable[3:]}.csv") if variable.startswith("sr:") else None
        anchors = str(out / f"{name}.anchors.csv") if spec.get("anchor") else None
        trajectory_series_stage(
            data, "corpus", name, str(out / "scores.parquet"), str(out / f"{name}.series.parquet"),
            sr_in=sr_in, validated_in=str(out / "validated.parquet"), anchors_out=anchors,
        )  # fmt: skip


OK_CASES = [case for case in CASES if case.expect == "ok"]


@pytest.mark.parametrize("case", OK_CASES, ids=[case.name for case in OK_CASES])
def test_a_config_that_validates_runs_every_later_stage(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    built = make_corpus.build(case, tmp_path / "case")
    assert main(["validate", "--config", str(built.config)]) == 0
    capsys.readouterr()
    _stages(built.config, tmp_path)  # any srflow error here is a config check validate missed
    assert not (tmp_path / CANARY).exists()


SLOW_CASES = [case for case in CASES if case.slow]


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW_CASES, ids=[case.name for case in SLOW_CASES])
def test_end_to_end_through_snakemake(case, tmp_path):
    built = make_corpus.build(case, tmp_path / "case")
    command = [
        str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
        "--configfile", str(built.config), "--cores", "2",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "logs").rglob("*.log"))
    assert "Traceback" not in logs + done.stderr
    results = tmp_path / "results" / "corpus"
    if case.expect == "ok":
        assert done.returncode == 0, done.stderr[-4000:]
        assert (results / "report.html").exists()
    else:
        assert done.returncode != 0
        # nothing partial: no validated table, scores or report
        for name in ("validated.parquet", "scores.parquet", "report.html"):
            assert not (results / name).exists()
        for expected in case.mentions:
            assert expected in logs + done.stderr
    assert not (tmp_path / CANARY).exists()
