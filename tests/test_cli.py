"""The srflow command as a new user meets it: starter config, validation summary, clean errors."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from srflow.cli import main
from srflow.config import load_config

ROOT = Path(__file__).resolve().parents[1]
MESSY = ROOT / "data" / "synthetic" / "messy"


def test_init_drafts_a_config_that_validates_the_r_export(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "r.yaml"
    assert main(["init", "--input", str(MESSY / "r_export.csv"), "--cohort", "rdata", "--out", str(out)]) == 0
    config = load_config(out)
    cohort = config.cohort("rdata")
    assert (cohort.columns.participant, cohort.columns.wave, cohort.columns.time) == ("ID", "visit", "date")
    assert cohort.problems.selector == "GHQ_"
    ge = cohort.instruments["ge"]
    # GE_12 is a free-text open question sharing the prefix: the draft lists the 11 numeric items only
    assert ge.selector == tuple(f"GE_{i:02d}" for i in range(1, 12))
    assert ge.range == (0.0, 5.0)
    assert "range: [0, 5]" in out.read_text()
    assert "GE_12 share the stem 'GE_' but hold text" in out.read_text()
    capsys.readouterr()
    assert main(["validate", "--config", str(out)]) == 0
    printed = capsys.readouterr().out
    raw = pd.read_csv(MESSY / "r_export.csv")
    assert f"{len(raw)} rows, {len(raw)} kept, 0 excluded" in printed
    assert "ignored column 'X': a row index (1..n)" in printed


def test_validate_reports_dirty_rows_and_exits_1(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cohort = config["cohorts"]["synthetic"]
    cohort["input"] = str(MESSY / "dirty.csv")
    cohort["instruments"]["hassles"]["items"] = {"prefix": "GE_"}
    path = tmp_path / "dirty.yaml"
    path.write_text(yaml.safe_dump(config))
    failures = tmp_path / "failures.csv"
    assert main(["validate", "--config", str(path), "--failures", str(failures)]) == 1
    printed = capsys.readouterr().out
    assert "row 138, column GHQ_05, value '7': item_in_range" in printed
    assert "column 'GE_12' matches the prefix 'GE_'" in printed
    table = pd.read_csv(failures)
    faults = pd.read_csv(MESSY / "dirty_faults.csv")
    expected = faults[faults["expected"] == "failure"]
    assert sorted(table["source_row"]) == sorted(expected["row"].astype(int))
    ledger = pd.read_csv(failures.with_suffix(".ledger.csv"))
    assert len(ledger) == len(pd.read_csv(MESSY / "dirty.csv"))


def test_config_error_is_a_message_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("cohorts:\n  x:\n    input: a.csv\n    columns: {participant: id, wave: w}\n    instrumnts: {}\n")
    assert main(["validate", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "unknown key 'instrumnts' (did you mean 'instruments'?)" in err
    assert "Traceback" not in err


def test_missing_input_file_is_named(tmp_path, capsys):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["cohorts"]["synthetic"]["input"] = str(tmp_path / "nowhere.csv")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["validate", "--config", str(path)]) == 1
    assert "nowhere.csv" in capsys.readouterr().err


def test_init_refuses_to_overwrite(tmp_path):
    out = tmp_path / "c.yaml"
    out.write_text("keep me")
    assert main(["init", "--input", str(MESSY / "r_export.csv"), "--out", str(out)]) == 1
    assert out.read_text() == "keep me"


def test_init_recognises_a_wide_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "wide.yaml"
    assert main(["init", "--input", str(MESSY / "cohort_wide.csv"), "--cohort", "wide", "--out", str(out)]) == 0
    cohort = load_config(out).cohort("wide")
    assert (cohort.layout, cohort.wide_pattern, cohort.columns.wave, cohort.columns.time) == ("wide", "{item}_t{wave}", None, "date")
    assert [(i.name, i.role, i.selector) for i in cohort.instruments.values()] == [
        ("ghq", "problems", "GHQ_"), ("ge", "stressors", "GE_"), ("le", "stressors", "LE_")
    ]
    capsys.readouterr()
    assert main(["validate", "--config", str(out)]) == 0
    long_rows = len(pd.read_parquet(MESSY / "cohort.parquet"))
    assert f"{long_rows} kept" in capsys.readouterr().out  # the same rows as the long file of these participants
