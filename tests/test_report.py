"""Tests of the HTML report (srflow.report).

The fixture is a small cohort whose scores, validation ledger and failures are made here
(40 participants, waves 1-3 with 40, 33 and 3 observed participants) and written through
their contracts in srflow.results. The SR and mixed-model results are the real output of
the pipeline's stages (srflow.stages.sr_stage and mixed_stage) on those scores: two SR specs,
one that fails (an empty reference group), one mixed model and one that fails (a constant
predictor). The trajectory selection, classes and curves tables are made here in the shape of
the selection stage's output (the selection's notes by the gather step's own function) and
written and read through their contracts; the classification table, the class-membership
predictors and the distal outcomes are the real output of the selection stage's function and
of the predictors and distal stages on those classes. The report is always built from files read
back through srflow.report.load_report_inputs, as the report rule does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srflow import results
from srflow.config import load_config
from srflow.errors import InputError
from srflow.report import (
    ReportFiles,
    ReportInputs,
    SRResults,
    build_report,
    config_sha256,
    grolts,
    load_report_inputs,
    suppress_count,
    write_report,
)
from srflow.report.formatting import DASH
from srflow.report.grolts import GROLTS_ITEMS

# ----------------------------------------------------------------------------- fixture

N_PARTICIPANTS = 40
IDS = [
    f"pid{i:03d}x" for i in range(1, N_PARTICIPANTS + 1)
]  # distinctive, so a search cannot hit by chance


def make_config(
    sr=None,
    mixed=None,
    trajectories=None,
    on_invalid="exclude",
    combine="sum",
    report=None,
    regressions=None,
    cohort_extra=None,
):
    """A validated config with one cohort 'demo'; the analysis blocks are given per test.

    ``cohort_extra`` adds cohort keys (e.g. a second problems instrument and ``problems``).
    """
    raw = {
        "seed": 7,
        "cohorts": {
            "demo": {
                "input": "data/demo.csv",
                "columns": {
                    "participant": "id",
                    "wave": "wave",
                    "time": "day",
                    "covariates": {"age": "numeric", "site": "numeric"},
                },
                "missing_codes": [-99],
                "on_invalid": on_invalid,
                "instruments": {
                    "ghq12": {
                        "role": "problems",
                        "items": {"prefix": "GHQ_"},
                        "range": [0, 3],
                        "score": "prorated_sum",
                        "reverse": [],
                    },
                    "hassles": {
                        "role": "stressors",
                        "items": {"prefix": "GE_"},
                        "range": [0, 5],
                        "method": "severity",
                    },
                    "events": {
                        "role": "stressors",
                        "items": {"prefix": "LE_"},
                        "range": [0, 5],
                        "method": "count",
                    },
                },
                "exposure": {"combine": combine},
            }
        },
        "sr": sr if sr is not None else {},
        "mixed_models": mixed if mixed is not None else {},
        "trajectories": trajectories if trajectories is not None else {},
        "regressions": regressions if regressions is not None else {},
        "report": report if report is not None else {"min_cell": 5, "max_points": 100},
    }
    for key, value in (cohort_extra or {}).items():
        cohort = raw["cohorts"]["demo"]
        cohort[key] = (
            {**cohort[key], **value} if isinstance(value, dict) and key in cohort else value
        )
    config = load_config(raw)
    return config, config.cohort("demo")


FULL_SR = {
    "per_wave": {"level": "wave", "form": "quadratic", "waves": [1, 2]},
    "person": {"level": "period", "form": "linear", "outliers": "winsorize", "min_waves": 2},
    # nobody is 999 years old: the reference group is empty, so the spec fails (with the reason)
    "windows": {"level": "sliding", "window": 2, "reference": {"column": "age", "value": 999}},
}
# site is constant in the fixture: the 'broken' model cannot be fitted
FULL_MIXED = {
    "reactivity": {"fixed": ["E", "wave"], "random": ["E"]},
    "intercepts": {"fixed": ["E"]},
    "broken": {"fixed": ["E", "site"]},
}
# person-level regressions of the period SR on baseline age and E, and one on the constant site (fails)
FULL_REG = {
    "rf_person": {"outcome": "sr_z:person", "predictors": ["z(age)", "E"], "aggregate": "first"},
    "on_site": {"outcome": "sr:person", "predictors": ["site"]},
}
FULL_TRAJ = {
    "problems": {
        "variable": "P",
        "classes": [1, 3],
        "degree": 2,
        "starts": 20,
        "predictors": ["age", "E"],
        "distal": ["P"],
    }
}


def make_scores() -> pd.DataFrame:
    """40 participants at wave 1, 33 at wave 2, 3 at wave 3 (a small cell)."""
    rng = np.random.default_rng(11)
    rows = []
    for index, pid in enumerate(IDS):
        waves = [1] + ([2] if index < 33 else []) + ([3] if index < 3 else [])
        person = float(rng.normal(0, 1.5))  # a participant's own level: a random intercept
        for wave in waves:
            e = float(rng.gamma(2.0, 3.0))
            p = 4.0 + person + 0.7 * e + float(rng.normal(0, 2.0))
            rows.append(
                {
                    "participant_id": pid,
                    "wave": wave,
                    "time": 30.0 * (wave - 1) + index % 4,
                    "P": p,
                    "E": e,
                    "ghq12": p,
                    "hassles": e * 0.6,
                    "events": e * 0.4,
                    "age": 20.0 + index,
                    "site": 1.0,
                }
            )
    scores = pd.DataFrame(rows)
    # P missing for 2 rows at wave 2, E missing for 1 row at wave 1
    scores.loc[scores.index[(scores["wave"] == 2)][:2], ["P", "ghq12"]] = np.nan
    scores.loc[scores.index[(scores["wave"] == 1)][5], ["E", "hassles", "events"]] = np.nan
    return results.SCORES_TABLE.check(scores)


def make_ledger(scores: pd.DataFrame) -> pd.DataFrame:
    """One ledger row per scored row (kept), plus 9 excluded rows; 2 straightlining flags, 7 'speeding' flags."""
    kept = scores[["participant_id", "wave"]].copy()
    kept.insert(0, "source_row", np.arange(1, len(kept) + 1))
    kept["status"] = "kept"
    kept["reason"] = ""
    kept["flags"] = ""
    kept.loc[kept.index[:2], "flags"] = "straightlining:ghq12"
    kept.loc[kept.index[10:17], "flags"] = "speeding"
    excluded = pd.DataFrame(
        {
            "source_row": np.arange(len(kept) + 1, len(kept) + 10),
            "participant_id": [IDS[i] for i in range(9)],
            "wave": [4] * 9,
            "status": "excluded",
            "reason": ["item_range"] * 6 + ["item_range; duplicate_id"] * 2 + ["duplicate_id"],
            "flags": [""] * 9,
        }
    )
    return results.LEDGER_TABLE.check(pd.concat([kept, excluded], ignore_index=True))


def make_failures(ledger: pd.DataFrame) -> pd.DataFrame:
    excluded = ledger[ledger["status"] == "excluded"]
    rows = []
    for _, r in excluded.iterrows():
        for check in r["reason"].split("; "):
            rows.append(
                {
                    "source_row": r["source_row"],
                    "participant_id": r["participant_id"],
                    "wave": r["wave"],
                    "column": "GHQ_01" if check == "item_range" else "id",
                    "value": "7",
                    "check": check,
                    "message": f"{check} failed",
                }
            )
    return results.FAILURES_TABLE.check(pd.DataFrame(rows))


def make_trajectory_tables() -> dict[str, pd.DataFrame]:
    """K = 1..3 as the selection stage writes them; K = 3 has the lowest BIC but is degenerate (a class of 2).

    Participants are assigned to classes in a seeded random order, so age does not separate them.
    """
    from srflow.trajectories import gather

    sizes = {1: [40], 2: [28, 12], 3: [26, 12, 2]}
    order = [str(p) for p in np.random.default_rng(3).permutation(IDS)]
    selection = pd.DataFrame(
        {
            "method": "lcga",
            "degree": 2,
            "K": [1, 2, 3],
            "variance": "class",
            "loglik": [-300.0, -280.0, -270.0],
            "npm": [4, 9, 14],
            "n_participants": 40,
            "n_observations": 76,
            "aic": [608.0, 578.0, 568.0],
            "bic": [615.0, 593.0, 590.0],
            "sabic": [603.0, 565.0, 546.0],
            "entropy": [np.nan, 0.83, 0.88],
            "smallest_class_size": [40, 12, 2],
            "smallest_class_share": [1.0, 0.3, 0.05],
            "class_sizes": ["/".join(map(str, sizes[k])) for k in (1, 2, 3)],
            "converged": [True, True, True],
            "n_starts": [1, 20, 20],
            "n_starts_at_best": [1, 12, 3],
            "degenerate": [False, False, True],
            "degenerate_reason": ["", "", "class 3 has 2 participants (5.00%)"],
            "poorly_separated": False,
            "certification": "",
            "status": "ok",
            "error": "",
        }
    )
    selection = with_selection_notes(selection)
    rows = []
    for k, counts in sizes.items():
        start = 0
        for c, size in enumerate(counts, start=1):
            for pid in order[start : start + size]:
                post = {
                    f"post_{j}": (0.9 if j == c else 0.1 / max(k - 1, 1)) if k > 1 else 1.0
                    for j in range(1, 4)
                }
                post.update({f"post_{j}": np.nan for j in range(k + 1, 4)})
                rows.append(
                    {
                        "participant_id": pid,
                        "K": k,
                        "class": c,
                        "label": ["resilient", "chronic", "recovery"][c - 1],
                        **post,
                    }
                )
            start += size
    classes = pd.DataFrame(rows).sort_values(["K", "participant_id"], kind="stable")
    curve_rows = []
    for k, counts in sizes.items():
        for c in range(1, k + 1):
            for t in (1.0, 2.0, 3.0):
                curve_rows.append(
                    {
                        "K": k,
                        "class": c,
                        "time": t,
                        "fitted": 4.0 + c * (t - 1) * 0.5,
                        # bands 4.0 +- 0.3 wide; no standard errors at K = 3 (a boundary fit)
                        "se": 0.15 if k < 3 else np.nan,
                        "ci_low": 3.7 + c * (t - 1) * 0.5 if k < 3 else np.nan,
                        "ci_high": 4.3 + c * (t - 1) * 0.5 if k < 3 else np.nan,
                        "se_status": "ok"
                        if k < 3
                        else "not available: class 3 residual variance 0 is at the boundary (~0)",
                        "observed_mean": 4.1 + c * (t - 1) * 0.5,
                        "observed_sd": 1.0,
                        "n_observed": counts[c - 1] if t < 3 else 3,
                        "label": ["resilient", "chronic", "recovery"][c - 1],
                    }
                )
    return {
        "selection": selection,
        "classes": classes,
        "curves": pd.DataFrame(curve_rows),
        "classification": gather.classification_table(classes),
    }


def with_selection_notes(selection: pd.DataFrame) -> pd.DataFrame:
    """``bic_near`` and ``small_classes`` as the gather step writes them (its own function)."""
    from srflow.trajectories import gather

    return gather._selection_notes(
        selection.drop(columns=["bic_near", "small_classes"], errors="ignore")
    )


PROVENANCE = {
    "input_sha256": "ab" * 32,
    "input_file": "demo.csv",
    "seed": 7,
    "packages": {
        "srflow": "0.1.0",
        "numpy": "2.4.0",
        "pandas": "3.1.0",
        "statsmodels": "0.15.0",
        "snakemake": "9.27.0",
        "python": "3.11.9",
    },
}


def make_validated(scores: pd.DataFrame) -> pd.DataFrame:
    """Item answers on the scores' rows: 12 GHQ items driven by one trait (seed 5); constant
    stressor items (the reliability table leaves stressors out). At wave 3 (3 rows) an item is
    constant, so omega is missing there with its note."""
    rng = np.random.default_rng(5)
    trait = rng.normal(size=len(scores))
    noise = rng.normal(0.0, 0.7, (len(scores), 12))
    items = np.clip(np.round(1.5 + 0.8 * trait[:, None] + noise), 0, 3)
    validated = pd.DataFrame(items, columns=[f"GHQ_{i}" for i in range(1, 13)])
    for column in ("GE_1", "GE_2", "LE_1", "LE_2"):
        validated[column] = 1.0
    validated.insert(0, "wave", scores["wave"].to_numpy())
    validated.insert(0, "participant_id", scores["participant_id"].to_numpy())
    return validated


def write_score_files(base: Path, scores: pd.DataFrame, cohort, covariates=None) -> None:
    """The score stage's files beside the scores, by its own functions and contracts.

    With the fixture's covariates (site is constant) the attrition model fails, with its reason.
    """
    from srflow import attrition, reliability, scoring

    summary = results.ScoringSummary.from_json(scoring.scoring_summary(scores, cohort))
    summary.write(base / "scoring.json")
    table = reliability.cohort_reliability(make_validated(scores), cohort)
    results.RELIABILITY_TABLE.write(table, base / "reliability.csv")
    model = attrition.fit_attrition(scores, covariates or cohort.columns.covariates)
    results.ATTRITION_TABLE.write(model.coefficients, base / "attrition.csv")
    results.AttritionFit.from_json(model.fit).write(base / "attrition.json")


def write_results(base: Path, config, cohort, with_results: bool = True) -> None:
    """Write the fixture's result files under ``base`` as the pipeline does (stages and contracts)."""
    from srflow.config import RegressionSpec
    from srflow.stages import mixed_stage, regression_stage, sr_stage
    from srflow.stages.trajectory_distal import trajectory_distal_stage
    from srflow.stages.trajectory_predictors import trajectory_predictors_stage

    scores = make_scores()
    ledger = make_ledger(scores)
    results.SCORES_TABLE.write(scores, base / "scores.parquet")
    results.LEDGER_TABLE.write(ledger, base / "validation" / "ledger.csv")
    results.FAILURES_TABLE.write(make_failures(ledger), base / "validation" / "failures.csv")
    write_score_files(base, scores, cohort)
    if not with_results:
        return
    scores_in = str(base / "scores.parquet")
    for name in cohort.sr:
        sr_stage(
            config.data,
            "demo",
            name,
            scores_in,
            str(base / "sr" / f"{name}.csv"),
            str(base / "sr" / f"{name}.line.json"),
        )
    for name in cohort.mixed_models:
        fixed, fit, random, anova = (
            str(base / "mixed" / f"{name}.{part}")
            for part in ("fixed.csv", "fit.json", "random.csv", "anova.csv")
        )
        mixed_stage(config.data, "demo", name, scores_in, fixed, fit, random, anova_out=anova)
    for name in cohort.regressions:
        specs = RegressionSpec.from_config(name, cohort.regressions[name]).sr_specs()
        regression_stage(
            config.data,
            "demo",
            name,
            scores_in,
            [str(base / "sr" / f"{s}.csv") for s in specs],
            [str(base / "sr" / f"{s}.line.json") for s in specs],
            str(base / "regressions" / f"{name}.coefficients.csv"),
            str(base / "regressions" / f"{name}.fit.json"),
        )
    for name, spec in cohort.trajectories.items():
        tables = make_trajectory_tables()
        folder = base / "trajectories" / name
        for part, contract in (
            ("selection", results.SELECTION_TABLE),
            ("classes", results.CLASSES_TABLE),
            ("curves", results.CURVES_TABLE),
            ("classification", results.CLASSIFICATION_TABLE),
        ):
            contract.write(tables[part], folder / f"{part}.csv")
        if spec.get("predictors"):  # series_in is read only by predictor_method one_step
            trajectory_predictors_stage(
                spec,
                config.data["seed"],
                "demo",
                name,
                str(folder / "classes.csv"),
                scores_in,
                str(folder / "series.parquet"),
                str(folder / "predictors.csv"),
            )
        if spec.get("distal"):
            trajectory_distal_stage(
                spec, name, str(folder / "classes.csv"), scores_in, str(folder / "distal.csv")
            )


