"""Score one cohort's questionnaires into P, E and subscales (see srflow.stages.score_stage)."""

from srflow.stages import run_logged, score_stage

run_logged(
    snakemake.log[0],
    score_stage,
    config_data=snakemake.config,
    cohort_name=snakemake.wildcards.cohort,
    validated_in=snakemake.input.validated,
    parquet_out=snakemake.output.parquet,
    csv_out=snakemake.output.csv,
    scoring_out=snakemake.output.scoring,
    reliability_out=snakemake.output.reliability,
    attrition_csv_out=snakemake.output.attrition_csv,
    attrition_json_out=snakemake.output.attrition_json,
)
