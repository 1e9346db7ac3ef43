"""What the report reads: the files the rule declares, loaded through :mod:`srflow.results`.

The report rule's inputs (``report_inputs`` in ``workflow/rules/common.smk``) list the
scores, the validation ledger and failures, and every file of every SR spec, mixed model,
trajectory spec and person-level regression in the config. :meth:`ReportFiles.from_rule_inputs` groups those paths by
spec, :func:`load_report_inputs` reads each through its contract, and nothing else is read:
a spec removed from the config is gone from the rule's inputs and so from the report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from srflow import results
from srflow.errors import InputError

#: The file name of each SR, mixed-model and trajectory output, as ``report_inputs`` lists them.
_SR_FILE = re.compile(r"(?:^|.*/)sr/(?P<name>[^/]+?)\.(?P<part>csv|line\.json)$")
_MIXED_FILE = re.compile(
    r"(?:^|.*/)mixed/(?P<name>[^/]+?)\.(?P<part>fixed\.csv|anova\.csv|fit\.json|random\.csv)$"
)
_REGRESSION_FILE = re.compile(
    r"(?:^|.*/)regressions/(?P<name>[^/]+?)\.(?P<part>coefficients\.csv|fit\.json)$"
)
_TRAJECTORY_FILE = re.compile(
    r"(?:^|.*/)trajectories/(?P<name>[^/]+)/(?P<part>selection|classes|curves|anchors|classification|predictors|distal)\.csv$"
)
_PARTS = {
    "sr": {"csv": "table", "line.json": "line"},
    "mixed": {
        "fixed.csv": "fixed",
        "anova.csv": "anova",
        "fit.json": "fit",
        "random.csv": "random",
    },
    "regressions": {"coefficients.csv": "coefficients", "fit.json": "fit"},
    "trajectories": {
        p: p
        for p in (
            "selection",
            "classes",
            "curves",
            "anchors",
            "classification",
            "predictors",
            "distal",
        )
    },
}


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
    """

    scores: Path
    ledger: Path
    failures: Path
    sr: Mapping[str, Mapping[str, Path]] = dataclasses.field(default_factory=dict)
    mixed: Mapping[str, Mapping[str, Path]] = dataclasses.field(default_factory=dict)
    trajectories: Mapping[str, Mapping[str, Path]] = dataclasses.field(default_factory=dict)
    regressions: Mapping[str, Mapping[str, Path]] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_rule_inputs(cls, inputs: Mapping[str, Any]) -> ReportFiles:
        """Group the report rule's named inputs (``snakemake.input``) by spec.

        Parameters
        ----------
        inputs : Mapping
            ``scores``, ``ledger``, ``failures`` (one path each) and ``sr``, ``mixed``,
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
            sr=_group(_paths(inputs, "sr"), _SR_FILE, "sr", ("table", "line")),
            mixed=_group(
                _paths(inputs, "mixed"), _MIXED_FILE, "mixed", ("fixed", "anova", "fit", "random")
            ),
            trajectories=_group(
                _paths(inputs, "trajectories"),
                _TRAJECTORY_FILE,
                "trajectories",
                ("selection", "classes", "curves"),
            ),
            regressions=_group(
                _paths(inputs, "regressions"),
                _REGRESSION_FILE,
                "regressions",
                ("coefficients", "fit"),
            ),
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
        )


def _optional(contract: Any, path: Path | None) -> pd.DataFrame | None:
    """A table the spec may not have: read through its contract when the rule gave it."""
    return None if path is None else contract.read(path)


def _paths(inputs: Mapping[str, Any], key: str) -> list[str]:
    value = inputs.get(key, []) if hasattr(inputs, "get") else getattr(inputs, key, [])
    if isinstance(value, (str, Path)):
        return [str(value)]
    return [str(v) for v in value]


def _group(paths: Iterable[str], pattern: re.Pattern, kind: str, required: tuple[str, ...]) -> dict:
    grouped: dict[str, dict[str, Path]] = {}
    for path in paths:
        match = pattern.fullmatch(path.replace("\\", "/"))
        if match is None:
            raise InputError(
                f"report input '{path}' is not a {kind} output (see report_inputs in common.smk)"
            )
        part = _PARTS[kind][match["part"]]
        grouped.setdefault(match["name"], {})[part] = Path(path)
    for name, parts in grouped.items():
        missing = [p for p in required if p not in parts]
        if missing:
            raise InputError(
                f"report inputs of {kind} '{name}' lack the {', '.join(missing)} file(s)"
            )
    return grouped


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
        provenance=dict(provenance or {}),
    )


def config_sha256(config_data: Mapping[str, Any]) -> str:
    """SHA-256 of the config's canonical JSON text (sorted keys, no whitespace)."""
    from srflow.config import canonical_json

    return hashlib.sha256(canonical_json(config_data).encode("utf-8")).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


#: Packages whose versions the footer lists by default.
PROVENANCE_PACKAGES = (
    "srflow",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "scikit-learn",
    "pandera",
    "pyarrow",
    "matplotlib",
    "jinja2",
    "snakemake",
)


def collect_provenance(
    config_data: Mapping[str, Any], input_path: str | Path | None, seed: int | None = None
) -> dict:
    """Provenance for the footer: config and input hashes, input file name, seed, versions.

    Parameters
    ----------
    config_data : Mapping
        The validated config mapping.
    input_path : str or Path or None
        The cohort's raw input file (hashed if it exists).
    seed : int, optional
        The run's seed; defaults to ``config_data["seed"]``.
    """
    import platform
    from importlib import metadata

    packages = {"python": platform.python_version()}
    for name in PROVENANCE_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    path = Path(input_path) if input_path is not None else None
    return {
        "config_sha256": config_sha256(config_data),
        "input_sha256": file_sha256(path) if path is not None and path.is_file() else None,
        "input_file": path.name if path is not None else None,
        "seed": seed if seed is not None else config_data.get("seed"),
        "packages": packages,
    }
