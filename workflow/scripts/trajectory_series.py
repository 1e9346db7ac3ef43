"""Build the series one trajectory spec models (see srflow.stages.trajectory_series.trajectory_series_stage)."""

from srflow.stages._common import run_logged
from srflow.stages.trajectory_series import trajectory_series_stage

run_logged(
    snakemake.log[0],
    trajectory_series_stage,
    config_data=snakemake.config,
    cohort_name=snakemake.wildcards.cohort,
    spec_name=snakemake.wildcards.name,
    scores_in=snakemake.input.scores,
    series_out=snakemake.output.series,
    sr_in=snakemake.input.get("sr"),
    validated_in=snakemake.input.get("validated"),
    anchors_out=snakemake.output.get("anchors"),
)
