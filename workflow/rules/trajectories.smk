rule fit_trajectories:
    input:
        scores="results/{cohort}/scores.parquet",
    output:
        fit="results/{cohort}/trajectories/{name}/fits/K{k}.json",
        classes="results/{cohort}/trajectories/{name}/fits/K{k}.classes.parquet",
    log:
        "logs/fit_trajectories/{cohort}.{name}.K{k}.log",
    benchmark:
        "logs/benchmarks/fit_trajectories/{cohort}.{name}.K{k}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=mem_for_input(40),
        runtime=60,
    script:
        "../scripts/fit_trajectories.py"


rule select_trajectories:
    input:
        fits=lambda wc: expand(
            "results/{cohort}/trajectories/{name}/fits/K{k}.json",
            cohort=wc.cohort,
            name=wc.name,
            k=trajectory_k_values(wc.cohort, wc.name),
        ),
        classes=lambda wc: expand(
            "results/{cohort}/trajectories/{name}/fits/K{k}.classes.parquet",
            cohort=wc.cohort,
            name=wc.name,
            k=trajectory_k_values(wc.cohort, wc.name),
        ),
    output:
        selection="results/{cohort}/trajectories/{name}/selection.csv",
        classes="results/{cohort}/trajectories/{name}/classes.csv",
        curves="results/{cohort}/trajectories/{name}/curves.csv",
    log:
        "logs/select_trajectories/{cohort}.{name}.log",
    benchmark:
        "logs/benchmarks/select_trajectories/{cohort}.{name}.tsv"
    conda:
        "../envs/srflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/select_trajectories.py"
