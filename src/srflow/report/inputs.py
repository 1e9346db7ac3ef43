"""What the report reads: the files the rule declares, loaded through :mod:`srflow.results`.

The report rule's inputs (``report_inputs`` in ``workflow/rules/common.smk``) list the
scores, the validation ledger and failures, the score stage's scoring summary, reliability
and attrition files, and every file of every SR spec, mixed model,
trajectory spec and person-level regression in the config. :meth:`ReportFiles.from_rule_inputs` groups those paths by
spec, :func:`load_report_inputs` reads each through its contract, and nothing else is read:
a spec removed from the config is gone from the rule's inputs and so from the report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from srflow import results
from srflow.errors import InputError
from srflow.report.input_paths import (
    MIXED_FILE,
    REGRESSION_FILE,
    SCORE_FILES,
    SR_FILE,
    TRAJECTORY_FILE,
    group_paths,
    named_paths,
    one_path,
)
from srflow.report.provenance import (  # noqa: F401  (re-exported: the report's public API)
    PROVENANCE_PACKAGES,
    collect_provenance,
    config_sha256,
    file_sha256,
)


@dataclasses.dataclass(frozen=True)
class ReportFiles:
    """The files one cohort's report reads.

    Attributes
    ----------
    scores, ledger, failures : Path
        ``scores.parquet`` and ``validation/{ledger,failures}.csv``.
    sr : Mapping
        spec -> {"table": path, "line": path}.
    mixed : Mapping
        model -> {"fixed": path, "anova": path, "fit": path, "random": path}.
    trajectories : Mapping
        spec -> {"selection", "classes", "curves"[, "anchors"]: path}.
    regressions : Mapping
        name -> {"coefficients": path, "fit": path}.
    scoring, reliability, attrition, attrition_fit : Path or None
        ``scoring.json``, ``reliability.csv``, ``attrition.csv`` and ``attrition.json`` of
        rule ``score`` (None: not given, and the report says so).
    """

    scores: Path
    ledger: Path
    failures: Path
    sr: Mapping[str, Mapping[str, Path]] = dataclasses.field(default_factory=dict)
    mixed: Mapping[str, Mapping[str, Path]] = dataclasses.field(default_factory=dict)
    trajectories: Mapping[str, Mapping[str, Path]] = dataclasses.field(default_factory=dict)
    regressions: Mapping[str, Mapping[str, Path]] = dataclasses.field(default_factory=dict)
    scoring: Path | None = None
    reliability: Path | None = None
    attrition: Path | None = None
    attrition_fit: Path | None = None

    @classmethod
    def from_rule_inputs(cls, inputs: Mapping[str, Any]) -> ReportFiles:
        """Group the report rule's named inputs (``snakemake.input``) by spec.

        Parameters
        ----------
        inputs : Mapping
            ``scores``, ``ledger``, ``failures``, ``scoring``, ``reliability``, ``attrition``,
            ``attrition_fit`` (one path each; the last four may be left out) and ``sr``, ``mixed``,
            ``trajectories``, ``regressions`` (lists of paths named as :func:`report_inputs` writes them).

        Raises
        ------
        InputError
            A path that is not an output of its kind, or a spec with a file missing.
        """
        return cls(
            scores=Path(str(inputs["scores"])),
            ledger=Path(str(inputs["ledger"])),
            failures=Path(str(inputs["failures"])),
            sr=group_paths(named_paths(inputs, "sr"), SR_FILE, "sr", ("table", "line")),
            mixed=group_paths(
                named_paths(inputs, "mixed"),
                MIXED_FILE,
                "mixed",
                ("fixed", "anova", "fit", "random"),
            ),
            trajectories=group_paths(
                named_paths(inputs, "trajectories"),
                TRAJECTORY_FILE,
                "trajectories",
                ("selection", "classes", "curves"),
            ),
            regressions=group_paths(
                named_paths(inputs, "regressions"),
                REGRESSION_FILE,
                "regressions",
                ("coefficients", "fit"),
            ),
            **{key: one_path(inputs, key) for key in SCORE_FILES},
        )

    @classmethod
    def in_folder(cls, results_dir: str | Path, cohort_config: Any) -> ReportFiles:
        """The files of every spec of ``cohort_config`` under ``results/{cohort}`` (for use from Python).

        The same paths as the report rule's inputs; the folder is not listed.
        """
        base = Path(results_dir)
        trajectories = {}
        for name, spec in cohort_config.trajectories.items():
            parts = ["selection", "classes", "curves"] + (["anchors"] if spec.get("anchor") else [])
            parts += ["classification"]
            parts += ["predictors"] if spec.get("predictors") else []
            parts += ["distal"] if spec.get("distal") else []
            trajectories[name] = {p: base / "trajectories" / name / f"{p}.csv" for p in parts}
        return cls(
            scores=base / "scores.parquet",
            ledger=base / "validation" / "ledger.csv",
            failures=base / "validation" / "failures.csv",
            sr={
                n: {"table": base / "sr" / f"{n}.csv", "line": base / "sr" / f"{n}.line.json"}
                for n in cohort_config.sr
            },
            mixed={
                n: {
                    p: base / "mixed" / f"{n}.{p}.{'json' if p == 'fit' else 'csv'}"
                    for p in ("fixed", "anova", "fit", "random")
                }
                for n in cohort_config.mixed_models
            },
            trajectories=trajectories,
            regressions={
                n: {
                    p: base / "regressions" / f"{n}.{p}.{'json' if p == 'fit' else 'csv'}"
                    for p in ("coefficients", "fit")
                }
                for n in cohort_config.regressions
            },
            **{key: base / name for key, name in SCORE_FILES.items()},
        )


def _optional(contract: Any, path: Path | None) -> pd.DataFrame | None:
    """A table the spec may not have: read through its contract when the rule gave it."""
    return None if path is None else contract.read(path)


@dataclasses.dataclass(frozen=True)
class SRResults:
    """One SR spec's table and line file."""

    table: pd.DataFrame
    line: results.SRLine


