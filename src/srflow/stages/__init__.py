"""Pipeline stages as file-to-file functions.

Each stage reads its inputs from paths, calls the library, and writes its outputs. The
Snakemake scripts and the ``srflow`` command both call these, so a stage behaves the same
however it is run. Nothing here imports Snakemake.

One name per stage, end to end: rule ``X`` runs ``workflow/scripts/X.py``, which calls the stage
in ``srflow/stages/X.py``, which calls the library (``ingest``, ``validate``, ``score``,
``sr_scores``, ``fit_mixed_model``, ``regressions``, the trajectory rules, ``report``).
``check`` is ``srflow validate``: every check a run would make, without running it.
"""

from importlib import import_module

# Names are loaded on first use, so a job imports only its own stage (a trajectory job
# never pays for the report's matplotlib or the validation's pandera).
_EXPORTS = {
    "CheckReport": "check",
    "check_cohort": "check",
    "ingest_stage": "ingest",
    "score_stage": "score",
    "validate_stage": "validate",
    "mixed_stage": "fit_mixed_model",
    "regression_stage": "regressions",
    "sr_stage": "sr_scores",
    "report_stage": "report",
    "job_seed": "_common",
    "run_logged": "_common",
    "say": "_common",
    "spec_seed": "_trajectories",
    "trajectory_bootstrap_stage": "bootstrap_trajectories",
    "trajectory_distal_stage": "trajectory_distal",
    "trajectory_fit_stage": "fit_trajectories",
    "trajectory_predictors_stage": "trajectory_predictors",
    "trajectory_select_stage": "select_trajectories",
    "trajectory_series_stage": "trajectory_series",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'srflow.stages' has no attribute {name!r}") from None
    value = getattr(import_module(f"srflow.stages.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
