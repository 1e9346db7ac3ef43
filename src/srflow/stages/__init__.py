"""Pipeline stages as file-to-file functions.

Each stage reads its inputs from paths, calls the library, and writes its outputs. The
Snakemake scripts and the ``srflow`` command both call these, so a stage behaves the same
however it is run. Nothing here imports Snakemake. One module per stage family:
``data`` (ingest, validate, score), ``models`` (SR, mixed), ``trajectories``, ``report``.
"""

from importlib import import_module

# Names are loaded on first use, so a job imports only its own stage family (a trajectory job
# never pays for the report's matplotlib or the validation's pandera).
_EXPORTS = {
    "CheckReport": "data",
    "check_cohort": "data",
    "ingest_stage": "data",
    "score_stage": "data",
    "validate_stage": "data",
    "mixed_stage": "models",
    "regression_stage": "regressions",
    "sr_stage": "models",
    "report_stage": "report",
    "job_seed": "_common",
    "run_logged": "_common",
    "say": "_common",
    "trajectory_bootstrap_stage": "trajectories",
    "trajectory_fit_stage": "trajectories",
    "trajectory_select_stage": "trajectories",
    "trajectory_series": "trajectories",
    "trajectory_series_stage": "trajectories",
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
