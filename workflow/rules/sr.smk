rule sr_scores:
    input:
        scores="results/{cohort}/scores.parquet",
    output:
        table="results/{cohort}/sr/{spec}.csv",
        line="results/{cohort}/sr/{spec}.line.json",
    log:
        "logs/sr_scores/{cohort}.{spec}.log",
    benchmark:
        "logs/benchmarks/sr_scores/{cohort}.{spec}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(40),
        runtime=30,
    params:
        settings=sr_settings,
    script:
        "../scripts/sr_scores.py"