def make_inputs(
    sr=FULL_SR,
    mixed=FULL_MIXED,
    trajectories=FULL_TRAJ,
    with_results=True,
    regressions=None,
    **config_kwargs,
) -> ReportInputs:
    """The report's inputs, read back through the contracts from files the stages wrote."""
    if regressions is None:  # the full fixture's regressions need its SR specs
        regressions = FULL_REG if sr is FULL_SR else {}
    config, cohort = make_config(
        sr=sr, mixed=mixed, trajectories=trajectories, regressions=regressions, **config_kwargs
    )
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "results" / "demo"
        write_results(base, config, cohort, with_results)
        files = ReportFiles.in_folder(base, cohort)
        if not with_results:
            files = ReportFiles(scores=files.scores, ledger=files.ledger, failures=files.failures)
        return load_report_inputs(files, cohort, config.data, PROVENANCE)


@pytest.fixture(scope="module")
def full_html() -> str:
    return build_report(make_inputs())


# ----------------------------------------------------------------------------- HTML helpers


class _TableParser(HTMLParser):
    """Collect every <table> as (caption, header, rows) of cell texts, and all visible text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self._table, self._cell, self._in = [], None, None, None
        self._row = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = {"caption": "", "header": [], "rows": []}
        elif self._table is not None and tag == "caption":
            self._in = "caption"
        elif self._table is not None and tag == "tr":
            self._row = []
        elif self._table is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None
        elif tag == "caption":
            self._in = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if (
                self._table["header"] == []
                and not self._table["rows"]
                and self._row
                and self._is_header
            ):
                self._table["header"] = self._row
            else:
                self._table["rows"].append(self._row)
            self._row = None

    _is_header = True

    def handle_data(self, data):
        if self._in == "caption":
            self._table["caption"] += data
        elif self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> list[dict]:
    parser = _TableParser()
    parser.feed(html)
    return parser.tables


def table_with(html: str, caption_start: str) -> dict:
    found = [t for t in tables(html) if t["caption"].startswith(caption_start)]
    assert found, f"no table whose caption starts with {caption_start!r}"
    return found[0]


def section_html(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, flags=re.S)
    assert match, section_id
    return match.group(1)


def visible_text(fragment: str) -> str:
    fragment = re.sub(r"<svg.*?</svg>", " ", fragment, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", fragment)
    import html as html_module

    return re.sub(r"\s+", " ", html_module.unescape(text))


# ----------------------------------------------------------------------------- tests


def test_suppress_count_rule():
    # hand-checked: 1..min_cell-1 hidden, 0 and >= min_cell shown, separators for thousands
    assert [suppress_count(n, 5) for n in (0, 1, 4, 5, 6)] == ["0", "<5", "<5", "5", "6"]
    assert suppress_count(12345, 5) == "12,345"
    assert suppress_count(9, 10) == "<10"
    assert suppress_count(np.int64(3), 5) == "<5"
    assert suppress_count(float("nan"), 5) == "–"


def test_no_participant_id_anywhere(full_html):
    for pid in IDS:
        assert pid not in full_html, pid
    # the id column name itself never labels a table either
    assert "participant_id" not in full_html


def test_overview_numbers_match_direct_computation(full_html):
    scores = make_scores()
    observed = scores[scores["P"].notna() | scores["E"].notna()]
    per_wave = observed.groupby("wave")["participant_id"].nunique()
    assert per_wave.tolist() == [40, 33, 3]  # the fixture's design
    overview = section_html(full_html, "overview")
    text = visible_text(overview)
    assert f"Participants {scores['participant_id'].nunique()}" in text  # 40
    assert "Waves 3 " in text
    assert f"Scored rows (participant × wave) {len(scores)}" in text  # 76
    assert f"Rows with P {int(scores['P'].notna().sum())}" in text  # 74
    assert f"Rows with E {int(scores['E'].notna().sum())}" in text  # 75
    table = table_with(full_html, "Completeness, retention")
    assert table["header"][:7] == [
        "wave",
        "rows",
        "observed (P or E)",
        "with P",
        "with E",
        "with P and E",
        "retention vs wave 1",
    ]
    expected = []
    for wave in (1, 2, 3):
        part = scores[scores["wave"] == wave]
        counts = [
            len(part),
            int((part["P"].notna() | part["E"].notna()).sum()),
            int(part["P"].notna().sum()),
            int(part["E"].notna().sum()),
            int((part["P"].notna() & part["E"].notna()).sum()),
        ]
        expected.append([str(wave)] + [suppress_count(c, 5) for c in counts])
    assert [row[:6] for row in table["rows"]] == expected
    # wave 1: 40 rows, 39 with E; wave 2: 33 rows, 31 with P; wave 3: 3 rows -> every count "<5"
    assert expected[0][1:] == ["40", "40", "40", "39", "39"]
    assert expected[2][1:] == ["<5"] * 5
    # retention 33/40 = 82.5 %, wave 3 withheld (count below 5)
    assert [row[6] for row in table["rows"]] == ["100.0%", "82.5%", "–"]
    # mean and SD of time per wave: wave 2 times are 30 + index % 4 over participants 0..32
    times = 30.0 + np.arange(33) % 4
    assert table["rows"][1][7] == f"{times.mean():.2f}"
    assert table["rows"][1][8] == f"{times.std(ddof=1):.2f}"


def test_small_counts_suppressed_exactly(full_html):
    validation = table_with(full_html, "Careless-responding flags")
    rows = {r[0]: r[1:] for r in validation["rows"]}
    assert rows["straightlining:ghq12"] == ["<5", "<5", "0"]  # 2 flagged rows
    assert rows["speeding"] == ["7", "7", "0"]
    reasons = {r[0]: r[1] for r in table_with(full_html, "Exclusions by reason")["rows"]}
    assert reasons == {"item_range": "8", "duplicate_id": "<5"}  # 6 + 2 and 2 + 1
    failed = {r[0]: r[1:3] for r in table_with(full_html, "Failed checks")["rows"]}
    assert failed == {"duplicate_id": ["<5", "<5"], "item_range": ["8", "8"]}
    # in the raw HTML the suppressed cell is the escaped text "&lt;5", never a bare 1-4
    assert '<td class="num">&lt;5</td>' in full_html
    for digit in "1234":
        assert f'<td class="num">{digit}</td>' not in section_html(full_html, "validation")
    # the trajectory class of 2 participants shows n "<5" and no share
    classes = table_with(full_html, "Class sizes")
    k3 = [r for r in classes["rows"] if r[0] == "3"]
    assert [r[3] for r in k3] == ["26", "12", "<5"]
    assert k3[2][4] == "–"
    # the smallest-class share of K = 3 (2 of 40) is withheld too
    selection = table_with(full_html, "Model selection")
    share_col = selection["header"].index("smallest class share")
    assert selection["rows"][2][share_col] == "–"
    assert selection["rows"][1][share_col] == "30.0%"


def test_validation_policy_and_counts(full_html):
    text = visible_text(section_html(full_html, "validation"))
    ledger = make_ledger(make_scores())
    assert f"Source rows {len(ledger)}" in text  # 85
    assert "Kept 76" in text and "Excluded 9" in text
    assert "on_invalid: exclude" in text
    # failing values never appear: the fixture's value "7" is not in the failure table
    failed = table_with(full_html, "Failed checks")
    assert failed["header"] == ["check", "failures", "rows affected", "columns"]


def test_methods_follow_config(full_html):
    html = full_html
    methods = visible_text(section_html(html, "methods"))
    assert (
        "SR spec 'per_wave' used a quadratic normative line, fitted by ordinary least squares separately at each wave"
        in methods
    )
    assert "SR spec 'person' used a linear normative line" in methods
    assert "P and E winsorized at the mean ± 3 SD" in methods
    assert "rows failing any check were excluded (9 rows)" in methods
    assert "the sum of the stressor instrument scores" in methods
    assert "P ~ 1 + E + wave + (1 + E | participant)" in methods
    assert "Kalisch et al., 2017" in methods and "Kalisch et al., 2021" in methods
    assert (
        "(Bonanno, 2004: resilient, recovery, chronic, delayed) only where a curve fits one"
        in methods
    )
    assert "van de Schoot et al., 2017" in methods
    assert "The code -99 was read as missing." in methods
    assert "Snakemake 9.27.0 (Mölder et al., 2021)" in methods
    assert "The GRoLTS-Checklist" in methods  # reference list entry
    # change the config: zmean, fail policy, linear only -> the text changes accordingly
    other = visible_text(
        section_html(
            build_report(
                make_inputs(
                    sr={"lin": {"level": "wave", "form": "linear", "reference": {"waves": [1]}}},
                    mixed={},
                    trajectories={},
                    combine="zmean",
                    on_invalid="fail",
                )
            ),
            "methods",
        )
    )
    assert "mean of the z-scored stressor instrument scores" in other
    assert "any failure stopped the run" in other
    assert "quadratic" not in other
    assert "the line was defined on wave 1 and applied to every row" in other
    assert "Bonanno" not in other  # no trajectories -> not cited


def test_grolts_rows_depend_on_trajectories(full_html):
    def marks(html):
        table = [t for t in tables(html) if t["caption"].startswith("GRoLTS items")][0]
        return [(r[0], r[2]) for r in table["rows"]]

    with_traj = marks(full_html)
    without = marks(build_report(make_inputs(sr={}, mixed={}, trajectories={})))
    assert len(with_traj) == len(without) == 21 == len(GROLTS_ITEMS)
    assert [item for item, _ in with_traj] == [item for item, _ in GROLTS_ITEMS]
    count = lambda rows, mark: sum(m == mark for _, m in rows)  # noqa: E731
    assert (
        count(without, "not applicable") == 17
    )  # only items 1, 2, 4, 5 apply without a trajectory model
    assert count(with_traj, "not applicable") == 0
    assert dict(with_traj)["13"] == "filled automatically"  # entropy present in the selection table
    assert dict(with_traj)["11"] == "filled automatically"  # K starts at 1
    assert dict(with_traj)["6a"] == "partly"  # one method only
    assert dict(without)["2"] == "filled automatically"  # a time column is configured


def test_failed_results_shown_with_reason(full_html):
    sr = visible_text(section_html(full_html, "sr"))
    assert (
        "Could not be computed: SR spec 'windows': no row has age == 999, so the reference group is empty"
        in sr
    )
    mixed = visible_text(section_html(full_html, "mixed"))
    assert (
        "Could not be computed: constant predictor: site takes one value in the rows used" in mixed
    )


def shown(cell: str) -> float:
    """A number as the report shows it (thousands separators, a unicode minus)."""
    return float(cell.replace(",", "").replace("−", "-"))


def test_mixed_model_shows_what_the_writer_wrote(full_html):
    """Every number is the one in the model's fixed.csv / anova.csv / fit.json (the stage's own output)."""
    inputs = make_inputs()
    reactivity, intercepts = inputs.mixed["reactivity"], inputs.mixed["intercepts"]
    fixed = table_with(full_html, "Fixed effects")
    assert fixed["header"] == [
        "term",
        "estimate",
        "SE",
        "df",
        "t",
        "p",
        "95% CI low",
        "95% CI high",
    ]
    assert fixed["caption"].startswith(
        "Fixed effects: t tests on Satterthwaite degrees of freedom (as lmerTest)"
    )
    assert reactivity.fit.df_method == "satterthwaite"
    for row, (_, expected) in zip(fixed["rows"], reactivity.fixed.iterrows(), strict=True):
        assert row[0] == expected["term"]
        for column in (
            "estimate",
            "se",
            "df",
            "statistic",
            "ci_low",
            "ci_high",
        ):  # shown to 3 decimals or 1 above 1000
            cell = row[
                fixed["header"].index(
                    {
                        "se": "SE",
                        "statistic": "t",
                        "ci_low": "95% CI low",
                        "ci_high": "95% CI high",
                    }.get(column, column)
                )
            ]
            assert shown(cell) == pytest.approx(
                expected[column], abs=5e-4 if abs(expected[column]) < 1000 else 0.05
            )
    assert fixed["rows"][1][5] == "<0.001"  # p = 7.5e-20 in fixed.csv
    # the Type III table: one row per term of anova.csv, the same numbers
    anova = table_with(full_html, "Type III tests")
    assert anova["header"] == ["term", "numerator df", "denominator df", "F", "p"]
    assert "F on Satterthwaite denominator df" in anova["caption"]
    assert [r[0] for r in anova["rows"]] == reactivity.anova["term"].tolist() == ["E", "wave"]
    for row, (_, expected) in zip(anova["rows"], reactivity.anova.iterrows(), strict=True):
        assert shown(row[1]) == expected["num_df"]
        assert shown(row[2]) == pytest.approx(expected["den_df"], abs=5e-4)
        assert shown(row[3]) == pytest.approx(expected["F"], abs=5e-4)
    # a one-df term's F is its t squared (a check on the files themselves, to the display precision)
    e_fixed = reactivity.fixed.set_index("term").loc["E"]
    assert reactivity.anova.set_index("term").loc["E", "F"] == pytest.approx(
        e_fixed["statistic"] ** 2, rel=1e-8
    )
    mixed = visible_text(section_html(full_html, "mixed"))
    fit = reactivity.fit
    assert fit.singular and not intercepts.fit.singular  # a random E slope the data cannot support
    assert f"The optimiser ({fit.optimizer}) converged" in mixed
    # the singular fit gets the report's warning box, in the mixed section as in the SR section
    assert "Model 'reactivity' is singular: a random-effect SD is estimated near zero" in mixed
    assert "Model 'intercepts' is singular" not in mixed and "The fit is not singular." in mixed
    for warning in fit.warnings:
        assert warning.replace("+/-", "+/-") in mixed
    assert f"n observations {fit.n_obs}" in mixed and f"n participants {fit.n_groups}" in mixed
    assert f"ICC (null model) {fit.icc:.3f}" in mixed
    # 76 rows, 3 with P or E missing: 73 used; the stage's comparison-free fit of 40 participants
    assert (fit.n_obs, fit.n_groups) == (73, 40)


def test_trajectory_figure_shades_95_bands_in_the_class_colour(full_html):
    """A band per class with standard errors (K = 1, 2), in its line's colour; none at K = 3."""
    section = section_html(full_html, "trajectories")
    figure = next(
        f
        for f in re.findall(r"<figure.*?</figure>", section, flags=re.S)
        if "mean curves per class" in f
    )
    bands = re.findall(
        r'<g id="fig\d+-band-(\d+)-(\d+)">.*?style="fill: (#[0-9a-f]{6}); fill-opacity: ([0-9.]+)"',
        figure,
        flags=re.S,
    )
    # panel, class, colour (the palette's, as the class line) and opacity
    assert bands == [
        ("0", "0", "#2f6f9f", "0.18"),
        ("1", "0", "#2f6f9f", "0.18"),
        ("1", "1", "#c2562b", "0.18"),
    ]
    caption = visible_text(figure.split("<figcaption>")[1])
    assert "Shaded: 95% pointwise confidence band from the observed information." in caption
    assert "No band for K = 3 (class 3 residual variance 0 is at the boundary (~0))." in caption


