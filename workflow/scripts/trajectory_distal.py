"""BCH class means of distal outcomes for one trajectory spec (see srflow.stages.trajectory_distal.trajectory_distal_stage)."""

from srflow.stages._common import run_logged
from srflow.stages.trajectory_distal import trajectory_distal_stage

run_logged(
    snakemake.log[0],
    trajectory_distal_stage,
    spec=snakemake.params.spec,
    spec_name=snakemake.wildcards.name,
    classes_in=snakemake.input.classes,
    scores_in=snakemake.input.scores,
    distal_out=snakemake.output.distal,
)
