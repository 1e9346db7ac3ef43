rule score:
    input:
        validated="results/{cohort}/validated.parquet",
    output:
        parquet="results/{cohort}/scores.parquet",
        csv="results/{cohort}/scores.csv",
        scoring="results/{cohort}/scoring.json",
        reliability="results/{cohort}/reliability.csv",
        attrition_csv="results/{cohort}/attrition.csv",
        attrition_json="results/{cohort}/attrition.json",
    log:
        "logs/score/{cohort}.log",
    benchmark:
        "logs/benchmarks/score/{cohort}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(20),
        runtime=30,
    params:
        settings=data_settings,
    script:
        "../scripts/score.py"
