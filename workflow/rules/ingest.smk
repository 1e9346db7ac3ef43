rule ingest:
    input:
        raw=cohort_input,
    output:
        table="results/{cohort}/ingest/canonical.parquet",
        meta="results/{cohort}/ingest/meta.json",
    log:
        "logs/ingest/{cohort}.log",
    benchmark:
        "logs/benchmarks/ingest/{cohort}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(30),
        runtime=30,
    params:
        settings=data_settings,
    script:
        "../scripts/ingest.py"