def test_trajectory_choice_skips_degenerate(full_html):
    traj = visible_text(section_html(full_html, "trajectories"))
    assert "Chosen number of classes: K = 2" in traj  # K = 3 has lower BIC but is degenerate
    selection = table_with(full_html, "Model selection")
    notes = [r[-1] for r in selection["rows"]]
    assert notes == ["–", "chosen", "degenerate"]
    assert '<tr class="chosen">' in full_html
    classes = table_with(full_html, "Class sizes")
    k2 = [r for r in classes["rows"] if r[0] == "2"]
    # 28 and 12 of 40 participants; AvePP 0.9 by construction
    assert [(r[2], r[3], r[4], r[5]) for r in k2] == [
        ("resilient", "28", "70.0%", "0.900"),
        ("chronic", "12", "30.0%", "0.900"),
    ]


def test_sr_line_tables_and_figures(full_html):
    sr = section_html(full_html, "sr")
    coef = table_with(full_html, "Coefficients of the normative line")
    assert coef["header"] == ["line", "term", "estimate", "SE", "95% CI low", "95% CI high"]
    assert [r[:2] for r in coef["rows"]] == [
        [f"wave {w}", t] for w in (1, 2) for t in ("Intercept", "E", "E^2")
    ]
    # the coefficients are those of the line file, raw scale (E not centred), 4 decimals
    line = make_inputs().sr["per_wave"].line
    first = line.lines[0].coefficients[0]
    assert coef["rows"][0][2:] == [
        f"{v:.4f}" for v in (first.estimate, first.se, first.ci_low, first.ci_high)
    ]
    # scatter subset: the wave-level spec has 70 scored units <= max_points 100 -> all drawn
    assert "random subset" not in sr
    assert (
        sr.count("<figure") >= 7
    )  # per_wave: scatter, QQ, histogram, by wave; person: scatter, QQ, histogram
    assert "residual quantiles stored with the line" in sr