@dataclasses.dataclass(frozen=True)
class MixedResults:
    """One mixed model's fixed effects, Type III tests, fit and random effects."""

    fixed: pd.DataFrame
    anova: pd.DataFrame
    fit: results.MixedFit
    random: pd.DataFrame


@dataclasses.dataclass(frozen=True)
class RegressionResults:
    """One person-level regression's coefficients and fit."""

    coefficients: pd.DataFrame
    fit: results.RegressionFit


@dataclasses.dataclass(frozen=True)
class TrajectoryResults:
    """One trajectory spec's selection, classes and curves tables, and those its spec asks for."""

    selection: pd.DataFrame
    classes: pd.DataFrame
    curves: pd.DataFrame
    classification: pd.DataFrame | None = None
    predictors: pd.DataFrame | None = None  # a spec with predictors
    distal: pd.DataFrame | None = None  # a spec with distal outcomes


@dataclasses.dataclass(frozen=True)
class AttritionResults:
    """The attrition model's coefficients (``attrition.csv``) and fit (``attrition.json``)."""

    coefficients: pd.DataFrame
    fit: results.AttritionFit


@dataclasses.dataclass
class ReportInputs:
    """Everything the report shows, already loaded and checked against the contracts.

    Attributes
    ----------
    cohort : str
        Cohort name.
    cohort_config : CohortConfig
        The cohort's :class:`srflow.config.CohortConfig` (shared blocks resolved).
    config_data : Mapping
        The whole validated config mapping (``Config.data``), hashed for the footer.
    scores : DataFrame
        The scores table (:data:`srflow.results.SCORES_TABLE`).
    ledger, failures : DataFrame
        Validation ledger and failures (:data:`srflow.results.LEDGER_TABLE`, ``FAILURES_TABLE``).
    sr, mixed, trajectories, regressions : Mapping
        Name -> :class:`SRResults`, :class:`MixedResults`, :class:`TrajectoryResults`,
        :class:`RegressionResults`, for
        the specs of the config (a configured spec without results is reported as missing).
    scoring : ScoringSummary or None
        How P and E were made (:class:`srflow.results.ScoringSummary`).
    reliability : DataFrame or None
        Alpha and omega per instrument and wave (:data:`srflow.results.RELIABILITY_TABLE`).
    attrition : AttritionResults or None
        The attrition model.
    provenance : Mapping
        config_sha256, input_sha256, input_file, seed, packages (name -> version).
    """

    cohort: str
    cohort_config: Any
    config_data: Mapping[str, Any]
    scores: pd.DataFrame
    ledger: pd.DataFrame
    failures: pd.DataFrame
    sr: Mapping[str, SRResults] = dataclasses.field(default_factory=dict)
    mixed: Mapping[str, MixedResults] = dataclasses.field(default_factory=dict)
    trajectories: Mapping[str, TrajectoryResults] = dataclasses.field(default_factory=dict)
    regressions: Mapping[str, RegressionResults] = dataclasses.field(default_factory=dict)
    scoring: results.ScoringSummary | None = None
    reliability: pd.DataFrame | None = None
    attrition: AttritionResults | None = None
    provenance: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def load_report_inputs(
    files: ReportFiles,
    cohort_config: Any,
    config_data: Mapping[str, Any],
    provenance: Mapping[str, Any] | None = None,
) -> ReportInputs:
    """Read the report's files through their contracts into :class:`ReportInputs`.

    Parameters
    ----------
    files : ReportFiles
        From the rule's inputs (:meth:`ReportFiles.from_rule_inputs`) or a results folder
        (:meth:`ReportFiles.in_folder`).
    cohort_config : CohortConfig
        The cohort's config.
    config_data : Mapping
        The whole validated config mapping (``Config.data``).
    provenance : Mapping, optional
        Hashes, seed and package versions; see :func:`collect_provenance`.

    Raises
    ------
    ResultContractError
        A file is missing or does not match its contract (the message names the rule to rerun).
    InputError
        Results of a spec that is not in the config.
    """
    for kind, configured, given in (
        ("SR spec", cohort_config.sr, files.sr),
        ("mixed model", cohort_config.mixed_models, files.mixed),
        ("trajectory spec", cohort_config.trajectories, files.trajectories),
        ("regression", cohort_config.regressions, files.regressions),
    ):
        stale = sorted(set(given) - set(configured))
        if stale:
            raise InputError(
                f"report inputs hold results of {kind}(s) {stale}, which the config does not have"
            )
    return ReportInputs(
        cohort=cohort_config.name,
        cohort_config=cohort_config,
        config_data=config_data,
        scores=results.SCORES_TABLE.read(files.scores),
        ledger=results.LEDGER_TABLE.read(files.ledger),
        failures=results.FAILURES_TABLE.read(files.failures),
        sr={
            name: SRResults(
                table=results.SR_TABLE.read(paths["table"]), line=results.SRLine.read(paths["line"])
            )
            for name, paths in files.sr.items()
        },
        mixed={
            name: MixedResults(
                fixed=results.FIXED_TABLE.read(paths["fixed"]),
                anova=results.ANOVA_TABLE.read(paths["anova"]),
                fit=results.MixedFit.read(paths["fit"]),
                random=results.RANDOM_TABLE.read(paths["random"]),
            )
            for name, paths in files.mixed.items()
        },
        trajectories={
            name: TrajectoryResults(
                selection=results.SELECTION_TABLE.read(paths["selection"]),
                classes=results.CLASSES_TABLE.read(paths["classes"]),
                curves=results.CURVES_TABLE.read(paths["curves"]),
                classification=_optional(results.CLASSIFICATION_TABLE, paths.get("classification")),
                predictors=_optional(results.PREDICTORS_TABLE, paths.get("predictors")),
                distal=_optional(results.DISTAL_TABLE, paths.get("distal")),
            )
            for name, paths in files.trajectories.items()
        },
        regressions={
            name: RegressionResults(
                coefficients=results.REGRESSION_COEFFICIENTS_TABLE.read(paths["coefficients"]),
                fit=results.RegressionFit.read(paths["fit"]),
            )
            for name, paths in files.regressions.items()
        },
        scoring=None if files.scoring is None else results.ScoringSummary.read(files.scoring),
        reliability=_optional(results.RELIABILITY_TABLE, files.reliability),
        attrition=_attrition(files),
        provenance=dict(provenance or {}),
    )


def _attrition(files: ReportFiles) -> AttritionResults | None:
    """The attrition model's two files, read through their contracts when the rule gave them."""
    if files.attrition is None and files.attrition_fit is None:
        return None
    if files.attrition is None or files.attrition_fit is None:
        raise InputError("report inputs give one of attrition.csv and attrition.json; give both")
    return AttritionResults(
        coefficients=results.ATTRITION_TABLE.read(files.attrition),
        fit=results.AttritionFit.read(files.attrition_fit),
    )
