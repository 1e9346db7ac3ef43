"""The srflow command as a new user meets it: starter config, validation summary, clean errors."""

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from srflow.cli import main
from srflow.config import load_config

ROOT = Path(__file__).resolve().parents[1]
MESSY = ROOT / "data" / "synthetic" / "messy"


def test_init_drafts_a_config_that_validates_the_r_export(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "r.yaml"
    assert (
        main(
            ["init", "--input", str(MESSY / "r_export.csv"), "--cohort", "rdata", "--out", str(out)]
        )
        == 0
    )
    config = load_config(out)
    cohort = config.cohort("rdata")
    assert (cohort.columns.participant, cohort.columns.wave, cohort.columns.time) == (
        "ID",
        "visit",
        "date",
    )
    assert cohort.problems.selector == "GHQ_"
    ge = cohort.instruments["ge"]
    # GE_12 is a free-text open question sharing the prefix: the draft lists the 11 numeric items only
    assert ge.selector == tuple(f"GE_{i:02d}" for i in range(1, 12))
    assert ge.range == (0.0, 5.0)
    assert "range: [0, 5]" in out.read_text()
    text = out.read_text()
    assert "# left out GE_12: holds text (96 of 96 values)" in text
    # the right problem and stressor instruments and no other; Q_ is named but left out
    assert [(i.name, i.role) for i in cohort.instruments.values()] == [
        ("ghq", "problems"),
        ("ge", "stressors"),
        ("le", "stressors"),
    ]
    assert "# left out block 'Q_' (137 items Q_001..Q_137" in text
    assert (
        "# CHECK ghq (problems): 12 items GHQ_01..GHQ_12, range 0-3 shared by 12 of 12 items"
        in text
    )
    assert "# left out X: a row index (1..n)" in text
    # constant within participant: proposed as covariates, with the evidence
    assert dict(cohort.columns.covariates) == {
        "age": "numeric",
        "gender": "category",
        "arm": "category",
    }
    assert (
        "# CHECK covariate arm (category): constant within every participant, 2 distinct values"
        in text
    )
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
    path.write_text(
        "cohorts:\n  x:\n    input: a.csv\n    columns: {participant: id, wave: w}\n    instrumnts: {}\n"
    )
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
    assert (
        main(
            [
                "init",
                "--input",
                str(MESSY / "cohort_wide.csv"),
                "--cohort",
                "wide",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    cohort = load_config(out).cohort("wide")
    assert (cohort.layout, cohort.wide_pattern, cohort.columns.wave, cohort.columns.time) == (
        "wide",
        "{item}_t{wave}",
        None,
        "date",
    )
    assert [(i.name, i.role, i.selector) for i in cohort.instruments.values()] == [
        ("ghq", "problems", "GHQ_"),
        ("ge", "stressors", "GE_"),
        ("le", "stressors", "LE_"),
    ]
    capsys.readouterr()
    assert main(["validate", "--config", str(out)]) == 0
    long_rows = len(pd.read_parquet(MESSY / "cohort.parquet"))
    assert (
        f"{long_rows} kept" in capsys.readouterr().out
    )  # the same rows as the long file of these participants


def test_init_is_conservative_on_a_wide_export(tmp_path, capsys, monkeypatch):
    """A wide export like a first real cohort: a coping block whose name starts with a stressor
    stem's letters, an open-question flag inside a stressor prefix, an empty and a constant
    column, and a site column that never changes within a participant."""
    monkeypatch.chdir(ROOT)
    wide = pd.read_csv(MESSY / "cohort_wide.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(20261201)
    n = len(wide)
    extra = {}
    for t in range(1, 9):
        for k in range(
            1, 10
        ):  # coping questionnaire, 1-5: not a stressor though "CE" starts "CERQ"
            extra[f"H1_CERQ_{k:02d}_t{t}"] = rng.integers(1, 6, n).astype(str)
        extra[f"GE_12_t{t}"] = np.where(rng.random(n) < 0.1, "1", "")  # open-question flag
    extra["empty_note"] = [""] * n
    extra["study"] = ["S1"] * n
    extra["site"] = np.where(np.arange(n) % 2 == 0, "north", "south")
    frame = pd.concat([wide, pd.DataFrame(extra)], axis=1)
    path = tmp_path / "wide_export.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "wide.yaml"
    assert main(["init", "--input", str(path), "--cohort", "w", "--out", str(out)]) == 0
    cohort = load_config(out).cohort("w")
    text = out.read_text()
    assert [(i.name, i.role) for i in cohort.instruments.values()] == [
        ("ghq", "problems"),
        ("ge", "stressors"),
        ("le", "stressors"),
    ]
    # the flag is not an item: GE is listed item by item so that a prefix cannot take it in
    assert cohort.instruments["ge"].selector == tuple(f"GE_{i:02d}" for i in range(1, 12))
    assert "# left out GE_12: fewer than two distinct values (only 1; 87% empty): a flag" in text
    assert (
        "# left out block 'H1_CERQ_' (9 items" in text
        and "not a known problems or stressor" in text
    )
    assert "# left out empty_note: all empty" in text
    assert "# left out study: one value only (S1)" in text
    assert dict(cohort.columns.covariates) == {
        "age": "numeric",
        "gender": "category",
        "arm": "category",
        "site": "category",
    }
    assert "# CHECK covariate site (category): constant within every participant" in text
    capsys.readouterr()
    assert main(["validate", "--config", str(out)]) == 0
    assert "failures: none" in capsys.readouterr().out


def test_an_unwritable_output_path_is_a_message(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "sub" / "c.yaml"  # a folder under a file cannot be made
    assert main(["init", "--input", str(MESSY / "r_export.csv"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(blocker) in err


def test_validate_checks_every_cohort_even_after_one_fails(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    good = config["cohorts"]["synthetic"]
    config["cohorts"] = {"broken": {**good, "input": str(tmp_path / "nowhere.csv")}, "fine": good}
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["validate", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    assert "input file not found" in captured.err and "nowhere.csv" in captured.err
    assert (
        "cohort fine: data/synthetic/cohort.csv" in captured.out
        and "failures: none" in captured.out
    )