def test_scatter_downsampling_is_said_and_seeded(full_html):
    points = {"min_cell": 5, "max_points": 100, "individual_points": True}
    assert "random subset" not in visible_text(
        build_report(make_inputs(mixed={}, trajectories={}, report=points))
    )
    inputs = make_inputs(
        sr={"per_wave": FULL_SR["per_wave"]}, mixed={}, trajectories={}, report=points
    )
    result = inputs.sr["per_wave"]
    big = results.SR_TABLE.check(pd.concat([result.table] * 3, ignore_index=True))
    inputs.sr = {"per_wave": SRResults(table=big, line=result.line)}
    html = build_report(inputs)
    assert "A random subset of 100 of 210 units is drawn (seeded, seed 7)" in html


def test_missing_sections_say_not_configured():
    html = build_report(make_inputs(sr={}, mixed={}, trajectories={}))
    assert "SR scores: not configured" in html
    assert "Mixed models: not configured" in html
    assert "Trajectory models: not configured" in html


def test_configured_but_missing_results():
    """Results handed to the report from Python may lack a configured spec: it is said, not guessed."""
    inputs = make_inputs()
    inputs.sr = {"per_wave": inputs.sr["per_wave"]}
    inputs.mixed = {"reactivity": inputs.mixed["reactivity"]}
    text = visible_text(build_report(inputs))
    assert "No results found for this spec (expected sr/person.csv and sr/person.line.json)" in text
    assert "No results found for this model (expected mixed/broken.fit.json)" in text


def test_unconverged_fit_and_unchoosable_k_are_said():
    inputs = make_inputs(sr={})
    reactivity = inputs.mixed["reactivity"]
    inputs.mixed = {
        **inputs.mixed,
        "reactivity": dataclasses.replace(
            reactivity, fit=dataclasses.replace(reactivity.fit, converged=False)
        ),
    }
    traj = inputs.trajectories["problems"]
    every_degenerate = results.SELECTION_TABLE.check(traj.selection.assign(degenerate=True))
    inputs.trajectories = {"problems": dataclasses.replace(traj, selection=every_degenerate)}
    text = visible_text(build_report(inputs))
    assert (
        "did not meet its convergence criterion" in text
        and "Model 'reactivity' is singular" in text
    )
    assert "No K could be chosen: every solution is degenerate, failed, or lacks a BIC." in text


def test_render_is_deterministic(full_html):
    assert build_report(make_inputs()) == full_html


