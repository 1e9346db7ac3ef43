"""Gather one trajectory spec's fits (and bootstrap replicates) into the selection, classes and curves tables."""

from srflow.stages._common import run_logged
from srflow.stages.select_trajectories import trajectory_select_stage

run_logged(
    snakemake.log[0],
    trajectory_select_stage,
    spec=snakemake.params.spec,
    spec_name=snakemake.wildcards.name,
    fits_in=list(snakemake.input.fits),
    classes_in=list(snakemake.input.classes),
    bootstrap_in=list(snakemake.input.bootstrap),
    anchors_in=snakemake.input.get("anchors"),
    selection_out=snakemake.output.selection,
    classes_out=snakemake.output.classes,
    curves_out=snakemake.output.curves,
    classification_out=snakemake.output.classification,
)
