"""One bootstrap LR replicate of K - 1 against K classes (see srflow.stages.bootstrap_trajectories.trajectory_bootstrap_stage)."""

from srflow.stages._common import run_logged
from srflow.stages.bootstrap_trajectories import trajectory_bootstrap_stage

run_logged(
    snakemake.log[0],
    trajectory_bootstrap_stage,
    spec=snakemake.params.spec,
    config_seed=snakemake.params.seed,
    cohort_name=snakemake.wildcards.cohort,
    spec_name=snakemake.wildcards.name,
    n_classes=int(snakemake.wildcards.k),
    replicate=int(snakemake.wildcards.rep),
    series_in=snakemake.input.series,
    replicate_out=snakemake.output.replicate,
)