def test_render_is_deterministic_across_processes(full_html):
    # another interpreter with another hash seed must give the same bytes
    code = (
        "import sys, hashlib; sys.path.insert(0, sys.argv[1]);"
        "import test_report as t; from srflow.report import build_report;"
        "print(hashlib.sha256(build_report(t.make_inputs()).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert out.stdout.strip() == hashlib.sha256(full_html.encode()).hexdigest()


def test_no_external_resources(full_html):
    assert not re.search(
        r"""(src|href|xlink:href)\s*=\s*["']?\s*(https?:)?//""", full_html, flags=re.I
    )
    assert "@import" not in full_html and "url(http" not in full_html
    # stricter: no URL at all (SVG namespace declarations are dropped; DOIs are text)
    assert "http://" not in full_html and "https://" not in full_html
    assert "doi:10.1038/s41562-017-0200-8" in full_html
    # every figure is inline: SVG elements or PNG data URIs only
    for src in re.findall(r'<img[^>]*\ssrc="([^"]*)"', full_html):
        assert src.startswith("data:image/png;base64,")


def test_accessibility_basics(full_html):
    figures = re.findall(r"<figure.*?</figure>", full_html, flags=re.S)
    assert figures
    for fig in figures:
        assert "<figcaption>" in fig
        assert re.search(r'(<svg role="img" aria-label="[^"]+"|<img [^>]*alt="[^"]+")', fig)
    assert 'class="table-wrap"' in full_html and "overflow-x: auto" in full_html
    assert '<nav class="toc"' in full_html and 'href="#sr-per-wave"' in full_html


def test_footer_provenance(full_html):
    inputs = make_inputs()
    footer = visible_text(full_html.split('<footer id="reproducibility">')[1])
    assert f"Config SHA-256 {config_sha256(inputs.config_data)}" in footer
    assert f"Input SHA-256 {'ab' * 32}" in footer and "Input file demo.csv" in footer
    assert "Seed 7" in footer and "srflow 0.1.0" in footer and "statsmodels 0.15.0" in footer
    assert not re.search(r"20\d\d-\d\d-\d\d", full_html)  # no date stamp


def test_report_reads_the_rule_inputs_only(tmp_path, full_html):
    """The rule's inputs, grouped by spec, give the same report; a stale spec's files are refused."""
    config, cohort = make_config(
        sr=FULL_SR, mixed=FULL_MIXED, trajectories=FULL_TRAJ, regressions=FULL_REG
    )
    base = tmp_path / "results" / "demo"
    write_results(base, config, cohort)
    folder = ReportFiles.in_folder(base, cohort)
    rule_inputs = {
        "scores": str(folder.scores),
        "ledger": str(folder.ledger),
        "failures": str(folder.failures),
        "scoring": str(folder.scoring),
        "reliability": str(folder.reliability),
        "attrition": str(folder.attrition),
        "attrition_fit": str(folder.attrition_fit),
        "sr": [str(p) for name in cohort.sr for p in folder.sr[name].values()],
        "mixed": [str(p) for name in cohort.mixed_models for p in folder.mixed[name].values()],
        "trajectories": [
            str(p) for name in cohort.trajectories for p in folder.trajectories[name].values()
        ],
        "regressions": [
            str(p) for name in cohort.regressions for p in folder.regressions[name].values()
        ],
    }
    files = ReportFiles.from_rule_inputs(rule_inputs)
    assert files == folder
    loaded = load_report_inputs(files, cohort, config.data, PROVENANCE)
    assert list(loaded.sr) == ["per_wave", "person", "windows"] and sorted(loaded.mixed) == [
        "broken",
        "intercepts",
        "reactivity",
    ]
    assert loaded.ledger["reason"].iloc[0] == ""  # empty reasons stay empty text
    assert build_report(loaded) == full_html
    out = write_report(loaded, tmp_path / "out" / "report.html")
    assert out.read_text(encoding="utf-8") == full_html
    # an extra file left in the folder is not an input, so it is not read: the folder is never listed
    (base / "sr" / "old_spec.line.json").write_text("{}")
    assert (
        build_report(
            load_report_inputs(ReportFiles.in_folder(base, cohort), cohort, config.data, PROVENANCE)
        )
        == full_html
    )
    # results of a spec the config no longer has are refused, not shown
    _, fewer = make_config(
        sr={"per_wave": FULL_SR["per_wave"]}, mixed=FULL_MIXED, trajectories=FULL_TRAJ
    )
    with pytest.raises(
        InputError, match=r"SR spec\(s\) \['person', 'windows'\], which the config does not have"
    ):
        load_report_inputs(files, fewer, config.data, PROVENANCE)
    with pytest.raises(InputError, match="is not a sr output"):
        ReportFiles.from_rule_inputs(
            {**rule_inputs, "sr": rule_inputs["sr"] + [str(base / "scores.csv")]}
        )
    with pytest.raises(InputError, match="lack the line file"):
        ReportFiles.from_rule_inputs({**rule_inputs, "sr": [str(folder.sr["person"]["table"])]})


def test_missing_or_malformed_input_names_the_file_and_rule(tmp_path):
    config, cohort = make_config(sr={"per_wave": FULL_SR["per_wave"]})
    base = tmp_path / "results" / "demo"
    write_results(base, config, cohort)
    files = ReportFiles.in_folder(base, cohort)
    line_path = files.sr["per_wave"]["line"]
    line = json.loads(line_path.read_text())
    line["coef"] = line.pop("lines")  # an alias no writer produces
    line_path.write_text(json.dumps(line))
    with pytest.raises(results.ResultContractError) as error:
        load_report_inputs(files, cohort, config.data)
    message = str(error.value)
    assert (
        str(line_path) in message
        and "unknown key(s) ['coef']" in message
        and "rule 'sr_scores'" in message
    )
    files.scores.unlink()
    with pytest.raises(results.ResultContractError, match=r"scores table is missing.*rule 'score'"):
        load_report_inputs(files, cohort, config.data)


def test_collect_provenance_hashes(tmp_path):
    from srflow.config import canonical_json
    from srflow.report import collect_provenance

    data_file = tmp_path / "cohort.csv"
    data_file.write_bytes(b"id,wave\nA,1\n")
    config, _ = make_config()
    provenance = collect_provenance(config.data, data_file)
    # reference: hashlib over the same bytes / the canonical JSON text
    assert provenance["input_sha256"] == hashlib.sha256(b"id,wave\nA,1\n").hexdigest()
    assert (
        provenance["config_sha256"]
        == hashlib.sha256(canonical_json(config.data).encode()).hexdigest()
    )
    assert provenance["input_file"] == "cohort.csv" and provenance["seed"] == 7
    assert (
        provenance["packages"]["numpy"] == np.__version__
        and provenance["packages"]["pandas"] == pd.__version__
    )


def test_grolts_when_trajectory_results_are_missing():
    inputs = make_inputs(sr={}, mixed={})
    inputs.trajectories = {}  # configured, but no results handed over
    html = build_report(inputs)
    table = [t for t in tables(html) if t["caption"].startswith("GRoLTS items")][0]
    marks = {r[0]: r[2] for r in table["rows"]}
    assert marks["14a"] == "partly" and marks["12"] == "partly"  # automatic only once results exist
    assert (
        "No results found for this spec (expected trajectories/problems/selection.csv)"
        in visible_text(html)
    )


def test_number_formatting():
    from srflow.report.formatting import format_number, format_p, format_share

    # hand-checked strings
    assert format_number(1912345.678, 2) == "1,912,345.7"  # large ICs keep their digits
    assert format_number(-160.25) == "-160.250"
    assert format_number(2e-6) == "2.00e-06"
    assert format_number(-2.5e-15) == "0"
    assert format_number(True) == "yes" and format_number(None) == "–"
    assert format_p(0.0449) == "0.045" and format_p(1e-9) == "<0.001"
    assert format_share(33, 40, 5) == "82.5%" and format_share(3, 40, 5) == "–"


def test_write_key_figures(tmp_path):
    import matplotlib.image as mpimg

    from srflow.errors import InputError
    from srflow.report import write_key_figures

    inputs = make_inputs(sr={}, mixed={}, trajectories={})
    first = write_key_figures(
        inputs,
        {"overview": tmp_path / "a" / "overview.svg", "scores": tmp_path / "a" / "scores.png"},
    )
    again = write_key_figures(
        inputs,
        {"overview": tmp_path / "b" / "overview.svg", "scores": tmp_path / "b" / "scores.png"},
    )
    for name in ("overview", "scores"):
        assert first[name].read_bytes() == again[name].read_bytes()  # byte-identical reruns
    svg = first["overview"].read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<dc:date>" not in svg
    assert mpimg.imread(first["scores"]).shape[:2] == (
        330,
        792,
    )  # two panels: 7.2 x 3.0 in at 110 dpi
    with pytest.raises(InputError, match="unknown report figure 'sr'"):
        write_key_figures(inputs, {"sr": tmp_path / "x.svg"})
    with pytest.raises(InputError, match="write .svg or .png"):
        write_key_figures(inputs, {"overview": tmp_path / "x.pdf"})


def test_provenance_packages_and_missing_input_hash():
    inputs = make_inputs(sr={}, mixed={}, trajectories={})
    inputs.provenance = {
        "config_sha256": "cd" * 32,
        "input_file": "demo.csv",
        "input_sha256": None,
        "seed": 7,
        "packages": {"srflow": "0.1.0", "numpy": "2.4.0"},
    }
    html = build_report(inputs)
    methods = visible_text(section_html(html, "methods"))
    assert "numpy 2.4.0 (Harris et al., 2020)" in methods
    footer = visible_text(html.split('<footer id="reproducibility">')[1])
    assert f"Config SHA-256 {'cd' * 32}" in footer and "Input SHA-256 –" in footer


def test_chosen_k_at_the_edge_of_the_range_is_flagged():
    """K = 2 chosen inside 1..3 is not flagged; when K = 3 is not degenerate it wins and is flagged as the edge."""
    inside = build_report(make_inputs())
    assert "Chosen number of classes: K = 2" in inside
    assert "is the largest number of classes fitted" not in inside

    inputs = make_inputs()
    traj = inputs.trajectories["problems"]
    none_degenerate = results.SELECTION_TABLE.check(traj.selection.assign(degenerate=False))
    inputs.trajectories = {"problems": dataclasses.replace(traj, selection=none_degenerate)}
    edge = build_report(inputs)
    assert "Chosen number of classes: K = 3" in edge
    assert (
        "K = 3 is the largest number of classes fitted, so BIC may still fall with more classes"
        in edge
    )


def test_disclosure_matches_the_claim(full_html):
    """Default: binned densities, cells under min_cell blank, and the header says so; points only when asked."""
    header = visible_text(full_html.split("</header>")[0])
    assert (
        "no individual-level data appear in this report (E–P relations are drawn as binned densities"
        in header
    )
    sr = visible_text(section_html(full_html, "sr"))
    assert "E–P scatter" not in sr and "Each point is one scored unit" not in sr
    # per_wave: 70 units -> k = sqrt(70 / 10) = 2.6, clipped to 6 cells per axis
    assert "E–P relation of spec per_wave as a binned density (6 × 6 cells" in sr
    assert (
        "Cells with fewer than 5 units are left blank, so no individual observation is shown." in sr
    )
    points = build_report(
        make_inputs(
            mixed={},
            trajectories={},
            report={"min_cell": 5, "max_points": 100, "individual_points": True},
        )
    )
    header = visible_text(points.split("</header>")[0])
    assert "the E–P scatter plots show every scored unit as an unlabelled point" in header
    assert "Each point is one scored unit (report.individual_points: true)" in visible_text(points)


def test_histogram_bins_under_min_cell_are_merged_not_dropped():
    from srflow.report.figures import merge_small_bins

    # hand-worked: 1 joins the 0 then the 7 on its right (8); the tail 4, 0, 2 all join the 30 (36)
    counts, edges = merge_small_bins(np.array([0, 1, 0, 7, 20, 30, 4, 0, 2]), np.arange(10.0), 5)
    assert counts.tolist() == [0, 8, 20, 36] and edges.tolist() == [0.0, 1.0, 4.0, 5.0, 9.0]
    assert counts.sum() == 64  # every unit still counted
    rng = np.random.default_rng(5)
    for _ in range(50):  # random tails: no bin is left with 1..4 units, totals kept
        raw = rng.poisson(rng.uniform(0, 12, size=20))
        merged, merged_edges = merge_small_bins(raw, np.linspace(-5, 5, 21), 5)
        assert merged.sum() == raw.sum() and len(merged_edges) == len(merged) + 1
        assert not np.any((merged > 0) & (merged < 5)) or len(merged) == 1
    html = build_report(make_inputs(mixed={}, trajectories={}))
    assert (
        "a bin with fewer than 5 units is merged with its neighbour toward the centre"
        in visible_text(html)
    )
    assert "are not drawn" not in visible_text(section_html(html, "sr"))


def test_singular_multilevel_sr_line_gets_the_same_warning_box():
    inputs = make_inputs(sr={"ml": {"level": "multilevel"}}, mixed={}, trajectories={})
    result = inputs.sr["ml"]
    entry = result.line.lines[0]
    singular = dataclasses.replace(
        entry, singular=True, random_effects=dataclasses.replace(entry.random_effects, corr=1.0)
    )
    inputs.sr = {
        "ml": SRResults(
            table=result.table, line=dataclasses.replace(result.line, lines=(singular,))
        )
    }
    sr = section_html(build_report(inputs), "sr")
    assert '<div class="note note-warn">' in sr
    assert (
        "The multilevel line is singular: a random-effect SD is estimated near zero or a correlation at ±1 "
        "(intercept–slope correlation 1.000)"
    ) in visible_text(sr)


def test_every_intercept_and_sd_says_where_it_is_centred(full_html):
    coef = table_with(full_html, "Coefficients of the normative line")
    assert "intercepts at E = 0" in coef["caption"]
    details = [
        t for t in tables(full_html) if t["caption"].startswith("Fit of the normative line")
    ][0]
    assert (
        "E center" in details["header"]
        and "random-effect SDs (intercept SD included) are at that E" in details["caption"]
    )
    centre = make_inputs().sr["per_wave"].line.lines[0].E_center
    assert details["rows"][0][details["header"].index("E center")] == f"{centre:.3f}"
    assert (
        "the intercept is at E = 0, wave = 0" in table_with(full_html, "Fixed effects")["caption"]
    )
    assert (
        "the intercept is at E = 0, wave = 0"
        in table_with(full_html, "Variance components")["caption"]
    )


def test_variance_components_show_their_profile_intervals_and_r2(full_html):
    fit = make_inputs().mixed["intercepts"].fit
    vc = fit.variance_components
    table = [t for t in tables(full_html) if t["caption"].startswith("Variance components")][
        1
    ]  # 'intercepts'
    assert table["header"] == ["component", "estimate", "95% CI low", "95% CI high"]
    assert f"95% intervals: {vc.ci_method}." in table["caption"]
    rows = {r[0]: r for r in table["rows"]}
    for name, value, interval in (
        ("SD Intercept", vc.sd["Intercept"], vc.ci["sd"]["Intercept"]),
        ("residual SD", vc.residual_sd, vc.ci["residual_sd"]),
    ):
        assert [shown(c) for c in rows[name][1:]] == pytest.approx([value, *interval], abs=5e-4)
        assert interval[0] < value < interval[1]
    mixed = visible_text(section_html(full_html, "mixed"))
    assert (
        f"R² marginal (variance explained by the fixed effects) = {fit.r2_marginal:.3f}; R² conditional "
        f"(fixed and random effects) = {fit.r2_conditional:.3f}"
    ) in mixed
    assert 0 < fit.r2_marginal < fit.r2_conditional < 1


def test_suspect_fit_and_suspect_lr_test_are_said_in_the_warning_box(monkeypatch):
    """A real suspect fit (an optimiser that stalls at its start, as in test_mixed_certify) and the LR test on it."""
    from srflow.mixed import certify
    from srflow.mixed.optimise import Candidate

    def stalled(problem, start, x0, optimisers=()):
        theta = np.asarray(x0, float)
        return Candidate(start, theta, problem.deviance(theta), False, 1.0, 1.0, 0.0, "none", [])

    monkeypatch.setattr(certify, "minimise_from", stalled)
    models = {
        "small": {"fixed": ["E"], "method": "ml"},
        "large": {"fixed": ["E"], "random": ["E"], "method": "ml", "compare_to": "small"},
    }
    with pytest.warns(Warning):
        inputs = make_inputs(sr={}, mixed=models, trajectories={})
    large = inputs.mixed["large"].fit
    assert large.status == "suspect" and large.comparison.status == "suspect"
    html = build_report(inputs)
    mixed = section_html(html, "mixed")
    boxes = [
        visible_text(b)
        for b in re.findall(r'<p class="note note-warn">(.*?)</p>', mixed, flags=re.S)
    ]
    reason = large.reason.removeprefix("the optimum could not be certified: ")
    assert (
        f"Model 'large': the optimum could not be certified ({reason}); treat the estimates as provisional"
        in boxes[1]
    )
    assert (
        "The likelihood-ratio test of 'small' against 'large': the optimum could not be certified "
        f"({large.comparison.reason})"
    ) in " ".join(boxes)
    text = visible_text(mixed)
    assert "chi-square =" not in text and "No chi-square is reported" in text
    assert (
        "Provisional: the optimum could not be certified."
        in table_with(html, "Fixed effects")["caption"]
    )


def test_resilience_section_forest_plot_table_and_sentences(full_html):
    """rf_person (the stage's real output): one interval per non-intercept term, the file's numbers, the sign in words."""
    inputs = make_inputs()
    coefficients = inputs.regressions["rf_person"].coefficients
    effects = coefficients[coefficients["term"] != "Intercept"]
    section = section_html(full_html, "resilience")
    subsection = section[
        section.index('id="regression-rf-person"') : section.index('id="regression-on-site"')
    ]
    svgs = re.findall(r"<svg.*?</svg>", subsection, flags=re.S)
    assert len(svgs) == 1
    assert len(re.findall(r'<g id="fig\d+-interval-(\d+)"', svgs[0])) == len(effects) == 2
    table = table_with(full_html, "Coefficients: t tests on the residual df")
    assert (
        [r[0] for r in table["rows"]]
        == coefficients["term"].tolist()
        == ["Intercept", "z(age)", "E"]
    )
    for row, (_, expected) in zip(table["rows"], coefficients.iterrows(), strict=True):
        assert shown(row[table["header"].index("estimate")]) == pytest.approx(
            expected["estimate"], abs=5e-4
        )
        assert shown(row[table["header"].index("df")]) == expected["df"]
    sentences = re.findall(
        r"<li>(.*?)</li>", subsection.split('<ul class="sentences">')[1].split("</ul>")[0]
    )
    assert len(sentences) == len(effects)
    for sentence, (_, effect) in zip(sentences, effects.iterrows(), strict=True):
        sentence = visible_text(sentence)
        std = effect["std_estimate"]
        # sr_z outcome: one SD more of the predictor goes with an SR |std| SD higher/lower; higher SR = less resilient
        direction, meaning = (
            ("higher", "less resilient") if std > 0 else ("lower", "more resilient")
        )
        assert sentence.startswith(
            f"One SD more {effect['term'].removeprefix('z(').removesuffix(')')} goes with an "
            f"SR {abs(std):.3f} SD {direction}"
        )
        assert sentence.endswith(f"i.e. {meaning}.")
        assert ("the interval includes zero" in sentence) == (
            effect["ci_low"] <= 0 <= effect["ci_high"]
        )
    failed = visible_text(section[section.index('id="regression-on-site"') :])
    assert "Could not be computed: regressions.on_site.predictors: 'site' is" in failed


def test_effect_sentence_sign_convention():
    """Higher SR = more problems than expected = less resilient; the CI is rescaled with the estimate."""
    from srflow.report.resilience_section import effect_sentence

    lower = effect_sentence("z(optimism)", "sr_z:person", -0.6, -1.0, -0.2, 0.004, -0.3)
    assert lower == (
        "One SD more optimism goes with an SR 0.300 SD lower (95% CI -0.500 to -0.100 SD, p = 0.004): "
        "fewer problems than expected for the stressors met, i.e. more resilient."
    )
    higher = effect_sentence("neuroticism", "sr:person", 2.0, 1.0, 3.0, 0.01, 0.4)
    assert higher.startswith(
        "One SD more neuroticism goes with an SR 0.400 SD higher (95% CI 0.200 to 0.600 SD"
    )
    assert higher.endswith(
        "more problems than expected for the stressors met, i.e. less resilient."
    )
    group = effect_sentence("arm[T.intervention]", "sr:person", -0.5, -1.5, 0.5, 0.3, -0.1)
    assert group.startswith(
        "The group arm = intervention (against the reference level) goes with an SR 0.500 lower "
        "(in P's units) (95% CI -1.500 to 0.500, p = 0.300; the interval includes zero"
    )
    on_p = effect_sentence("sr_z:person", "P", 0.6, 0.2, 1.0, 0.004)
    assert (
        on_p
        == "One SD more SR (spec person; higher = less resilient) goes with P 0.600 higher (95% CI 0.200 to 1.000, p = 0.004)."
    )


def test_standardize_key_is_said_only_when_the_line_file_has_it():
    inputs = make_inputs(sr={"per_wave": FULL_SR["per_wave"]}, mixed={}, trajectories={})
    result = inputs.sr["per_wave"]
    assert result.line.standardize == "line"  # the SR writer's default for per-wave lines
    without = {k: v for k, v in result.line.to_json().items() if k != "standardize"}
    inputs.sr = {
        "per_wave": SRResults(
            table=result.table, line=results.SRLine.from_json(without, "sr/per_wave.line.json")
        )
    }
    assert "standardised within each normative line" not in build_report(inputs)
    for value, words in (
        (
            "line",
            "sr_z is standardised within each normative line (each wave or window on its own)",
        ),
        ("pooled", "sr_z is standardised over all normative lines pooled"),
    ):
        line = results.SRLine.from_json(
            {**result.line.to_json(), "standardize": value}, "sr/per_wave.line.json"
        )
        inputs.sr = {"per_wave": SRResults(table=result.table, line=line)}
        assert words in visible_text(section_html(build_report(inputs), "sr"))


def test_methods_describe_mixed_inference_and_regressions(full_html):
    methods = visible_text(section_html(full_html, "methods"))
    assert "with t tests on Satterthwaite degrees of freedom (Kuznetsova et al., 2017)" in methods
    assert "Type III F test" in methods and "Nakagawa & Schielzeth, 2013" in methods
    assert (
        "Regression 'rf_person' related sr_z:person to z(age) and E, each predictor taken at the first wave with "
        "a value (baseline), with classical standard errors."
    ) in methods
    references = visible_text(full_html[full_html.index('id="references"') :])
    assert (
        "Kuznetsova A, Brockhoff PB, Christensen RHB (2017)" in references
        and "Johnson PCD (2014)" in references
    )


def test_mixed_models_on_sr_scores_are_picked_for_the_resilience_section():
    from srflow.report.resilience_section import uses_sr

    assert uses_sr({"outcome": "sr_z:observation", "fixed": ["within(OPT)", "between(OPT)"]})
    assert uses_sr({"outcome": "P", "fixed": ["E", "E:sr:person"]})
    assert not uses_sr({"outcome": "P", "fixed": ["E", "wave"], "random": ["E"]})


def test_suspect_regression_is_said_in_the_warning_box(monkeypatch):
    """The regression stage's real output with a zero orthogonality tolerance (as in test_regressions)."""
    from srflow.regression import ols

    monkeypatch.setattr(ols, "ORTHOGONALITY_TOLERANCE", 0.0)
    inputs = make_inputs(
        sr={"person": FULL_SR["person"]},
        mixed={},
        trajectories={},
        regressions={"rf_person": FULL_REG["rf_person"]},
    )
    fit = inputs.regressions["rf_person"].fit
    assert fit.status == "suspect" and fit.reason.startswith(
        "regressions.rf_person.predictors: the residuals"
    )
    html = build_report(inputs)
    boxes = re.findall(
        r'<p class="note note-warn">(.*?)</p>', section_html(html, "resilience"), flags=re.S
    )
    assert len(boxes) == 1
    assert visible_text(boxes[0]).startswith(
        f"Regression 'rf_person': the optimum could not be certified ({fit.reason})"
    )
    assert table_with(html, "Coefficients: t tests")["caption"].endswith(
        "Provisional: the fit could not be certified."
    )


def test_lr_test_refitted_from_the_smaller_optimum_is_said(monkeypatch):
    """The larger model's first ML fit comes back 50 units too low (as in test_mixed_certify): refit, then the test."""
    from srflow.mixed import models as mixed_models

    real = mixed_models.fit_lmm

    def lowering(y, X, Z, groups, **kwargs):
        fit = real(y, X, Z, groups, **kwargs)
        return (
            dataclasses.replace(fit, loglik=fit.loglik - 50.0)
            if Z.shape[1] == 2 and not kwargs.get("starts")
            else fit
        )

    monkeypatch.setattr(mixed_models, "fit_lmm", lowering)
    models = {
        "small": {"fixed": ["E"], "method": "ml"},
        "large": {"fixed": ["E"], "random": ["E"], "method": "ml", "compare_to": "small"},
    }
    comparison = make_inputs(sr={}, mixed=models, trajectories={}).mixed["large"].fit.comparison
    refit = comparison.refit_from_smaller
    assert (
        comparison.status == "ok"
        and refit["loglik_before"] < comparison.loglik_small < refit["loglik_after"]
    )
    mixed = visible_text(
        section_html(build_report(make_inputs(sr={}, mixed=models, trajectories={})), "mixed")
    )
    assert (
        f"The larger model's first ML fit (log-likelihood {refit['loglik_before']:.3f}) was below the nested "
        f"model's, which cannot happen at the optimum, so 'large' was refitted from the nested model's optimum "
        f"(log-likelihood {refit['loglik_after']:.3f})."
    ) in mixed
    assert f"chi-square = {comparison.chi2:.3f}" in mixed


# ----------------------------------------------------------------------------- trajectory certification and membership


def _with_selection(inputs: ReportInputs, selection: pd.DataFrame) -> ReportInputs:
    """The inputs with the trajectory selection replaced (checked against its contract)."""
    traj = inputs.trajectories["problems"]
    inputs.trajectories = {
        "problems": dataclasses.replace(traj, selection=results.SELECTION_TABLE.check(selection))
    }
    return inputs


def _warn_boxes(fragment: str) -> list[str]:
    return [
        visible_text(b)
        for b in re.findall(r'<p class="note note-warn">(.*?)</p>', fragment, flags=re.S)
    ]


def test_suspect_k_is_said_with_its_reason_in_the_warning_box():
    """K = 1 and the chosen K = 2 marked suspect as the gather step marks them (status and certification)."""
    inputs = make_inputs(sr={}, mixed={})
    selection = inputs.trajectories["problems"].selection.copy()
    reasons = {
        1: "only 1 of 20 starts reached the best log-likelihood",
        2: "log-likelihood -280.0000 is below K - 1's -279.0000; a local optimum: raise starts",
    }
    for k, why in reasons.items():
        selection.loc[selection["K"] == k, ["status", "certification"]] = ["suspect", why]
    html = build_report(_with_selection(inputs, selection))
    traj = section_html(html, "trajectories")
    boxes = _warn_boxes(traj)
    for k, why in reasons.items():
        matching = [
            b
            for b in boxes
            if b.startswith(
                f"Trajectory spec 'problems', K = {k}: the optimum could not "
                f"be certified ({why}); treat the estimates as provisional"
            )
        ]
        assert len(matching) == 1, boxes
    assert "It is the chosen K" in [b for b in boxes if "K = 2:" in b][0]
    assert "could still beat the chosen K" in [b for b in boxes if "K = 1:" in b][0]
    notes = [r[-1] for r in table_with(html, "Model selection")["rows"]]
    assert notes == [
        "suspect: not certified",
        "suspect: not certified; chosen",
        "degenerate",
    ]  # never shown as ok
    assert (
        "Provisional: the chosen K's optimum could not be certified."
        in table_with(html, "Predictors of class membership")["caption"]
    )
    # the same fixture, certified: no box, no suspect note
    certified = section_html(build_report(make_inputs(sr={}, mixed={})), "trajectories")
    assert not any("could not be certified" in b for b in _warn_boxes(certified))


def test_membership_odds_ratios_are_exp_of_the_file_and_sentences_follow_the_sign():
    inputs = make_inputs(sr={}, mixed={})
    predictors = inputs.trajectories["problems"].predictors
    shown = predictors[predictors["K"] == 2].sort_values(["class", "term"], kind="stable")
    for flip in (
        1.0,
        -1.0,
    ):  # the real estimates, then the same with their signs flipped (through the contract)
        table_in = predictors.assign(
            estimate=flip * predictors["estimate"],
            ci_low=np.where(flip > 0, predictors["ci_low"], -predictors["ci_high"]),
            ci_high=np.where(flip > 0, predictors["ci_high"], -predictors["ci_low"]),
        )
        traj = inputs.trajectories["problems"]
        inputs.trajectories = {
            "problems": dataclasses.replace(
                traj, predictors=results.PREDICTORS_TABLE.check(table_in)
            )
        }
        html = build_report(inputs)
        table = table_with(html, "Predictors of class membership")
        assert (
            "bias-adjusted three-step estimator" in table["caption"]
            and "Vermunt, 2010" in table["caption"]
        )
        column = table["header"].index("odds ratio")
        assert [r[2] for r in table["rows"]] == shown["term"].tolist()
        for row, estimate, low, high in zip(
            table["rows"], flip * shown["estimate"], shown["ci_low"], shown["ci_high"], strict=True
        ):
            assert shown_float(row[column]) == pytest.approx(
                np.exp(estimate), abs=5e-4
            )  # 3 decimals
            low, high = (low, high) if flip > 0 else (-high, -low)
            ci = row[table["header"].index("95% CI of the odds ratio")].split(" to ")
            assert [shown_float(c) for c in ci] == pytest.approx(
                [np.exp(low), np.exp(high)], abs=5e-4
            )
        assert shown_float(
            table["rows"][1][column]
        ) == pytest.approx(  # the file's own odds_ratio column
            shown["odds_ratio"].iloc[1] ** flip, abs=5e-4
        )
        traj_text = visible_text(section_html(html, "trajectories"))
        for term, estimate in zip(shown["term"], flip * shown["estimate"], strict=True):
            if term == "(intercept)":
                continue
            verb = "raises" if estimate > 0 else "lowers"
            assert (
                f"Each one-unit increase in {term} {verb} the odds of being in class 2 ('chronic') rather than "
                f"class 1 ('resilient'): they are multiplied by {np.exp(estimate):.3f}"
            ) in traj_text
            assert (
                "the interval includes 1" in traj_text
            )  # every interval of the fixture includes 1


def shown_float(cell: str) -> float:
    return float(cell.replace(",", "").replace("−", "-"))


def test_bic_near_tie_and_small_classes_of_the_chosen_k_are_said():
    inputs = make_inputs(sr={}, mixed={})
    selection = inputs.trajectories["problems"].selection.copy()
    assert "BIC within 2" not in " ".join(
        r[-1] for r in table_with(build_report(inputs), "Model selection")["rows"]
    )
    selection.loc[selection["K"] == 3, "bic"] = (
        591.5  # within 2 of K = 2's 593 (K = 3 stays degenerate)
    )
    html = build_report(_with_selection(inputs, with_selection_notes(selection)))
    assert inputs.trajectories["problems"].selection["bic_near"].tolist() == ["", "3", "2"]
    boxes = _warn_boxes(section_html(html, "trajectories"))
    assert (
        "The BIC of the chosen K = 2 (593.0) is within 2 of that of K = 3 (BIC 591.5): a difference this small "
        "is not evidence for either (Raftery, 1995)"
    ) in " ".join(boxes)
    assert (
        "Small classes at the chosen K = 2 (under 5% of the sample or 25 participants): class 2 has 12 "
        "participants (30.0%)."
    ) in " ".join(boxes)
    notes = [r[-1] for r in table_with(html, "Model selection")["rows"]]
    assert notes == ["–", "chosen; BIC within 2 of K = 3", "degenerate; BIC within 2 of K = 2"]
    assert "Raftery AE (1995)" in visible_text(section_html(html, "methods"))


def test_classification_matrix_and_distal_means_of_the_chosen_k():
    """Values equal the files; at K = 3 (chosen when not degenerate) the class of 2 is withheld."""
    inputs = make_inputs(sr={}, mixed={})
    traj = inputs.trajectories["problems"]
    html = build_report(inputs)
    matrix = table_with(html, "Classification at the chosen K = 2")
    assert matrix["rows"] == [
        ["1", "resilient", "28", "0.900", "0.100"],
        ["2", "chronic", "12", "0.100", "0.900"],
    ]
    distal = traj.distal[traj.distal["K"] == 2]
    rows = table_with(html, "Distal outcomes at the chosen K = 2")["rows"]
    assert [shown_float(r[3]) for r in rows] == pytest.approx(distal["mean"].to_numpy(), abs=5e-4)
    first = distal.iloc[0]
    assert (
        f"P: Wald chi-square(1) = {first['wald_chi2']:.2f}, p = {first['wald_p']:.3f}"
        in visible_text(section_html(html, "trajectories"))
    )
    edge = build_report(_with_selection(inputs, traj.selection.assign(degenerate=False)))
    matrix = table_with(edge, "Classification at the chosen K = 3")
    assert matrix["rows"][2] == ["3", "recovery", "<5", "–", "–", "–"]
    distal_rows = table_with(edge, "Distal outcomes at the chosen K = 3")["rows"]
    assert distal_rows[2] == ["P", "class 3 ('recovery')", "<5", "–", "–", "–"]
    # K = 3's membership model could not be fitted (its information matrix is singular): said, not hidden
    text = visible_text(section_html(edge, "trajectories"))
    assert "The class-membership model at the chosen K = 3" in text
    assert "could not be estimated: the information matrix is singular" in text


def test_methods_describe_the_gmm_as_configured_and_the_three_step_estimator():
    gmm = {
        "problems": {
            **FULL_TRAJ["problems"],
            "method": "gmm",
            "random": ["intercept", "slope"],
            "random_variance": "class",
            "predictor_method": "bch",
        }
    }
    html = build_report(make_inputs(sr={}, mixed={}, trajectories=gmm))
    methods = visible_text(section_html(html, "methods"))
    assert (
        "a growth mixture model (each class its own polynomial curve plus a participant-level random intercept "
        "and random slope on linear time, with their full 2 x 2 covariance; the random-effect covariance "
        "estimated separately in each class"
    ) in methods
    assert "class-specific random intercept" not in methods
    assert (
        "three-step estimator with BCH weights and sandwich SEs (Bakk, Tekle & Vermunt, 2013)"
        in methods
    )
    assert "Sociological Methodology, 43(1), 272–311" in methods
    shared = visible_text(section_html(build_report(make_inputs(sr={}, mixed={})), "methods"))
    assert "(Vermunt, 2010)" in shared and "Political Analysis, 18(4), 450–469" in shared
    grolts_rows = {
        r[0]: r
        for r in [t for t in tables(html) if t["caption"].startswith("GRoLTS items")][0]["rows"]
    }
    assert "three-step" in grolts_rows["8"][4]
    assert grolts_rows["15"][2] == "filled automatically"  # distal class means with SEs and CIs


def test_modal_membership_effects_are_flagged_as_naive():
    """The predictors stage's real output with predictor_method modal."""
    modal = {"problems": {**FULL_TRAJ["problems"], "predictor_method": "modal"}}
    inputs = make_inputs(sr={}, mixed={}, trajectories=modal)
    assert set(inputs.trajectories["problems"].predictors["method"].str.split(":").str[0]) == {
        "modal"
    }
    html = build_report(inputs)
    boxes = _warn_boxes(section_html(html, "trajectories"))
    assert any(
        b.startswith(
            "The class-membership effects below are naive (modal class, predictor_method: modal): "
            "they are attenuated towards zero"
        )
        for b in boxes
    )
    assert (
        "naive modal-class logit" in table_with(html, "Predictors of class membership")["caption"]
    )
    assert "for comparison only" in visible_text(section_html(html, "methods"))


# ----------------------------------------------------------------------------- score stage files


def test_reliability_table_shows_the_files_alpha_and_note(full_html):
    config, cohort = make_config()
    table = reliability_from_fixture(cohort)
    shown_table = table_with(full_html, "Internal consistency per instrument and wave")
    by_wave = {row[1]: row for row in shown_table["rows"]}
    for r in table.itertuples(index=False):
        row = by_wave[str(r.wave)]
        assert row[0] == "ghq12"
        if r.n < 5:  # wave 3: 3 rows, under min_cell: n suppressed, values withheld
            assert row[2] == "<5" and row[4] == DASH and row[5] == DASH
        else:
            assert row[2] == str(r.n)
            assert shown(row[4]) == pytest.approx(r.alpha, abs=5e-4)  # shown to 3 decimals
            assert shown(row[5]) == pytest.approx(r.omega, abs=5e-4)
        assert row[6] == r.note
    assert "an item has no variance in this wave" in by_wave["3"][6]


def reliability_from_fixture(cohort) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as folder:
        write_score_files(Path(folder), make_scores(), cohort)
        return results.RELIABILITY_TABLE.read(Path(folder) / "reliability.csv")


def test_single_instrument_p_is_said(full_html):
    scores = visible_text(section_html(full_html, "scores"))
    assert "P is the score of the one problems instrument, ghq12." in scores
    assert "E combines hassles and events (exposure.combine: sum)." in scores


def test_failed_attrition_model_says_its_reason(full_html):
    overview = visible_text(section_html(full_html, "overview"))
    assert "The attrition model (logistic regression of P observed at wave 3" in overview
    assert (
        "could not be fitted: the design has rank 2 for 3 coefficients (constant: site)" in overview
    )
    assert grolts_marks(full_html)["3b"] == grolts.AUTHOR  # a failed model does not answer 3b


def grolts_marks(html: str) -> dict[str, str]:
    table = table_with(html, "GRoLTS items")
    return {r[0]: r[2] for r in table["rows"]}


def test_attrition_odds_ratio_is_exp_estimate_and_lr_sentence():
    """Site varies per participant (seed 3): the model fits; the table shows exp(estimate)."""
    config, cohort = make_config(trajectories=FULL_TRAJ, sr={}, mixed={})
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "results" / "demo"
        write_results(base, config, cohort)
        scores = make_scores()
        per_person = dict(zip(IDS, rng.normal(size=len(IDS)), strict=True))
        scores["site"] = scores["participant_id"].map(per_person)
        write_score_files(base, scores, cohort, covariates={"site": "numeric"})
        inputs = load_report_inputs(
            ReportFiles.in_folder(base, cohort), cohort, config.data, PROVENANCE
        )
        coefficients = results.ATTRITION_TABLE.read(base / "attrition.csv")
        fit = results.AttritionFit.read(base / "attrition.json")
    assert fit.status == "ok"
    html = build_report(inputs)
    table = table_with(html, "Attrition model: odds of still being observed")
    for row, r in zip(table["rows"], coefficients.itertuples(index=False), strict=True):
        assert row[0] == r.term
        assert r.odds_ratio == pytest.approx(np.exp(r.estimate), rel=1e-12)
        assert shown(row[3]) == pytest.approx(np.exp(r.estimate), abs=5e-4)  # 3 decimals shown
    overview = visible_text(section_html(html, "overview"))
    lr = re.search(r"likelihood-ratio χ²\((\d+)\) = ([^,]+), p = ([0-9.]+)\)", overview)
    assert lr, overview
    assert int(lr[1]) == fit.lr_df == 1
    assert shown(lr[2]) == pytest.approx(fit.lr_statistic, rel=0.01, abs=5e-3)
    assert float(lr[3]) == pytest.approx(fit.lr_p, abs=5e-4)
    assert "do not detectably predict who stays" in overview  # p = 0.99 here
    assert grolts_marks(html)["3b"] == grolts.AUTO
    assert "a logistic model of retention on the baseline covariates" in section_html(
        html, "grolts"
    )


def composite_summary(sign: float) -> results.ScoringSummary:
    """scoring.json of a pca1 P over ghq12 and a second instrument k10 (seed 9), written and read
    back through the contract; ``sign`` -1 makes k10 load negatively (a suspect composite)."""
    from srflow import scoring

    _, cohort = make_config(
        cohort_extra={
            "instruments": {
                "k10": {"role": "problems", "items": {"prefix": "K_"}, "range": [1, 5]},
            },
            "problems": {"combine": "pca1", "instruments": ["ghq12", "k10"]},
        }
    )
    scores = make_scores()
    rng = np.random.default_rng(9)
    scores["k10"] = sign * scores["ghq12"] + rng.normal(0.0, 2.0, len(scores))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scoring.json"
        results.ScoringSummary.from_json(scoring.scoring_summary(scores, cohort)).write(path)
        return results.ScoringSummary.read(path)


def test_pca1_composite_shows_loadings_and_explained_variance():
    summary = composite_summary(1.0)
    assert summary.P.status == "ok"
    inputs = dataclasses.replace(make_inputs(sr={}, mixed={}, trajectories={}), scoring=summary)
    html = build_report(inputs)
    text = visible_text(section_html(html, "scores"))
    share = 100 * summary.P.explained_variance
    assert f"explains {share:.1f}% of the z-scores' variance" in text
    table = table_with(html, "The instruments of the composite P")
    for row in table["rows"]:
        name = row[0]
        assert shown(row[3]) == pytest.approx(summary.P.weights[name], abs=5e-4)
        assert shown(row[4]) == pytest.approx(summary.P.loadings[name], abs=5e-4)
    assert "The composite P is" not in text


def test_suspect_composite_is_said_in_the_warning_box():
    summary = composite_summary(-1.0)
    assert summary.P.status == "suspect"
    inputs = dataclasses.replace(make_inputs(sr={}, mixed={}, trajectories={}), scoring=summary)
    scores = section_html(build_report(inputs), "scores")
    boxes = re.findall(r'<p class="note note-warn">(.*?)</p>', scores, flags=re.S)
    assert any(f"The composite P is suspect: {summary.P.reason}" in visible_text(b) for b in boxes)


def test_methods_name_the_upper_level_of_a_nested_model_and_the_curve_bands():
    from types import SimpleNamespace

    from srflow.report.methods_text import _mixed_paragraph, _trajectory_paragraph

    spec = {"outcome": "P", "fixed": ["E"], "random": ["E"], "nested_in": "site"}
    text = _mixed_paragraph(SimpleNamespace(mixed_models={"by_site": spec}), [])
    assert ", with participants nested in site (a random intercept per site level)." in text
    trajectories = {"problems": {"variable": "P", "method": "gmm", "random": ["intercept"]}}
    words = _trajectory_paragraph(SimpleNamespace(trajectories=trajectories), [])
    assert "pointwise 95% confidence bands from the observed information" in words
