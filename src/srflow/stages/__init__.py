"""Pipeline stages as file-to-file functions.

Each stage reads its inputs from paths, calls the library, and writes its outputs. The
Snakemake scripts and the ``srflow`` command both call these, so a stage behaves the same
however it is run. Nothing here imports Snakemake. One module per stage family:
``data`` (ingest, validate, score), ``models`` (SR, mixed), ``trajectories``, ``report``.
"""

from srflow.stages._common import job_seed, run_logged, say
from srflow.stages.data import CheckReport, check_cohort, ingest_stage, score_stage, validate_stage
from srflow.stages.models import mixed_stage, sr_stage
from srflow.stages.report import report_stage
from srflow.stages.trajectories import trajectory_fit_stage, trajectory_select_stage, trajectory_series

__all__ = [
    "CheckReport",
    "check_cohort",
    "ingest_stage",
    "job_seed",
    "mixed_stage",
    "report_stage",
    "run_logged",
    "say",
    "score_stage",
    "sr_stage",
    "trajectory_fit_stage",
    "trajectory_select_stage",
    "trajectory_series",
    "validate_stage",
]
